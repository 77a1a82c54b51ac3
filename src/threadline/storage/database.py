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
  busy or locked SQLite file, recognized by the error's name ``SQLITE_BUSY``/``SQLITE_LOCKED``),
  so write functions must read what they decide on inside the transaction.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from threadline.errors import ConfigError
from threadline.storage import search_index

T = TypeVar("T")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    # Checkpoints run in the background (:class:`Checkpointer`), not inside a request's commit.
    "PRAGMA wal_autocheckpoint=0",
)
#: Rows per multi-row INSERT on SQLite (16 columns × 500 stays under its 32,766 variables).
ROWS_PER_INSERT = 500
_WRITE_OPTION = "threadline_write"
_RETRIES = 8
_RETRY_PGCODES = {"23505", "40001", "40P01"}
#: SQLite's result codes (and their extended ``_…`` forms) of a transaction that lost a race.
_RETRY_SQLITE_NAMES = ("SQLITE_BUSY", "SQLITE_LOCKED")


def in_write(conn: sa.Connection) -> bool:
    """Whether ``conn`` is the connection of a :meth:`Database.write` transaction."""
    return bool(conn.get_execution_options().get(_WRITE_OPTION, False))


def sqlite_retryable(error: BaseException | None) -> bool:
    """Whether a sqlite3 error says the database was busy or locked (another writer held it),
    by the error's name (``sqlite_errorname``), never by its message text."""
    name = getattr(error, "sqlite_errorname", None)
    if not isinstance(name, str):
        return False
    return any(name == base or name.startswith(base + "_") for base in _RETRY_SQLITE_NAMES)


class Database:
    """An engine plus the transaction discipline above. Thread-safe; share one per process."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self.engine = _create_engine(self.url)
        #: Facts about committed rows that never change (a device's row id), by any key.
        self.memo: dict[Any, Any] = {}
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._checkpointer: Checkpointer | None = None
        self._analyzer: Analyzer | None = None
        self._search_index = False
        if self.dialect == "sqlite":
            path = self.url.database
            on_disk = path not in (None, "", ":memory:")
            self._lock = WriteLock(f"{path}.writelock" if on_disk else None)
            if on_disk:
                self._checkpointer = Checkpointer(str(path))

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction (a consistent snapshot on SQLite)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed if the block returns, rolled back if it raises.
        On SQLite, the entries it wrote are put into the search index just before the commit
        (:mod:`threadline.storage.search_index`)."""
        with self._lock, self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
                if self.dialect == "sqlite" and self._indexed(conn):
                    search_index.catch_up(conn)

    def _indexed(self, conn: sa.Connection) -> bool:
        if not self._search_index:  # once there, it stays (migrations only add)
            self._search_index = search_index.has_index(conn)
        return self._search_index

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

    def keep_statistics(self) -> None:
        """On PostgreSQL, analyze the searched tables from a background thread whenever
        autovacuum would but is off (:class:`Analyzer`); what a server does. Idempotent."""
        if self.dialect == "postgresql" and self._analyzer is None:
            self._analyzer = Analyzer(self.engine)

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._analyzer is not None:
            self._analyzer.stop()
        if isinstance(self._lock, WriteLock):
            self._lock.close()
        self.engine.dispose()

    def _retryable(self, exc: sa.exc.DBAPIError) -> bool:
        if self.dialect == "sqlite":
            return sqlite_retryable(exc.orig)
        return getattr(exc.orig, "sqlstate", None) in _RETRY_PGCODES


class WriteLock:
    """One SQLite writer at a time, across the threads of a process and across processes.

    Threads queue on a :class:`threading.Lock`; processes (server workers, an admin command run
    beside the server) on an ``flock`` of a file next to the database. Both wake a waiter as
    soon as the lock is free, unlike SQLite's busy handler, which polls with growing sleeps.
    """

    def __init__(self, path: str | None) -> None:
        self._thread_lock = threading.Lock()
        # Without flock (Windows) a single process is still safe: threads take turns.
        self._path = path if sys.platform != "win32" else None
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._path is not None:
                import fcntl

                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _Background:
    """A daemon thread running :meth:`_run` from construction until :meth:`stop`, which
    sets :attr:`_stop` and waits for it."""

    NAME = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        raise NotImplementedError


class Checkpointer(_Background):
    """Copies SQLite's write-ahead log into the database file from a background thread.

    SQLite's own automatic checkpoint runs inside the commit that crosses the threshold, so one
    request in a few dozen paid for an fsync of the database file (≈20 % of ingest time). Here
    a passive checkpoint runs every :attr:`INTERVAL` seconds without blocking writers; if the log
    still grows past :attr:`MAX_WAL_BYTES` (readers kept it pinned), a restarting checkpoint
    waits for them so the file cannot grow without bound. Durability is unchanged: a commit is
    in the log before it is acknowledged, and an unchecked log is replayed on the next open.
    """

    NAME = "sqlite-checkpoint"
    INTERVAL = 1.0
    MAX_WAL_BYTES = 64 * 1024 * 1024

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__()

    def _run(self) -> None:
        import sqlite3

        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            while not self._stop.wait(self.INTERVAL):
                self._checkpoint(conn)
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    def _checkpoint(self, conn: Any, mode: str | None = None) -> None:
        import sqlite3

        if mode is None:
            try:
                size = os.path.getsize(self.path + "-wal")
            except OSError:
                return
            mode = "RESTART" if size > self.MAX_WAL_BYTES else "PASSIVE"
        with contextlib.suppress(sqlite3.Error):  # busy or locked: the next round retries
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()


