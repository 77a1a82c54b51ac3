"""``threadline mcp install|uninstall`` registers the server in Claude Code's ``.claude.json`` and
Codex's ``config.toml`` and keeps everything else of theirs, byte for byte in TOML."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli

CODEX_BEFORE = """\
# Codex settings, kept by hand
model = "o3"  # the default

[mcp_servers.docs]
command = "npx"   # another server
args = ["-y", "docs-mcp"]

[profiles.fast]
model = "o4-mini"
"""

CLAUDE_BEFORE: dict[str, Any] = {
    "numStartups": 12,
    "theme": "dark",
    "mcpServers": {"docs": {"type": "stdio", "command": "npx", "args": ["docs-mcp"], "env": {}}},
    "projects": {"/src/shop": {"allowedTools": ["Bash"], "mcpServers": {}}},
}


class Machine:
    """A user's home with Claude Code's and Codex's folders, and Threadline's own home."""

    def __init__(self, root: Path, *, claude_config_dir: bool = True) -> None:
        self.home = root / "user"
        self.threadline = root / "threadline-home"
        self.codex = self.home / ".codex"
        self.claude_dir = self.home / "claude-config" if claude_config_dir else None
        self.env = {"HOME": str(self.home), "CODEX_HOME": str(self.codex)}
        if self.claude_dir is not None:
            self.env["CLAUDE_CONFIG_DIR"] = str(self.claude_dir)
        self.codex.mkdir(parents=True)

    @property
    def claude_json(self) -> Path:
        return (self.claude_dir or self.home) / ".claude.json"

    @property
    def codex_toml(self) -> Path:
        return self.codex / "config.toml"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = cli.run(self.threadline, "mcp", *args, env=self.env, cwd=self.home)
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_claude_keeps_every_other_setting_and_a_second_install_changes_nothing(
    machine: Machine,
) -> None:
    assert machine.claude_dir is not None
    machine.claude_dir.mkdir()
    machine.claude_json.write_text(json.dumps(CLAUDE_BEFORE, indent=2))
    first = machine.run("install", "--claude")
    assert f"claude-code: {machine.claude_json}: registered" in first.stdout
    after = json.loads(machine.claude_json.read_text())
    ours = after["mcpServers"].pop("threadline")
    assert after == CLAUDE_BEFORE
    assert ours["type"] == "stdio" and ours["args"][-1] == "mcp"
    assert Path(ours["command"]).is_absolute() and Path(ours["command"]).exists()
    assert ours["env"] == {"THREADLINE_HOME": str(machine.threadline)}
    assert not machine.codex_toml.exists()  # --claude only

    written = machine.claude_json.read_bytes()
    again = machine.run("install", "--claude")
    assert "already registered" in again.stdout
    assert machine.claude_json.read_bytes() == written
    backup = machine.claude_json.with_name(".claude.json.threadline-backup")
    assert json.loads(backup.read_text()) == CLAUDE_BEFORE

    assert "removed the registration" in machine.run("uninstall", "--claude").stdout
    assert json.loads(machine.claude_json.read_text()) == CLAUDE_BEFORE
    assert "not registered" in machine.run("uninstall", "--claude").stdout


def test_claude_without_a_config_dir_uses_the_file_in_home(tmp_path: Path) -> None:
    machine = Machine(tmp_path, claude_config_dir=False)
    machine.run("install", "--claude")
    servers = json.loads((machine.home / ".claude.json").read_text())["mcpServers"]
    assert list(servers) == ["threadline"]
    assert (machine.home / ".claude.json").stat().st_mode & 0o777 == 0o600


def test_codex_keeps_comments_and_other_tables_byte_for_byte(machine: Machine) -> None:
    machine.codex_toml.write_text(CODEX_BEFORE)
    first = machine.run("install", "--codex")
    assert f"codex: {machine.codex_toml}: registered" in first.stdout
    text = machine.codex_toml.read_text()
    assert text.startswith(CODEX_BEFORE + "\n[mcp_servers.threadline]\n")
    ours = tomllib.loads(text)["mcp_servers"]["threadline"]
    assert Path(ours["command"]).is_absolute() and ours["args"][-1] == "mcp"
    assert ours["env"] == {"THREADLINE_HOME": str(machine.threadline)}

    assert "already registered" in machine.run("install", "--codex").stdout
    assert machine.codex_toml.read_text() == text
    machine.run("uninstall", "--codex")
    assert machine.codex_toml.read_text() == CODEX_BEFORE


@pytest.mark.parametrize(
    "written",
    [
        '[mcp_servers.threadline]\ncommand = "/old/threadline"  # moved\nargs = ["mcp"]\n'
        "startup_timeout_sec = 30\n",
        '[mcp_servers]\nthreadline.command = "/old/threadline"\nthreadline.args = ["mcp"]\n'
        "threadline.startup_timeout_sec = 30\n",
        'mcp_servers = { threadline = { command = "/old/threadline", args = ["mcp"], '
        "startup_timeout_sec = 30 } }\n",
    ],
    ids=["table", "dotted-keys", "inline"],
)
def test_codex_entry_already_there_is_updated_where_it_is(machine: Machine, written: str) -> None:
    machine.codex_toml.write_text("# mine\n" + written + "\n[profiles.fast]\nmodel = 'o4'\n")
    assert "updated the registration" in machine.run("install", "--codex").stdout
    text = machine.codex_toml.read_text()
    assert text.startswith("# mine\n") and text.endswith("\n[profiles.fast]\nmodel = 'o4'\n")
    assert "/old/threadline" not in text and text.count("threadline") >= 2
    ours = tomllib.loads(text)["mcp_servers"]["threadline"]
    assert ours["startup_timeout_sec"] == 30  # a setting of the user's is kept
    assert ours["command"].endswith("threadline") or ours["args"][-2:] == ["threadline", "mcp"]
    assert "already registered" in machine.run("install", "--codex").stdout


def test_both_agents_by_default_and_dry_run_writes_nothing(machine: Machine) -> None:
    machine.codex_toml.write_text(CODEX_BEFORE)
    dry = machine.run("install", "--dry-run")
    assert "claude-code:" in dry.stdout and "codex:" in dry.stdout
    assert dry.stdout.count("would register") == 2
    assert machine.codex_toml.read_text() == CODEX_BEFORE and not machine.claude_json.exists()
    machine.run("install")
    assert "threadline" in json.loads(machine.claude_json.read_text())["mcpServers"]
    assert "threadline" in tomllib.loads(machine.codex_toml.read_text())["mcp_servers"]


def test_a_file_that_cannot_be_read_is_refused_and_left_alone(machine: Machine) -> None:
    machine.codex_toml.write_text("model = [unclosed\n")
    assert machine.claude_dir is not None
    machine.claude_dir.mkdir()
    machine.claude_json.write_text('{"mcpServers": [1, 2]}')
    for flag, path in (("--codex", machine.codex_toml), ("--claude", machine.claude_json)):
        before = path.read_bytes()
        result = cli.run(
            machine.threadline, "mcp", "install", flag, env=machine.env, cwd=machine.home
        )
        assert result.returncode == 1
        assert result.stderr.startswith("Error: ") and str(path) in result.stderr
        assert "nothing was changed" in result.stderr
        hint = result.stderr.splitlines()[-1]
        assert hint.startswith("Hint: ") and "threadline config" not in hint  # not about ours
        assert path.read_bytes() == before


def test_without_threadline_home_the_entry_has_no_env(machine: Machine) -> None:
    # The usual case: THREADLINE_HOME is not set, Threadline uses its platform folders.
    env = {k: v for k, v in cli.clean_env(machine.home).items() if k != "THREADLINE_HOME"}
    env.update(machine.env)
    result = subprocess.run(
        [cli.THREADLINE, "mcp", "install"], cwd=machine.home, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours = json.loads(machine.claude_json.read_text())["mcpServers"]["threadline"]
    assert ours["args"] == ["mcp"] and ours["env"] == {}
    codex = tomllib.loads(machine.codex_toml.read_text())["mcp_servers"]["threadline"]
    assert codex["args"] == ["mcp"] and "env" not in codex


def test_a_private_config_stays_private_and_a_linked_one_stays_a_link(machine: Machine) -> None:
    """``.claude.json`` may hold an API key: its backup is as private as the file. A config
    that is a symbolic link (to a dotfiles repository) is written through the link, which
    stays."""
    machine.claude_json.parent.mkdir(parents=True, exist_ok=True)
    machine.claude_json.write_text(json.dumps(CLAUDE_BEFORE))
    machine.claude_json.chmod(0o600)
    machine.run("install", "--claude")
    backup = machine.claude_json.with_name(".claude.json.threadline-backup")
    assert backup.stat().st_mode & 0o777 == 0o600
    assert machine.claude_json.stat().st_mode & 0o777 == 0o600

    dotfiles = machine.home / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "config.toml"
    real.write_text(CODEX_BEFORE)
    machine.codex_toml.parent.mkdir(parents=True, exist_ok=True)
    machine.codex_toml.symlink_to(real)
    machine.run("install", "--codex")
    assert machine.codex_toml.is_symlink() and machine.codex_toml.resolve() == real.resolve()
    assert "[mcp_servers.threadline]" in real.read_text()
