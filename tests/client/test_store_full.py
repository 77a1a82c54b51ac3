"""A local store that cannot be written (a full disk) is a StoreError, recognized by SQLite's
error name at the store's edge: ``push`` says the entry was not stored, with no traceback.

A full disk is played by ``PRAGMA max_page_count`` (no root needed); tests/e2e/test_disk_full.py
fills a real (tmpfs) disk under a running daemon."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.cli import push
from threadline.errors import StoreError
from threadline.store import db, notes


@pytest.fixture
def conn(home: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect()
    yield c
    c.close()


def fill(conn: sqlite3.Connection) -> None:
    """No page more for this connection: the next write that needs one fails as on a full
    disk (SQLITE_FULL)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def test_full_store_is_a_store_error_and_the_write_is_rolled_back(
    conn: sqlite3.Connection, home: Path
) -> None:
    notes.append(conn, project="p", name="t", role="user", text="kept")
    fill(conn)
    with pytest.raises(StoreError) as caught:
        notes.append(conn, project="p", name="t", role="user", text="x" * 200_000)
    assert "is full (SQLITE_FULL)" in caught.value.message
    assert str(home / "local.db") in caught.value.message
    assert caught.value.hint.startswith("Free some space")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert not conn.in_transaction, "the failed transaction is rolled back"
    conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    notes.append(conn, project="p", name="t", role="user", text="after")
    assert [e["text"] for e in notes.thread_entries(conn, "p", "t")] == ["kept", "after"]


def test_a_busy_store_is_not_a_store_error(conn: sqlite3.Connection, home: Path) -> None:
    """Busy and locked are waited for (busy_timeout), and pass as they are after that."""
    other = db.connect()
    try:
        other.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA busy_timeout = 0")
        with pytest.raises(sqlite3.OperationalError) as caught:
            notes.append(conn, project="p", name="t", role="user", text="x")
        assert caught.value.sqlite_errorname == "SQLITE_BUSY"
        assert not isinstance(caught.value, StoreError)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_push_on_a_full_store_says_the_entry_was_not_stored(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push.run(["-p", "p", "-t", "t", "--no-sync", "first"]) == 0
    capsys.readouterr()
    real_connect = db.connect

    def full_connect(path: Path | None = None) -> sqlite3.Connection:
        conn = real_connect(path)
        fill(conn)
        return conn

    monkeypatch.setattr(db, "connect", full_connect)
    assert push.run(["-p", "p", "-t", "t", "--no-sync", "y" * 200_000]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        f"Error: the entry was not stored: the disk holding the local store "
        f"{home / 'local.db'} is full (SQLITE_FULL)",
        "Hint: Free some space on that disk, then try again; what was stored before is kept.",
    ]
    monkeypatch.setattr(db, "connect", real_connect)
    conn = db.connect()
    try:
        assert [e["text"] for e in notes.thread_entries(conn, "p", "t")] == ["first"]
    finally:
        conn.close()
