"""The local store: migrations, device id, dense seqs under concurrency, the outbox."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import cli
from threadline.errors import InvalidInput
from threadline.store import db, notes


def test_blank_store_is_migrated_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "x" / "local.db"
    first = db.connect(path)
    device = db.device_id(first)
    assert first.execute("PRAGMA user_version").fetchone()[0] == len(db.MIGRATIONS)
    assert first.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    again = db.connect(path)
    assert db.device_id(again) == device, "the device id is minted once"
    assert again.execute("SELECT COUNT(*) FROM meta WHERE key='device_id'").fetchone()[0] == 1
    again.close()


def test_unusable_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    path.write_bytes(b"this is not a database" * 100)
    from threadline.errors import StoreError

    with pytest.raises(StoreError, match="local store"):
        db.connect(path)


def test_append_creates_thread_and_assigns_dense_seq(conn: sqlite3.Connection) -> None:
    a = notes.append(conn, project="p", name="t", role="user", text="one")
    b = notes.append(conn, project="p", name="t", role="assistant", text="two")
    c = notes.append(conn, project="p", name="other", role="system", text="x")
    assert (a.seq, b.seq, c.seq) == (1, 2, 1)
    assert a.thread_created and not b.thread_created
    assert a.stream_id == b.stream_id != c.stream_id
    assert [e["text"] for e in notes.thread_entries(conn, "p", "t")] == ["one", "two"]
    assert notes.pending_count(conn) == 3


@pytest.mark.parametrize(
    ("project", "name", "role", "text", "message"),
    [
        ("p", "", "user", "x", "thread name is empty"),
        ("p", "n" * 201, "user", "x", "longer than 200"),
        ("p" * 201, "n", "user", "x", "project name is longer"),
        ("p", "n", "robot", "x", "role must be one of"),
        ("p", "n", "user", "x" * (1024 * 1024 + 1), "at most 1,048,576"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    conn: sqlite3.Connection, project: str, name: str, role: str, text: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        notes.append(conn, project=project, name=name, role=role, text=text)
    assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_outbox_batches_acks_rewinds_and_blocks(conn: sqlite3.Connection) -> None:
    for i in range(5):
        notes.append(conn, project="p", name="a", role="user", text=f"a{i}")
    for i in range(3):
        notes.append(conn, project="p", name="b", role="user", text=f"b{i}")
    batch = notes.pending_batch(conn, max_entries=6, max_bytes=1 << 20)
    assert [len(s.body["entries"]) for s in batch] == [5, 1]
    assert [e["seq"] for e in batch[0].body["entries"]] == [1, 2, 3, 4, 5]
    assert batch[0].body["thread"] == {
        "key": "note:p:a",
        "kind": "note",
        "name": "a",
        "project": "p",
        "title": None,
    }
    # A small byte budget still moves at least one entry.
    assert len(notes.pending_batch(conn, 100, 1)[0].body["entries"]) == 1

    notes.ack(conn, [(batch[0].stream_id, 5, "srv-a", False), (batch[1].stream_id, 1, None, False)])
    assert notes.pending_count(conn) == 2
    assert notes.is_acked(conn, batch[0].stream_id, 5)
    notes.ack(conn, [(batch[0].stream_id, 2, None, False)])
    assert notes.is_acked(conn, batch[0].stream_id, 5), "an ack never moves backwards"
    notes.rewind(conn, batch[0].stream_id, 3)
    assert notes.pending_count(conn) == 4
    notes.block(conn, batch[1].stream_id, "entry_conflict: no")
    assert notes.pending_count(conn) == 2
    assert [s.body["thread"]["name"] for s in notes.pending_batch(conn, 100, 1 << 20)] == ["a"]
    assert notes.unblock_all(conn) == 1


def test_thread_deleted_on_server_starts_a_new_local_thread(conn: sqlite3.Connection) -> None:
    first = notes.append(conn, project="p", name="t", role="user", text="old")
    notes.ack(conn, [(first.stream_id, 1, "srv", True)])
    second = notes.append(conn, project="p", name="t", role="user", text="new")
    assert second.thread_created and second.stream_id != first.stream_id and second.seq == 1


def test_fifty_concurrent_pushes_get_dense_unique_seqs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = cli.clean_env(home)
    procs = [
        subprocess.Popen(
            [cli.THREADLINE, "push", "--no-sync", "--thread", "busy", f"message {i}"],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(50)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    conn = db.connect(home / "local.db")
    rows = conn.execute("SELECT seq, text FROM entries ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == list(range(1, 51))
    assert sorted(r[1] for r in rows) == sorted(f"message {i}" for i in range(50))
    assert conn.execute("SELECT COUNT(*) FROM threads").fetchone()[0] == 1
    conn.close()


def test_push_cli_input_and_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok = cli.run(home, "push", "--json", "-t", "t1", "hello", "world")
    assert ok.returncode == 0
    assert '"seq": 1' in ok.stdout and '"delivered": false' in ok.stdout
    assert ok.stderr.count("\n") == 1 and "queued (1 pending): no server configured" in ok.stderr
    piped = cli.run(home, "push", "-t", "t1", "--role", "user", input="from stdin\n")
    assert piped.returncode == 0 and piped.stdout == ""
    empty = cli.run(home, "push", input="   \n")
    assert empty.returncode == 1
    assert "Error: the message is empty" in empty.stderr and "Hint:" in empty.stderr
    bad_role = cli.run(home, "push", "--role", "robot", "x")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    shown = cli.run(home, "thread", "show", "t1", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "hello world" in shown.stdout and "from stdin" in shown.stdout
