"""``threadline save`` as a real process, where no server is needed: its checks, its dry run,
and a save that waits locally."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.handoff.machines import CLAUDE_SESSION, Machine
from tests.helpers import cli
from tests.helpers.gitrepo import clone, commit, git, snapshot


def machine(tmp_path: Path, remote: Path, name: str = "laptop") -> Machine:
    folder = tmp_path / name
    return Machine(name, folder, clone(remote, folder / "work" / "project"))


def pending_saves(m: Machine) -> list[str]:
    with sqlite3.connect(m.home / "local.db") as conn:
        return [r[0] for r in conn.execute("SELECT save_id FROM handoff_saves")]


def test_dry_run_prints_what_would_be_saved_and_changes_nothing(
    tmp_path: Path, remote: Path, fixtures: Path
) -> None:
    a = machine(tmp_path, remote)
    a.start_claude_session(fixtures)
    commit(a.repo, "unpushed", x="x\n")
    (a.repo / "a.txt").write_text("changed\n")
    (a.repo / ".env").write_text("TOKEN=1\n")
    before = snapshot(a.repo, whole_git_dir=True)
    out = json.loads(a.ok("save", "--dry-run", "--json"))
    assert snapshot(a.repo, whole_git_dir=True) == before
    assert out["session_id"] == CLAUDE_SESSION and out["agent"] == "claude-code"
    assert out["commit"] == git(a.repo, "rev-parse", "HEAD") and out["branch"] == "main"
    assert out["changed_files"] == 1 and out["excluded"] == [".env"]
    assert out["unpushed_commits"] == 1 and out["dry_run"] is True
    assert set(out) >= {"save_id", "session_id", "agent", "commit", "branch", "remote"}
    assert pending_saves(a) == []

    text = a.ok("save", "--dry-run")
    assert "Would save" in text and "left out: .env (looks like a secret" in text
    assert "Nothing was saved (--dry-run)." in text


def test_clear_errors_outside_a_repository_without_remote_or_session(
    tmp_path: Path, remote: Path, fixtures: Path
) -> None:
    a = machine(tmp_path, remote)
    plain = tmp_path / "plain"
    plain.mkdir()
    done = a.run("save", cwd=plain)
    assert done.returncode == 1
    assert "Error: " in done.stderr and "not inside a git work tree" in done.stderr
    assert "Hint: " in done.stderr

    done = a.run("save")
    assert done.returncode == 1 and "no captured Claude Code or Codex session" in done.stderr
    assert "threadline import" in done.stderr

    git(plain, "init", "-q")
    commit(plain, "first", f="f\n")
    done = a.run("save", cwd=plain)
    assert done.returncode == 1 and "has no remote" in done.stderr
    assert "git remote add origin" in done.stderr

    git(a.repo, "checkout", "-q", "--detach")
    a.start_claude_session(fixtures)
    out = json.loads(a.ok("save", "--dry-run", "--json"))
    assert out["detached"] is True and out["branch"] is None


def test_a_save_without_a_server_waits_locally(
    tmp_path: Path, remote: Path, fixtures: Path
) -> None:
    a = machine(tmp_path, remote)
    a.start_claude_session(fixtures)
    (a.repo / "new.txt").write_text("new\n")
    done = a.run("save", "-m", "before lunch")
    assert done.returncode == 0, done.stderr
    assert "Not uploaded yet" in done.stdout and "threadline sync" in done.stdout
    assert len(pending_saves(a)) == 1
    listing = a.run("handoff", "list")
    assert "Waiting to upload" in listing.stdout or "Waiting to upload" in listing.stderr
    listed = json.loads(a.ok("handoff", "list", "--json"))["saves"]
    assert [(s["save_id"], s["message"], s["waiting"]) for s in listed] == [
        (pending_saves(a)[0], "before lunch", True)
    ], "the JSON lists what the warning says it shows"
    assert isinstance(listed[0]["device"], str) and listed[0]["created"]
    status = json.loads(a.ok("sync", "status", "--json"))
    assert status["pending_saves"] == 1


def test_resume_without_a_server_says_so(tmp_path: Path, remote: Path) -> None:
    b = machine(tmp_path, remote, "laptop")
    done = b.run("resume")
    assert done.returncode == 1 and "Error: no server is configured" in done.stderr
    assert "Hint: " in done.stderr and "threadline login" in done.stderr
    env = {**b.env(), "THREADLINE_SERVER_URL": "http://127.0.0.1:9", "THREADLINE_TOKEN": "t"}
    done = cli.run(b.home, "resume", cwd=b.repo, env=env)
    assert done.returncode == 1 and "Error: cannot connect to 127.0.0.1:9" in done.stderr
    assert "Hint: Resuming needs the server" in done.stderr


def test_save_takes_the_session_with_the_latest_line_not_the_last_read(
    tmp_path: Path, remote: Path, fixtures: Path
) -> None:
    a = machine(tmp_path, remote)
    a.start_codex_session(fixtures)  # its last line: June 2026
    claude = a.start_claude_session(fixtures)  # its last line: February 2026
    assert json.loads(a.ok("save", "--dry-run", "--json"))["agent"] == "codex"

    # The older session gets a line (written then, as an import of an old file would): it is
    # now the one read most recently, and still not the latest session.
    last = json.loads(claude.read_bytes().splitlines()[-1])
    last["uuid"] = "0f5e3b1e-7a51-4c38-9a55-3c8a4d9e2b10"
    with claude.open("a") as file:
        file.write(json.dumps(last) + "\n")
    assert json.loads(a.ok("save", "--dry-run", "--json"))["agent"] == "codex"

    # A line written now makes it the latest.
    last["uuid"], last["timestamp"] = "5a0c7d2f-1b8e-4f6a-8d3c-2e9b7a4c1f05", "2026-11-30T09:00:00Z"
    with claude.open("a") as file:
        file.write(json.dumps(last) + "\n")
    out = json.loads(a.ok("save", "--dry-run", "--json"))
    assert out["agent"] == "claude-code" and out["session_id"] == CLAUDE_SESSION
