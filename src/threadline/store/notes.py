"""Note threads in the local store: appending entries, and the outbox the sync engine drains.

A local thread has exactly one stream (this device is its only writer). An entry's ``seq`` is
``last_seq + 1`` read and written inside the ``BEGIN IMMEDIATE`` transaction that inserts the
entry, so any number of concurrent ``push`` processes produce dense, unique ``seq`` values.
Pending entries are simply those past the stream's ``acked_seq``: there is no separate queue
that could disagree with the entries themselves.

A note thread is found by its key: ``note:<project>:<name>``, or for a scoped thread (``push
--scope pr:123``) the scope key of project and scope, whatever its name. The scope is stored
with the thread and sent in its thread reference, so the server binds the stream to the
scope's thread there.

Standard library only: ``push`` uses this.
"""

from __future__ import annotations

import json
import sqlite3
import time

from threadline import protocol as p
from threadline.errors import InvalidInput
from threadline.store.db import new_uuid, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def utc_now() -> str:
    """Now as RFC 3339 in UTC with microseconds, e.g. ``2026-11-21T10:00:00.123456Z``."""
    now = time.time()
    micros = int(now * 1_000_000) % 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{micros:06d}Z"


class Appended:
    """Where :func:`append` stored an entry."""

    __slots__ = ("name", "seq", "stream_id", "thread_created", "thread_id", "uuid")

    def __init__(
        self,
        thread_id: int,
        stream_id: int,
        seq: int,
        uuid: str,
        thread_created: bool,
        name: str = "",
    ) -> None:
        self.thread_id = thread_id
        self.stream_id = stream_id
        self.seq = seq
        self.uuid = uuid
        self.thread_created = thread_created
        #: The thread's name (a scoped thread keeps the name it was created with).
        self.name = name


def check_names(project: str, name: str) -> None:
    for what, value in (("thread name", name), ("project name", project)):
        _no_nul(value, what)
    if not name.strip():
        raise InvalidInput("the thread name is empty", hint="Pass --thread NAME.")
    if len(name) > p.MAX_NAME_CHARS:
        raise InvalidInput(f"the thread name is longer than {p.MAX_NAME_CHARS} characters")
    if len(project) > p.MAX_PROJECT_CHARS:
        raise InvalidInput(f"the project name is longer than {p.MAX_PROJECT_CHARS} characters")


def _no_nul(value: str, what: str) -> None:
    """The server refuses NUL in any text (PostgreSQL cannot store it): refuse it here, before
    it is stored, rather than queue an entry that can never be delivered."""
    if "\x00" in value:
        raise InvalidInput(
            f"the {what} contains a NUL character (\\x00)",
            hint="Remove the control characters, e.g. pipe the text through `tr -d '\\000'`.",
        )


def check_scope(scope: str) -> tuple[str, str]:
    """``(type, id)`` of ``scope`` (``TYPE:ID``), or :class:`InvalidInput` naming the rule."""
    try:
        return p.parse_scope(scope)
    except ValueError as exc:
        raise InvalidInput(
            f"invalid scope: {exc}", hint="Write a scope as TYPE:ID, e.g. pr:123."
        ) from None


def thread_key(project: str, name: str, scope: str | None = None) -> str:
    """The key of the note thread ``project``/``name``, or of the scope's thread."""
    if scope is None:
        return p.note_thread_key(project, name)
    return p.scope_thread_key(project, *check_scope(scope))


def _live_thread(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT t.id AS thread_id, t.name, s.id AS stream_id, s.last_seq FROM threads t "
        "JOIN streams s ON s.thread_id = t.id WHERE t.key = ? AND t.deleted_at IS NULL",
        (key,),
    ).fetchone()
    return row


def _create_thread(
    conn: sqlite3.Connection, key: str, project: str, name: str, scope: str | None
) -> sqlite3.Row:
    cur = conn.execute(
        "INSERT INTO threads (key, kind, name, project, scope, created_at) "
        "VALUES (?, 'note', ?, ?, ?, ?)",
        (key, name, project, scope, utc_now()),
    )
    conn.execute("INSERT INTO streams (uuid, thread_id) VALUES (?, ?)", (new_uuid(), cur.lastrowid))
    row = _live_thread(conn, key)
    assert row is not None
    return row


def ensure_thread(
    conn: sqlite3.Connection, project: str, name: str, scope: str | None = None
) -> tuple[int, bool]:
    """The local id of the live note thread ``project``/``name`` — or, with a ``scope``, of
    the scope's thread in ``project`` (named ``name`` if it is created) — created if missing."""
    check_names(project, name)
    key = thread_key(project, name, scope)
    with write(conn):
        row = _live_thread(conn, key)
        if row is not None:
            return int(row["thread_id"]), False
        return int(_create_thread(conn, key, project, name, scope)["thread_id"]), True


