"""Which SQLite errors make :meth:`Database.run_write` start a transaction again: those named
``SQLITE_BUSY`` or ``SQLITE_LOCKED`` (and their extended codes), whatever their message says."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from threadline.storage.database import open_database, sqlite_retryable


def busy_error(path: Path) -> sqlite3.OperationalError:
    """A real ``SQLITE_BUSY``: a second writer while the first holds the write lock."""
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        first.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            second.execute("BEGIN IMMEDIATE")
        return caught.value
    finally:
        first.execute("ROLLBACK")
        first.close()
        second.close()


def test_busy_is_recognized_by_its_name(tmp_path: Path) -> None:
    error = busy_error(tmp_path / "busy.db")
    assert error.sqlite_errorname.startswith("SQLITE_BUSY")
    assert sqlite_retryable(error)


def test_the_message_text_does_not_decide(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "other.db")
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("SELECT * FROM locked_busy_table")
    conn.close()
    assert "locked" in str(caught.value) and "busy" in str(caught.value)
    assert not sqlite_retryable(caught.value)
    assert not sqlite_retryable(sqlite3.OperationalError("database is locked"))
    assert not sqlite_retryable(None)


def test_run_write_retries_a_busy_transaction(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    error = busy_error(tmp_path / "busy.db")
    attempts: list[int] = []

    def work(conn: sa.Connection) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, error)
        return int(conn.execute(sa.text("SELECT 7")).scalar_one())

    try:
        assert db.run_write(work) == 7
        assert len(attempts) == 2
    finally:
        db.dispose()


def test_run_write_does_not_retry_other_errors(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    attempts: list[int] = []

    def work(conn: sa.Connection) -> None:
        attempts.append(1)
        conn.execute(sa.text("SELECT * FROM no_such_table_locked"))

    try:
        with pytest.raises(sa.exc.OperationalError):
            db.run_write(work)
        assert len(attempts) == 1
    finally:
        db.dispose()
