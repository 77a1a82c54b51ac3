"""Running the server for real: migrate, create the first admin, bind, print, serve.

:func:`serve` binds the listening socket itself (so ``port=0`` works), then prints
``Threadline listening on http://HOST:PORT`` on stdout and flushes it before serving: a test or
a supervisor can wait for that line and connect right away (the kernel queues connections until
uvicorn accepts them). On a database without users it creates ``admin`` and prints the password
once. uvicorn handles SIGTERM and SIGINT by finishing the requests in flight and exiting.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TextIO

from threadline.server.admin import ensure_first_admin
from threadline.server.database import open_database
from threadline.server.settings import ServerSettings

ENV_ADMIN_PASSWORD = "THREADLINE_ADMIN_PASSWORD"
LISTENING = "Threadline listening on {url}"


def serve(settings: ServerSettings, out: TextIO | None = None) -> None:
    import uvicorn

    from threadline.server.app import create_app

    out = out or sys.stdout
    db = open_database(settings.resolved_database_url())
    first = ensure_first_admin(db, os.environ.get(ENV_ADMIN_PASSWORD) or None)
    app = create_app(settings, db=db)
    sock = bind(settings.host, settings.port)
    url = base_url(sock)
    if first is not None:
        _print_first_run(out, url, *first)
    print(LISTENING.format(url=url), file=out, flush=True)
    config = uvicorn.Config(
        app,
        log_level="info" if settings.access_log else "warning",
        access_log=settings.access_log,
        server_header=False,
        lifespan="on",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        db.dispose()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections; with proto 0
    # it skips that, and Nagle plus delayed ACKs stall every keep-alive response by ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