class Analyzer(_Background):
    """Keeps PostgreSQL's planner statistics current where autovacuum does not (it is off).

    Without statistics the planner guesses: over a freshly imported history a search took
    2.8 s instead of 40 ms, and searches under load ran past their time limit. Autovacuum
    analyzes a table once a tenth of it changed; with it off (``autovacuum = off``, or off
    for the table), this thread does the same every :attr:`INTERVAL` seconds, with
    autovacuum's own rule (:attr:`BASE_ROWS` + :attr:`FRACTION` of the table's rows changed
    since the last analysis). It only reads the statistics views when nothing is due, and
    never blocks writers (``ANALYZE`` takes no lock they wait for).
    """

    NAME = "pg-analyze"
    #: Seconds between rounds: autovacuum's own default (``autovacuum_naptime``).
    INTERVAL = 60.0
    BASE_ROWS = 50
    FRACTION = 0.1
    #: The tables searches and listings plan over.
    TABLES = ("entries", "threads", "search_words")

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        super().__init__()

    def _run(self) -> None:
        while True:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # the next round retries
                self.analyze_due()
            if self._stop.wait(self.INTERVAL):
                return

    def analyze_due(self) -> list[str]:
        """Analyze the tables due for it now; their names."""
        with self.engine.connect() as conn:
            due = [
                str(name)
                for name in conn.execute(
                    sa.text(
                        "SELECT s.relname FROM pg_stat_user_tables s"
                        " JOIN pg_class c ON c.oid = s.relid"
                        " WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)"
                        " AND (current_setting('autovacuum') = 'off'"
                        "  OR coalesce(c.reloptions, '{}') @> '{autovacuum_enabled=false}')"
                        " AND s.n_mod_since_analyze > :base + :fraction * greatest(c.reltuples, 0)"
                    ),
                    {
                        "tables": list(self.TABLES),
                        "base": self.BASE_ROWS,
                        "fraction": self.FRACTION,
                    },
                ).scalars()
            ]
            conn.commit()
            for name in due:
                conn.execute(sa.text(f'ANALYZE "{name}"'))
                conn.commit()
        return due


class Sql:
    """A hot statement, written once with ``:name`` parameters, run on the DBAPI cursor of the
    connection's current transaction.

    Executing a Core statement costs ≈80 µs of compilation lookup and result wrapping per call —
    about a third of a push's time under the write lock. The few statements of the push path
    skip that; everything else stays in SQLAlchemy Core.
    """

    _PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        self.sqlite = sqlite
        self.postgresql = self._PARAM.sub(r"%(\1)s", postgresql or sqlite)

    def run(self, conn: sa.Connection, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Execute (``executemany`` for a list) and return the DBAPI cursor."""
        sql = self.sqlite if conn.dialect.name == "sqlite" else self.postgresql
        with driver_errors(conn, sql, params):
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            if isinstance(params, list):
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        return cursor


@contextlib.contextmanager
def driver_errors(conn: sa.Connection, sql: str, params: Any) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (``IntegrityError``, ``OperationalError``…),
    as if the statement had gone through SQLAlchemy, so retries and handlers see one kind."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi_error) from exc


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) with as few statements as possible.

    PostgreSQL gets one statement, ``INSERT … SELECT * FROM unnest(%b::type[], …)``, one
    array per column sent in binary: the search vocabulary's statement trigger (migration
    0011) then runs once per batch, not once per row as with ``executemany`` (which psycopg
    pipelines as one statement per row), and it measured faster than that pipeline even
    without the trigger (a multi-row ``VALUES`` and text arrays measured slower). Its text
    does not depend on the number of rows, so psycopg prepares it once. SQLite gets
    multi-row ``INSERT … VALUES (…), (…)`` statements of up to :data:`ROWS_PER_INSERT` rows:
    pysqlite's ``executemany`` steps once per row, releasing and re-taking the GIL each time,
    which under concurrent requests stretches the time the write lock is held. Both run on
    the DBAPI cursor (see :class:`Sql`).
    """
    if not rows:
        return
    columns = tuple(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name != "sqlite":
        sql = _pg_insert_sql(table, columns, conn.dialect)
        arrays = [[row[column] for row in rows] for column in columns]
        with driver_errors(conn, sql, arrays):
            cursor.execute(sql, arrays)
        return
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        params = [row[column] for row in chunk for column in columns]
        sql = _multi_insert_sql(table.name, columns, len(chunk))
        with driver_errors(conn, sql, params):
            cursor.execute(sql, params)


@functools.lru_cache(maxsize=64)
def _pg_insert_sql(table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect) -> str:
    """One array parameter per column, cast to the column's type (psycopg types a list by
    its values: a list of small ints or of ``None`` would not be ``bigint[]``)."""
    names = ", ".join(f'"{column}"' for column in columns)
    arrays = ", ".join(
        f"%b::{table.c[column].type.compile(dialect=dialect)}[]" for column in columns
    )
    return f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays})'


@functools.lru_cache(maxsize=64)
def _multi_insert_sql(table: str, columns: tuple[str, ...], count: int) -> str:
    names = ", ".join(f'"{column}"' for column in columns)
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    return f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([row] * count)


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at ``url`` and bring its schema up to date."""
    from threadline.storage import migrations

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
