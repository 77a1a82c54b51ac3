"""End-to-end fixtures: a real server process and logged-in client homes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess, login


@pytest.fixture
def server(tmp_path: Path, server_db_url: str) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "server-home", server_db_url).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_client(tmp_path: Path, server: ServerProcess) -> Callable[[str], Path]:
    """A new client machine (its own THREADLINE_HOME), logged in to the server."""

    def make(name: str = "laptop") -> Path:
        home = tmp_path / f"client-{name}"
        login(home, server)
        return home

    return make
