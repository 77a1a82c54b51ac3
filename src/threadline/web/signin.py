"""The web UI's routes that every page needs: home, sign-in, sign-out, and the error pages.

Pages live in their own modules (``list_page``, ``thread_page``, ``account``, ``live``), each
with its own ``router``; the application's one assembly mounts them all, in order. None of them
is part of the REST API's OpenAPI schema. :func:`error_page` and :func:`on_not_signed_in` are
the web's answers to errors, installed by the same assembly.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from threadline import protocol as p
from threadline.errors import ApiError, NotSignedIn, TooManyRequests, Unauthorized
from threadline.services.auth import verify_login
from threadline.services.context import app_state
from threadline.web import sessions
from threadline.web.templating import render, secure_headers

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//evil`` or a URL)."""
    if not target:
        return "/threads"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/threads"
    return target


@router.get("/")
def home(request: Request) -> Response:
    target = "/threads" if sessions.current_user(request) else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if sessions.current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next=next)


def _login_form(
    request: Request,
    *,
    next: str | None,
    error: str | None = None,
    name: str = "",
    status: int = 200,
) -> Response:
    token = sessions.login_csrf(request)
    response = render(
        request, "login.html", status=status, csrf=token, next=safe_next(next), error=error,
        name=name,
    )  # fmt: skip
    response.set_cookie(
        sessions.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=sessions.is_https(request),
        path="/",
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await sessions.read_form(request)
    sessions.check_login_csrf(request, form)
    name = form.get("username", "").strip()[: p.MAX_NAME_CHARS]
    password = form.get("password", "")[:1024]
    address = request.client.host if request.client else "?"
    state = app_state(request)
    try:
        user = await anyio.to_thread.run_sync(
            verify_login, state.db, state.limiter, name, password, address
        )
    except TooManyRequests as exc:
        return _login_form(request, next=form.get("next"), error=exc.message, name=name, status=429)
    except Unauthorized:
        return _login_form(
            request,
            next=form.get("next"),
            error="Wrong user name or password.",
            name=name,
            status=401,
        )
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    sessions.start_session(request, response, int(user.id))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await sessions.read_form(request)
    user = sessions.current_user(request)
    response = RedirectResponse("/login", status_code=303)
    if user is not None:
        sessions.check_csrf(request, user, form)
        sessions.end_session(request, response)
    return response


async def on_not_signed_in(request: Request, exc: NotSignedIn) -> Response:
    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


def error_page(request: Request, exc: ApiError) -> Response:
    """The HTML page of an error raised while answering a web page."""
    response = render(request, "error.html", status=exc.status, error=exc)
    secure_headers(response)
    return response
