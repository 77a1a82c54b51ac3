"""End-to-end fixtures: logged-in client homes of the real server process (``server``, from
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess, login


@pytest.fixture
def make_client(tmp_path: Path, server: ServerProcess) -> Callable[[str], Path]:
    """A new client machine (its own THREADLINE_HOME), logged in to the server."""

    def make(name: str = "laptop") -> Path:
        home = tmp_path / f"client-{name}"
        login(home, server)
        return home

    return make
