"""The one client-side delivery entry point, and the merged local and server view of threads:
every way a delivery stops short comes back as a reason, never as an exception."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline import config as config_mod
from threadline.errors import LockTimeout, NotLoggedIn, ServerUnreachable
from threadline.store import db, notes
from threadline.sync import deliver, engine, views


@pytest.fixture
def conn(home: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect()
    notes.append(c, project="p", name="t", role="user", text="one")
    notes.append(c, project="p", name="t", role="user", text="two")
    yield c
    c.close()


def closed_port_url() -> str:
    """The URL of a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def configured(monkeypatch: pytest.MonkeyPatch) -> config_mod.Config:
    monkeypatch.setenv("THREADLINE_SERVER_URL", closed_port_url())
    monkeypatch.setenv("THREADLINE_TOKEN", "tl_not_a_real_token")
    return config_mod.load()


def test_not_logged_in_is_a_reason(conn: sqlite3.Connection) -> None:
    result = deliver.deliver_pending(conn, config_mod.load(), timeout=1, lock_timeout=1)
    assert result.reason == deliver.NOT_LOGGED_IN and not result.finished
    assert isinstance(result.error, NotLoggedIn)
    assert result.message == "no server is configured"
    assert (result.sent, result.stored) == (0, 0)
    assert notes.pending_count(conn) == 2


def test_unreachable_server_is_a_reason_and_is_recorded(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = configured(monkeypatch)
    result = deliver.deliver_pending(conn, cfg, timeout=2, lock_timeout=1)
    assert result.reason == deliver.UNREACHABLE
    assert isinstance(result.error, ServerUnreachable)
    assert result.message and result.message in str(db.get_state(conn, "last_error"))
    assert notes.pending_count(conn) == 2, "nothing is lost"


def test_lock_held_by_another_process_is_a_reason(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = configured(monkeypatch)
    with engine.sync_lock(1.0):  # another open file: flock conflicts as with another process
        result = deliver.deliver_pending(conn, cfg, timeout=1, lock_timeout=0.05)
    assert result.reason == deliver.LOCK_HELD
    assert isinstance(result.error, LockTimeout)
    assert result.message == "another threadline process is still delivering"


def test_deadline_passed_is_a_reason_and_progress_hears_the_total(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = configured(monkeypatch)
    heard: list[tuple[int, int]] = []
    result = deliver.deliver_pending(
        conn,
        cfg,
        timeout=1,
        lock_timeout=1,
        deadline=time.monotonic() - 1,
        progress=lambda sent, total: heard.append((sent, total)),
    )
    assert result.reason == deliver.DEADLINE and result.error is None
    assert result.timed_out and result.message == "the deadline passed"
    assert heard == [(0, 2)]
    assert result.sent == 0 and notes.pending_count(conn) == 2


def test_entry_delivered_by_another_process_meanwhile_sends_nothing(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = configured(monkeypatch)
    added = notes.append(conn, project="p", name="t", role="user", text="three")
    notes.ack(conn, [(added.stream_id, added.seq, None, False)])
    result = deliver.deliver_pending(
        conn, cfg, timeout=1, lock_timeout=1, entry=(added.stream_id, added.seq)
    )
    assert result.finished and result.reason is None and result.sent == 0
    assert db.get_state(conn, "last_attempt") is None, "the server was not asked"


def test_views_without_a_server_read_this_machine_only(conn: sqlite3.Connection) -> None:
    cfg = config_mod.load()
    listed = views.threads(conn, cfg, "p")
    assert listed.local_only == "no server configured"
    assert [(r["name"], r["entry_count"], r["pending"]) for r in listed.rows] == [("t", 2, 2)]
    shown = views.entries(conn, cfg, "p", "t")
    assert shown.found and shown.local_only == "no server configured"
    assert [(e["text"], e["pending"]) for e in shown.entries] == [("one", True), ("two", True)]
    assert not views.entries(conn, cfg, "p", "nope").found


def test_merge_counts_pending_entries_into_the_servers_threads() -> None:
    remote = [
        {"key": "note:p/a", "entry_count": 3, "last_activity_at": "2026-01-01T00:00:00Z"},
        {"key": "note:p/b", "entry_count": 1, "last_activity_at": "2026-01-03T00:00:00Z"},
    ]
    local = [
        {
            "key": "note:p/a",
            "kind": "note",
            "name": "a",
            "project": "p",
            "title": None,
            "entries": 5,
            "pending": 2,
            "last_activity_at": "2026-01-04T00:00:00Z",
            "created_at": "2026-01-01T00:00:00Z",
        },
        {
            "key": "note:p/new",
            "kind": "note",
            "name": "new",
            "project": "p",
            "title": None,
            "entries": 1,
            "pending": 1,
            "last_activity_at": None,
            "created_at": "2026-01-02T00:00:00Z",
        },
    ]
    rows = views.merge_threads(remote, local)
    assert [(r["key"], r["entry_count"], r["pending"]) for r in rows] == [
        ("note:p/b", 1, 0),
        ("note:p/new", 1, 1),
        ("note:p/a", 5, 2),
    ]
    assert rows[1]["id"] is None and rows[1]["last_activity_at"] == "2026-01-02T00:00:00Z"