def thread_name(conn: sqlite3.Connection, thread_id: int) -> str:
    """The name of the local thread ``thread_id``."""
    row = conn.execute("SELECT name FROM threads WHERE id = ?", (thread_id,)).fetchone()
    return str(row[0])


def append(
    conn: sqlite3.Connection,
    *,
    project: str,
    name: str,
    role: str,
    text: str,
    scope: str | None = None,
) -> Appended:
    """Store one entry at the end of the note thread — with a ``scope``, of the scope's
    thread in ``project`` (named ``name`` if it is created) — creating the thread if needed."""
    check_names(project, name)
    key = thread_key(project, name, scope)
    if role not in p.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(p.ROLES)}, not {role!r}")
    _no_nul(text, "message")
    size = len(text.encode("utf-8"))
    if size > p.MAX_NOTE_BYTES:
        raise InvalidInput(
            f"the message is {size:,} bytes; an entry holds at most {p.MAX_NOTE_BYTES:,}",
            hint="Split it into several pushes, or push a summary and keep the rest in a file.",
        )
    entry_uuid = new_uuid()
    with write(conn):
        row = _live_thread(conn, key)
        created = row is None
        if row is None:
            row = _create_thread(conn, key, project, name, scope)
        seq = int(row["last_seq"]) + 1
        conn.execute(
            "INSERT INTO entries (stream_id, seq, uuid, ts, role, text) VALUES (?, ?, ?, ?, ?, ?)",
            (row["stream_id"], seq, entry_uuid, utc_now(), role, text),
        )
        conn.execute("UPDATE streams SET last_seq = ? WHERE id = ?", (seq, row["stream_id"]))
    return Appended(
        int(row["thread_id"]), int(row["stream_id"]), seq, entry_uuid, created, row["name"]
    )


# --- the outbox ----------------------------------------------------------------------------


class OutStream:
    """Pending entries of one stream, in ``seq`` order, ready for the wire."""

    __slots__ = ("body", "stream_id")

    def __init__(self, stream_id: int, body: dict[str, Any]) -> None:
        self.stream_id = stream_id
        self.body = body

    @property
    def last_seq(self) -> int:
        return int(self.body["entries"][-1]["seq"])


_PENDING_SQL = """
SELECT s.id AS stream_id, s.uuid AS stream_uuid, s.generation, s.source,
       t.key, t.kind, t.name, t.project, t.title, t.meta AS thread_meta, t.parent_key, t.scope,
       e.seq, e.uuid, e.ts, e.role, e.text, e.parts, e.meta, e.raw
FROM streams s
JOIN threads t ON t.id = s.thread_id
JOIN entries e ON e.stream_id = s.id AND e.seq > s.acked_seq
WHERE s.blocked IS NULL AND s.last_seq > s.acked_seq
ORDER BY s.id, e.seq
LIMIT ?
"""

#: Wire overhead of one entry besides its payload, for the batch byte budget.
ENTRY_OVERHEAD = 200


def pending_batch(conn: sqlite3.Connection, max_entries: int, max_bytes: int) -> list[OutStream]:
    """The oldest pending entries, at most ``max_entries`` and about ``max_bytes`` on the wire
    (always at least one entry, so an entry near the limit still moves)."""
    streams: dict[int, OutStream] = {}
    budget = max_bytes
    for row in conn.execute(_PENDING_SQL, (max_entries,)):
        size = ENTRY_OVERHEAD + sum(len(row[k] or "") for k in ("text", "parts", "meta", "raw"))
        if streams and size > budget:
            break
        budget -= size
        out = streams.get(row["stream_id"])
        if out is None:
            body = {"stream_id": row["stream_uuid"], "thread": _thread_ref(row), "entries": []}
            if row["kind"] != "note":
                body.update(generation=row["generation"], source=row["source"])
            out = streams[row["stream_id"]] = OutStream(row["stream_id"], body)
        entry: dict[str, Any] = {"seq": row["seq"], "id": row["uuid"], "ts": row["ts"]}
        entry.update(role=row["role"], text=row["text"])
        for key in ("parts", "meta"):
            if row[key] is not None:
                entry[key] = json.loads(row[key])
        if row["raw"] is not None:
            entry["raw"] = row["raw"]
        out.body["entries"].append(entry)
    return list(streams.values())


def _thread_ref(row: sqlite3.Row) -> dict[str, Any]:
    thread = {"key": row["key"], "kind": row["kind"], "name": row["name"]}
    thread.update(project=row["project"], title=row["title"])
    if row["thread_meta"] is not None:
        thread["meta"] = json.loads(row["thread_meta"])
    if row["parent_key"] is not None:
        thread["parent_key"] = row["parent_key"]
    if row["scope"] is not None:
        thread["scope"] = row["scope"]
    return thread


def pending_count(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(last_seq - acked_seq), 0) FROM streams WHERE blocked IS NULL"
    ).fetchone()
    return int(row[0])


