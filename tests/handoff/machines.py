"""Machines for the hand-off's end-to-end tests: each has its own user folder (``HOME``,
Claude Code's and Codex's folders inside it), its own ``THREADLINE_HOME`` and its own clone
of the project at a path of its own, and runs the real ``threadline`` CLI."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import cli

#: A real Claude Code session (2.1.38) and the folder it worked in.
CLAUDE_FIXTURE = ("claude/spotter/short.jsonl", "/home/marco/projects/spotter")
CLAUDE_SESSION = "55604662-cf2a-4331-851a-ec234028f8ca"
#: A real Codex session (0.135.0) and the folder it worked in.
CODEX_FIXTURE = ("codex/kvsankar/session-01.jsonl", "/tmp/agent-history-real-agent/codex/workspace")
CODEX_SESSION = "019e9625-802f-7e91-840a-cfe88d14117a"


def encoded(folder: Path) -> str:
    """Claude Code's name for a working folder's project folder."""
    return re.sub(r"[^A-Za-z0-9]", "-", os.path.realpath(folder))


@dataclass
class Machine:
    name: str
    folder: Path
    repo: Path

    @property
    def home(self) -> Path:
        return self.folder / "threadline"

    @property
    def user_home(self) -> Path:
        return self.folder / "user"

    @property
    def claude(self) -> Path:
        return self.user_home / ".claude"

    @property
    def codex(self) -> Path:
        return self.user_home / ".codex"

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.user_home),
            "CLAUDE_CONFIG_DIR": str(self.claude),
            "CODEX_HOME": str(self.codex),
            "THREADLINE_DEVICE_NAME": self.name,
        }

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``threadline ARGS`` on this machine, in its clone unless ``cwd`` says otherwise."""
        self.user_home.mkdir(parents=True, exist_ok=True)
        return cli.run(self.home, *args, cwd=cwd or self.repo, env=self.env(), timeout=120)

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        done = self.run(*args, cwd=cwd)
        assert done.returncode == 0, f"threadline {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def claude_transcript(self, session: str = CLAUDE_SESSION) -> Path:
        return self.claude / "projects" / encoded(self.repo) / f"{session}.jsonl"

    def start_claude_session(self, fixtures: Path, *, cwd: Path | None = None) -> Path:
        """A real Claude Code transcript, as if the session had worked in this clone."""
        source, old = CLAUDE_FIXTURE
        data = (
            (fixtures / source).read_bytes().replace(old.encode(), str(cwd or self.repo).encode())
        )
        path = self.claude / "projects" / encoded(cwd or self.repo) / f"{CLAUDE_SESSION}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def start_codex_session(self, fixtures: Path) -> Path:
        source, old = CODEX_FIXTURE
        data = (fixtures / source).read_bytes().replace(old.encode(), str(self.repo).encode())
        folder = self.codex / "sessions" / "2026" / "06" / "05"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"rollout-2026-06-05T10-28-20-{CODEX_SESSION}.jsonl"
        path.write_bytes(data)
        return path
