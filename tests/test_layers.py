"""The architecture's import arrows, kept true by walking every module's imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli

SRC = Path(__file__).resolve().parents[1] / "src" / "threadline"

#: package → threadline packages it must never import.
FORBIDDEN = {
    "protocol": {"store", "client", "sync", "server", "cli", "config"},
    "store": {"client", "sync", "server", "cli"},
    "client": {"store", "sync", "server", "cli"},
    "sync": {"server", "cli"},
    "server": {"client", "store", "sync", "cli", "config"},
    "sources": {"store", "client", "sync", "server", "cli"},
    "watch": {"client", "sync", "server", "cli", "daemon"},
    "daemon": {"server", "cli", "web"},
    "web": {"client", "store", "sync", "cli", "watch", "daemon", "config", "server", "storage"},
    "services": {"client", "store", "sync", "cli", "watch", "daemon", "config", "server", "web"},
    "storage": {"client", "store", "sync", "cli", "watch", "daemon", "server", "services", "web"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_layers(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules in {package}"
    bad = [
        f"{f.relative_to(SRC)} imports {name}"
        for f in files
        for name in _imports(f)
        if name.startswith("threadline.") and name.split(".")[1] in FORBIDDEN[package]
    ]
    assert not bad, "\n".join(bad)


HOT_PATHS = {
    "push": ["push", "--no-sync", "x"],
    "hook": ["hook", "claude-code", "UserPromptSubmit"],
}


@pytest.mark.parametrize("command", sorted(HOT_PATHS))
def test_hot_paths_import_nothing_heavy(tmp_path: Path, command: str) -> None:
    """``push`` (after every agent step) and ``hook`` (on every prompt) must not load click,
    pydantic, the server stack, watchfiles or http.client."""
    import os

    # A live pid in the pid file: the hook finds "a daemon" that does not answer, and so
    # starts none.
    (tmp_path / "daemon.pid").write_text(f"{os.getpid()}\n")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "threadline", *HOT_PATHS[command]],
        env=cli.clean_env(tmp_path),
        cwd=tmp_path,
        input='{"session_id": "s", "transcript_path": "/nonexistent/s.jsonl"}',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    heavy = {
        "click",
        "pydantic",
        "sqlalchemy",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "zstandard",
        "watchfiles",
        "email",
        "http.client",
        "argon2",
        "psycopg",
        "uuid",
        "subprocess",
    }
    if command == "push":
        heavy.discard("subprocess")
    assert loaded, "importtime printed nothing"
    assert not loaded & heavy, sorted(loaded & heavy)
    if command == "hook":
        assert result.stdout == "", "a hook's stdout would reach the agent"
