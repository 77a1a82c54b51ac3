"""A full disk under the client, for real: the data folder on a small tmpfs that the test fills.

The capture daemon keeps running, says so in ``daemon status``, and once space returns
delivers every line exactly once; ``push`` says the entry was not stored, without a traceback.
Mounting needs root (or CAP_SYS_ADMIN): elsewhere these tests skip, and
tests/client/test_store_full.py covers the same errors with ``PRAGMA max_page_count``."""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli
from tests.helpers.daemon import AgentHome, DaemonProcess, ServerView, wait_for
from tests.helpers.server import ServerProcess, login


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a fresh tmpfs of ``size`` (skips the test where mounting is not allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its disk has no space left; returns the file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def status(agent: AgentHome) -> dict[str, Any]:
    result = agent.cli("daemon", "status", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_daemon_survives_a_full_disk_and_then_delivers_everything_once(
    tmp_path: Path, server: ServerProcess
) -> None:
    agent = AgentHome(tmp_path / "agent")
    with small_disk(agent.threadline, "32m"):
        login(agent.threadline, server)
        view = ServerView(agent.threadline)
        path = agent.project_dir() / "s-full.jsonl"
        line = {"type": "user", "sessionId": "s-full", "pad": "x" * 2000}
        data = b"".join(json.dumps({**line, "n": i}).encode() + b"\n" for i in range(4000))
        first = data[: data.index(b"\n", 100_000) + 1]
        daemon = DaemonProcess(agent).start()
        try:

            def on_server() -> bytes:
                found = [t for t in view.threads() if t["meta"].get("source") == str(path)]
                return view.transcript(found[0]["id"]) if found else b""

            path.write_bytes(first)
            wait_for(lambda: on_server() == first, 10)
            filler = fill(agent.threadline)
            with path.open("ab") as fh:
                fh.write(data[len(first) :])  # 8 MB more than the store has room for
            seen: dict[str, Any] = {}

            def reported() -> bool:
                assert daemon.proc is not None and daemon.proc.poll() is None, (
                    "the daemon exited:\n" + daemon.out.read_text()
                )
                seen.update(status(agent))
                return "is full" in str(seen.get("store_error"))

            wait_for(reported, 30, interval=0.2)
            assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon runs on"
            assert seen["running"] and seen["last_error"] == seen["store_error"]
            assert len(on_server()) < len(data)
            filler.unlink()  # space returns
            wait_for(lambda: on_server() == data, 60, interval=0.2)
            wait_for(lambda: status(agent)["store_error"] is None, 10, interval=0.2)
            thread = next(t for t in view.threads() if t["meta"].get("source") == str(path))
            assert thread["entry_count"] == data.count(b"\n"), "nothing stored twice"
            assert daemon.proc is not None and daemon.proc.poll() is None
        finally:
            daemon.stop()
            view.close()


def test_push_on_a_full_disk_says_the_entry_was_not_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with small_disk(home, "4m"):
        assert cli.run(home, "push", "-p", "p", "-t", "t", "first").returncode == 0
        filler = fill(home)
        full = cli.run(home, "push", "-p", "p", "-t", "t", "second")
        assert full.returncode == 1
        lines = full.stderr.splitlines()
        assert len(lines) == 2, full.stderr
        assert lines[0].startswith(
            f"Error: the entry was not stored: the disk holding the local store "
            f"{home / 'local.db'} is full (SQLITE_"
        )
        assert lines[1].startswith("Hint: Free some space on that disk")
        filler.unlink()
        shown = cli.run(home, "thread", "show", "t", "-p", "p", "--json")
        assert [e["text"] for e in json.loads(shown.stdout)["entries"]] == ["first"]
