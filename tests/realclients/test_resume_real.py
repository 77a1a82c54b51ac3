"""A session moved between two machines and continued by the real Claude Code and Codex CLIs.

Machine A and machine B are two homes (their own agent folders and Threadline homes) with the
project at two different paths. A real session runs on A, is captured into a real server
(``threadline import``), and is placed on B by :mod:`threadline.handoff.transcripts` for B's
path; then the real CLI continues it on B — by id, and by ``claude --continue`` /
``codex exec resume --last`` — and the stub model must receive the earlier turns. B's new
turns are then captured and placed back on A (only B's lines cross the wire), where the CLI
continues the whole conversation again.

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


@pytest.fixture
def world(clis: Path, tmp_path: Path) -> Any:
    a = _machine(clis, tmp_path / "A", "A", tmp_path / "A" / "src" / "proj.a")
    b = _machine(clis, tmp_path / "B", "B", tmp_path / "B" / "elsewhere" / "the proj_b")
    (tmp_path / "place.py").write_text(PLACE)
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        serve_and_log_in(ns, PORT, tmp_path / "server", PASSWORD, a, b)
        yield ns, a, b, tmp_path / "place.py"


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
def test_a_claude_session_continues_on_the_other_machine_and_back(world: Any) -> None:
    ns, a, b, script = world
    first = ns.run(
        'claude -p "alpha question" --output-format json', env=a.env, cwd=a.folder
    ).check()
    session = json.loads(first.stdout)["session_id"]
    ns.run(
        f'claude -p --resume {session} "alpha second" --output-format json',
        env=a.env,
        cwd=a.folder,
    ).check()
    on_a = h.claude_transcript(a.claude, a.folder, session)
    a_lines = capture(ns, a, on_a)
    original = on_a.read_bytes()

    placed = place(
        ns, script, on=b, saved_on=a, agent="claude-code", session=session, lines=a_lines
    )
    on_b = h.claude_transcript(b.claude, b.folder, session)
    assert Path(placed["path"]) == on_b, "where Claude Code looks for B's folder"
    assert placed["cwd"] == str(b.folder)
    assert (placed["have_lines"], placed["lines"]) == (0, a_lines)
    assert placed["command"] == f"claude --resume {session}"
    assert str(a.project).encode() not in on_b.read_bytes()
    assert f'"cwd":"{b.folder}"'.encode() in on_b.read_bytes()

    ns.run(
        f'claude -p --resume {session} "beta question" --output-format json',
        env=b.env,
        cwd=b.folder,
    ).check()
    assert prompts(ns) == ["alpha question", "alpha second", "beta question"]
    again = ns.run(
        'claude -p --continue "gamma question" --output-format json', env=b.env, cwd=b.folder
    ).check()
    assert json.loads(again.stdout)["session_id"] == session, "--continue found it"
    assert prompts(ns) == ["alpha question", "alpha second", "beta question", "gamma question"]
    assert h.claude_transcripts(b.claude) == [on_b], "resumed into the same file"

    # Back to A: only B's new lines travel, A's own lines stay byte for byte.
    b_lines = capture(ns, b, on_b)
    back = place(ns, script, on=a, saved_on=b, agent="claude-code", session=session, lines=b_lines)
    assert Path(back["path"]) == on_a
    assert (back["have_lines"], back["lines"]) == (a_lines, b_lines - a_lines)
    assert on_a.read_bytes().startswith(original)
    assert on_a.read_bytes().count(b"\n") == b_lines
    assert str(b.project).encode() not in on_a.read_bytes(), "B's lines carry A's paths"
    ns.run(
        f'claude -p --resume {session} "delta question" --output-format json',
        env=a.env,
        cwd=a.folder,
    ).check()
    assert prompts(ns) == [
        "alpha question",
        "alpha second",
        "beta question",
        "gamma question",
        "delta question",
    ]


@pytest.mark.slow
def test_a_codex_session_continues_on_the_other_machine_and_back(world: Any) -> None:
    ns, a, b, script = world
    flags = "--json --skip-git-repo-check"
    # B has a session of its own in the same folder, older than A's: `--last` must prefer
    # the one placed there (Codex lists only what its index knows).
    ns.run(f'codex exec {flags} "b own work"', env=b.env, cwd=b.folder).check()
    started = ns.run(f'codex exec {flags} "alpha codex"', env=a.env, cwd=a.folder).check()
    session = h.codex_thread_id(started)
    ns.run(
        f'codex exec resume {flags} {session} "alpha codex second"', env=a.env, cwd=a.folder
    ).check()
    on_a = h.codex_rollout(a.codex, session)
    assert on_a is not None
    a_lines = capture(ns, a, on_a)
    original = on_a.read_bytes()

    placed = place(ns, script, on=b, saved_on=a, agent="codex", session=session, lines=a_lines)
    on_b = b.codex / on_a.relative_to(a.codex)
    assert Path(placed["path"]) == on_b, "same sessions/YYYY/MM/DD/rollout-… name as on A"
    assert (placed["have_lines"], placed["lines"], placed["notes"]) == (0, a_lines, [])
    assert placed["command"] == f"codex resume {session}"
    assert str(a.project).encode() not in on_b.read_bytes()

    ns.run(f'codex exec resume {flags} --last "beta codex"', env=b.env, cwd=b.folder).check()
    assert prompts(ns) == ["alpha codex", "alpha codex second", "beta codex"], "--last found it"
    ns.run(f'codex exec resume {flags} {session} "gamma codex"', env=b.env, cwd=b.folder).check()
    assert prompts(ns) == ["alpha codex", "alpha codex second", "beta codex", "gamma codex"]
    assert h.codex_rollout(b.codex, session) == on_b, "resumed into the same file"

    b_lines = capture(ns, b, on_b)
    back = place(ns, script, on=a, saved_on=b, agent="codex", session=session, lines=b_lines)
    assert Path(back["path"]) == on_a
    assert (back["have_lines"], back["lines"]) == (a_lines, b_lines - a_lines)
    assert on_a.read_bytes().startswith(original)
    assert str(b.project).encode() not in on_a.read_bytes()
    ns.run(f'codex exec resume {flags} --last "delta codex"', env=a.env, cwd=a.folder).check()
    assert prompts(ns) == [
        "alpha codex",
        "alpha codex second",
        "beta codex",
        "gamma codex",
        "delta codex",
    ]


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
