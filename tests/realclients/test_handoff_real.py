"""``threadline save`` on one machine, ``threadline resume`` on another, and the real Claude
Code or Codex CLI continues the session there — by id, and by ``claude --continue`` /
``codex exec resume --last`` — then back again.

Machine A and machine B are two homes with clones of one bare remote at different paths; the
sessions run in a folder inside the clone. Resume places the transcript where the CLI looks for
it on B, with B's paths, and the stub model must receive the earlier turns; on the way back only
B's new lines are downloaded and A's own lines stay byte for byte. Everything networked runs
inside one loopback-only namespace: the stub model, ``threadline serve``, the CLIs, ``save`` and
``resume``. The model is a stub (the real one cannot run here); git, the server and both agent
CLIs are real.
"""

from __future__ import annotations

import json
import shlex
import subprocess
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

# The save and resume commands (their own tests are in tests/handoff).
pytest.importorskip("threadline.cli.handoff", reason="needs `threadline save` and `resume`")

PORT = 18789
PASSWORD = "handoff-real-admin-password"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Tess Ter",
    "GIT_AUTHOR_EMAIL": "tess@example.invalid",
    "GIT_COMMITTER_NAME": "Tess Ter",
    "GIT_COMMITTER_EMAIL": "tess@example.invalid",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**GIT_IDENTITY, "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def bare_remote(folder: Path) -> Path:
    """A bare repository holding one commit on ``main``, with the sessions' folder."""
    remote, seed = folder / "remote.git", folder / "seed"
    git("init", "--bare", "-b", "main", str(remote), cwd=folder)
    git("init", "-b", "main", str(seed), cwd=folder)
    (seed / SESSION_FOLDER).mkdir()
    (seed / SESSION_FOLDER / "app.py").write_text("print('hello')\n")
    git("add", "-A", cwd=seed)
    git("commit", "-m", "first", cwd=seed)
    git("remote", "add", "origin", str(remote), cwd=seed)
    git("push", "-u", "origin", "main", cwd=seed)
    return remote


def _machine(clis: Path, root: Path, name: str, remote: Path, clone_at: Path) -> Machine:
    clone_at.parent.mkdir(parents=True)
    git("clone", str(remote), str(clone_at), cwd=root)
    extra = {"THREADLINE_DEVICE_NAME": name, **GIT_IDENTITY}
    return make_machine(clis, root, name, clone_at, extra)


@pytest.fixture
def world(clis: Path, tmp_path: Path) -> Any:
    remote = bare_remote(tmp_path)
    a = _machine(clis, tmp_path / "A", "desk", remote, tmp_path / "A" / "src" / "proj.a")
    b = _machine(clis, tmp_path / "B", "laptop", remote, tmp_path / "B" / "else where" / "p_b")
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        serve_and_log_in(ns, PORT, tmp_path / "server", PASSWORD, a, b)
        yield ns, a, b


def threadline(ns: h.LoopbackNamespace, machine: Machine, *args: str) -> dict[str, Any]:
    """``threadline ARGS --json`` in the machine's session folder; its JSON."""
    command = shlex.join(["threadline", *args, "--json"])
    done = ns.run(command, env=machine.env, cwd=machine.folder).check()
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def continue_command(done: dict[str, Any], agent: str) -> tuple[Path, str]:
    """The folder and the agent command of ``resume``'s ``cd FOLDER && COMMAND``."""
    folder, _, command = done["command"].partition(" && ")
    assert folder.startswith("cd ")
    session = done["session_id"]
    expected = f"claude --resume {session}" if agent == "claude-code" else f"codex resume {session}"
    assert command == expected
    return Path(shlex.split(folder)[1]), command


