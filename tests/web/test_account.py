"""The account page in process, on both backends: tokens listed, created once, revoked only by
their owner; the password changed with every check, other browsers signed out."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import PASSWORD, csrf_of, sign_in
from threadline.services import accounts
from threadline.storage.database import Database
from threadline.storage.schema import tokens

SECRET = re.compile(r'id="token-secret"[^>]* value="(tl_[^"]+)"')


def signed_in(browser: Callable[[], AsgiClient], name: str) -> AsgiClient:
    client = browser()
    assert sign_in(client, name).status_code == 303
    return client


def create(client: AsgiClient, name: str) -> tuple[int, str]:
    page = client.get("/account")
    answer = client.post("/account/tokens", data={"csrf": csrf_of(page), "name": name})
    assert answer.status_code == 200, answer.text[:300]
    secret = SECRET.search(answer.text)
    assert secret, answer.text
    row = re.search(r'id="token-(\d+)"', answer.text)
    assert row
    return int(row.group(1)), secret.group(1)


def test_tokens_are_listed_created_once_and_work(
    browser: Callable[[], AsgiClient], users: list[str], db: Database
) -> None:
    accounts.create_token(db, "alice", "old laptop")
    accounts.create_token(db, "bob", "bob's phone")
    client = signed_in(browser, "alice")
    page = client.get("/account")
    assert page.status_code == 200
    assert "old laptop" in page.text and "bob&#39;s phone" not in page.text
    assert "never" in page.text and "active" in page.text
    token_id, secret = create(client, "<b>desk</b>")
    again = client.get("/account")
    assert "&lt;b&gt;desk&lt;/b&gt;" in again.text and "<b>desk</b>" not in again.text
    assert secret not in again.text, "the secret is shown once"
    assert f"{secret[:8]}…" in again.text, "its prefix is listed"
    with db.read() as conn:
        stored = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).one()
    assert stored.user_id == next(u.id for u in accounts.list_users(db) if u.name == "alice")
    assert secret not in stored.token_hash
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["user"] == "alice"


def test_token_names_are_checked(browser: Callable[[], AsgiClient], users: list[str]) -> None:
    client = signed_in(browser, "alice")
    csrf = csrf_of(client.get("/account"))
    empty = client.post("/account/tokens", data={"csrf": csrf, "name": "  "})
    assert empty.status_code == 400 and "Give the token a name" in empty.text
    long = client.post("/account/tokens", data={"csrf": csrf, "name": "x" * 500})
    assert long.status_code == 400 and "too long" in long.text
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 403


def test_revoke_only_own_tokens(
    browser: Callable[[], AsgiClient], users: list[str], db: Database
) -> None:
    bobs = accounts.create_token(db, "bob", "bob's laptop")
    alice = signed_in(browser, "alice")
    token_id, secret = create(alice, "desk")
    csrf = csrf_of(alice.get("/account"))
    other = alice.post(f"/account/tokens/{bobs.id}/revoke", data={"csrf": csrf})
    assert other.status_code == 404
    assert alice.post("/account/tokens/999999/revoke", data={"csrf": csrf}).status_code == 404
    assert alice.post(f"/account/tokens/{token_id}/revoke", data={}).status_code == 403
    bearer = {"Authorization": f"Bearer {bobs.secret}"}
    assert alice.get("/api/v1/me", headers=bearer).status_code == 200, "bob's still works"
    done = alice.post(f"/account/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=revoked"
    page = alice.get(done.headers["location"])
    assert "The token was revoked" in page.text
    assert re.search(rf'id="token-{token_id}" class="revoked"', page.text)
    assert f"/account/tokens/{token_id}/revoke" not in page.text
    mine = {"Authorization": f"Bearer {secret}"}
    assert alice.get("/api/v1/me", headers=mine).status_code == 401
    again = alice.post(f"/account/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert again.status_code == 303, "revoking twice is fine"


def test_change_password(browser: Callable[[], AsgiClient], users: list[str]) -> None:
    here, elsewhere = signed_in(browser, "alice"), signed_in(browser, "alice")
    bob = signed_in(browser, "bob")
    csrf = csrf_of(here.get("/account"))

    def change(current: str, new: str, again: str | None = None) -> httpx.Response:
        data = {"csrf": csrf, "current": current, "new": new, "again": again or new}
        return here.post("/account/password", data=data)

    cases = [
        (change("", "new password 1"), 400, "Enter your current password."),
        (change(PASSWORD, "short"), 400, "at least 8 characters"),
        (change(PASSWORD, "new password 1", "new password 2"), 400, "differ"),
        (change("wrong password", "new password 1"), 401, "current password is wrong"),
    ]
    for answer, status, message in cases:
        assert answer.status_code == status and message in answer.text
    no_csrf = here.post("/account/password", data={"current": PASSWORD, "new": "x" * 9})
    assert no_csrf.status_code == 403
    assert sign_in(browser(), "alice").status_code == 303, "nothing changed yet"

    done = change(PASSWORD, "new password 1")
    assert done.status_code == 303
    assert "Your password was changed" in here.get("/account?done=password").text
    assert here.get("/account").status_code == 200, "this browser stays signed in"
    assert elsewhere.get("/account").status_code == 303, "the other one is signed out"
    assert bob.get("/account").status_code == 200, "other users are not touched"
    assert sign_in(browser(), "alice").status_code == 401
    assert sign_in(browser(), "alice", "new password 1").status_code == 303


def test_account_needs_a_session(browser: Callable[[], AsgiClient], users: list[str]) -> None:
    client = browser()
    assert client.get("/account").headers["location"] == "/login?next=/account"
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 303
