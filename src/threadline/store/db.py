"""The local store: one SQLite file per machine (``local.db`` in the data folder).

Guarantees:

- WAL with a ``busy_timeout``, so readers never block and writers queue instead of failing;
- every write runs in one ``BEGIN IMMEDIATE`` transaction (:func:`write`), so there is one
  writer at a time and a ``seq`` is computed inside the transaction that stores its entry;
- numbered, append-only migrations are applied when the store opens, each in its own
  transaction, tracked by ``PRAGMA user_version``;
- the device id is minted once, by the first migration, and never changes;
- a store that cannot be written or read (disk full, I/O error, read-only, cannot be opened)
  raises :class:`~threadline.errors.StoreError`, recognized by SQLite's error name, at the
  store's edge (:class:`Connection`); a busy store stays the ``busy_timeout``'s business.

Standard library only: ``push`` opens this on every call.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from threadline import paths
from threadline.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ≈2 ms of imports on the push hot path
    from typing import Any

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
    # 3: a thread's scope (``pr:123``): what it is about; its key derives from project and
    # scope (``threadline.protocol.scope_thread_key``), so every device finds the same thread.
    """
    ALTER TABLE threads ADD COLUMN scope TEXT;
    """,
    # 4: hand-off. Saves made while the server was away wait here with their blobs until a
    # delivery uploads them; a resume remembers which save each session came from.
    """
    CREATE TABLE handoff_saves (
        save_id TEXT PRIMARY KEY,
        thread_key TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        error TEXT
    );
    CREATE TABLE handoff_blobs (
        sha256 TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE handoff_resumed (
        session_key TEXT PRIMARY KEY,
        save_id TEXT NOT NULL,
        repo_root TEXT NOT NULL,
        transcript_path TEXT,
        resumed_at TEXT NOT NULL
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


#: SQLite error names (``sqlite3.Error.sqlite_errorname``; an extended name such as
#: ``SQLITE_IOERR_WRITE`` counts as its base) that mean the store cannot be used, with what to
#: say and what to do. Other errors (a busy store after ``busy_timeout``, a bug) pass as they are.
STORE_FAILURES: dict[str, tuple[str, str]] = {
    "SQLITE_FULL": (
        "the disk holding the local store {path} is full",
        "Free some space on that disk, then try again; what was stored before is kept.",
    ),
    "SQLITE_IOERR": (
        "the local store {path} could not be read or written (I/O error)",
        "Check the disk holding the data folder (THREADLINE_HOME overrides its location).",
    ),
    "SQLITE_READONLY": (
        "the local store {path} is read-only",
        "Make the data folder and its files writable (THREADLINE_HOME overrides its location).",
    ),
    "SQLITE_CANTOPEN": (
        "the local store {path} cannot be opened",
        "Check that the data folder exists and is writable (THREADLINE_HOME overrides it).",
    ),
    "SQLITE_CORRUPT": (
        "the local store {path} is damaged",
        "Move the file aside to start a new store; entries not yet delivered are in it.",
    ),
    "SQLITE_NOTADB": (
        "the local store {path} is not an SQLite database",
        "Move the file aside, or point THREADLINE_HOME at another folder.",
    ),
}


def store_error(exc: sqlite3.Error, path: object) -> StoreError | None:
    """The :class:`StoreError` that ``exc`` means for the store at ``path``, or ``None`` when
    it is not a failure of the store itself (busy, locked, a mistake in a statement)."""
    name = exc.sqlite_errorname or ""
    base = "_".join(name.split("_")[:2])
    if base not in STORE_FAILURES:
        return None
    if base == "SQLITE_IOERR" and _disk_full(str(path)):
        base = "SQLITE_FULL"  # e.g. SQLITE_IOERR_SHMSIZE: no room to grow the -shm file
    message, hint = STORE_FAILURES[base]
    return StoreError(f"{message.format(path=path)} ({name})", hint=hint)


#: Less free space than this on the store's disk makes an I/O error a full disk.
FULL_BELOW_BYTES = 64 * 1024


def _disk_full(path: str) -> bool:
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW_BYTES


class Connection(sqlite3.Connection):
    """A connection to the local store whose failures arrive as :class:`StoreError`."""

    path = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self._raise_store_error(exc)
            raise

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            self._raise_store_error(exc)
            raise

    def _raise_store_error(self, exc: sqlite3.Error) -> None:
        """Raise the :class:`StoreError` ``exc`` means, if it is a failure of the store."""
        error = store_error(exc, self.path)
        if error is not None:
            raise error from exc


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the local store."""
    path = path or paths.local_store_file()
    try:
        paths.ensure_dir(path.parent)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, factory=Connection
        )
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the local store {path}: {exc}") from exc
    conn.path = str(path)
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
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()  # a failed COMMIT (disk full) may leave the transaction open
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite may have rolled back already (after SQLITE_FULL or an I/O error).
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


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
