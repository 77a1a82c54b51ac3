"""The layers of ``docs/architecture.md``, kept true by walking every module's imports.

The rules are an allow-list: every top-level package and module of ``threadline`` (a *unit*)
names the units it may import, and an import of anything else fails — a new unit fails too,
until it is given its place in the picture. Every import form counts: ``import threadline.x``,
``from threadline import x``, ``from threadline.x import y``, relative imports, and imports
inside functions. The table in ``docs/architecture.md`` must say exactly what :data:`ALLOWED`
says.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "threadline"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

#: Standard library, third-party and the package's ``__init__`` (its version) are not units.
BASE = {"errors"}

#: unit → the units it may import (besides itself and ``errors``, which every unit may use).
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "errors": set(),
    "paths": set(),
    "protocol": set(),
    "config": {"paths"},
    "sources": set(),
    "store": {"paths", "protocol"},
    "client": {"config", "protocol"},
    "sync": {"client", "config", "paths", "protocol", "store"},
    "watch": {"config", "protocol", "sources", "store"},
    "daemon": {"config", "paths", "sources", "store", "sync", "watch"},
    "storage": set(),
    "search": {"protocol", "storage"},
    "services": {"protocol", "recall", "search", "storage"},
    "recall": {"protocol"},
    "web": {"protocol", "services"},
    "server": {"paths", "protocol", "services", "storage", "web"},
    "handoff": {"client", "config", "paths", "protocol", "sources", "store", "sync"},
    "cli": {
        "client",
        "config",
        "daemon",
        "handoff",
        "mcpserver",
        "paths",
        "protocol",
        "recall",
        "server",
        "services",
        "sources",
        "storage",
        "store",
        "sync",
        "watch",
    },
    "mcpserver": {"client", "config", "paths", "protocol", "store", "sync"},
}

#: unit → third-party top-level modules it must never import.
FORBIDDEN_LIBRARIES = {
    "web": {"sqlalchemy", "psycopg"},
    "protocol": {"sqlalchemy", "fastapi", "starlette", "httpx", "click"},
    "errors": {"pydantic", "sqlalchemy", "fastapi", "click"},
    "services": {"fastapi", "starlette", "jinja2"},
    "storage": {"fastapi", "starlette", "jinja2"},
    "recall": {"sqlalchemy", "fastapi", "starlette", "jinja2", "click"},
}


def _units() -> set[str]:
    found = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in SRC.glob("*.py")}
    return found


def _unit_of(module: str) -> str:
    """``threadline.server.app`` → ``server``; ``threadline`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_parts(path: Path) -> tuple[list[str], list[str]]:
    """The dotted name of ``path`` and of the package it is in."""
    parts = ["threadline", *path.relative_to(SRC).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
        return parts, parts
    return parts, parts[:-1]


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names, in every import form."""
    return imports_in(path.read_text(encoding="utf-8"), _module_parts(path)[1])


def imports_in(source: str, package: list[str]) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            # ``from threadline import x`` / ``from threadline.server import app`` import
            # submodules when such modules exist.
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                if _is_module(candidate):
                    found.add(candidate)
    return found


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("threadline."):
        return False
    rel = Path(*dotted.split(".")[1:])
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def _unit_files(unit: str) -> list[Path]:
    folder = SRC / unit
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [SRC / f"{unit}.py"]


def test_every_unit_has_rules() -> None:
    assert _units() == set(ALLOWED), (
        "every top-level package and module of threadline needs its line in ALLOWED "
        "(and in docs/architecture.md)"
    )


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_unit_imports_only_what_it_may(unit: str) -> None:
    allowed = ALLOWED[unit] | BASE | {unit, "__init__"}
    bad = []
    for path in _unit_files(unit):
        for name in sorted(imports_of(path)):
            if name == "threadline" or name.startswith("threadline."):
                target = _unit_of(name)
                if target == "__init__" and name != "threadline":
                    target = name.split(".")[1]
                if target not in allowed:
                    bad.append(f"{path.relative_to(SRC)} imports {name} ({unit} → {target})")
            elif name.split(".")[0] in FORBIDDEN_LIBRARIES.get(unit, set()):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_resolver_sees_every_import_form() -> None:
    """The walker itself: each form names the module it brings in."""
    sample = (
        "import threadline.storage.schema\n"
        "from threadline import storage\n"
        "from threadline.storage import schema\n"
        "from ..storage import database\n"
        "def f() -> None:\n"
        "    from threadline.server import app\n"
    )
    found = imports_in(sample, ["threadline", "web"])
    assert "threadline.storage.schema" in found
    assert "threadline.storage" in found
    assert "threadline.storage.database" in found
    assert "threadline.server.app" in found


def _documented_rules() -> dict[str, set[str]]:
    """The ``| unit | may import |`` table of docs/architecture.md's "Layers" section."""
    rules: dict[str, set[str]] = {}
    row = re.compile(r"^\|\s*`([\w_]+)`\s*\|([^|]*)\|")
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[-1].split("\n## ", 1)[0]
    for line in section.splitlines():
        match = row.match(line)
        if match:
            rules[match.group(1)] = set(re.findall(r"`([\w_]+)`", match.group(2)))
    return rules


def test_the_picture_and_the_rules_agree() -> None:
    documented = _documented_rules()
    assert documented, f"no layer table found in {ARCHITECTURE}"
    assert documented == ALLOWED


def test_web_never_touches_server_tables() -> None:
    """No web module reads the storage (tables, database) or builds SQL: it calls services."""
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in _unit_files("web")
        for name in imports_of(path)
        if name.split(".")[0] == "sqlalchemy"
        or name.startswith(("threadline.storage", "threadline.server"))
    ]
    assert not bad, "\n".join(bad)


HOT_PATHS = {
    "push": ["push", "--no-sync", "x"],
    "hook": ["hook", "claude-code", "UserPromptSubmit"],
    "hook-codex": ["hook", "codex", "SessionStart"],
}


@pytest.mark.parametrize("command", sorted(HOT_PATHS))
def test_hot_paths_import_nothing_heavy(tmp_path: Path, command: str) -> None:
    """``push`` (after every agent step) and ``hook`` (on every prompt) must not load click,
    pydantic, the server stack, watchfiles or http.client."""
    import fcntl
    import os

    # A live pid in the pid file and the daemon's lock held: the hook finds a daemon that does
    # not answer (busy), and so starts none.
    (tmp_path / "daemon.pid").write_text(f"{os.getpid()}\n")
    lock = (tmp_path / "daemon.lock").open("a+b")
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    with lock:
        result = _run_with_importtime(tmp_path, HOT_PATHS[command])
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
        "tomlkit",
    }
    if command == "push":
        heavy.discard("subprocess")
    assert loaded, "importtime printed nothing"
    assert not loaded & heavy, sorted(loaded & heavy)
    if command.startswith("hook"):
        assert result.stdout == "", "a hook's stdout would reach the agent"


def _run_with_importtime(home: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "threadline", *args],
        env=cli.clean_env(home),
        cwd=home,
        input='{"session_id": "s", "transcript_path": "/nonexistent/s.jsonl"}',
        capture_output=True,
        text=True,
        timeout=60,
    )
