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

from dataclasses import dataclass
from typing import Any

import anyio
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from threadline import protocol as p
from threadline.errors import NotFound, TooManyRequests, Unauthorized
from threadline.server.auth import hash_password, insert_token, revoke, verify_login
from threadline.server.database import Database
from threadline.server.deps import app_state
from threadline.server.schema import devices, tokens, users
from threadline.web import sessions
from threadline.web.routes import router
from threadline.web.sessions import User, WebUser
from threadline.web.templating import render

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MESSAGES = {
    "revoked": "The token was revoked; the device using it is signed out.",
    "password": "Your password was changed. Other browsers were signed out.",
}


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    device: str | None
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def user_tokens(db: Database, user_id: int) -> list[TokenRow]:
    """The user's tokens: those in use first, newest first."""
    query = (
        sa.select(tokens, devices.c.name.label("device_name"))
        .outerjoin(devices, devices.c.id == tokens.c.device_id)
        .where(tokens.c.user_id == user_id)
        .order_by(tokens.c.revoked_at.is_not(None), tokens.c.id.desc())
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [
        TokenRow(
            id=int(row.id),
            name=row.name,
            device=row.device_name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


def create_token(db: Database, user_id: int, name: str) -> tuple[int, str]:
    return db.run_write(lambda conn: insert_token(conn, user_id, None, name))


def revoke_token(db: Database, user_id: int, token_id: int) -> None:
    """Revoke the user's token ``token_id`` (already revoked is fine); else :class:`NotFound`."""
    mine = tokens.c.id == token_id, tokens.c.user_id == user_id
    with db.read() as conn:
        found = conn.execute(sa.select(tokens.c.id).where(*mine)).first()
    if found is None:
        raise NotFound("no such token", hint="The account page lists your tokens.")
    revoke(db, token_id)


def change_password(db: Database, user: WebUser, new: str) -> None:
    """Store ``new`` as the user's password and sign out their other sessions."""
    new_hash = hash_password(new)
    with db.write() as conn:
        conn.execute(
            users.update().where(users.c.id == user.user_id).values(password_hash=new_hash)
        )
    sessions.end_other_sessions(db, user)


def _page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("message", None)
    context.setdefault("error", None)
    context.setdefault("password_error", None)
    context.setdefault("created", None)
    context.setdefault("token_name", "")
    rows = user_tokens(app_state(request).db, user.user_id)
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
    token_id, secret = await anyio.to_thread.run_sync(create_token, db, user.user_id, name)
    created = {"id": token_id, "name": name, "secret": secret}
    return _page(request, user, created=created)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token_form(request: Request, user: User, token_id: int) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    await anyio.to_thread.run_sync(revoke_token, app_state(request).db, user.user_id, token_id)
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
    db, limiter = app_state(request).db, app_state(request).limiter
    try:
        # Only the name's failures count here: the user is signed in, the address is theirs.
        await anyio.to_thread.run_sync(verify_login, db, limiter, user.name, current, None)
    except TooManyRequests as exc:
        return _page(request, user, 429, password_error=exc.message)
    except Unauthorized:
        return _page(request, user, 401, password_error="The current password is wrong.")
    await anyio.to_thread.run_sync(change_password, db, user, new)
    return RedirectResponse("/account?done=password", status_code=303)
