"""Two machines and a server in one loopback namespace, for the tests that move a session
between machines (``test_resume_real.py``, ``test_handoff_real.py``).

A machine is a root folder with its own home, Claude Code and Codex folders (configured for the
stub model) and ``THREADLINE_HOME``, and a project folder of its own where the sessions run in
``pkg sub``. :func:`serve_and_log_in` starts ``threadline serve`` inside the namespace and logs
every machine in as its first-run admin.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.realclients import harness as h

#: The folder of this Python's ``threadline`` script, put on the machines' PATH.
BIN = Path(sys.executable).parent
#: The sessions' folder inside a project (a space on purpose).
SESSION_FOLDER = "pkg sub"


@dataclass
class Machine:
    name: str
    root: Path
    project: Path  # the project's root (a clone, in the hand-off tests)
    env: dict[str, str]

    @property
    def folder(self) -> Path:
        """Where the sessions run: a folder inside the project."""
        return self.project / SESSION_FOLDER

    @property
    def claude(self) -> Path:
        return self.root / "claude"

    @property
    def codex(self) -> Path:
        return self.root / "codex"


def make_machine(
    clis: Path, root: Path, name: str, project: Path, extra_env: dict[str, str] | None = None
) -> Machine:
    """The machine ``name`` in ``root``, whose project is ``project`` (already there, with its
    session folder); ``extra_env`` goes into its environment."""
    for folder in (root / "home", root / "claude", root / "codex", root / "threadline"):
        folder.mkdir(parents=True)
    h.write_claude_config(root / "claude", trusted_dirs=[project / SESSION_FOLDER])
    h.write_codex_config(root / "codex")
    env = h.client_env(
        clis,
        home=root / "home",
        claude_config=root / "claude",
        codex_home=root / "codex",
        path_extra=[BIN],
        extra={"THREADLINE_HOME": str(root / "threadline"), **(extra_env or {})},
    )
    return Machine(name, root, project, env)


def serve_and_log_in(
    ns: h.LoopbackNamespace, port: int, server_home: Path, password: str, *machines: Machine
) -> None:
    """``threadline serve`` on ``port`` in ``ns`` (home ``server_home``, first-run admin
    ``password``), and every machine logged in to it as that admin."""
    server_home.mkdir(parents=True, exist_ok=True)
    server_env = {**machines[0].env, "THREADLINE_HOME": str(server_home)}
    server_env["THREADLINE_ADMIN_PASSWORD"] = password
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}))"
    probe = shlex.join([sys.executable, "-c", connect])
    ns.start(f"exec threadline serve --port {port}", env=server_env, ready=probe)
    url = f"http://127.0.0.1:{port}"
    for machine in machines:
        login = f"threadline login --server {url} --user admin --password-stdin"
        ns.run(login, env=machine.env, stdin=password + "\n").check()


def prompts(ns: h.LoopbackNamespace) -> list[str]:
    """The user prompts the stub model saw in its last request."""
    seen: list[str] = ns.model_requests()[-1]["prompts"]
    return seen