@pytest.mark.slow
def test_claude_code_save_resume_and_back(world: Any) -> None:
    ns, a, b = world
    first = ns.run(
        'claude -p "alpha question" --output-format json', env=a.env, cwd=a.folder
    ).check()
    session = json.loads(first.stdout)["session_id"]
    ns.run(
        f'claude -p --resume {session} "alpha second" --output-format json',
        env=a.env,
        cwd=a.folder,
    ).check()
    (a.folder / "app.py").write_text("print('changed on the desk')\n")
    saved = threadline(ns, a, "save", "-m", "half-way")
    assert (saved["session_id"], saved["agent"]) == (session, "claude-code")
    on_a = h.claude_transcript(a.claude, a.folder, session)
    a_bytes = on_a.read_bytes()
    a_lines = a_bytes.count(b"\n")

    done = threadline(ns, b, "resume")
    folder, _ = continue_command(done, "claude-code")
    assert folder == b.folder
    on_b = h.claude_transcript(b.claude, b.folder, session)
    assert Path(done["transcript_path"]) == on_b, "where Claude Code looks for B's folder"
    assert (done["lines_downloaded"], done["notes"]) == (a_lines, [])
    assert str(a.project).encode() not in on_b.read_bytes()
    assert f'"cwd":"{b.folder}"'.encode() in on_b.read_bytes()
    assert (b.folder / "app.py").read_text() == "print('changed on the desk')\n"
    ns.run(
        f'claude -p --resume {session} "beta question" --output-format json',
        env=b.env,
        cwd=folder,
    ).check()
    assert prompts(ns) == ["alpha question", "alpha second", "beta question"]
    again = ns.run(
        'claude -p --continue "gamma question" --output-format json', env=b.env, cwd=folder
    ).check()
    assert json.loads(again.stdout)["session_id"] == session, "--continue found it"
    assert prompts(ns) == ["alpha question", "alpha second", "beta question", "gamma question"]
    assert h.claude_transcripts(b.claude) == [on_b], "resumed into the same file"

    (b.folder / "from the laptop.txt").write_text("notes\n")
    saved_b = threadline(ns, b, "save", "-m", "back to the desk")
    assert saved_b["session_id"] == session
    b_lines = on_b.read_bytes().count(b"\n")

    git("checkout", "--", ".", cwd=a.project)  # A's own change travelled with the save
    back = threadline(ns, a, "resume")
    assert Path(back["transcript_path"]) == on_a
    assert back["lines_downloaded"] == b_lines - a_lines, "only B's new lines travel"
    after = on_a.read_bytes()
    assert after.startswith(a_bytes), "A's own lines are untouched"
    assert after.count(b"\n") == b_lines
    assert str(b.project).encode() not in after, "B's lines came back with A's paths"
    assert (a.folder / "from the laptop.txt").read_text() == "notes\n"
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
def test_codex_save_resume_and_back(world: Any) -> None:
    ns, a, b = world
    flags = "--json --skip-git-repo-check"
    # B has a session of its own in the same folder, older than A's: `--last` must prefer
    # the one placed there (Codex lists only what its index knows).
    ns.run(f'codex exec {flags} "b own work"', env=b.env, cwd=b.folder).check()
    started = ns.run(f'codex exec {flags} "alpha codex"', env=a.env, cwd=a.folder).check()
    session = h.codex_thread_id(started)
    ns.run(
        f'codex exec resume {flags} {session} "alpha codex second"', env=a.env, cwd=a.folder
    ).check()
    saved = threadline(ns, a, "save", "-m", "codex half-way")
    assert (saved["session_id"], saved["agent"]) == (session, "codex")
    on_a = h.codex_rollout(a.codex, session)
    assert on_a is not None
    a_bytes = on_a.read_bytes()
    a_lines = a_bytes.count(b"\n")

    done = threadline(ns, b, "resume")
    folder, _ = continue_command(done, "codex")
    assert folder == b.folder
    on_b = b.codex / on_a.relative_to(a.codex)
    assert Path(done["transcript_path"]) == on_b, "same sessions/YYYY/MM/DD/rollout-… as on A"
    assert (done["lines_downloaded"], done["notes"]) == (a_lines, [])
    assert str(a.project).encode() not in on_b.read_bytes()
    ns.run(f'codex exec resume {flags} --last "beta codex"', env=b.env, cwd=folder).check()
    assert prompts(ns) == ["alpha codex", "alpha codex second", "beta codex"], "--last found it"
    ns.run(f'codex exec resume {flags} {session} "gamma codex"', env=b.env, cwd=folder).check()
    assert prompts(ns) == ["alpha codex", "alpha codex second", "beta codex", "gamma codex"]
    assert h.codex_rollout(b.codex, session) == on_b, "resumed into the same file"

    # B's own older session worked in the same folder: save takes the one continued here.
    saved_b = threadline(ns, b, "save", "-m", "codex back")
    assert saved_b["session_id"] == session
    b_lines = on_b.read_bytes().count(b"\n")
    back = threadline(ns, a, "resume")
    assert Path(back["transcript_path"]) == on_a
    assert back["lines_downloaded"] == b_lines - a_lines, "only B's new lines travel"
    after = on_a.read_bytes()
    assert after.startswith(a_bytes) and str(b.project).encode() not in after
    ns.run(f'codex exec resume {flags} --last "delta codex"', env=a.env, cwd=a.folder).check()
    assert prompts(ns) == [
        "alpha codex",
        "alpha codex second",
        "beta codex",
        "gamma codex",
        "delta codex",
    ]
