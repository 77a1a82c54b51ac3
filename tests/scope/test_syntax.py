"""The scope's syntax and limits, the thread key derived from project and scope (what makes
every device find the same thread), and the local store's side: a scoped note is stored with
its scope and sent with it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from threadline import protocol as p
from threadline.errors import InvalidInput
from threadline.store import db as local_db
from threadline.store import notes


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("pr:123", ("pr", "123")),
        ("spec:009-projects", ("spec", "009-projects")),
        ("issue:42", ("issue", "42")),
        ("file:docs/spec.md", ("file", "docs/spec.md")),
        ("url:https://example.com/x", ("url", "https://example.com/x")),
        ("a:b:c", ("a", "b:c")),
        ("x-1:a b", ("x-1", "a b")),
        ("t" * 32 + ":" + "i" * 512, ("t" * 32, "i" * 512)),
        ("n:" + "é" * 512, ("n", "é" * 512)),
    ],
)
def test_a_scope_is_split_at_its_first_colon(text: str, parsed: tuple[str, str]) -> None:
    assert p.parse_scope(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pr",
        ":1",
        "Pr:1",
        "p r:1",
        "pr.x:1",
        "t" * 33 + ":1",
        "pr:",
        "pr:" + "x" * 513,
        "pr:" + "€" * 342,  # 342 characters, 1,026 bytes
        "pr:\x00",
        "pr:a\nb",
        "pr:\x7f",
        "pr:\x9f",
        "pr:\ud800",
        "pr: x",
        "pr:x\u00a0",
    ],
)
def test_a_malformed_scope_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        p.parse_scope(text)


def test_the_scope_key_is_fixed_by_project_and_scope_alone() -> None:
    key = p.scope_thread_key("shop", "pr", "123")
    # Pinned: every client derives this key, so it can never change.
    assert key == "scope:pr:a72920f7cb954e9b7c044fca61450321437a885e0b6f3c0732bf66435ab93d3b"
    assert key != p.scope_thread_key("shop", "pr", "1234")
    assert key != p.scope_thread_key("shop2", "pr", "123")
    # No separator can be forged: project and id are kept apart by the JSON they are hashed in.
    assert p.scope_thread_key("a:b", "pr", "c") != p.scope_thread_key("a", "pr", "b:c")
    assert len(p.scope_thread_key("p" * 200, "t" * 32, "€" * 341)) <= p.MAX_KEY_CHARS


def test_a_scoped_note_is_stored_and_sent_with_its_scope(conn: sqlite3.Connection) -> None:
    first = notes.append(conn, project="shop", name="review", role="user", text="a", scope="pr:1")
    again = notes.append(conn, project="shop", name="other", role="user", text="b", scope="pr:1")
    plain = notes.append(conn, project="shop", name="pr:1", role="user", text="c")
    assert (first.thread_id, again.thread_id, again.name) == (
        first.thread_id,
        first.thread_id,
        "review",
    )
    assert first.thread_created and not again.thread_created
    assert plain.thread_id != first.thread_id, "a note named like a scope is another thread"
    batch = {out.body["thread"]["key"]: out.body for out in notes.pending_batch(conn, 100, 10**6)}
    scoped = batch[p.scope_thread_key("shop", "pr", "1")]
    assert scoped["thread"]["scope"] == "pr:1"
    assert [e["text"] for e in scoped["entries"]] == ["a", "b"]
    assert "scope" not in batch[p.note_thread_key("shop", "pr:1")]["thread"]
    assert [t["scope"] for t in notes.list_threads(conn, "shop", scope="pr:1")] == ["pr:1"]
    assert [t["scope"] for t in notes.list_threads(conn, scope_type="pr")] == ["pr:1"]
    assert notes.list_threads(conn, scope_type="p") == [], "a type matches whole"
    with pytest.raises(InvalidInput, match="invalid scope: the scope id"):
        notes.append(conn, project="shop", name="x", role="user", text="x", scope="pr:")


def test_a_store_of_the_previous_version_gains_the_scope_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "local.db"
    monkeypatch.setattr(local_db, "MIGRATIONS", local_db.MIGRATIONS[:2])
    old = local_db.connect(path)
    old.execute(  # what the previous version wrote for `threadline push -t main`
        "INSERT INTO threads (id, key, kind, name, project, created_at) "
        "VALUES (1, 'note:shop:main', 'note', 'main', 'shop', '2026-11-21T10:00:00Z')"
    )
    old.execute(
        "INSERT INTO streams (id, uuid, thread_id, last_seq) "
        "VALUES (1, '5c0f0000-0000-4000-8000-000000000001', 1, 1)"
    )
    old.execute(
        "INSERT INTO entries (stream_id, seq, uuid, ts, role, text) VALUES "
        "(1, 1, '0b7d0000-0000-4000-8000-000000000001', '2026-11-21T10:00:00Z', 'user', 'x')"
    )
    old.close()
    monkeypatch.undo()
    conn = local_db.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(local_db.MIGRATIONS)
        [out] = notes.pending_batch(conn, 100, 10**6)
        assert "scope" not in out.body["thread"]
        notes.append(conn, project="shop", name="x", role="user", text="after", scope="issue:1")
        scopes = {t["name"]: t["scope"] for t in notes.list_threads(conn)}
        assert scopes == {"main": None, "x": "issue:1"}
        json.dumps([o.body for o in notes.pending_batch(conn, 100, 10**6)])
    finally:
        conn.close()
