"""End-to-end fixtures: a real server process and logged-in client homes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import live
from tests.helpers.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[live.LiveServer]:
    srv = live.LiveServer(tmp_path / "server-home", database_url).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_client(tmp_path: Path, server: live.LiveServer) -> Callable[[str], Path]:
    """A new client machine (its own THREADLINE_HOME), logged in to the server."""

    def make(name: str = "laptop") -> Path:
        home = tmp_path / f"client-{name}"
        live.login(home, server)
        return home

    return make
