"""A real ``threadline serve`` holding the real transcripts of ``shared/fixtures``, imported
through the real CLI, for the ask tests — once per module and backend (SQLite, and
PostgreSQL when ``THREADLINE_TEST_DATABASE_URL`` is set).

``alice`` owns the history; ``bob`` is a second user with nothing of his own. Both talk to the
server with tokens of their own (``Account.headers``, and :meth:`Site.cli` for the CLI).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, FIXTURES
from tests.helpers import cli
from tests.helpers.server import (
    Account,
    PostgresUnavailable,
    ServerProcess,
    create_user_and_token,
    fresh_database_url,
)
from tests.helpers.web import PASSWORD


@dataclass
class Site:
    server: ServerProcess
    database_url: str
    folder: Path
    alice: Account
    bob: Account
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def ask(self, who: Account, **body: Any) -> httpx.Response:
        """``POST /api/v1/ask`` as ``who``."""
        return httpx.post(f"{self.url}/api/v1/ask", json=body, headers=who.headers, timeout=60)

    def get(self, who: Account, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, headers=who.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def entries(self, who: Account, thread_id: str) -> list[dict[str, Any]]:
        return list(self.get(who, f"/api/v1/threads/{thread_id}/entries", limit=500)["entries"])

    def cli(
        self, who: Account, *args: str, cwd: Path | None = None, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """``threadline ARGS`` as ``who``, in a home of its own."""
        home = self.folder / f"home-{who.user}"
        env = {"THREADLINE_SERVER_URL": self.url, "THREADLINE_TOKEN": who.token, **extra}
        return cli.run(home, *args, cwd=cwd, timeout=timeout, env=env)


def history_site(
    backend: str,
    folder: Path,
    server_env: dict[str, str] | None = None,
    paths: tuple[Path, ...] = (FIXTURES,),
) -> Iterator[Site]:
    """A server with ``paths`` imported by alice (see the module docstring)."""
    if not FIXTURES.is_dir():
        message = f"real transcripts not found at {FIXTURES}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        with fresh_database_url(backend, folder) as url:
            alice = create_user_and_token(url, "alice", PASSWORD)
            bob = create_user_and_token(url, "bob", PASSWORD)
            with ServerProcess(folder / "server-home", url, env=server_env) as server:
                site = Site(server, url, folder, alice, bob)
                imported = site.cli(alice, "import", *map(str, paths), timeout=300)
                assert imported.returncode == 0, imported.stderr
                yield site
    except PostgresUnavailable:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but THREADLINE_TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need THREADLINE_TEST_DATABASE_URL")


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    yield from history_site(request.param, tmp_path_factory.mktemp("ask"))
