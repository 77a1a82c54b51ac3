"""Fixtures for the server tests: a database per test on every backend, the real app in
process (``AsgiClient`` over ASGI), and accounts with bearer tokens.

``server_db_url`` and ``db`` (from ``tests/conftest.py``) run each test on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import Database

DEVICE_ID = "2f6e0000-0000-4000-8000-000000000001"


@pytest.fixture
def settings(server_db_url: str) -> ServerSettings:
    return ServerSettings(database_url=server_db_url)


@pytest.fixture
def make_client(db: Database, settings: ServerSettings) -> Iterator[Callable[..., AsgiClient]]:
    """A client of the real app, built with any settings overridden."""
    clients: list[AsgiClient] = []

    def make(**overrides: Any) -> AsgiClient:
        client = AsgiClient(create_app(settings.with_overrides(**overrides), db=db))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., AsgiClient]) -> AsgiClient:
    return make_client()


@pytest.fixture
def make_account(db: Database) -> Callable[..., Account]:
    """``make_account("bob")``: a user with a device-less token, straight in the database."""

    def make(
        user: str = "alice", password: str = "correct horse", is_admin: bool = False
    ) -> Account:
        if user not in {u.name for u in accounts.list_users(db)}:
            accounts.create_user(db, user, password, is_admin=is_admin)
        token = accounts.create_token(db, user, "tests")
        return Account(user, password, token.secret, token.id)

    return make


@pytest.fixture
def alice(make_account: Callable[..., Account]) -> Account:
    return make_account("alice")


def entry(seq: int, text: str = "", **fields: Any) -> dict[str, Any]:
    """A push entry with a fresh id and a fixed timestamp, overridable field by field."""
    body = {
        "seq": seq,
        "id": str(uuid.uuid4()),
        "ts": f"2026-11-21T10:00:{seq % 60:02d}.000000Z",
        "role": "assistant",
        "text": text or f"entry {seq}",
    }
    body.update(fields)
    return body


def stream(
    stream_id: str, entries: list[dict[str, Any]], key: str = "note:shop:main", **thread: Any
) -> dict[str, Any]:
    name = key.rsplit(":", 1)[-1]
    ref = {"key": key, "kind": "note", "name": name, "project": "shop", **thread}
    return {"stream_id": stream_id, "thread": ref, "entries": entries}


def push_body(*streams: dict[str, Any], device_id: str | None = None) -> dict[str, Any]:
    return {
        "device_id": device_id or "2f6e0000-0000-4000-8000-000000000001",
        "streams": list(streams),
    }
