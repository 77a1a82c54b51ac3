"""Fixtures shared by every test folder.

``server_db_url`` runs a test on SQLite and, when ``THREADLINE_TEST_DATABASE_URL`` names a
PostgreSQL database, on a fresh schema there — skipped without it, failed under ``CI=true``.
On it: ``db`` (the server database, opened in process) and ``server`` (a real
``threadline serve``). ``conn`` is a client's local store.

A test that takes ``db`` or ``server`` would migrate its database first; its
``server_db_url`` is already migrated instead, handed out by :mod:`tests.helpers.templates`
(copied or emptied, not migrated again). Without them it is blank, as the migration tests need.

Passwords hashed in the test process (users made in process, including those of a
``threadline serve`` made with ``create_user_and_token``) are argon2id hashes with the smallest
cost (:data:`TEST_HASHER`): the same algorithm, hash format and checks, without a quarter of a
second of deliberate work per hash and per sign-in. A hash carries its own cost, so a server
process checks such a password as cheaply, while the hashes a server makes itself (the
first-run admin) keep the product's cost.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tests.helpers.server import (
    ENV_TEST_DATABASE,
    PostgresUnavailable,
    ServerProcess,
    fresh_database_url,
)
from tests.helpers.templates import MigratedDatabases
from threadline.services import auth
from threadline.storage.database import Database, open_database
from threadline.store import db as local_db

#: The shared real transcripts, next to the repository (never copied into it).
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

#: Fixtures that migrate ``server_db_url`` anyway: with one, it comes migrated.
MIGRATING = frozenset({"db", "server"})


#: argon2id at its lowest cost, for the passwords tests hash (see the module docstring).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", TEST_HASHER)
        patch.setattr(auth, "_DUMMY_HASH", TEST_HASHER.hash("not anyone's password"))
        yield


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabases]:
    databases = MigratedDatabases(tmp_path_factory.mktemp("migrated"))
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def server_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_databases: MigratedDatabases
) -> Iterator[str]:
    migrated = not MIGRATING.isdisjoint(request.fixturenames)
    database = migrated_databases.database_url if migrated else fresh_database_url
    with database_or_skip(database, request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_databases: MigratedDatabases,
) -> Iterator[ServerProcess]:
    """One real ``threadline serve`` per backend for a module's tests that only add data of
    their own (their own users, repositories or keys) and never stop it: one start instead of
    one per test. ``parametrize("module_server", ["sqlite"], indirect=True)`` keeps a test
    whose behaviour does not depend on the database to SQLite."""
    folder = tmp_path_factory.mktemp("module-server")
    with (
        database_or_skip(migrated_databases.database_url, request.param, folder) as url,
        ServerProcess(folder / "server-home", url) as srv,
    ):
        yield srv


@contextmanager
def database_or_skip(
    database: Callable[[str, Path], AbstractContextManager[str]], backend: str, folder: Path
) -> Iterator[str]:
    """``database(backend, folder)``; without PostgreSQL a skip, or a failure under CI."""
    try:
        with database(backend, folder) as url:
            yield url
    except PostgresUnavailable:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {ENV_TEST_DATABASE} is not set: PostgreSQL must be tested")
        pytest.skip(f"PostgreSQL tests need {ENV_TEST_DATABASE}=postgresql://user@host:port/db")


@pytest.fixture
def fixtures() -> Path:
    """The real transcript folder; skip (or fail in CI) when it is not there."""
    if not FIXTURES.is_dir():
        message = f"real transcripts not found at {FIXTURES} (see shared/fixtures/MANIFEST.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return FIXTURES


@pytest.fixture
def db(server_db_url: str) -> Iterator[Database]:
    """The server database of ``server_db_url``, migrated, opened in process."""
    database = open_database(server_db_url)
    yield database
    database.dispose()


@pytest.fixture
def server(tmp_path: Path, server_db_url: str) -> Iterator[ServerProcess]:
    """A real ``threadline serve`` on ``server_db_url``, stopped afterwards."""
    srv = ServerProcess(tmp_path / "server-home", server_db_url).start()
    yield srv
    srv.stop()


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A client's local store (``local.db``) in ``tmp_path``."""
    c = local_db.connect(tmp_path / "local.db")
    yield c
    c.close()