def is_acked(conn: sqlite3.Connection, stream_id: int, seq: int) -> bool:
    row = conn.execute("SELECT acked_seq FROM streams WHERE id = ?", (stream_id,)).fetchone()
    return row is not None and int(row[0]) >= seq


def ack(conn: sqlite3.Connection, acks: list[tuple[int, int, str | None, bool]]) -> None:
    """Record ``(stream_id, server_tail, server_thread_id, thread_deleted)`` answers.

    ``acked_seq`` only moves forward here; :func:`rewind` is the one way back."""
    with write(conn):
        for stream_id, tail, server_thread_id, deleted in acks:
            conn.execute(
                "UPDATE streams SET acked_seq = MAX(acked_seq, MIN(?, last_seq)) WHERE id = ?",
                (tail, stream_id),
            )
            thread_id = conn.execute(
                "SELECT thread_id FROM streams WHERE id = ?", (stream_id,)
            ).fetchone()[0]
            if server_thread_id:
                conn.execute(
                    "UPDATE threads SET server_thread_id = ? WHERE id = ?",
                    (server_thread_id, thread_id),
                )
            if deleted:
                conn.execute(
                    "UPDATE threads SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                    (utc_now(), thread_id),
                )


def rewind(conn: sqlite3.Connection, stream_id: int, tail: int) -> None:
    """The server holds less than we thought (restored from a backup): resend after ``tail``."""
    with write(conn):
        conn.execute(
            "UPDATE streams SET acked_seq = MIN(?, last_seq) WHERE id = ?", (tail, stream_id)
        )


def block(conn: sqlite3.Connection, stream_id: int, reason: str) -> None:
    """Stop sending a stream the server refuses for good; its entries stay in the store."""
    with write(conn):
        conn.execute("UPDATE streams SET blocked = ? WHERE id = ?", (reason, stream_id))


def blocked_streams(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT s.uuid, t.project, t.name, s.last_seq - s.acked_seq AS pending, s.blocked "
        "FROM streams s JOIN threads t ON t.id = s.thread_id WHERE s.blocked IS NOT NULL"
    )
    return [dict(r) for r in rows]


def unblock_all(conn: sqlite3.Connection) -> int:
    with write(conn):
        return conn.execute("UPDATE streams SET blocked = NULL WHERE blocked IS NOT NULL").rowcount


def stream_uuids_pending(conn: sqlite3.Connection) -> dict[str, int]:
    """``{stream uuid: local stream id}`` of every stream with something not yet acknowledged."""
    rows = conn.execute("SELECT uuid, id FROM streams WHERE last_seq > acked_seq")
    return {r[0]: int(r[1]) for r in rows}


def list_threads(
    conn: sqlite3.Connection,
    project: str | None = None,
    *,
    scope: str | None = None,
    scope_type: str | None = None,
) -> list[dict[str, Any]]:
    """The live local threads (of ``project``; of that ``scope``; whose scope has that
    ``scope_type``), most recent activity first."""
    sql = (
        "SELECT t.id, t.key, t.kind, t.name, t.project, t.title, t.scope, t.created_at, "
        "t.server_thread_id, SUM(s.last_seq) AS entries, "
        "SUM(s.last_seq - s.acked_seq) AS pending, "
        "(SELECT MAX(ts) FROM entries e JOIN streams s2 ON s2.id = e.stream_id "
        "WHERE s2.thread_id = t.id) AS last_activity_at "
        "FROM threads t JOIN streams s ON s.thread_id = t.id WHERE t.deleted_at IS NULL"
    )
    args: list[str] = []
    if project is not None:
        sql += " AND t.project = ?"
        args.append(project)
    if scope is not None:
        sql += " AND t.scope = ?"
        args.append(scope)
    if scope_type is not None:
        sql += " AND t.scope LIKE ?"  # a type is a-z 0-9 -: no LIKE wildcard in it
        args.append(scope_type + ":%")
    sql += " GROUP BY t.id ORDER BY COALESCE(last_activity_at, t.created_at) DESC"
    return [dict(r) for r in conn.execute(sql, args)]


def thread_entries(
    conn: sqlite3.Connection, project: str, name: str, scope: str | None = None
) -> list[dict[str, Any]]:
    """The entries of the note thread ``project``/``name`` (with a ``scope``: of the scope's
    thread), each with ``pending``."""
    rows = conn.execute(
        "SELECT e.uuid AS id, e.seq, e.ts, e.role, e.text, e.seq > s.acked_seq AS pending "
        "FROM threads t JOIN streams s ON s.thread_id = t.id JOIN entries e ON e.stream_id = s.id "
        "WHERE t.key = ? AND t.deleted_at IS NULL ORDER BY e.seq",
        (thread_key(project, name, scope),),
    )
    return [{**dict(r), "pending": bool(r["pending"])} for r in rows]
