"""``threadline hook AGENT EVENT``: what an agent's hook runs. Must return within 100 ms.

It reads the hook's JSON from stdin (``session_id``, ``transcript_path``, …), asks the daemon
to read that transcript and upload now, and starts the daemon if none answers. It never fails
the agent: it prints nothing on stdout (Claude Code would add it to the conversation), always
exits 0, and leaves a line in ``hooks.log`` when something went wrong.

Standard library only, dispatched before click is imported (see :mod:`threadline.cli.main`).
"""

from __future__ import annotations

import json
import os
import sys
import time

from threadline import paths
from threadline.daemon import control

MAX_STDIN = 1 << 20
#: How long to wait for the daemon's answer; the daemon reads the file whether or not we wait.
ANSWER_WAIT = 0.05
AGENTS = {"claude-code": "claude-code", "claude": "claude-code", "codex": "codex"}


def run(args: list[str]) -> int:
    try:
        _run(args)
    except Exception as exc:  # a hook must never break the agent's session
        _log(f"hook {' '.join(args)} failed: {type(exc).__name__}: {exc}")
    return 0


def _run(args: list[str]) -> None:
    if len(args) != 2 or args[0] not in AGENTS:
        _log(f"usage: threadline hook claude-code|codex EVENT (got {args!r})")
        return
    agent, event = AGENTS[args[0]], args[1]
    payload = _read_stdin()
    transcript = payload.get("transcript_path") or payload.get("rollout_path")
    message = {"op": "flush", "agent": agent, "event": event, "final": event == "SessionEnd"}
    if isinstance(transcript, str) and transcript:
        message["path"] = os.path.abspath(os.path.expanduser(transcript))
    if control.request(message, ANSWER_WAIT) is not None:
        return
    if control.read_pid() is None or not control.lock_held():
        # None runs (a pid file without the daemon's lock is stale: its pid may be another
        # program's now). Its first scan reads this session too.
        control.spawn()
        _log(f"{event}: started the daemon")
    # else: it runs but is busy; its watcher sees the file change anyway


def _read_stdin() -> dict[str, object]:
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    data = sys.stdin.buffer.read(MAX_STDIN)
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _log(line: str) -> None:
    try:
        folder = paths.ensure_dir(paths.log_dir())
        with open(folder / "hooks.log", "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    except OSError:
        pass
