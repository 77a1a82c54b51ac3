"""Captured transcript files in the local store.

A transcript file is read by byte offset. Each time new complete lines are read they are
stored as entries of the file's stream, together with the new offset, in one ``BEGIN
IMMEDIATE`` transaction (:func:`store_chunk`): a crash at any point leaves either both or
neither, so lines are never lost nor stored twice. The stream's ``seq`` is the line number.

A file that was rewritten (it shrank, or its first or last read line changed) starts a new
*generation*: a new stream of the same thread, from line 1. The old stream and what it holds
stay.

Two readers of one file (the daemon and ``threadline import``) are safe: a chunk is stored only
if the file's offset and generation are still the ones it was read from (:class:`Stale`
otherwise, and the reader starts again from the stored offset).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from threadline.errors import Conflict
from threadline.store.db import new_uuid, write
from threadline.store.notes import utc_now

#: ``sources.status`` values.
ACTIVE = "active"
EXCLUDED = "excluded"
GONE = "gone"


class Stale(Conflict):
    """Another reader stored lines of this file first; read again from the stored offset."""

    code = "transcript_stale"


@dataclass(slots=True)
class ThreadSpec:
    """The thread a transcript file belongs to."""

    key: str
    kind: str
    name: str
    project: str
    title: str | None
    meta: dict[str, Any]
    parent_key: str | None = None


@dataclass(slots=True)
class FileState:
    """What is known about a file after a chunk: where reading stopped and how to spot a
    rewrite next time."""

    generation: int
    offset: int
    lines: int
    size: int
    mtime_ns: int
    inode: int
    head_hash: str | None
    head_len: int
    tail_hash: str | None
    tail_len: int
    summary: dict[str, Any]


@dataclass(slots=True)
class Chunk:
    """New complete lines of one file, read from ``base_offset`` of ``base_generation``."""

    path: str
    agent: str
    base_offset: int
    base_generation: int
    thread: ThreadSpec
    state: FileState
    #: ``(seq, ts, role, text, parts_json, meta_json, raw)`` per line, in order.
    entries: list[tuple[int, str, str, str, str | None, str | None, str]] = field(
        default_factory=list
    )


def get_source(conn: sqlite3.Connection, path: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM sources WHERE path = ?", (path,)
    ).fetchone()
    return row


def all_sources(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return list(conn.execute("SELECT * FROM sources ORDER BY id"))


def store_chunk(conn: sqlite3.Connection, chunk: Chunk) -> int:
    """Store the chunk's lines and the file's new state in one transaction; returns the local
    stream id. Raises :class:`Stale` when the file moved on since the chunk was read."""
    with write(conn):
        row = get_source(conn, chunk.path)
        current = (0, 0) if row is None else (int(row["offset"]), int(row["generation"]))
        if row is not None and row["status"] == EXCLUDED:
            current = (0, 0)  # read again from the start once no longer excluded
        if current != (chunk.base_offset, chunk.base_generation):
            raise Stale(chunk.path)
        thread_id = _ensure_thread(conn, chunk.thread)
        state = chunk.state
        if (
            row is not None
            and row["stream_id"] is not None
            and (int(row["generation"]) == state.generation and row["status"] != EXCLUDED)
        ):
            stream_id = int(row["stream_id"])
        else:
            cur = conn.execute(
                "INSERT INTO streams (uuid, thread_id, generation, source) VALUES (?, ?, ?, ?)",
                (new_uuid(), thread_id, state.generation, chunk.path),
            )
            assert cur.lastrowid is not None
            stream_id = cur.lastrowid
        if chunk.entries:
            conn.executemany(
                "INSERT INTO entries (stream_id, seq, uuid, ts, role, text, parts, meta, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(stream_id, e[0], new_uuid(), *e[1:]) for e in chunk.entries],
            )
            conn.execute(
                "UPDATE streams SET last_seq = ? WHERE id = ?", (chunk.entries[-1][0], stream_id)
            )
        values = {
            "agent": chunk.agent,
            "status": ACTIVE,
            "thread_id": thread_id,
            "stream_id": stream_id,
            "generation": state.generation,
            "inode": state.inode,
            "size": state.size,
            "mtime_ns": state.mtime_ns,
            "offset": state.offset,
            "lines": state.lines,
            "head_hash": state.head_hash,
            "head_len": state.head_len,
            "tail_hash": state.tail_hash,
            "tail_len": state.tail_len,
            "summary": json.dumps(state.summary, ensure_ascii=False),
            "error": None,
            "updated_at": utc_now(),
        }
        _upsert_source(conn, chunk.path, values)
    return stream_id


def mark_source(
    conn: sqlite3.Connection, path: str, agent: str, status: str, **values: Any
) -> None:
    """Record a file that is not read (excluded, gone, unreadable) without touching what was
    stored from it."""
    with write(conn):
        _upsert_source(
            conn, path, {"agent": agent, "status": status, **values, "updated_at": utc_now()}
        )


def note_seen(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
    """The file changed but held no new complete line: remember its size and time."""
    with write(conn):
        conn.execute(
            "UPDATE sources SET size = ?, mtime_ns = ?, updated_at = ? WHERE path = ?",
            (size, mtime_ns, utc_now(), path),
        )


def _upsert_source(conn: sqlite3.Connection, path: str, values: dict[str, Any]) -> None:
    columns = ["path", *values]
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    conn.execute(
        f"INSERT INTO sources ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT (path) DO UPDATE SET {sets}",
        (path, *values.values()),
    )


def _ensure_thread(conn: sqlite3.Connection, spec: ThreadSpec) -> int:
    meta = json.dumps(spec.meta, ensure_ascii=False, sort_keys=True)
    row = conn.execute(
        "SELECT id FROM threads WHERE key = ? AND deleted_at IS NULL", (spec.key,)
    ).fetchone()
    if row is None:
        cur = conn.execute(
            "INSERT INTO threads (key, kind, name, project, title, meta, parent_key, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                spec.key,
                spec.kind,
                spec.name,
                spec.project,
                spec.title,
                meta,
                spec.parent_key,
                utc_now(),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid
    conn.execute(
        "UPDATE threads SET title = COALESCE(?, title), meta = ?, "
        "parent_key = COALESCE(?, parent_key) WHERE id = ?",
        (spec.title, meta, spec.parent_key, row[0]),
    )
    return int(row[0])


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Files tracked by status, lines read, and transcript lines not yet on the server."""
    counts = {
        str(r[0]): int(r[1])
        for r in conn.execute("SELECT status, COUNT(*) FROM sources GROUP BY status")
    }
    lines = conn.execute("SELECT COALESCE(SUM(lines), 0) FROM sources").fetchone()[0]
    pending = conn.execute(
        "SELECT COALESCE(SUM(s.last_seq - s.acked_seq), 0) FROM streams s "
        "JOIN threads t ON t.id = s.thread_id WHERE t.kind != 'note'"
    ).fetchone()[0]
    return {
        "files": sum(counts.values()),
        "active": counts.get(ACTIVE, 0),
        "excluded": counts.get(EXCLUDED, 0),
        "gone": counts.get(GONE, 0),
        "lines": int(lines),
        "pending": int(pending),
    }
