"""Fixtures for the hand-off server tests: the real app in process (``AsgiClient`` over ASGI)
on SQLite and PostgreSQL (``server_db_url`` and ``db`` from ``tests/conftest.py``), accounts
with bearer tokens, and builders of blobs and save bodies."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server import conftest as server_fixtures
from threadline.services import accounts
from threadline.storage.database import Database

BLOBS = "/api/v1/blobs"
SAVES = "/api/v1/saves"
COMMIT = "3f9c2b1a" * 5

# The app in process, built as the other server tests build it.
settings = server_fixtures.settings
make_client = server_fixtures.make_client
client = server_fixtures.client


@pytest.fixture
def make_account(db: Database) -> Callable[[str], Account]:
    """``make_account("bob")``: a user with a device-less token, straight in the database."""

    def make(user: str) -> Account:
        if user not in {u.name for u in accounts.list_users(db)}:
            accounts.create_user(db, user, "correct horse")
        token = accounts.create_token(db, user, "tests")
        return Account(user, "correct horse", token.secret, token.id)

    return make


@pytest.fixture
def alice(make_account: Callable[[str], Account]) -> Account:
    return make_account("alice")


@pytest.fixture
def bob(make_account: Callable[[str], Account]) -> Account:
    return make_account("bob")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: AsgiClient, who: Account, data: bytes, **headers: str) -> str:
    """PUT ``data`` as a blob of ``who``; its name."""
    name = sha(data)
    answer = client.put(f"{BLOBS}/{name}", content=data, headers=who.headers | headers)
    assert answer.status_code in (200, 201), answer.text
    return name


def save_body(**fields: Any) -> dict[str, Any]:
    """A valid save body with a fresh ``save_id``, overridable field by field."""
    body: dict[str, Any] = {
        "save_id": str(uuid.uuid4()),
        "thread_id": None,
        "session_id": "5e551000-0000-4000-8000-000000000001",
        "agent": "claude-code",
        "line_count": 42,
        "remote": "git@github.com:acme/shop.git",
        "remote_key": "github.com/acme/shop",
        "branch": "feature/checkout",
        "commit": COMMIT,
        "detached": False,
        "upstream": "origin/feature/checkout",
        "message": "halfway through the checkout refactor",
        "device_name": "desk",
        "resumed_from": None,
        "repo_root": "/home/me/src/shop",
        "cwd": "/home/me/src/shop/api",
        "blobs": {"bundle": None, "patch": None, "untracked": None},
        "files": [{"path": "api/orders.py", "status": "M", "mode": "100644"}],
        "excluded": [".env"],
        "created": "2026-11-21T10:00:00.000000Z",
    }
    body.update(fields)
    return body


def post_save(client: AsgiClient, who: Account, body: dict[str, Any]) -> Any:
    return client.post(SAVES, json=body, headers=who.headers)


def created_save(client: AsgiClient, who: Account, body: dict[str, Any]) -> dict[str, Any]:
    answer = post_save(client, who, body)
    assert answer.status_code == 201, answer.text
    save: dict[str, Any] = answer.json()
    return save


def error_code(response: Any, status: int) -> str:
    """The error code of ``response``, after checking its status and the one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}
    code: str = body["error"]["code"]
    return code
