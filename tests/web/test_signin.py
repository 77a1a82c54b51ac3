"""Signing in and out of the web UI: cookie flags, CSRF, errors, rate limit, redirects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import csrf_of, sign_in
from threadline.services import accounts
from threadline.storage.database import Database
from threadline.storage.schema import web_sessions
from threadline.storage.values import ts_text


def test_pages_need_a_session_and_come_back_after_signing_in(
    browser: Callable[[], AsgiClient], users: list[str]
) -> None:
    client = browser()
    answer = client.get("/threads?project=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/threads%3Fproject%3Dx"
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "Sign in" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    signed = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery staple",
              "csrf": csrf_of(page), "next": "/threads?project=x"},
    )  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/threads?project=x"
    cookie = signed.headers["set-cookie"]
    assert "threadline_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/threads").status_code == 200


def test_secure_cookie_behind_https(browser: Callable[[], AsgiClient], users: list[str]) -> None:
    client = browser()
    page = client.get("/login")
    signed = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery staple",
              "csrf": csrf_of(page)},
        headers={"x-forwarded-proto": "https"},
    )  # fmt: skip
    assert "Secure" in signed.headers["set-cookie"]


def test_bad_credentials_say_so_and_the_rate_limit_stops_guessing(
    browser: Callable[[], AsgiClient], users: list[str]
) -> None:
    client = browser()
    wrong = sign_in(client, "alice", "nope")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    assert "threadline_session" not in wrong.headers.get("set-cookie", "")
    statuses = [sign_in(client, "alice", "nope").status_code for _ in range(12)]
    assert statuses[-1] == 429
    assert "try again" in sign_in(client, "alice", "nope").text.lower()


def test_forms_without_csrf_or_from_elsewhere_are_refused(
    browser: Callable[[], AsgiClient], users: list[str]
) -> None:
    client = browser()
    client.get("/login")
    no_token = client.post("/login", data={"username": "alice", "password": "x"})
    assert no_token.status_code == 403
    sign_in(client, "alice")
    page = client.get("/threads")
    token = csrf_of(page)
    other_site = client.post(
        "/logout", data={"csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/threads").status_code == 200, "still signed in"
    out = client.post("/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/threads").status_code == 303


def test_next_never_leaves_the_site(browser: Callable[[], AsgiClient], users: list[str]) -> None:
    client = browser()
    page = client.get("/login?next=//evil.example/x")
    assert 'value="/threads"' in page.text
    answer = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery staple",
              "csrf": csrf_of(page), "next": "https://evil.example/"},
    )  # fmt: skip
    assert answer.headers["location"] == "/threads"


def test_signing_in_deletes_expired_sessions(
    browser: Callable[[], AsgiClient], users: list[str], db: Database
) -> None:
    alice_id = next(u.id for u in accounts.list_users(db) if u.name == "alice")
    now = datetime.now(UTC)
    rows = {"expired": now - timedelta(minutes=1), "current": now + timedelta(days=1)}
    with db.write() as conn:
        for name, expires in rows.items():
            conn.execute(
                web_sessions.insert().values(
                    id_hash=f"test-{name}", user_id=alice_id, csrf="x",
                    created_at=ts_text(now - timedelta(days=40)), last_seen_at=ts_text(now),
                    expires_at=ts_text(expires),
                )
            )  # fmt: skip
    assert sign_in(browser(), "bob").status_code == 303, "anyone's sign-in clears them"
    with db.read() as conn:
        left = set(conn.execute(sa.select(web_sessions.c.id_hash)).scalars())
    assert "test-expired" not in left
    assert "test-current" in left
    assert len(left) == 2, "the new session and the current one"
