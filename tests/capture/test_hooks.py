"""``threadline hooks install|uninstall|status`` and the ``threadline hook`` runner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import AgentHome, DaemonProcess, wait_for

USER_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"]},
    "hooks": {
        "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "x"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}],
    },
}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentHome]:
    home = AgentHome(tmp_path / "agent")
    yield home
    home.cli("daemon", "stop")


def test_install_keeps_the_users_settings_is_idempotent_and_uninstalls_only_ours(
    agent: AgentHome,
) -> None:
    settings = agent.claude / "settings.json"
    settings.write_text(json.dumps(USER_SETTINGS, indent=4))
    result = agent.cli("hooks", "install")
    assert result.returncode == 0, result.stderr
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == USER_SETTINGS["permissions"]
    assert data["hooks"]["PreToolUse"] == USER_SETTINGS["hooks"]["PreToolUse"]
    start = data["hooks"]["SessionStart"]
    assert start[0] == USER_SETTINGS["hooks"]["SessionStart"][0], "the user's hook stays first"
    for event in ("SessionStart", "UserPromptSubmit", "SessionEnd"):
        commands = [h["command"] for g in data["hooks"][event] for h in g["hooks"]]
        assert commands[-1].endswith(f"hook claude-code {event}"), commands
    codex = json.loads((agent.codex / "hooks.json").read_text())
    assert codex["hooks"]["SessionStart"][0]["hooks"][0]["command"].endswith(
        "hook codex SessionStart"
    )
    before = settings.read_bytes()
    again = agent.cli("hooks", "install", "--claude")
    assert "already installed" in again.stdout
    assert settings.read_bytes() == before, "installing twice changes nothing"

    status = json.loads(agent.cli("hooks", "status", "--json").stdout)
    assert {s["agent"] for s in status} == {"claude-code", "codex"}
    assert all(e["installed"] for s in status for e in s["events"].values())

    assert agent.cli("hooks", "uninstall").returncode == 0
    assert json.loads(settings.read_text()) == USER_SETTINGS
    assert "hooks" not in json.loads((agent.codex / "hooks.json").read_text())


def test_invalid_settings_are_left_alone_with_a_clear_error(agent: AgentHome) -> None:
    settings = agent.claude / "settings.json"
    settings.write_text("{not json")
    result = agent.cli("hooks", "install", "--claude")
    assert result.returncode != 0
    assert "settings.json is not valid JSON" in result.stderr and "Hint:" in result.stderr
    assert settings.read_text() == "{not json"


def run_hook(
    agent: AgentHome, event: str, payload: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return agent.cli("hook", "claude-code", event, input=json.dumps(payload))


def test_a_hook_flushes_its_session_through_the_running_daemon(agent: AgentHome) -> None:
    path = agent.project_dir() / "s-hook.jsonl"
    path.write_text(json.dumps({"type": "user", "sessionId": "s-hook", "n": 1}) + "\n")
    payload = {"session_id": "s-hook", "transcript_path": str(path), "cwd": str(agent.root)}
    with DaemonProcess(agent):
        for event in ("SessionStart", "UserPromptSubmit", "SessionEnd"):
            result = run_hook(agent, event, payload)
            assert (result.returncode, result.stdout) == (0, "")

        def fired() -> bool:
            status = json.loads(agent.cli("hooks", "status", "--claude", "--json").stdout)
            [claude] = status
            assert claude["agent"] == "claude-code"
            events = claude["events"]
            assert sorted(events) == sorted(("SessionStart", "UserPromptSubmit", "SessionEnd"))
            return all(e["last_fired"] for e in events.values())

        wait_for(fired, 10, interval=0.1)
        status = json.loads(agent.cli("daemon", "status", "--json").stdout)
        assert status["files"]["lines"] == 1


def test_a_hook_starts_the_daemon_when_none_runs(agent: AgentHome) -> None:
    path = agent.project_dir() / "s-start.jsonl"
    path.write_text(json.dumps({"type": "user", "sessionId": "s-start"}) + "\n")
    result = run_hook(agent, "SessionStart", {"transcript_path": str(path)})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    def running() -> bool:
        status = json.loads(agent.cli("daemon", "status", "--json").stdout)
        return bool(status["running"]) and status["files"]["lines"] == 1

    wait_for(running, 20, interval=0.1)
    assert agent.cli("daemon", "stop").returncode == 0
    assert not json.loads(agent.cli("daemon", "status", "--json").stdout)["running"]


def test_a_broken_hook_call_never_fails_the_agent(agent: AgentHome) -> None:
    (agent.threadline / "daemon.pid").write_text("1\n")  # "running" but not answering
    for args, stdin in [
        (("hook",), ""),
        (("hook", "vim", "X"), ""),
        (("hook", "codex", "Y"), "{["),
    ]:
        result = agent.cli(*args, input=stdin)
        assert (result.returncode, result.stdout) == (0, ""), args
    log = (agent.threadline / "log" / "hooks.log").read_text()
    assert "usage: threadline hook" in log
    # The pid file named a process that is not the daemon: the valid call started one. Wait
    # for it to answer, so that stopping it afterwards does not race its start.
    assert "Y: started the daemon" in log

    def running() -> bool:
        status = agent.cli("daemon", "status", "--json")
        return status.returncode == 0 and bool(json.loads(status.stdout)["running"])

    wait_for(running, 20, 0.05, what="the daemon the hook started")


def test_codex_trust_is_recorded_and_checked_as_codex_computes_it(agent: AgentHome) -> None:
    """The hash is cross-checked with the harness's own implementation, which was verified
    against ``codex app-server``'s ``hooks/list`` (tests/realclients/README.md)."""
    from tests.realclients.harness import codex_hook_trust_states

    config = agent.codex / "config.toml"
    config.write_text('model = "o3"\n\n[hooks.state."/elsewhere:stop:0:0"]\ntrusted_hash = "x"\n')
    assert agent.cli("hooks", "install", "--codex").returncode == 0
    status = json.loads(agent.cli("hooks", "status", "--codex", "--json").stdout)
    assert status[0]["trusted"].startswith("SessionStart untrusted")
    result = agent.cli("hooks", "install", "--codex", "--trust")
    assert result.returncode == 0, result.stderr
    import tomllib

    data = tomllib.loads(config.read_text())
    assert data["model"] == "o3" and data["hooks"]["state"]["/elsewhere:stop:0:0"]
    expected = codex_hook_trust_states(agent.codex)
    stored = {k: v["trusted_hash"] for k, v in data["hooks"]["state"].items() if k in expected}
    assert stored == expected and len(expected) == 3
    status = json.loads(agent.cli("hooks", "status", "--codex", "--json").stdout)
    assert status[0]["trusted"] == "trusted"
    # A changed definition is no longer trusted until trusted again.
    hooks_file = agent.codex / "hooks.json"
    hooks_file.write_text(hooks_file.read_text().replace('"timeout": 3', '"timeout": 2'))
    status = json.loads(agent.cli("hooks", "status", "--codex", "--json").stdout)
    assert "modified" in status[0]["trusted"]
    assert agent.cli("hooks", "install", "--codex", "--trust").returncode == 0
    assert (
        json.loads(agent.cli("hooks", "status", "--codex", "--json").stdout)[0]["trusted"]
        == "trusted"
    )
    tomllib.loads(config.read_text())  # still valid TOML
