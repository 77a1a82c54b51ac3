"""The account page: the user's device tokens and their password.

- ``GET /account`` — the tokens (name, device, created, last use, prefix, revoked or not),
  a form to create one and one to change the password. ``?done=`` names a message to show
  after a redirect (``revoked``, ``password``).
- ``POST /account/tokens`` (``name``) — a new token; the answer is the page with the secret,
  shown this once (only its hash is stored) and with a copy button.
- ``POST /account/tokens/{id}/revoke`` — revokes one of the user's own tokens (another user's,
  or none, is ``404``); then back to the page.
- ``POST /account/password`` (``current``, ``new``, ``again``) — checks the current password,
  needs the new one twice and at least :data:`MIN_PASSWORD_CHARS` characters, stores its
  argon2 hash and signs out the user's other browser sessions. Device tokens stay valid.
  Wrong current passwords count against the sign-in rate limit of the user name.

Every form carries the session's CSRF token. A refused form is the page again with the
message, status ``400`` (``401`` for a wrong current password), and nothing changed.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from threadline import protocol as p
from threadline.errors import TooManyRequests, Unauthorized
from threadline.services import accounts, web_sessions
from threadline.services.auth import verify_login
from threadline.services.context import AppState, app_state
from threadline.web import sessions
from threadline.web.sessions import User, WebUser
from threadline.web.templating import render

router = APIRouter(include_in_schema=False)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MESSAGES = {
    "revoked": "The token was revoked; the device using it is signed out.",
    "password": "Your password was changed. Other browsers were signed out.",
}


def change_password(state: AppState, user: WebUser, new: str) -> None:
    """Store ``new`` as the user's password and sign out their other sessions."""
    accounts.set_password(state.db, user.user_id, new)
    web_sessions.end_others(state.db, user.user_id, user.session_hash)


def _page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("message", None)
    context.setdefault("error", None)
    context.setdefault("password_error", None)
    context.setdefault("created", None)
    context.setdefault("token_name", "")
    rows = accounts.user_tokens(app_state(request).db, user.user_id)
    return render(
        request, "account.html", status=status, tokens=rows,
        min_password=MIN_PASSWORD_CHARS, max_name=p.MAX_NAME_CHARS, **context,
    )  # fmt: skip


@router.get("/account")
def account_page(request: Request, user: User, done: str | None = None) -> Response:
    return _page(request, user, message=MESSAGES.get(done or ""))


@router.post("/account/tokens")
async def create_token_form(request: Request, user: User) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    name = form.get("name", "").strip()
    if not name:
        return _page(request, user, 400, error="Give the token a name, e.g. the device using it.")
    if len(name) > p.MAX_NAME_CHARS:
        return _page(
            request, user, 400, token_name=name[: p.MAX_NAME_CHARS],
            error=f"The name is too long ({p.MAX_NAME_CHARS} characters at most).",
        )  # fmt: skip
    db = app_state(request).db
    token_id, secret = await anyio.to_thread.run_sync(
        accounts.create_own_token, db, user.user_id, name
    )
    created = {"id": token_id, "name": name, "secret": secret}
    return _page(request, user, created=created)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token_form(request: Request, user: User, token_id: int) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    db = app_state(request).db
    await anyio.to_thread.run_sync(accounts.revoke_own_token, db, user.user_id, token_id)
    return RedirectResponse("/account?done=revoked", status_code=303)


@router.post("/account/password")
async def password_form(request: Request, user: User) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    current, new, again = form.get("current", ""), form.get("new", ""), form.get("again", "")
    problem = None
    if not current:
        problem = "Enter your current password."
    elif len(new) < MIN_PASSWORD_CHARS:
        problem = f"The new password must have at least {MIN_PASSWORD_CHARS} characters."
    elif len(new) > MAX_PASSWORD_CHARS:
        problem = f"The new password must have at most {MAX_PASSWORD_CHARS} characters."
    elif new != again:
        problem = "The two new passwords differ; type the same one twice."
    if problem:
        return _page(request, user, 400, password_error=problem)
    state = app_state(request)
    try:
        # Only the name's failures count here: the user is signed in, the address is theirs.
        await anyio.to_thread.run_sync(
            verify_login, state.db, state.limiter, user.name, current, None
        )
    except TooManyRequests as exc:
        return _page(request, user, 429, password_error=exc.message)
    except Unauthorized:
        return _page(request, user, 401, password_error="The current password is wrong.")
    await anyio.to_thread.run_sync(change_password, state, user, new)
    return RedirectResponse("/account?done=password", status_code=303)
