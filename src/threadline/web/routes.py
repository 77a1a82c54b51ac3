"""The web UI's routes that every page needs: sign-in, sign-out, and the error pages.

Pages live in their own modules (``list_page``, ``thread_page``, ``account``, ``live``); each
adds its routes to :data:`router`. None of them is part of the REST API's OpenAPI schema.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from threadline import protocol as p
from threadline.errors import ApiError, NotSignedIn, TooManyRequests, Unauthorized
from threadline.server.auth import verify_login
from threadline.server.deps import app_state
from threadline.server.errors import api_error_response
from threadline.web import sessions
from threadline.web.templating import STATIC, render, secure_headers

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


def install(app: FastAPI) -> None:
    """Add the web UI to the server's app."""
    # Each page module adds its routes to the router when imported.
    from threadline.web import account, list_page, live, thread_page  # noqa: F401

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(NotSignedIn, _on_not_signed_in)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_error)  # type: ignore[arg-type]


async def _on_not_signed_in(request: Request, exc: NotSignedIn) -> Response:
    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/openapi.json", "/docs")


async def _on_error(request: Request, exc: ApiError) -> Response:
    """JSON for the API, an HTML page for the web UI."""
    if is_api(request):
        return api_error_response(exc)
    response = render(request, "error.html", status=exc.status, error=exc)
    secure_headers(response)
    return response
