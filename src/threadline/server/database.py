"""Opening the server database and running transactions on it, on SQLite or PostgreSQL.

Guarantees:

- :func:`open_database` applies every pending migration before returning.
- SQLite runs in WAL mode with ``foreign_keys``, ``synchronous=NORMAL`` and a busy timeout;
  pysqlite's own transaction handling is switched off so that :meth:`Database.read` starts a
  plain ``BEGIN`` and :meth:`Database.write` a ``BEGIN IMMEDIATE`` (the SQLAlchemy recipe), and
  writers of one process take a lock first, so threads queue on it instead of spinning in
  SQLite's busy handler.
- On PostgreSQL (psycopg 3) writes run concurrently; each write function starts by locking its
  user's cursor row, which serializes that user's writes. :meth:`Database.run_write` retries a
  whole transaction that lost a race (unique violation, serialization failure, deadlock, a
  locked SQLite file), so write functions must read what they decide on inside the transaction.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from threadline.errors import ConfigError

T = TypeVar("T")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
#: Rows per multi-row INSERT on SQLite (16 columns × 500 stays under its 32,766 variables).
ROWS_PER_INSERT = 500
_WRITE_OPTION = "threadline_write"
_RETRIES = 8
_RETRY_PGCODES = {"23505", "40001", "40P01"}


class Database:
    """An engine plus the transaction discipline above. Thread-safe; share one per process."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self.engine = _create_engine(self.url)
        #: Facts about committed rows that never change (a device's row id), by any key.
        self.memo: dict[Any, Any] = {}
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction (a consistent snapshot on SQLite)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed if the block returns, rolled back if it raises."""
        with self._lock, self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def run_write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if it lost a race."""
        for attempt in range(_RETRIES):
            try:
                with self.write() as conn:
                    return work(conn)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                if attempt == _RETRIES - 1 or not self._retryable(exc):
                    raise
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    def _retryable(self, exc: sa.exc.DBAPIError) -> bool:
        if self.dialect == "sqlite":
            return "locked" in str(exc.orig) or "busy" in str(exc.orig)
        return getattr(exc.orig, "sqlstate", None) in _RETRY_PGCODES


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) with as few statements as possible.

    PostgreSQL gets one ``executemany``, which psycopg pipelines (measured faster there than
    one long multi-row statement). SQLite gets multi-row ``INSERT … VALUES (…), (…)``
    statements of up to :data:`ROWS_PER_INSERT` rows: pysqlite's ``executemany`` steps once per
    row, releasing and re-taking the GIL each time, which under concurrent requests stretches
    the time the write lock is held.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        params = tuple(row[column] for row in chunk for column in columns)
        sql = _multi_insert_sql(table.name, columns, len(chunk))
        conn.exec_driver_sql(sql, params)


@functools.lru_cache(maxsize=64)
def _multi_insert_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    names = ", ".join(f'"{column}"' for column in columns)
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    return f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([row] * count)


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at ``url`` and bring its schema up to date."""
    from threadline.server import migrations

    db = Database(url)
    if migrate:
        migrations.migrate(db)
    return db


def normalize_url(url: str) -> sa.URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; ``sqlite:///path`` a file."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"not a database URL: {url!r}",
            hint="Use sqlite:///path/to/server.db or postgresql://user@host/dbname.",
        ) from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise ConfigError(
        f"unsupported database {parsed.drivername!r}",
        hint="Threadline runs on SQLite (sqlite:///path) or PostgreSQL (postgresql://…).",
    )


def _create_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        from pathlib import Path

        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_size=20, max_overflow=40)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
