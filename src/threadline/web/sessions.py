"""Signing in to the web UI: the session cookie, CSRF tokens and form bodies.

- The cookie (``threadline_session``) holds a random secret; the session behind it is a row of
  ``web_sessions`` kept by :mod:`threadline.services.web_sessions` (only the secret's hash is
  stored). The cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the request came
  over https (directly or through a proxy's ``X-Forwarded-Proto``).
- Every form that changes something carries the session's CSRF token (compared in constant
  time). The sign-in form, which has no session yet, uses a double-submit cookie.
- A form value with a NUL character is refused (``400``) before anything reads it.
- Sign-in attempts go through the API's check (:func:`~threadline.services.auth.verify_login`)
  and share its rate limit (per user name and per address).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import Response

from threadline.errors import Forbidden, NotSignedIn
from threadline.services import inputs, web_sessions
from threadline.services.auth import Principal
from threadline.services.context import app_state
from threadline.services.web_sessions import SESSION_DAYS

COOKIE = "threadline_session"
LOGIN_CSRF_COOKIE = "threadline_login_csrf"
#: Form bodies larger than this are refused (no form of the UI comes near it).
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class WebUser:
    """The signed-in user of a request."""

    user_id: int
    name: str
    is_admin: bool
    csrf: str
    session_hash: str

    @property
    def principal(self) -> Principal:
        """The same identity the API's functions take (no token, no device)."""
        return Principal(
            user_id=self.user_id,
            user=self.name,
            is_admin=self.is_admin,
            token_id=0,
            device_pk=None,
            device_uuid=None,
        )


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def current_user(request: Request) -> WebUser | None:
    """The signed-in user, or ``None`` (no cookie, unknown or expired session)."""
    cached: WebUser | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    found = web_sessions.look_up(app_state(request).db, secret)
    if found is None:
        return None
    user = WebUser(found.user_id, found.name, found.is_admin, found.csrf, found.session_hash)
    request.state.web_user = user
    return user


def require_user(request: Request) -> WebUser:
    """A route dependency: the signed-in user, else a redirect to the sign-in page."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NotSignedIn(target)
    return user


def start_session(request: Request, response: Response, user_id: int) -> None:
    """Create a session for ``user_id`` and set its cookie on ``response``."""
    created = web_sessions.create(app_state(request).db, user_id, request.headers.get("user-agent"))
    response.set_cookie(
        COOKIE,
        created.secret,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def end_session(request: Request, response: Response) -> None:
    user = current_user(request)
    if user is not None:
        web_sessions.end(app_state(request).db, user.session_hash)
    response.delete_cookie(COOKIE, path="/")


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each name);
    ``400`` for a value with a NUL character (no form of the UI takes one)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden(f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    form = {k: v[0] for k, v in values.items()}
    for name, value in form.items():
        inputs.form_value(name, value)
    return form


def check_csrf(request: Request, user: WebUser, form: dict[str, str]) -> None:
    """Refuse a form without the session's CSRF token, or sent from another site."""
    _check_origin(request)
    if not hmac.compare_digest(form.get("csrf", "").encode(), user.csrf.encode()):
        raise Forbidden("this form has expired or did not come from this site; reload the page")


def login_csrf(request: Request) -> str:
    """The double-submit token of the sign-in form (the cookie is set by the page)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def check_login_csrf(request: Request, form: dict[str, str]) -> None:
    _check_origin(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(form.get("csrf", "").encode(), cookie.encode()):
        raise Forbidden("the sign-in form has expired; reload the page and try again")


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        forwarded = f"https://{request.headers.get('host', '')}"
        if origin not in (expected, forwarded):
            raise Forbidden(f"a form from {origin} cannot change anything here")


#: A route parameter: the signed-in user (others are redirected to the sign-in page).
User = Annotated[WebUser, Depends(require_user)]
