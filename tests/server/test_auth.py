"""Bearer tokens, password login and its rate limit, logout and ``/me``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from threadline.services import accounts
from threadline.storage.database import Database

LOGIN = "/api/v1/auth/login"


def login_body(
    user: str = "alice", password: str = "correct horse", **extra: Any
) -> dict[str, Any]:
    device = str(uuid.uuid4())
    return {
        "username": user,
        "password": password,
        "device_id": device,
        "device_name": "laptop",
        **extra,
    }


def test_login_gives_a_device_token(client: AsgiClient, alice: Account) -> None:
    body = login_body()
    response = client.post(LOGIN, json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["user"] == "alice" and answer["device_id"] == body["device_id"]
    assert answer["token"].startswith("tl_") and len(answer["token"]) == 46
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {answer['token']}"}).json()
    assert me == {
        "user": "alice",
        "is_admin": False,
        "device_id": body["device_id"],
        "token_id": answer["token_id"],
    }


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("nobody", "correct horse")])
def test_bad_credentials_are_401(
    client: AsgiClient, alice: Account, user: str, password: str
) -> None:
    response = client.post(LOGIN, json=login_body(user, password))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_login_rate_limit(client: AsgiClient, alice: Account) -> None:
    for _ in range(10):
        assert client.post(LOGIN, json=login_body(password="wrong")).status_code == 401
    response = client.post(LOGIN, json=login_body())
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "too_many_requests"
    assert 0 < error["detail"]["retry_after"] <= 300


def test_login_rate_limit_by_address_covers_other_names(client: AsgiClient, alice: Account) -> None:
    for i in range(10):
        client.post(LOGIN, json=login_body(f"user{i}", "wrong"))
    assert client.post(LOGIN, json=login_body()).status_code == 429


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer tl_unknown", "bearer   "],
)
def test_missing_or_unknown_token_is_401_with_hint(
    client: AsgiClient, alice: Account, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["detail"]["hint"]


def test_revoked_token_is_401(client: AsgiClient, alice: Account, db: Database) -> None:
    assert client.get("/api/v1/me", headers=alice.headers).status_code == 200
    accounts.revoke_token(db, alice.token_id)
    response = client.get("/api/v1/me", headers=alice.headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_logout_revokes_the_calling_token_only(
    client: AsgiClient, make_account: Callable[..., Account]
) -> None:
    first, second = make_account("alice"), make_account("alice")
    assert client.delete("/api/v1/auth/token", headers=first.headers).status_code == 204
    assert client.get("/api/v1/me", headers=first.headers).status_code == 401
    assert client.get("/api/v1/me", headers=second.headers).status_code == 200


def test_using_a_token_records_last_use(client: AsgiClient, alice: Account, db: Database) -> None:
    client.get("/api/v1/me", headers=alice.headers)
    [token] = accounts.list_tokens(db, "alice")
    assert token.last_used_at is not None


def test_capabilities_and_login_need_no_token(client: AsgiClient) -> None:
    assert client.get("/api/v1/capabilities").status_code == 200
    assert client.post(LOGIN, json=login_body()).status_code == 401
