"""Hand-off in the local store: saves waiting for the server, and where resumed sessions
came from.

A save is first complete here — its JSON body and the bytes of its blobs, in one transaction —
and then uploaded; while the server is away it stays, and every delivery
(:func:`threadline.sync.deliver.deliver_pending`: ``push``, ``sync``, the daemon) tries again.
A blob is kept once however many waiting saves refer to it, and removed with the last one.

Standard library only: a delivery looks here after every ``push``.
"""

from __future__ import annotations

import json
import sqlite3

from threadline.store.db import write
from threadline.store.notes import utc_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The agents whose session threads can be saved.
SESSION_KINDS = ("claude-code", "codex")


class Pending:
    """A save waiting for the server: its body (``thread_id`` may still be unknown) and the
    key of its session's local thread."""

    __slots__ = ("body", "created", "error", "save_id", "thread_key")

    def __init__(
        self,
        save_id: str,
        thread_key: str,
        body: dict[str, Any],
        error: str | None,
        created: str = "",
    ):
        self.save_id = save_id
        self.thread_key = thread_key
        self.body = body
        self.error = error
        #: When it was kept here (UTC, ISO 8601): the ``created`` a listing shows for it.
        self.created = created

    @property
    def blob_names(self) -> list[str]:
        return [sha for sha in (self.body.get("blobs") or {}).values() if sha]


def add_pending(
    conn: sqlite3.Connection, thread_key: str, body: dict[str, Any], blobs: dict[str, bytes]
) -> None:
    """Keep a save and its blobs (name → bytes) until it is uploaded."""
    with write(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO handoff_blobs (sha256, data) VALUES (?, ?)", blobs.items()
        )
        conn.execute(
            "INSERT OR REPLACE INTO handoff_saves (save_id, thread_key, body, created_at) "
            "VALUES (?, ?, ?, ?)",
            (body["save_id"], thread_key, json.dumps(body, ensure_ascii=False), utc_now()),
        )


def has_pending(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM handoff_saves LIMIT 1").fetchone() is not None


def pending(conn: sqlite3.Connection) -> list[Pending]:
    """The waiting saves, oldest first."""
    return [
        Pending(r["save_id"], r["thread_key"], json.loads(r["body"]), r["error"], r["created_at"])
        for r in conn.execute("SELECT * FROM handoff_saves ORDER BY created_at, save_id")
    ]


def blob(conn: sqlite3.Connection, sha256: str) -> bytes | None:
    row = conn.execute("SELECT data FROM handoff_blobs WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else bytes(row[0])


def note_error(conn: sqlite3.Connection, save_id: str, error: str | None) -> None:
    with write(conn):
        conn.execute("UPDATE handoff_saves SET error = ? WHERE save_id = ?", (error, save_id))


def clear_errors(conn: sqlite3.Connection) -> None:
    """Let every delivery try the saves the server refused again."""
    with write(conn):
        conn.execute("UPDATE handoff_saves SET error = NULL")


def remove(conn: sqlite3.Connection, save_id: str) -> None:
    """Forget an uploaded (or abandoned) save, and the blobs no other waiting save needs."""
    with write(conn):
        conn.execute("DELETE FROM handoff_saves WHERE save_id = ?", (save_id,))
        needed = {sha for p in pending(conn) for sha in p.blob_names}
        stored = [r[0] for r in conn.execute("SELECT sha256 FROM handoff_blobs")]
        conn.executemany(
            "DELETE FROM handoff_blobs WHERE sha256 = ?",
            [(sha,) for sha in stored if sha not in needed],
        )


def server_thread_id(conn: sqlite3.Connection, thread_key: str) -> str | None:
    """The server's id of a local thread, once a delivery has learnt it."""
    row = conn.execute(
        "SELECT server_thread_id FROM threads WHERE key = ? AND deleted_at IS NULL", (thread_key,)
    ).fetchone()
    return None if row is None else row[0]


def sessions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every captured session (not a subagent) with its main transcript file: ``key``,
    ``agent``, ``meta`` (a dict: ``session_id``, ``cwd``, ``last_activity`` …),
    ``server_thread_id``, ``path`` and ``lines`` of the file read most recently."""
    rows = conn.execute(
        "SELECT t.key, t.kind, t.meta, t.server_thread_id, s.path, s.lines, s.updated_at "
        "FROM threads t JOIN sources s ON s.thread_id = t.id "
        "WHERE t.kind IN ('claude-code', 'codex') AND t.parent_key IS NULL "
        "AND t.deleted_at IS NULL AND s.status = 'active' "
        "ORDER BY s.updated_at DESC"
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["key"] in found:
            continue  # the same session in an older file (another clone's path)
        found[row["key"]] = {
            "key": row["key"],
            "agent": row["kind"],
            "meta": json.loads(row["meta"] or "{}"),
            "server_thread_id": row["server_thread_id"],
            "path": row["path"],
            "lines": int(row["lines"]),
            "updated_at": row["updated_at"],
        }
    return list(found.values())


def set_resumed(
    conn: sqlite3.Connection,
    session_key: str,
    save_id: str,
    repo_root: str,
    transcript_path: str | None,
) -> None:
    """Remember that the session ``session_key`` was resumed here from ``save_id``: the next
    save of it records that as ``resumed_from``."""
    with write(conn):
        conn.execute(
            "INSERT OR REPLACE INTO handoff_resumed "
            "(session_key, save_id, repo_root, transcript_path, resumed_at) VALUES (?, ?, ?, ?, ?)",
            (session_key, save_id, repo_root, transcript_path, utc_now()),
        )


def resumed(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every session resumed here: ``session_key``, ``save_id``, ``repo_root``,
    ``transcript_path``."""
    return [dict(r) for r in conn.execute("SELECT * FROM handoff_resumed")]


def resumed_from(conn: sqlite3.Connection, session_key: str) -> str | None:
    row = conn.execute(
        "SELECT save_id FROM handoff_resumed WHERE session_key = ?", (session_key,)
    ).fetchone()
    return None if row is None else str(row[0])
