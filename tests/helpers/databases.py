"""Server databases for tests: a SQLite file, and PostgreSQL when a test database is given.

``THREADLINE_TEST_DATABASE_URL`` names a PostgreSQL database; each test gets a fresh schema in
it (dropped afterwards), reached through ``options=-csearch_path=…`` in the URL. Without the
variable the PostgreSQL cases skip — except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ENV = "THREADLINE_TEST_DATABASE_URL"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_base_url() -> str:
    url = os.environ.get(ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"PostgreSQL tests need {ENV}=postgresql://user@host:port/db")
    return url


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database URL nobody else uses, for the duration of the block."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    import psycopg

    base = postgres_base_url()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
