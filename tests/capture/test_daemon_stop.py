"""A pid file is trusted only while the daemon holds its lock: ``daemon stop`` signals only a
daemon that is really running, and a hook starts one when the pid file is stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.daemon import AgentHome, DaemonProcess, wait_for


def test_a_stale_pid_file_never_gets_another_process_killed(tmp_path: Path) -> None:
    """The pid in a pid file left behind may belong to some other program by now."""
    agent = AgentHome(tmp_path / "agent")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (agent.threadline / "daemon.pid").write_text(f"{bystander.pid}\n")
        result = agent.cli("daemon", "stop")
        assert result.returncode == 0, result.stderr
        assert "not running" in result.stdout and "stale" in result.stdout
        assert bystander.poll() is None, "daemon stop signalled a process that is not ours"
        assert not (agent.threadline / "daemon.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_running_daemon_is_stopped(tmp_path: Path) -> None:
    agent = AgentHome(tmp_path / "agent")
    with DaemonProcess(agent) as daemon:
        result = agent.cli("daemon", "stop")
        assert result.returncode == 0, result.stderr
        assert "Stopped the daemon" in result.stdout
        assert daemon.proc is not None and daemon.proc.wait(15) == 0
    assert not json.loads(agent.cli("daemon", "status", "--json").stdout)["running"]


def test_a_hook_starts_the_daemon_when_the_pid_file_is_stale(tmp_path: Path) -> None:
    agent = AgentHome(tmp_path / "agent")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (agent.threadline / "daemon.pid").write_text(f"{bystander.pid}\n")
        hook = agent.cli("hook", "claude-code", "SessionStart", input="{}")
        assert (hook.returncode, hook.stdout) == (0, "")

        def running() -> bool:
            status = json.loads(agent.cli("daemon", "status", "--json").stdout)
            return bool(status["running"]) and status.get("pid") != bystander.pid

        wait_for(running, 20, what="the daemon the hook started")
        assert agent.cli("daemon", "stop").returncode == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
