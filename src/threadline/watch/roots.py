"""Where the agents write their transcripts, and finding the files there.

* Claude Code: ``$CLAUDE_CONFIG_DIR/projects`` (default ``~/.claude/projects``), one folder per
  working directory holding ``<session-id>.jsonl``, flat ``agent-<id>.jsonl`` subagent files
  (older versions) and ``<session-id>/subagents/agent-<id>.jsonl`` (newer ones).
* Codex: ``$CODEX_HOME/sessions`` (default ``~/.codex/sessions``), ``YYYY/MM/DD/rollout-*.jsonl``
  and compressed ``rollout-*.jsonl.zst``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from threadline.sources.model import Agent

SUFFIXES = (".jsonl", ".jsonl.zst")


@dataclass(frozen=True, slots=True)
class Root:
    agent: Agent
    path: Path


def claude_home() -> Path:
    """Claude Code's folder: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(config).expanduser() if config else Path.home() / ".claude"


def codex_home() -> Path:
    """Codex's folder: ``$CODEX_HOME``, else ``~/.codex``."""
    home = os.environ.get("CODEX_HOME")
    return Path(home).expanduser() if home else Path.home() / ".codex"


def claude_root() -> Path:
    return claude_home() / "projects"


def codex_root() -> Path:
    return codex_home() / "sessions"


def agent_roots(claude: bool = True, codex: bool = True) -> list[Root]:
    roots: list[Root] = []
    if claude:
        roots.append(Root("claude-code", claude_root()))
    if codex:
        roots.append(Root("codex", codex_root()))
    return roots


def is_transcript(name: str) -> bool:
    return name.endswith(SUFFIXES) and not name.startswith(".")


def agent_of_path(path: Path, roots: list[Root]) -> Agent | None:
    """The agent whose root holds ``path``, if any."""
    for root in roots:
        if path.is_relative_to(root.path):
            return root.agent
    return None


def walk(folder: Path, since: float | None = None) -> Iterator[Path]:
    """Every transcript file under ``folder`` (modified at or after ``since``, a Unix time),
    in a stable order; unreadable folders are skipped."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from walk(Path(entry.path), since)
            elif (
                entry.is_file()
                and is_transcript(entry.name)
                and (since is None or entry.stat().st_mtime >= since)
            ):
                yield Path(entry.path)
        except OSError:
            continue
