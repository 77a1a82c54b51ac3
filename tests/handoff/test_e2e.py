"""Save on one machine, resume on another, and back: the real ``threadline`` CLI of two
machines (two homes, two clones at different paths) against a real server, with a bare remote
and real Claude Code and Codex transcripts.

The machines of a test log in to ``module_server``, one server per database for the module:
each test has a remote of its own, so its saves are the only ones of its repository. What the
server does with a save runs on SQLite and PostgreSQL; what the client does around it (dry
runs, refusals, undo, Codex, a server that is away) runs on SQLite only (``SQLITE``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.handoff.machines import CLAUDE_SESSION, CODEX_SESSION, Machine
from tests.handoff.test_git import LEFT_OUT, make_work, status
from tests.helpers.gitrepo import bare_remote, clone, commit, git, snapshot, tree_files
from tests.helpers.server import ServerProcess, login
from threadline.client.api import Api
from threadline.handoff import archive

MakeMachine = Callable[[str], Machine]

#: For a test of what the client does: the database makes no difference to it.
SQLITE = pytest.mark.parametrize("module_server", ["sqlite"], indirect=True)


def machines(
    tmp_path: Path, remote: Path, server: ServerProcess, homes: LoggedIn | None = None
) -> MakeMachine:
    """Machines logged in to ``server``, each with a clone of ``remote`` at a path of its
    own; with ``homes``, a machine name logs in once per server and is copied after that."""

    def make(name: str) -> Machine:
        folder = tmp_path / name
        m = Machine(name, folder, clone(remote, folder / "src" / f"{name}-checkout"))
        if homes is None:
            login(m.home, server)
        else:
            homes.copy(server, name, m.home)
        return m

    return make


class LoggedIn:
    """Threadline homes of a module, logged in once per server and machine name (with the real
    ``threadline login``) and copied for the next tests: the same device and token, as on a
    machine that saves and resumes again and again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.homes: dict[tuple[str, str], Path] = {}

    def copy(self, server: ServerProcess, name: str, home: Path) -> None:
        key = (server.url, name)
        if key not in self.homes:
            logged_in = self.folder / f"{len(self.homes)}-{name}"
            login(logged_in, server)
            self.homes[key] = logged_in
        shutil.copytree(self.homes[key], home)


@pytest.fixture(scope="module")
def logged_in(tmp_path_factory: pytest.TempPathFactory) -> LoggedIn:
    return LoggedIn(tmp_path_factory.mktemp("logged-in"))


@pytest.fixture
def machine(
    tmp_path: Path, remote: Path, module_server: ServerProcess, logged_in: LoggedIn
) -> MakeMachine:
    return machines(tmp_path, remote, module_server, logged_in)


def agent_files(m: Machine) -> dict[str, bytes]:
    found = {}
    for base in (m.claude, m.codex):
        for folder, _, files in os.walk(base):
            for name in files:
                path = Path(folder) / name
                found[str(path)] = path.read_bytes()
    return found


