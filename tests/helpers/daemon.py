"""A real ``threadline daemon run`` process over a temporary agent home, and reading what
reached the server."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.helpers import cli
from tests.helpers.server import terminate
from tests.helpers.wait import wait_for as wait_for  # where the capture tests have it from


class AgentHome:
    """A fake user home with Claude Code's and Codex's folders, and a Threadline home."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.claude = self.home / ".claude"
        self.codex = self.home / ".codex"
        self.threadline = root / "threadline-home"
        for folder in (self.claude / "projects", self.codex / "sessions", self.threadline):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "CLAUDE_CONFIG_DIR": str(self.claude),
            "CODEX_HOME": str(self.codex),
            "THREADLINE_DAEMON_RESCAN": "2",
            "THREADLINE_DAEMON_RETRY_MAX": "1",
        }

    def project_dir(self, name: str = "-work-app") -> Path:
        folder = self.claude / "projects" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return cli.run(self.threadline, *args, env={**self.env, **env})


class DaemonProcess:
    """``threadline daemon run`` in the foreground, its output in ``daemon.out``."""

    def __init__(self, agent: AgentHome, **env: str) -> None:
        self.agent = agent
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = agent.root / "daemon.out"

    def start(self, timeout: float = 20.0) -> DaemonProcess:
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(
                [cli.THREADLINE, "daemon", "run"],
                env=cli.clean_env(self.agent.threadline, **{**self.agent.env, **self.env}),
                cwd=self.agent.root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc

        def running() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("the daemon did not start, it exited:\n" + self.out.read_text())
            status = self.agent.cli("daemon", "status", "--json")
            return status.returncode == 0 and bool(json.loads(status.stdout)["running"])

        try:
            wait_for(running, timeout, 0.05, what="`daemon status` to say it is running")
        except AssertionError as exc:
            output = self.out.read_text()
            raise RuntimeError(f"the daemon did not start: {exc}:\n{output}") from None
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        return None if proc is None else terminate(proc, timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerView:
    """What a logged-in client home can read back from the server."""

    def __init__(self, threadline_home: Path) -> None:
        creds = json.loads((threadline_home / "credentials.json").read_text())
        self.client = httpx.Client(
            base_url=creds["server_url"],
            headers={"Authorization": f"Bearer {creds['token']}"},
            timeout=30.0,
        )

    def threads(self, **query: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {**query, "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = self.get("/api/v1/threads", params=params)
            out += page["threads"]
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def thread_by_session(self, session_id: str) -> dict[str, Any] | None:
        found = [t for t in self.threads() if t["key"].endswith(session_id)]
        return found[0] if found else None

    def thread_by_source(self, path: Path) -> dict[str, Any] | None:
        found = [t for t in self.threads() if t["meta"].get("source") == str(path)]
        return found[0] if found else None

    def transcript(self, thread_id: str, generation: int | None = None) -> bytes:
        params = {} if generation is None else {"generation": generation}
        response = self.client.get(f"/api/v1/threads/{thread_id}/transcript", params=params)
        if response.status_code == 404:
            return b""
        response.raise_for_status()
        return response.content

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.client.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def complete_lines(data: bytes) -> bytes:
    return data[: data.rfind(b"\n") + 1]
