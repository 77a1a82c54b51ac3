"""Letting Codex index a rollout file it did not write itself.

Codex (0.16x on) lists sessions from a SQLite index in ``$CODEX_HOME`` (``state_*.sqlite``),
not from the files: ``codex resume <id>`` finds a new rollout by its file name and repairs the
index, but ``codex resume --last`` and the session picker only see indexed sessions. So after a
rollout is placed, Codex itself is asked to read it — ``codex app-server`` over stdio,
``thread/read`` with the session id — which indexes it the way Codex does. Threadline never
writes Codex's database.

Without ``codex`` on the PATH (or if it fails), nothing is lost: the file is in place and
``codex resume <id>`` finds it; the reason is returned for the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from threadline import __version__

#: How long Codex gets to start and answer.
TIMEOUT = 30.0


def index_rollout(
    session_id: str, env: Mapping[str, str], cwd: Path, timeout: float = TIMEOUT
) -> str | None:
    """Ask Codex to read (and so index) the session; ``None`` when it did, else why not."""
    codex = shutil.which("codex", path=env.get("PATH", os.defpath))
    if codex is None:
        return "codex is not on the PATH"
    try:
        process = subprocess.Popen(
            [codex, "app-server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd if cwd.is_dir() else None,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        return f"codex app-server did not start: {exc.strerror or exc}"
    assert process.stdin is not None and process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        _send(process.stdin, 0, "initialize", {"clientInfo": _CLIENT})
        _answer(lines, 0, deadline)
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "initialized"}) + "\n")
        _send(process.stdin, 1, "thread/read", {"threadId": session_id})
        answer = _answer(lines, 1, deadline)
    except (OSError, ValueError, TimeoutError) as exc:
        return f"codex app-server did not answer: {exc}"
    finally:
        _stop(process)
    if "error" in answer:
        error = answer["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return f"codex could not read the session: {message}"
    return None


_CLIENT = {"name": "threadline", "version": __version__}
_END = ""


def _pump(stdout: IO[str], lines: queue.Queue[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in stdout:
            lines.put(line)
    lines.put(_END)


def _send(stdin: IO[str], number: int, method: str, params: Mapping[str, Any]) -> None:
    message = {"jsonrpc": "2.0", "id": number, "method": method, "params": dict(params)}
    stdin.write(json.dumps(message) + "\n")
    stdin.flush()


def _answer(lines: queue.Queue[str], number: int, deadline: float) -> dict[str, Any]:
    """The response to request ``number`` (notifications and other messages are skipped)."""
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            raise TimeoutError("timed out") from None
        if line == _END:
            raise ValueError("it exited")
        with contextlib.suppress(ValueError):
            reply = json.loads(line)
            answered = isinstance(reply, dict) and ("result" in reply or "error" in reply)
            if answered and reply.get("id") == number:
                return dict(reply)


def _stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
