"""Signing in to the web UI: a session cookie, its row in ``web_sessions``, and CSRF tokens.

- The cookie (``threadline_session``) holds a random secret; only its SHA-256 is stored, so a
  copy of the database signs nobody in. It is ``HttpOnly``, ``SameSite=Lax``, and ``Secure``
  when the request came over https (directly or through a proxy's ``X-Forwarded-Proto``).
- A session lasts :data:`SESSION_DAYS` days from the last visit; signing out deletes it, and
  every sign-in deletes the sessions that have expired.
- Every form that changes something carries the session's CSRF token (compared in constant
  time). The sign-in form, which has no session yet, uses a double-submit cookie.
- Sign-in attempts go through the API's check (:func:`~threadline.server.auth.verify_login`)
  and share its rate limit (per user name and per address).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qs

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.responses import Response

from threadline.errors import Forbidden, NotSignedIn
from threadline.server.auth import Principal, hash_token
from threadline.server.database import Database
from threadline.server.deps import app_state
from threadline.server.schema import users, web_sessions
from threadline.server.values import ts_parse, ts_text

COOKIE = "threadline_session"
LOGIN_CSRF_COOKIE = "threadline_login_csrf"
SESSION_DAYS = 30
#: ``last_seen_at`` is written at most this often per session.
TOUCH_EVERY = timedelta(minutes=5)
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
    db = app_state(request).db
    digest = hash_token(secret)
    with db.read() as conn:
        row = conn.execute(
            sa.select(web_sessions, users.c.name, users.c.is_admin)
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.id_hash == digest)
        ).first()
    if row is None:
        return None
    now = datetime.now(UTC)
    if ts_parse(row.expires_at) <= now:
        return None
    if now - ts_parse(row.last_seen_at) > TOUCH_EVERY:
        _touch(db, digest, now)
    user = WebUser(int(row.user_id), row.name, bool(row.is_admin), row.csrf, digest)
    request.state.web_user = user
    return user


def require_user(request: Request) -> WebUser:
    """A route dependency: the signed-in user, else a redirect to the sign-in page."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NotSignedIn(target)
    return user


def _touch(db: Database, digest: str, now: datetime) -> None:
    expires = ts_text(now + timedelta(days=SESSION_DAYS))
    with db.write() as conn:
        conn.execute(
            web_sessions.update()
            .where(web_sessions.c.id_hash == digest)
            .values(last_seen_at=ts_text(now), expires_at=expires)
        )


def start_session(request: Request, response: Response, user_id: int) -> None:
    """Create a session for ``user_id`` and set its cookie on ``response``.

    Expired sessions of anyone are deleted here too: sign-ins are rare enough to carry it.
    """
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with app_state(request).db.write() as conn:
        _delete_expired(conn, now)
        conn.execute(
            web_sessions.insert().values(
                id_hash=hash_token(secret),
                user_id=user_id,
                csrf=secrets.token_urlsafe(24),
                created_at=ts_text(now),
                last_seen_at=ts_text(now),
                expires_at=ts_text(now + timedelta(days=SESSION_DAYS)),
                user_agent=(request.headers.get("user-agent") or "")[:300],
            )
        )
    response.set_cookie(
        COOKIE,
        secret,
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
        with app_state(request).db.write() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == user.session_hash))
    response.delete_cookie(COOKIE, path="/")


def end_other_sessions(db: Database, user: WebUser) -> None:
    """After a password change: every other browser is signed out."""
    with db.write() as conn:
        conn.execute(
            web_sessions.delete().where(
                web_sessions.c.user_id == user.user_id,
                web_sessions.c.id_hash != user.session_hash,
            )
        )


def _delete_expired(conn: sa.Connection, now: datetime) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= ts_text(now)))


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each name)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden(f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in values.items()}


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
