"""A Claude Code session placed on a second machine under a folder name over 200 characters by
:mod:`threadline.handoff.transcripts`, and continued there by the real CLI.

Machine A and machine B are two homes (their own agent folders and Threadline homes) with the
project at two different paths, B's deep enough that Claude's folder name for it passes 200
characters. A real session runs on A, is captured into a real server (``threadline import``),
and is placed on B for B's path, as ``threadline resume`` would; then the real CLI continues it
on B — by ``claude --continue`` and by id — and the stub model must receive the earlier turns.
The round trip of each CLI through ``threadline save`` and ``threadline resume`` (placed there
and back, continued by id and by ``--continue`` / ``--last``) is ``test_handoff_real.py``.

Everything networked runs inside one loopback-only namespace: the stub model, ``threadline
serve``, the CLIs and the placing. The model is a stub (the real one cannot run here).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.realclients import harness as h
from tests.realclients.machines import (
    SESSION_FOLDER,
    Machine,
    make_machine,
    prompts,
    serve_and_log_in,
)

PORT = 18788
PASSWORD = "resume-real-admin-password"

#: Runs inside the namespace, as ``threadline resume`` would: find the session's thread, plan,
#: write; prints what happened as JSON.
PLACE = """\
import json, sys
from pathlib import Path
from threadline.client.api import Api
from threadline.config import load
from threadline.handoff import transcripts as t

spec = json.loads(sys.argv[1])
api = Api.from_config(load(), timeout=30)
thread = next(
    x for x in api.all_threads(kind=spec["agent"])
    if x["meta"].get("session_id") == spec["session_id"] and not x.get("parent_key")
)
save = {
    "thread_id": thread["id"], "session_id": spec["session_id"], "agent": spec["agent"],
    "line_count": spec["line_count"], "repo_root": spec["repo_root"], "cwd": spec["cwd"],
    "created": "2026-12-01T00:00:00Z", "device": "A",
}
new_root = Path(spec["new_root"])
plan = t.plan_transcript(api, save, new_root)
result = t.write_transcript(api, plan, save, new_root)
print(json.dumps({
    "path": str(plan.path), "cwd": str(plan.cwd), "have_lines": plan.have_lines,
    "total_lines": plan.total_lines, "lines": result.lines_downloaded,
    "bytes": result.bytes_downloaded, "notes": result.notes,
    "command": t.resume_command(spec["agent"], spec["session_id"]),
}))
"""


def _machine(clis: Path, root: Path, name: str, project: Path) -> Machine:
    (project / SESSION_FOLDER).mkdir(parents=True)
    return make_machine(clis, root, name, project)


def capture(ns: h.LoopbackNamespace, machine: Machine, path: Path) -> int:
    """``threadline import`` of one transcript on ``machine``; its line count."""
    ns.run(shlex.join(["threadline", "import", str(path)]), env=machine.env).check()
    return path.read_bytes().count(b"\n")


def place(
    ns: h.LoopbackNamespace,
    script: Path,
    *,
    on: Machine,
    saved_on: Machine,
    agent: str,
    session: str,
    lines: int,
) -> dict[str, Any]:
    spec = {
        "agent": agent,
        "session_id": session,
        "line_count": lines,
        "repo_root": str(saved_on.project),
        "cwd": str(saved_on.folder),
        "new_root": str(on.project),
    }
    command = shlex.join([sys.executable, str(script), json.dumps(spec)])
    result = ns.run(command, env=on.env).check()
    placed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return placed


@pytest.mark.slow
def test_a_claude_session_placed_under_a_folder_name_over_200_characters(
    clis: Path, tmp_path: Path
) -> None:
    """Past 200 characters Claude's folder name ends in a hash Threadline cannot compute (the
    CLI's Bun hash): the file goes in a folder with the SDK's hash, and the CLI still finds it
    by the 200-character prefix."""
    a = _machine(clis, tmp_path / "A", "A", tmp_path / "A" / "p")
    deep = tmp_path / "B" / ("very long folder name " * 5).strip() / ("and deeper still " * 5)
    b = _machine(clis, tmp_path / "B", "B", deep.parent / deep.name.strip())
    assert len(str(b.folder)) > 200
    (tmp_path / "place.py").write_text(PLACE)
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        serve_and_log_in(ns, PORT, tmp_path / "server", PASSWORD, a, b)
        first = ns.run(
            'claude -p "alpha long" --output-format json', env=a.env, cwd=a.folder
        ).check()
        session = json.loads(first.stdout)["session_id"]
        lines = capture(ns, a, h.claude_transcript(a.claude, a.folder, session))
        placed = place(
            ns,
            tmp_path / "place.py",
            on=b,
            saved_on=a,
            agent="claude-code",
            session=session,
            lines=lines,
        )
        folder = Path(placed["path"]).parent.name
        assert len(folder) > 200 and folder[:200] == h.claude_project_name(b.folder)[:200]
        ns.run(
            'claude -p --continue "beta long" --output-format json', env=b.env, cwd=b.folder
        ).check()
        assert prompts(ns) == ["alpha long", "beta long"], "--continue found it"
        ns.run(
            f'claude -p --resume {session} "gamma long" --output-format json',
            env=b.env,
            cwd=b.folder,
        ).check()
        assert prompts(ns) == ["alpha long", "beta long", "gamma long"]
