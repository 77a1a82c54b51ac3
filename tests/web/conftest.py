"""Web UI tests in process: the real app over ASGI, with a cookie jar, on both backends
(``db`` comes from ``tests/conftest.py``).

``PASSWORD`` and ``csrf_of`` come from :mod:`tests.helpers.web` (shared with the browser tests)
and are re-exported here for this folder's tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.web import PASSWORD as PASSWORD
from tests.helpers.web import csrf_of as csrf_of
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import Database


@pytest.fixture
def browser(db: Database, server_db_url: str) -> Iterator[Callable[[], AsgiClient]]:
    """``browser()``: a new client with its own cookies, against one app."""
    app = create_app(ServerSettings(database_url=server_db_url), db=db)
    made: list[AsgiClient] = []

    def make() -> AsgiClient:
        client = AsgiClient(app)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def users(db: Database) -> list[str]:
    for name in ("alice", "bob"):
        accounts.create_user(db, name, PASSWORD)
    return ["alice", "bob"]


@pytest.fixture
def alice(browser: Callable[[], AsgiClient], users: list[str]) -> AsgiClient:
    """A browser signed in as alice."""
    client = browser()
    sign_in(client, "alice")
    return client


def sign_in(client: AsgiClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf": csrf_of(page), "next": "/threads"},
    )
