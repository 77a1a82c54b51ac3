"""Running the server for real: migrate, create the first admin, bind, print, serve.

:func:`serve` binds the listening socket itself (so ``port=0`` works), then prints
``Threadline listening on http://HOST:PORT`` on stdout and flushes it before serving: a test or
a supervisor can wait for that line and connect right away (the kernel queues connections until
uvicorn accepts them). On a database without users it creates ``admin`` and prints the password
once. uvicorn handles SIGTERM and SIGINT by finishing the requests in flight and exiting.

With ``workers`` > 1 the process forks that many workers after migrating, each serving its own
socket of one ``SO_REUSEPORT`` port; on SQLite they take turns writing through an ``flock``
(:class:`~threadline.storage.database.WriteLock`), so the parsing, validation and HTTP work of
the requests runs on every core. On SIGTERM or SIGINT every worker finishes what it serves and
exits 0, quietly.

A port that cannot be bound (in use, not allowed, no such address) is a
:class:`~threadline.errors.ConfigError` naming the address, which the CLI prints as
``Error:``/``Hint:``. A connection that has not sent a request's complete headers within
``header_timeout`` seconds — its first request's, or its next one's on keep-alive — is closed
(:class:`HeaderTimeoutProtocol`), so slow or silent clients cannot hold sockets open.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import traceback
from typing import Any, TextIO

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from threadline.errors import ConfigError
from threadline.server.settings import ServerSettings
from threadline.services.accounts import ensure_first_admin
from threadline.storage.database import Database, open_database

ENV_ADMIN_PASSWORD = "THREADLINE_ADMIN_PASSWORD"
LISTENING = "Threadline listening on {url}"


def serve(settings: ServerSettings, out: TextIO | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    out = out or sys.stdout
    db = open_database(settings.resolved_database_url())
    try:
        socks = bind_all(settings.host, settings.port, settings.workers)
    except OSError as exc:
        db.dispose()
        raise _bind_error(settings.host, settings.port, exc) from None
    first = ensure_first_admin(db, os.environ.get(ENV_ADMIN_PASSWORD) or None)
    url = base_url(socks[0])
    if first is not None:
        _print_first_run(out, url, *first)
    print(LISTENING.format(url=url), file=out, flush=True)
    if len(socks) == 1:
        _run_worker(settings, socks[0], db)
        return 0
    db.dispose()  # no database threads or connections may cross the fork
    return _supervise(settings, socks)


def _run_worker(settings: ServerSettings, sock: socket.socket, db: Database) -> None:
    import uvicorn

    from threadline.server.app import create_app

    config = uvicorn.Config(
        create_app(settings, db=db),
        log_level="info" if settings.access_log else "warning",
        access_log=settings.access_log,
        server_header=False,
        lifespan="on",
        http=header_timeout_protocol(settings.header_timeout),
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then raises the signal again for
    # the handler it found; with the default handler the process would die there, before the
    # database is closed (SQLite's log checkpointed, connections ended). Ours exits cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        db.dispose()


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _supervise(settings: ServerSettings, socks: list[socket.socket]) -> int:
    """Fork one worker per socket, pass SIGINT and SIGTERM on, and wait for them all.

    Each worker owns one socket of the ``SO_REUSEPORT`` group, so the kernel spreads
    connections over the workers — keep-alive clients included. If a worker dies, the others
    are stopped too and the status is 1, so a supervisor (systemd, a test) sees the failure.
    """
    workers: dict[int, int] = {}
    for index, sock in enumerate(socks):
        pid = os.fork()
        if pid == 0:
            for other in socks:
                if other is not sock:
                    other.close()
            _exit_worker(settings, sock)
        workers[pid] = index
    for sock in socks:
        sock.close()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # SIGTERM even for SIGINT: never a forced exit

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while workers:
        pid, wait_status = os.wait()
        workers.pop(pid, None)
        code = os.waitstatus_to_exitcode(wait_status)
        if not stopping and code not in (0, -signal.SIGTERM, -signal.SIGINT):
            print(f"threadline: worker {pid} exited with {code}; stopping", file=sys.stderr)
            status = 1
            stop(signal.SIGTERM, None)
    return status


def _exit_worker(settings: ServerSettings, sock: socket.socket) -> None:
    code = 0
    try:
        _run_worker(settings, sock, open_database(settings.resolved_database_url()))
    except SystemExit as exc:  # the clean exit after SIGTERM or SIGINT (:func:`_exit_cleanly`)
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"cannot listen on {address}: the port is already in use",
            hint=f"Stop what listens on port {port} (another `threadline serve`?), or choose "
            "another port with --port (0 picks a free one).",
        )
    if exc.errno == errno.EACCES:
        return ConfigError(
            f"cannot listen on {address}: not allowed to use port {port}",
            hint="Ports below 1024 need privileges; choose a port ≥ 1024 with --port.",
        )
    return ConfigError(
        f"cannot listen on {address}: {exc.strerror or exc}",
        hint="Check --host (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0) and --port.",
    )


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection that has not sent a request's complete
    headers within :attr:`header_timeout` seconds.

    uvicorn's ``timeout_keep_alive`` only runs between requests and is cancelled by the first
    byte of the next one, so a client sending a request line and then nothing held its socket
    for ever. Here a timer is armed when the connection is made and again whenever a response
    is complete (the next request's headers are due); when it fires and no request is being
    served — its headers never came — the connection is closed. A request whose headers came
    is never cut, however long its body or its answer takes.
    """

    header_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            with contextlib.suppress(h11.LocalProtocolError):
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """:class:`HeaderTimeoutProtocol` with its timeout set (uvicorn builds one per connection)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})


def bind_all(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one port (``SO_REUSEPORT`` when more than one)."""
    first = bind(host, port, reuse_port=count > 1)
    socks = [first]
    try:
        bound_port = first.getsockname()[1]
        socks += [bind(host, bound_port, reuse_port=True) for _ in range(count - 1)]
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections; with proto 0
    # it skips that, and Nagle plus delayed ACKs stall every keep-alive response by ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _print_first_run(out: TextIO, url: str, user: str, password: str) -> None:
    lines = [
        "First run: created the administrator account.",
        f"  server:   {url}",
        f"  user:     {user}",
        f"  password: {password}",
        "This password is shown only now. Create users and tokens with",
        "`threadline user create NAME` and `threadline token create --user NAME`.",
    ]
    print("\n".join(lines), file=out, flush=True)
