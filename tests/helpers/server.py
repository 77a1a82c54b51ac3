"""Server helpers for tests and benchmarks: databases, accounts, a real ``threadline serve``.

- :func:`fresh_database_url` — a SQLite file, or a fresh PostgreSQL schema (dropped afterwards)
  when ``THREADLINE_TEST_DATABASE_URL`` is set (:mod:`tests.helpers.templates` hands out
  migrated ones quicker).
- :func:`create_user_and_token` — a user and a device-less bearer token, written straight into
  a server database (migrating it first), without starting a server.
- :class:`ServerProcess` — ``threadline serve --port 0`` as a subprocess with its own
  ``THREADLINE_HOME``; ``base_url`` is parsed from the ``Threadline listening on`` line. It can
  be stopped (SIGTERM), killed (SIGKILL) and restarted on the same port and database, which the
  outage and crash tests need. Its first-run admin password is :data:`ADMIN_PASSWORD`.
- :func:`login` — log a client home in with the real ``threadline login``.

Standard library plus threadline.services and threadline.storage (and :mod:`tests.helpers.wait`)
only, so a benchmark script can import it as well.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from tests.helpers.wait import wait_for

ENV_TEST_DATABASE = "THREADLINE_TEST_DATABASE_URL"
THREADLINE = shutil.which("threadline", path=str(Path(sys.executable).parent)) or "threadline"
LISTENING = re.compile(r"^Threadline listening on (http://\S+)$")
ADMIN_PASSWORD = "admin-password-for-tests"


class PostgresUnavailable(Exception):
    """No ``THREADLINE_TEST_DATABASE_URL``: the caller decides whether to skip or fail."""


@contextmanager
def fresh_database_url(backend: str, folder: Path) -> Iterator[str]:
    """A database nobody else uses for the block: ``sqlite`` or ``postgresql``."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'server.db'}"
        return
    base = postgres_base_url()
    schema = create_schema(base)
    try:
        yield schema_url(base, schema)
    finally:
        drop_schema(base, schema)


def postgres_base_url() -> str:
    """``THREADLINE_TEST_DATABASE_URL``, or :class:`PostgresUnavailable`."""
    base = os.environ.get(ENV_TEST_DATABASE)
    if not base:
        raise PostgresUnavailable(f"set {ENV_TEST_DATABASE}=postgresql://user@host:port/db")
    return base


def create_schema(base: str) -> str:
    """A new empty schema in the database ``base``; its name."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        # Search's substring index needs pg_trgm: created once in ``public``, it outlives the
        # test schemas (created inside one, it would be dropped with it, and its index with it).
        with suppress(psycopg.Error):
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``schema`` as the connections' search path."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    token: str
    token_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_user_and_token(
    database_url: str, user: str = "alice", password: str | None = None, *, is_admin: bool = False
) -> Account:
    """Create ``user`` (if new) and a fresh token for it in the server database."""
    from threadline.errors import Conflict
    from threadline.services import accounts
    from threadline.storage.database import open_database

    password = password or secrets.token_urlsafe(12)
    db = open_database(database_url)
    try:
        with suppress(Conflict):
            accounts.create_user(db, user, password, is_admin=is_admin)
        token = accounts.create_token(db, user, "tests")
    finally:
        db.dispose()
    return Account(user, password, token.secret, token.id)


def terminate(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL if ``proc`` does not exit in time; return its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class ServerProcess:
    """``threadline serve`` on a free loopback port; a context manager that stops it."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.args = args
        self.env = env or {}
        self.timeout = timeout
        self.base_url = ""
        self.port = 0
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._listening = False

    @property
    def url(self) -> str:
        return self.base_url

    def start(self) -> ServerProcess:
        """Start on a free port — or, once it has run, on the port it had."""
        self.home.mkdir(parents=True, exist_ok=True)
        command = [THREADLINE, "serve", "--port", str(self.port)]
        command += ["--database-url", self.database_url]
        self.proc = subprocess.Popen(
            [*command, *self.args],
            env=self._environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        listening = threading.Event()  # set on the listening line, or when the output ends
        self._listening = False
        self._reader = threading.Thread(target=self._pump, args=(listening,), daemon=True)
        self._reader.start()
        listening.wait(self.timeout)
        if not self._listening:
            self.stop()
            raise RuntimeError("threadline serve did not start:\n" + "".join(self.output))
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; return the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        terminate(proc, timeout)
        self._reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.stop()

    def restart(self, timeout: float = 20.0) -> None:
        """Start again on the same port, retrying while the old socket lingers."""
        failures: list[RuntimeError] = []

        def started() -> bool:
            try:
                self.start()
            except RuntimeError as exc:
                failures.append(exc)
                return False
            return True

        try:
            wait_for(started, timeout, 0.2, what=f"threadline serve to start again on {self.port}")
        except AssertionError:
            raise failures[-1] from None

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        env["THREADLINE_HOME"] = str(self.home)
        env["THREADLINE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        env.update(self.env)
        return env

    def _pump(self, listening: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            match = LISTENING.match(line.strip())
            if match and not listening.is_set():
                self.base_url = match.group(1)
                self.port = int(self.base_url.rsplit(":", 1)[1])
                self._listening = True
                listening.set()
        listening.set()  # the process ended without listening: start() fails at once

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def login(home: Path, server: ServerProcess, user: str = "admin") -> None:
    """Log the client in ``home`` into ``server`` with the real CLI (the first-run admin)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    command = [THREADLINE, "login", "--server", server.url, "--user", user, "--password-stdin"]
    result = subprocess.run(
        command, env=env, cwd=home, input=ADMIN_PASSWORD + "\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
