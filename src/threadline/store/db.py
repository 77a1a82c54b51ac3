"""The local store: one SQLite file per machine (``local.db`` in the data folder).

Guarantees:

- WAL with a ``busy_timeout``, so readers never block and writers queue instead of failing;
- every write runs in one ``BEGIN IMMEDIATE`` transaction (:func:`write`), so there is one
  writer at a time and a ``seq`` is computed inside the transaction that stores its entry;
- numbered, append-only migrations are applied when the store opens, each in its own
  transaction, tracked by ``PRAGMA user_version``;
- the device id is minted once, by the first migration, and never changes.

Standard library only: ``push`` opens this on every call.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from threadline import paths
from threadline.errors import StoreError

BUSY_TIMEOUT_MS = 30_000

MIGRATIONS: tuple[str, ...] = (
    # 1: notes, streams and the outbox (pending = entries past a stream's acked_seq).
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('device_id', :device_id);
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'note',
        name TEXT NOT NULL,
        project TEXT NOT NULL DEFAULT '',
        title TEXT,
        created_at TEXT NOT NULL,
        server_thread_id TEXT,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX threads_live_key ON threads (key) WHERE deleted_at IS NULL;
    CREATE TABLE streams (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        thread_id INTEGER NOT NULL REFERENCES threads (id),
        last_seq INTEGER NOT NULL DEFAULT 0,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        blocked TEXT
    );
    CREATE INDEX streams_thread ON streams (thread_id);
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        stream_id INTEGER NOT NULL REFERENCES streams (id),
        seq INTEGER NOT NULL,
        uuid TEXT NOT NULL UNIQUE,
        ts TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        parts TEXT,
        meta TEXT,
        raw TEXT,
        UNIQUE (stream_id, seq)
    );
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT);
    """,
    # 2: captured transcript files. A file is a stream per generation; ``sources`` keeps
    # where reading stopped (offset of the last complete line) and how to spot a rewrite.
    """
    ALTER TABLE threads ADD COLUMN meta TEXT;
    ALTER TABLE threads ADD COLUMN parent_key TEXT;
    ALTER TABLE streams ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE streams ADD COLUMN source TEXT;
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        agent TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        thread_id INTEGER REFERENCES threads (id),
        stream_id INTEGER REFERENCES streams (id),
        generation INTEGER NOT NULL DEFAULT 0,
        inode INTEGER,
        size INTEGER NOT NULL DEFAULT 0,
        mtime_ns INTEGER NOT NULL DEFAULT 0,
        offset INTEGER NOT NULL DEFAULT 0,
        lines INTEGER NOT NULL DEFAULT 0,
        head_hash TEXT,
        head_len INTEGER NOT NULL DEFAULT 0,
        tail_hash TEXT,
        tail_len INTEGER NOT NULL DEFAULT 0,
        summary TEXT,
        error TEXT,
        updated_at TEXT
    );
    """,
)


def new_uuid() -> str:
    """A random (version 4) UUID, without importing :mod:`uuid` (≈7 ms) on the hot path."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the local store."""
    path = path or paths.local_store_file()
    try:
        paths.ensure_dir(path.parent)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the local store {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot use the local store {path}: {exc}") from exc
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    for number, script in enumerate(MIGRATIONS, start=1):
        with write(conn):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                continue
            for statement in _statements(script):
                conn.execute(
                    statement, {"device_id": new_uuid()} if ":device_id" in statement else {}
                )
            conn.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class write:
    """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error).

    A class rather than ``@contextmanager``: contextlib is ≈3 ms of imports on the hot path."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def device_id(conn: sqlite3.Connection) -> str:
    return str(conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()[0])


def get_state(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_state(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    with write(conn):
        conn.executemany(
            "INSERT INTO sync_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )
