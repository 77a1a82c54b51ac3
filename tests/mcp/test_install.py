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

    def run_without_home(self, *args: str) -> subprocess.CompletedProcess[str]:
        """As :meth:`run`, with no ``THREADLINE_HOME`` (Threadline's platform folders)."""
        env = {k: v for k, v in cli.clean_env(self.home).items() if k != "THREADLINE_HOME"}
        env.update(self.env)
        result = subprocess.run(
            [cli.THREADLINE, "mcp", *args], cwd=self.home, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
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
    machine.run_without_home("install")
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


def test_a_file_that_is_not_utf8_is_refused_and_left_alone(machine: Machine) -> None:
    assert machine.claude_dir is not None
    machine.claude_dir.mkdir()
    machine.claude_json.write_bytes(b'{"theme": "dark \xff"}\n')
    machine.codex_toml.write_bytes(b'model = "o3"\n# caf\xe9\n')
    for flag, path, byte in (
        ("--claude", machine.claude_json, 17),
        ("--codex", machine.codex_toml, 19),
    ):
        before = path.read_bytes()
        for command in ("install", "uninstall"):
            result = cli.run(
                machine.threadline, "mcp", command, flag, env=machine.env, cwd=machine.home
            )
            assert result.returncode == 1 and "Traceback" not in result.stderr
            error, hint = result.stderr.splitlines()
            assert (
                error == f"Error: {path} is not valid UTF-8 (at byte {byte}); nothing was changed"
            )
            assert hint.startswith("Hint: ")
            assert path.read_bytes() == before
    assert not machine.claude_json.with_name(".claude.json.threadline-backup").exists()


def test_codex_line_endings_are_kept_and_uninstall_gives_the_file_back(machine: Machine) -> None:
    crlf = CODEX_BEFORE.replace("\n", "\r\n").encode()
    machine.codex_toml.write_bytes(crlf)
    machine.run("install", "--codex")
    written = machine.codex_toml.read_bytes()
    assert written.startswith(crlf) and written.count(b"\n") == written.count(b"\r\n")
    assert "threadline" in tomllib.loads(written.decode())["mcp_servers"]
    machine.run("uninstall", "--codex")
    assert machine.codex_toml.read_bytes() == crlf

    # An entry already there, updated where it is: a line added to it ends as the others.
    entry = '[mcp_servers.threadline]\r\ncommand = "/old/threadline"\r\nargs = ["mcp"]\r\n'
    machine.codex_toml.write_bytes(crlf + b"\r\n" + entry.encode() + b"\r\n[x]\r\ny = 1\r\n")
    machine.run("install", "--codex")
    written = machine.codex_toml.read_bytes()
    assert written.startswith(crlf) and written.endswith(b"\r\n\r\n[x]\r\ny = 1\r\n")
    assert written.count(b"\n") == written.count(b"\r\n") and b"/old/threadline" not in written
    ours = tomllib.loads(written.decode())["mcp_servers"]["threadline"]
    assert ours["env"] == {"THREADLINE_HOME": str(machine.threadline)}


def test_claude_line_endings_are_kept(machine: Machine) -> None:
    machine.claude_json.parent.mkdir(parents=True, exist_ok=True)
    machine.claude_json.write_bytes(
        json.dumps(CLAUDE_BEFORE, indent=2).replace("\n", "\r\n").encode()
    )
    machine.run("install", "--claude")
    written = machine.claude_json.read_bytes()
    assert written.count(b"\n") == written.count(b"\r\n") > 10
    assert "threadline" in json.loads(written)["mcpServers"]


CODEX_ENTRY_FORMS = [
    '[mcp_servers.threadline]\ncommand = "/old/threadline"\nargs = ["mcp"]\n'
    'env = { FOO = "bar", THREADLINE_HOME = "/old/home" }  # mine\nstartup_timeout_sec = 30\n',
    '[mcp_servers.threadline]\ncommand = "/old/threadline"\nargs = ["mcp"]\n'
    "startup_timeout_sec = 30\n\n"
    '[mcp_servers.threadline.env]\nFOO = "bar"  # mine\nTHREADLINE_HOME = "/old/home"\n',
    '[mcp_servers]\nthreadline.command = "/old/threadline"\nthreadline.args = ["mcp"]\n'
    'threadline.env.FOO = "bar"\nthreadline.env.THREADLINE_HOME = "/old/home"\n'
    "threadline.startup_timeout_sec = 30\n",
]


@pytest.mark.parametrize("written", CODEX_ENTRY_FORMS, ids=["inline-env", "env-table", "dotted"])
def test_codex_reinstall_keeps_what_the_user_added_to_our_entry(
    machine: Machine, written: str
) -> None:
    machine.codex_toml.write_text("# mine\n" + written + "\n[profiles.fast]\nmodel = 'o4'\n")
    first = machine.run("install", "--codex")
    assert "updated the registration" in first.stdout and "no longer sets" not in first.stdout
    text = machine.codex_toml.read_text()
    assert text.startswith("# mine\n") and text.endswith("\n[profiles.fast]\nmodel = 'o4'\n")
    ours = tomllib.loads(text)["mcp_servers"]["threadline"]
    assert ours["env"] == {"FOO": "bar", "THREADLINE_HOME": str(machine.threadline)}
    assert ours["startup_timeout_sec"] == 30 and ours["command"] != "/old/threadline"
    assert "already registered" in machine.run("install", "--codex").stdout

    # Installed without THREADLINE_HOME: the entry stops setting it, and says so.
    dry = machine.run_without_home("install", "--codex", "--dry-run")
    assert f"would no longer set it (it was {machine.threadline})" in dry.stdout
    assert machine.codex_toml.read_text() == text
    again = machine.run_without_home("install", "--codex")
    assert f"no longer sets it (it was {machine.threadline})" in again.stdout
    ours = tomllib.loads(machine.codex_toml.read_text())["mcp_servers"]["threadline"]
    assert ours["env"] == {"FOO": "bar"} and ours["startup_timeout_sec"] == 30
    assert "already registered" in machine.run_without_home("install", "--codex").stdout


def test_codex_env_that_only_we_set_goes_when_threadline_home_does(machine: Machine) -> None:
    machine.codex_toml.write_text(CODEX_BEFORE)
    machine.run("install", "--codex")
    assert "no longer sets it" in machine.run_without_home("install", "--codex").stdout
    ours = tomllib.loads(machine.codex_toml.read_text())["mcp_servers"]["threadline"]
    assert "env" not in ours
    machine.run("uninstall", "--codex")
    assert machine.codex_toml.read_text() == CODEX_BEFORE


def test_claude_reinstall_keeps_what_the_user_added_to_our_entry(machine: Machine) -> None:
    machine.claude_json.parent.mkdir(parents=True, exist_ok=True)
    mine = {
        "type": "stdio",
        "command": "/old/threadline",
        "args": ["mcp"],
        "env": {"FOO": "bar", "THREADLINE_HOME": "/old/home"},
        "timeout": 30000,
    }
    before = {**CLAUDE_BEFORE, "mcpServers": {**CLAUDE_BEFORE["mcpServers"], "threadline": mine}}
    machine.claude_json.write_text(json.dumps(before, indent=2))
    assert "updated the registration" in machine.run("install", "--claude").stdout
    ours = json.loads(machine.claude_json.read_text())["mcpServers"]["threadline"]
    assert list(ours) == list(mine) and ours["timeout"] == 30000
    assert ours["env"] == {"FOO": "bar", "THREADLINE_HOME": str(machine.threadline)}
    assert ours["command"] != "/old/threadline" and ours["args"][-1] == "mcp"
    assert "already registered" in machine.run("install", "--claude").stdout

    again = machine.run_without_home("install", "--claude")
    assert f"no longer sets it (it was {machine.threadline})" in again.stdout
    ours = json.loads(machine.claude_json.read_text())["mcpServers"]["threadline"]
    assert ours["env"] == {"FOO": "bar"} and ours["timeout"] == 30000


def _strict(text: str) -> Any:
    """JSON as a strict reader (Claude Code's) takes it: no Infinity, no NaN."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_claude_numbers_are_written_back_as_they_were(machine: Machine) -> None:
    machine.claude_json.parent.mkdir(parents=True, exist_ok=True)
    numbers = (
        '{\n  "huge": 1e999,\n  "ratio": 1.50,\n  "exact": 12345678901234567890123,\n'
        '  "zero": -0\n}'
    )
    machine.claude_json.write_text(numbers + "\n")
    machine.run("install", "--claude")
    written = machine.claude_json.read_text()
    assert written.startswith(numbers[:-2] + ',\n  "mcpServers": {\n')
    assert "threadline" in _strict(written)["mcpServers"]
    machine.run("uninstall", "--claude")
    assert machine.claude_json.read_text() == numbers[:-2] + ',\n  "mcpServers": {}\n}\n'

    machine.claude_json.write_text('{"huge": Infinity}')  # not JSON: refused, not rewritten
    result = cli.run(machine.threadline, "mcp", "install", "--claude", env=machine.env)
    assert result.returncode == 1 and "is not valid JSON" in result.stderr
    assert machine.claude_json.read_text() == '{"huge": Infinity}'
