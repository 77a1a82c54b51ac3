"""A full disk or a database that went away is ``503 unavailable`` with ``Retry-After`` — never
``500`` — nothing is half-stored, and the server answers normally again once it is back.

- SQLite, in process: the engine's connections get a ``max_page_count`` at the database's
  current size (SQLite's own "database or disk is full", ``SQLITE_FULL``).
- SQLite, a real ``threadline serve`` whose database lives on a 4 MiB tmpfs that a filler file
  fills up (needs root and ``mount``; skipped otherwise).
- PostgreSQL, in process, reached through a TCP relay that is shut down (every open
  connection cut, nothing listening on its port) and started again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import (
    Account,
    PostgresUnavailable,
    ServerProcess,
    create_user_and_token,
    fresh_database_url,
)
from tests.helpers.web import csrf_of
from tests.server.conftest import entry, push_body, stream
from threadline.server.app import create_app
from threadline.server.errors import RETRY_AFTER_SECONDS, unavailable
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import Database, open_database

STREAM = "5c0f0000-0000-4000-8000-0000000000aa"


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["detail"]["retry_after"] == RETRY_AFTER_SECONDS
    assert "try again" in body["error"]["detail"]["hint"]
    info: dict[str, Any] = body["error"]
    return info


def account(db: Database) -> Account:
    accounts.create_user(db, "alice", "pw")
    token = accounts.create_token(db, "alice", "tests")
    return Account("alice", "pw", token.secret, token.id)


def push_text(client: Any, who: Account, seq: int, size: int) -> httpx.Response:
    body = push_body(stream(STREAM, [entry(seq, uuid.uuid4().hex * (size // 32))]))
    response: httpx.Response = client.post("/api/v1/sync/push", json=body, headers=who.headers)
    return response


def tail(client: Any, who: Account) -> int:
    streams = client.get("/api/v1/sync/status", headers=who.headers).json()["streams"]
    return int(streams[0]["tail"]) if streams else 0


# --- SQLite: the database file cannot grow ---------------------------------------------------


@contextlib.contextmanager
def sqlite_full(db: Database) -> Iterator[None]:
    """Every connection of ``db`` refuses to grow the file past its current size."""
    with db.read() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    sa.event.listen(db.engine, "connect", cap)
    db.engine.dispose()
    try:
        yield
    finally:
        sa.event.remove(db.engine, "connect", cap)
        db.engine.dispose()


def test_sqlite_disk_full_is_503_and_recovers(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    client = AsgiClient(create_app(ServerSettings(), db=db))
    try:
        who = account(db)
        assert push_text(client, who, 1, 1000).status_code == 200
        with sqlite_full(db):
            info = assert_unavailable(push_text(client, who, 2, 200_000))
            assert info["detail"]["reason"] == "disk_full"
            assert info["message"] == "the database cannot write: its disk is full"
            created = client.post("/api/v1/threads", json={"name": "n" * 150}, headers=who.headers)
            assert created.status_code in (201, 503), created.text
            assert tail(client, who) == 1  # reads still work; nothing was half-stored
        assert push_text(client, who, 2, 200_000).status_code == 200
        assert tail(client, who) == 2
    finally:
        client.close()
        db.dispose()


# --- PostgreSQL: the database goes away ------------------------------------------------------


class Relay:
    """A TCP relay on a fixed loopback port; :meth:`stop` cuts every connection and stops
    listening, :meth:`start` listens on the same port again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> Relay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    try:
        with fresh_database_url("postgresql", tmp_path) as url:
            yield url
    except PostgresUnavailable:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but THREADLINE_TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need THREADLINE_TEST_DATABASE_URL")


@pytest.mark.postgres
def test_postgresql_going_away_is_503_and_recovers(postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432)).start()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    db = open_database(relayed)
    app = create_app(ServerSettings(), db=db)
    client, browser = AsgiClient(app), AsgiClient(app)
    try:
        who = account(db)
        assert push_text(client, who, 1, 100).status_code == 200
        form = {"username": "alice", "password": "pw", "next": "/threads"}
        signed_in = browser.post("/login", data={**form, "csrf": csrf_of(browser.get("/login"))})
        assert signed_in.status_code == 303, signed_in.text
        relay.stop()
        page = browser.get("/threads")
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert page.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert "try again" in page.text
        for response in (
            push_text(client, who, 2, 100),
            client.get("/api/v1/threads", headers=who.headers),
            client.get("/api/v1/sync/status", headers=who.headers),
            client.get("/healthz"),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        info = assert_unavailable(push_text(client, who, 2, 100))
        assert info["detail"]["reason"] == "connection"
        assert str(relay.port) not in info["message"]
        relay.start()
        assert push_text(client, who, 2, 100).status_code == 200
        assert tail(client, who) == 2
        assert client.get("/healthz").status_code == 200
        assert browser.get("/threads").status_code == 200
    finally:
        client.close()
        browser.close()
        relay.stop()
        db.dispose()


# --- the classification itself ---------------------------------------------------------------


def test_only_outages_are_classified_unavailable(tmp_path: Path) -> None:
    import errno
    import sqlite3

    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    try:
        with pytest.raises(sa.exc.OperationalError) as syntax, db.read() as conn:
            conn.exec_driver_sql("SELEC 1")
        assert unavailable(syntax.value) is None
        with pytest.raises(sa.exc.IntegrityError) as duplicate, db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1), (1)")
        assert unavailable(duplicate.value) is None
    finally:
        db.dispose()
    readonly = sqlite3.connect(f"file:{tmp_path / 'server.db'}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as written:
        readonly.execute("CREATE TABLE u (x)")
    readonly.close()
    outage = unavailable(written.value)
    assert outage is not None and outage.detail["reason"] == "read_only"
    assert unavailable(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert unavailable(OSError(errno.ENOENT, "No such file")) is None
    assert unavailable(RuntimeError("bug")) is None


def test_a_statement_past_its_time_limit_is_unavailable_not_a_bug(db: Database) -> None:
    """A search cancelled by PostgreSQL's ``statement_timeout`` (a planner without statistics,
    a saturated machine) is ``503`` with ``Retry-After``, not ``500``."""
    if db.dialect != "postgresql":
        pytest.skip("a statement time limit is PostgreSQL's")
    with pytest.raises(sa.exc.OperationalError) as cancelled, db.read() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 50")
        conn.exec_driver_sql("SELECT pg_sleep(2)")
    outage = unavailable(cancelled.value)
    assert outage is not None and outage.status == 503
    assert outage.detail["reason"] == "timed_out"
    assert outage.detail["retry_after"] == RETRY_AFTER_SECONDS
    assert "took too long" in outage.message and "narrower search" in outage.hint


# --- a real server on a disk that fills up ---------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards; skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of ``folder``'s file system."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 512):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def test_real_server_on_a_full_disk_answers_503_and_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{small_disk / 'server.db'}"
    who = create_user_and_token(url)
    with ServerProcess(tmp_path / "home", url) as server, httpx.Client(base_url=server.url) as http:
        assert push_text(http, who, 1, 1000).status_code == 200
        filler = fill(small_disk)
        statuses = []
        for _ in range(8):  # the log may hold a page or two more before the disk refuses
            response = push_text(http, who, 2, 300_000)
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
        assert statuses[-1] == 503, statuses
        assert assert_unavailable(response)["detail"]["reason"] in ("disk_full", "io_error")
        filler.unlink()
        assert push_text(http, who, 2, 300_000).status_code == 200
        assert tail(http, who) == 2
        assert http.get("/healthz").status_code == 200
    assert "Traceback" not in "".join(server.output)
