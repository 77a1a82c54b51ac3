"""Talking to the capture daemon: its pid file, its control socket, starting it.

Agent hooks use this on every prompt, so it is standard library only and never waits long:
a request that gets no answer within its timeout is simply left to the daemon's watcher.

The control socket speaks one JSON object per line each way:

* ``{"op": "ping"}`` → ``{"ok": true, "pid": …}``
* ``{"op": "flush", "path": …, "agent": …, "final": bool, "wait": bool}`` → read that file now
  and upload; with ``wait`` the answer comes once that is done (``{"ok", "lines", "error"}``).
* ``{"op": "stop"}`` → the daemon exits after the answer.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from threadline import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

#: Unix socket paths are limited to about 104 bytes; longer ones move to the temp folder.
MAX_SOCKET_PATH = 100
#: The longest line either side reads.
MAX_LINE = 1 << 20


def pid_file() -> Path:
    return paths.data_dir() / "daemon.pid"


def lock_file() -> Path:
    return paths.data_dir() / "daemon.lock"


def log_file() -> Path:
    return paths.log_dir() / "daemon.log"


def socket_path() -> str:
    path = str(paths.data_dir() / "daemon.sock")
    if len(path) <= MAX_SOCKET_PATH:
        return path
    import hashlib
    import tempfile

    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"threadline-{os.getuid()}-{digest}.sock")


def read_pid() -> int | None:
    """The pid in the pid file if that process is alive, else ``None``."""
    try:
        pid = int(pid_file().read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def lock_held() -> bool:
    """Whether a daemon holds its lock file right now (it does for as long as it runs). A pid
    file without the lock is stale: its pid may belong to another process by now."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock here: trust the pid file
        return True
    try:
        fh = open(lock_file(), "rb")  # noqa: SIM115 - closed below, releasing a lock we took
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def send_line(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send ``message`` as one line of JSON."""
    sock.sendall(json.dumps(message).encode() + b"\n")


def recv_line(sock: socket.socket) -> Any:
    """The JSON value of the line the other side sends (up to ``MAX_LINE`` bytes), ``None`` if
    it closes without sending anything; raises ``OSError`` or ``ValueError`` (not JSON)."""
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_LINE:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data) if data else None


def request(message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Send one request and return the answer, or ``None`` if no daemon answered in time."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path())
            send_line(sock, message)
            answer = recv_line(sock)
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def spawn() -> int:
    """Start ``threadline daemon run`` in the background, detached from this process's
    session and terminal; returns its pid (the daemon itself makes sure only one runs)."""
    import subprocess

    log = log_file()
    paths.ensure_dir(log.parent)
    with open(os.devnull, "rb") as devnull_in, open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "threadline", "daemon", "run", "--quiet"],
            stdin=devnull_in,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            cwd=os.path.expanduser("~") if os.path.isdir(os.path.expanduser("~")) else "/",
        )
    return process.pid
