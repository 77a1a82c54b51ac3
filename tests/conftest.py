"""Fixtures shared by every test folder.

``server_db_url`` runs a test on SQLite and, when ``THREADLINE_TEST_DATABASE_URL`` names a
PostgreSQL database, on a fresh schema there — skipped without it, failed under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import ENV_TEST_DATABASE, PostgresUnavailable, fresh_database_url

#: The shared real transcripts, next to the repository (never copied into it).
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def server_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    try:
        with fresh_database_url(request.param, tmp_path) as url:
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
