"""Fixtures for the scoped-thread tests: the real app in process on both backends, with two
users (``alice``, ``bob``) and a small JSON API helper for each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.asgi import AsgiClient
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import Database

THREADS = "/api/v1/threads"


class Api:
    """One user's bearer-token calls to the app."""

    def __init__(self, client: AsgiClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def create(self, **body: Any) -> httpx.Response:
        return self.client.post(
            THREADS, json={"name": "n", "project": "shop", **body}, headers=self.headers
        )

    def listing(self, **query: str) -> httpx.Response:
        return self.client.get(THREADS, params=query, headers=self.headers)

    def ids(self, **query: str) -> list[str]:
        answer = self.listing(**query)
        assert answer.status_code == 200, answer.text
        return [t["id"] for t in answer.json()["threads"]]

    def get(self, thread_id: str) -> httpx.Response:
        return self.client.get(f"{THREADS}/{thread_id}", headers=self.headers)

    def delete(self, thread_id: str) -> httpx.Response:
        return self.client.delete(f"{THREADS}/{thread_id}", headers=self.headers)

    def patch(self, thread_id: str, **body: Any) -> httpx.Response:
        return self.client.patch(f"{THREADS}/{thread_id}", json=body, headers=self.headers)

    def push(self, *streams: dict[str, Any], device_id: str | None = None) -> httpx.Response:
        body = {"device_id": device_id or str(uuid.uuid4()), "streams": list(streams)}
        return self.client.post("/api/v1/sync/push", json=body, headers=self.headers)


def note_stream(ref: dict[str, Any], *texts: str, stream_id: str | None = None) -> dict[str, Any]:
    """A new note stream of the thread ``ref`` holding ``texts`` as entries 1, 2 …"""
    entries = [
        {
            "seq": i,
            "id": str(uuid.uuid4()),
            "ts": f"2026-11-21T10:00:{i:02d}Z",
            "role": "assistant",
            "text": text,
        }
        for i, text in enumerate(texts, start=1)
    ]
    return {"stream_id": stream_id or str(uuid.uuid4()), "thread": ref, "entries": entries}


@pytest.fixture
def app_client(db: Database, server_db_url: str) -> Iterator[AsgiClient]:
    client = AsgiClient(create_app(ServerSettings(database_url=server_db_url), db=db))
    yield client
    client.close()


def _api(db: Database, client: AsgiClient, name: str) -> Api:
    accounts.create_user(db, name, "correct horse")
    return Api(client, accounts.create_token(db, name, "tests").secret)


@pytest.fixture
def alice(db: Database, app_client: AsgiClient) -> Api:
    return _api(db, app_client, "alice")


@pytest.fixture
def bob(db: Database, app_client: AsgiClient) -> Api:
    return _api(db, app_client, "bob")