def test_save_then_resume_on_another_machine(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    make_work(a.repo)
    before = snapshot(a.repo, whole_git_dir=True)
    saved = json.loads(a.ok("save", "-m", "half-way", "--json"))
    assert snapshot(a.repo, whole_git_dir=True) == before  # the save changed nothing
    assert saved["session_id"] == CLAUDE_SESSION and saved["agent"] == "claude-code"
    assert saved["branch"] == "feature" and saved["commit"] == git(a.repo, "rev-parse", "HEAD")
    assert saved["changed_files"] == len(status(a.repo)) - 2 and saved["uploaded"] is True
    assert sorted(saved["excluded"]) == [".env", "keys/server.pem"]

    done = json.loads(b.ok("resume", "--json"))  # no id: the latest save of this repository
    assert {k: done[k] for k in ("save_id", "session_id", "agent", "commit", "branch")} == {
        k: saved[k] for k in ("save_id", "session_id", "agent", "commit", "branch")
    }
    assert done["command"] == f"cd {b.repo} && claude --resume {CLAUDE_SESSION}"
    assert git(b.repo, "ls-files", "-s") == git(a.repo, "ls-files", "-s")
    assert tree_files(b.repo) == tree_files(a.repo, skip=LEFT_OUT)
    transcript = Path(done["transcript_path"])
    assert transcript == b.claude_transcript()
    text = transcript.read_text()
    assert str(b.repo) in text and str(a.repo) not in text

    listing = json.loads(b.ok("handoff", "list", "--json"))["saves"]
    assert [s["save_id"] for s in listing] == [saved["save_id"]]
    assert set(listing[0]) >= {
        "save_id",
        "session_id",
        "agent",
        "commit",
        "branch",
        "message",
        "device",
        "created",
    }
    assert listing[0]["device"] == "desk" and listing[0]["message"] == "half-way"
    shown = b.ok("handoff", "show", saved["save_id"][:8])
    assert "claude --resume" in shown and "half-way" in shown


@SQLITE
def test_dry_run_and_read_only_change_nothing(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    make_work(a.repo)
    a.ok("save")
    (b.repo / "a.txt").write_text("b's own uncommitted work\n")
    before, files = snapshot(b.repo, whole_git_dir=True), agent_files(b)

    plan = b.ok("resume", "--dry-run", "--stash")
    assert "would git stash push" in plan and "would git checkout -b feature" in plan
    assert "new.txt" in plan and str(b.claude_transcript()) in plan
    assert "Nothing was changed (--dry-run)." in plan
    conversation = b.ok("resume", "--read-only")
    assert conversation.strip()
    assert snapshot(b.repo, whole_git_dir=True) == before and agent_files(b) == files


@SQLITE
def test_refusals_change_nothing(
    tmp_path: Path, machine: MakeMachine, fixtures: Path, module_server: ServerProcess
) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    (a.repo / "a.txt").write_text("from the desk\n")
    a.ok("save")
    (b.repo / "a.txt").write_text("laptop's own\n")
    before = snapshot(b.repo, whole_git_dir=True)
    done = b.run("resume")
    assert done.returncode == 1 and "Error: this clone has uncommitted changes" in done.stderr
    assert "--stash" in done.stderr and snapshot(b.repo, whole_git_dir=True) == before

    other = Machine(
        "other", tmp_path / "other", clone(bare_remote(tmp_path, "x.git"), tmp_path / "x")
    )
    login(other.home, module_server)
    done = other.run("resume")
    assert done.returncode == 1 and "no save of this repository" in done.stderr
    assert a.ok("handoff", "list", "--json").count("save_id") == 1
    saved = json.loads(a.ok("handoff", "list", "--json"))["saves"][0]["save_id"]
    assert saved[:8] in done.stderr  # the saves there are are listed
    before = snapshot(other.repo, whole_git_dir=True)
    done = other.run("resume", saved, "--force", "--stash")
    assert done.returncode == 1 and "another project" in done.stderr
    assert snapshot(other.repo, whole_git_dir=True) == before


def test_round_trip_a_to_b_and_back(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a_transcript = a.start_claude_session(fixtures)
    git(a.repo, "checkout", "-q", "-b", "feature")
    commit(a.repo, "start", f="1\n")
    (a.repo / "f").write_text("1\n2 (wip on the desk)\n")
    first = json.loads(a.ok("save", "--json"))

    resumed = json.loads(b.ok("resume", "--json"))
    b_transcript = Path(resumed["transcript_path"])
    # the agent goes on on the laptop: two more lines, in the laptop's folder
    lines = b_transcript.read_bytes().splitlines(keepends=True)
    b_transcript.write_bytes(b"".join(lines) + lines[-2] + lines[-1])
    git(b.repo, "commit", "-q", "-am", "finished on the laptop")
    (b.repo / "g").write_text("new on the laptop\n")
    second = json.loads(b.ok("save", "--json"))
    assert second["resumed_from"] == first["save_id"]
    assert second["line_count"] == len(lines) + 2

    done = a.run("resume", "--stash", "--json")  # the desk still has its own wip
    assert done.returncode == 0, done.stderr
    back = json.loads(done.stdout)
    assert back["save_id"] == second["save_id"]
    assert git(a.repo, "rev-parse", "HEAD") == second["commit"]
    assert (a.repo / "g").read_text() == "new on the laptop\n"
    assert "threadline: before resuming" in git(a.repo, "stash", "list")
    after = a_transcript.read_bytes()
    assert after.count(b"\n") == len(lines) + 2
    assert str(b.repo).encode() not in after and str(a.repo).encode() in after

    old = a.run("resume", first["save_id"], "--dry-run")
    assert second["save_id"] in old.stderr and "newer save" in old.stderr


@SQLITE
def test_a_codex_session(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_codex_session(fixtures)
    (a.repo / "codex.txt").write_text("written with codex\n")
    saved = json.loads(a.ok("save", "--json"))
    assert saved["agent"] == "codex" and saved["session_id"] == CODEX_SESSION
    done = json.loads(b.ok("resume", "--json"))
    assert done["command"] == f"cd {b.repo} && codex resume {CODEX_SESSION}"
    path = Path(done["transcript_path"])
    assert path.is_relative_to(b.codex / "sessions") and CODEX_SESSION in path.name
    assert str(b.repo) in path.read_text()
    assert (b.repo / "codex.txt").read_text() == "written with codex\n"
    # No ``codex`` on the PATH here: it could not index the session, and resume says so.
    assert any("codex is not on the PATH" in note for note in done["notes"])


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_server_down_at_save_time_is_uploaded_by_the_next_sync(
    tmp_path: Path, remote: Path, fixtures: Path, server: ServerProcess
) -> None:
    """With a server of its own, which it stops."""
    machine = machines(tmp_path, remote, server)
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    (a.repo / "offline.txt").write_text("saved while the server was away\n")
    server.stop()
    done = a.run("save", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uploaded"] is False and out["waiting"]
    server.restart()
    synced = a.run("sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "Uploaded 1 save; 0 waiting." in synced.stdout
    resumed = json.loads(b.ok("resume", "--json"))
    assert resumed["save_id"] == out["save_id"]
    assert (b.repo / "offline.txt").read_text() == "saved while the server was away\n"


def api_of(m: Machine) -> Api:
    credentials = json.loads((m.home / "credentials.json").read_text())
    return Api(credentials["server_url"], credentials["token"])


@SQLITE
def test_a_transcript_that_cannot_be_placed_is_refused_before_anything(
    machine: MakeMachine, fixtures: Path
) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    (a.repo / "a.txt").write_text("changed on the desk\n")
    a.ok("save")
    (b.repo / "mine.txt").write_text("the laptop's own\n")
    b.claude.mkdir(parents=True)
    (b.claude / "projects").write_text("a file where Claude Code's folder goes\n")
    before = snapshot(b.repo, whole_git_dir=True)
    done = b.run("resume", "--stash")
    assert done.returncode == 1 and "Error: " in done.stderr
    assert snapshot(b.repo, whole_git_dir=True) == before


@SQLITE
def test_a_failure_part_way_puts_the_clone_back(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    git(a.repo, "checkout", "-q", "-b", "feature")
    commit(a.repo, "work", w="w\n")
    (a.repo / "a.txt").write_text("changed on the desk\n")
    (a.repo / "fresh.txt").write_text("untracked\n")
    saved = json.loads(a.ok("save", "--json"))
    # A save whose untracked archive puts a file under `w`, a file of the saved commit: every
    # check passes, and writing it fails after the stash, the checkout and the patches.
    api = api_of(a)
    body = dict(api.get_save(saved["save_id"]))
    staging = a.folder / "damaged"
    (staging / "w").mkdir(parents=True)
    (staging / "w" / "inside.txt").write_text("x\n")
    (staging / "fresh.txt").write_text("untracked\n")
    blob = archive.pack_files(staging, ["fresh.txt", "w/inside.txt"])
    assert blob is not None
    sha = hashlib.sha256(blob).hexdigest()
    api.put_blob(sha, blob)
    keep = ["thread_id", "session_id", "agent", "line_count", "remote", "remote_key", "branch"]
    keep += ["commit", "detached", "upstream", "message", "device_name", "repo_root", "cwd"]
    damaged = {k: body[k] for k in keep} | {"save_id": str(uuid.uuid4()), "files": []}
    damaged |= {"blobs": {**body["blobs"], "untracked": sha}, "created": body["created"]}
    api.create_save(damaged)

    (b.repo / "a.txt").write_text("the laptop's own work\n")
    (b.repo / "mine.txt").write_text("the laptop's own\n")
    before = snapshot(b.repo)
    done = b.run("resume", damaged["save_id"], "--stash")
    assert done.returncode == 1
    assert "back as it was" in done.stderr
    assert snapshot(b.repo) == before
    assert not b.claude_transcript().exists()


def test_handoff_list_show_delete_and_the_long_forms(machine: MakeMachine, fixtures: Path) -> None:
    a, b = machine("desk"), machine("laptop")
    a.start_claude_session(fixtures)
    first = json.loads(a.ok("handoff", "save", "-m", "first try", "--json"))
    (a.repo / "more.txt").write_text("more\n")
    second = json.loads(a.ok("save", "-m", "second", "--json"))
    listing = json.loads(b.ok("handoff", "list", "--json"))["saves"]
    assert [s["save_id"] for s in listing] == [second["save_id"], first["save_id"]]
    text = b.ok("handoff", "list")
    assert second["save_id"][:8] in text and "desk" in text and "first try" in text
    everything = b.ok("handoff", "list", "--all")
    assert "REPOSITORY" in everything and first["save_id"][:8] in everything
    shown = json.loads(b.ok("handoff", "show", first["save_id"], "--json"))
    assert shown["message"] == "first try" and shown["device"] == "desk"
    plan = b.ok("handoff", "resume", "--dry-run")
    assert second["save_id"] in plan
    assert f"Deleted the save {first['save_id']}" in b.ok("handoff", "delete", first["save_id"])
    listing = json.loads(b.ok("handoff", "list", "--json"))["saves"]
    assert [s["save_id"] for s in listing] == [second["save_id"]]
    gone = b.run("handoff", "show", first["save_id"])
    assert gone.returncode == 1 and "no save" in gone.stderr
