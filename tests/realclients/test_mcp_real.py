"""``threadline mcp install`` seen by the real Claude Code and Codex CLIs, offline (a
loopback-only namespace): both start the registered command — an absolute path, with no
Threadline folder on their ``PATH`` — and list its tools."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers.cli import THREADLINE
from tests.realclients import harness as h

TOOLS = ["ask", "list_threads", "push_note", "read_thread", "search"]


@pytest.mark.slow
def test_claude_and_codex_connect_to_the_registered_server(clis: Path, tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    claude_config, codex_home, client_home = (
        tmp_path / "claude",
        tmp_path / "codex",
        tmp_path / "tl",
    )
    for folder in (home, project, claude_config, codex_home, client_home):
        folder.mkdir()
    h.write_claude_config(claude_config, trusted_dirs=[project])
    h.write_codex_config(codex_home)
    env = h.client_env(
        clis,
        home=home,
        claude_config=claude_config,
        codex_home=codex_home,
        extra={"THREADLINE_HOME": str(client_home)},
    )
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        installed = ns.run(shlex.join([THREADLINE, "mcp", "install"]), env=env, cwd=project)
        assert installed.check().stdout.count(": registered") == 2

        listed = ns.run("claude mcp list", env=env, cwd=project, timeout=90).check()
        assert re.search(r"^threadline: \S+ mcp - ✔ Connected$", listed.stdout, re.M), listed
        shown = ns.run("claude mcp get threadline", env=env, cwd=project, timeout=90).check()
        assert "Scope: User config" in shown.stdout and "Connected" in shown.stdout

        codex_listed = ns.run("codex mcp list --json", env=env, cwd=project).check()
        (entry,) = [s for s in json.loads(codex_listed.stdout) if s["name"] == "threadline"]
        assert entry["enabled"] and entry["transport"]["args"] == ["mcp"]
        (answer,) = h.codex_app_server(
            ns, [("mcpServerStatus/list", {})], env=env, cwd=project, timeout=90
        )
        (status,) = [s for s in answer["result"]["data"] if s["name"] == "threadline"]
        assert status["toolsError"] is None and sorted(status["tools"]) == TOOLS
        assert status["serverInfo"]["name"] == "threadline"
    assert not ns.model_requests()  # nothing needed a model, nor anything beyond loopback
