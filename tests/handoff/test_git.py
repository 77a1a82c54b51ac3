"""The git side of the hand-off on real repositories: a bare remote and clones at different
paths. Capture must leave ``.git`` and the work tree byte for byte as they were; restore must
re-create the saved state exactly, refuse before changing anything, and undo a failure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.gitrepo import bare_remote, clone, commit, git, snapshot, tree_files
from threadline.handoff import archive, capture, restore
from threadline.handoff.apply import Applied, apply
from threadline.handoff.errors import GitFailed, NoRemote, NotARepository, ResumeRefused

BINARY = bytes(range(256)) * 4


def make_work(repo: Path) -> None:
    """A branch with an unpushed commit, and every kind of uncommitted change on top."""
    git(repo, "checkout", "-q", "-b", "feature")
    commit(
        repo,
        "work",
        **{
            "del_staged.txt": "gone (staged)\n",
            "del_unstaged.txt": "gone (not staged)\n",
            "old_name.txt": "renamed\n",
            "script.sh": "#!/bin/sh\necho hi\n",
            ".gitignore": "*.log\n",
        },
    )
    (repo / "image.bin").write_bytes(BINARY)
    git(repo, "add", "image.bin")
    git(repo, "commit", "-q", "-m", "binary")
    (repo / "new.txt").write_text("staged new file\n")
    git(repo, "add", "new.txt")
    (repo / "a.txt").write_text("one\ntwo\nthree (unstaged)\n")
    (repo / "README.md").write_text("# project\nstaged line\n")
    git(repo, "add", "README.md")
    (repo / "README.md").write_text("# project\nstaged line\nunstaged line\n")
    git(repo, "rm", "-q", "del_staged.txt")
    (repo / "del_unstaged.txt").unlink()
    git(repo, "mv", "old_name.txt", "new_name.txt")
    (repo / "image.bin").write_bytes(BINARY[::-1] + b"\x00tail")
    os.chmod(repo / "script.sh", 0o755)
    (repo / "notes").mkdir()
    (repo / "notes" / "todo.md").write_text("- resume\n")
    (repo / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "tool.sh", 0o755)
    (repo / "bin.dat").write_bytes(b"\x00\xff" * 100)
    os.symlink("a.txt", repo / "link")
    (repo / "debug.log").write_text("ignored\n")
    (repo / ".env").write_text("API_KEY=secret\n")
    (repo / "keys").mkdir()
    (repo / "keys" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")


def saved(cap: capture.Capture, save_id: str = "s1") -> restore.Saved:
    """The save a capture makes, as a resume reads it back from the server."""
    head = cap.head
    save: dict[str, Any] = {
        "save_id": save_id,
        "remote": cap.remote.url,
        "remote_key": cap.remote.key,
        "branch": head.branch,
        "commit": head.commit,
        "detached": head.detached,
        "upstream": head.upstream,
        "upstream_merge": head.upstream_merge,
        "files": [f.wire() for f in cap.files],
    }
    return restore.Saved.of(save, cap.blobs())


def resume(repo: Path, state: restore.Saved, **flags: bool) -> Applied:
    with restore.plan(repo, state, **flags) as plan:
        return apply(plan)


def status(repo: Path) -> list[str]:
    return git(repo, "-c", "core.quotePath=off", "status", "--porcelain", "-uall").splitlines()


LEFT_OUT = ("debug.log", ".env", "keys/server.pem")


def test_capture_changes_nothing_and_restore_recreates_everything(
    tmp_path: Path, remote: Path
) -> None:
    a = clone(remote, tmp_path / "machine-a" / "project")
    make_work(a)
    before = snapshot(a, whole_git_dir=True)
    cap = capture.capture(a)
    assert snapshot(a, whole_git_dir=True) == before

    assert cap.head.branch == "feature" and cap.head.upstream is None
    assert len(cap.unpushed) == 2 and cap.bundle is not None
    assert {(x.path, x.reason) for x in cap.excluded} == {
        (".env", capture.SECRET),
        ("keys/server.pem", capture.SECRET),
    }
    listed = status(a)
    assert len(cap.files) == len(listed) - 2  # git status less the two secrets
    modes = {f.path: f.mode for f in cap.files}
    assert modes["script.sh"] == "100755" and modes["link"] == "120000"
    assert modes["del_unstaged.txt"] is None

    b = clone(remote, tmp_path / "machine-b" / "elsewhere" / "project")
    applied = resume(b, saved(cap))
    assert not applied.stashed
    assert git(b, "rev-parse", "HEAD") == cap.head.commit
    assert git(b, "symbolic-ref", "--short", "HEAD") == "feature"
    assert git(b, "ls-files", "-s") == git(a, "ls-files", "-s")  # the staged state too
    assert status(b) == [line for line in listed if line[3:] not in LEFT_OUT]
    assert tree_files(b) == tree_files(a, skip=LEFT_OUT)
    assert not (b / "debug.log").exists() and not (b / ".env").exists()


def test_include_carries_a_secret_and_config_adds_globs(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    (a / ".env").write_text("X=1\n")
    (a / "local.secret").write_text("s\n")
    (a / "sub").mkdir()
    (a / "sub" / "cert.key").write_text("k\n")
    cap = capture.capture(a / "sub", include=["../.env"], exclude=["*.secret"])
    assert {f.path for f in cap.files} == {".env"}
    assert {x.path for x in cap.excluded} == {"local.secret", "sub/cert.key"}


def test_unpushed_commits_travel_as_a_bundle_and_push_sends_them_instead(
    tmp_path: Path, remote: Path
) -> None:
    a = clone(remote, tmp_path / "a")
    first = commit(a, "local one", c1="1\n")
    second = commit(a, "local two", c2="2\n")
    cap = capture.capture(a)
    assert cap.unpushed == [second, first] and cap.bundle is not None
    b = clone(remote, tmp_path / "b")
    resume(b, saved(cap))
    assert git(b, "rev-parse", "HEAD") == second
    # main existed on b: it was fast-forwarded, and its upstream is untouched
    assert git(b, "rev-parse", "--abbrev-ref", "main@{u}") == "origin/main"

    pushed = capture.capture(a, push=True)
    assert pushed.pushed and pushed.bundle is None and pushed.unpushed == []
    assert git(remote, "rev-parse", "refs/heads/main") == second


def test_a_branch_without_upstream_is_created_and_one_with_upstream_tracks_it(
    tmp_path: Path, remote: Path
) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "checkout", "-q", "-b", "topic")
    commit(a, "topic work", t="t\n")
    git(a, "push", "-q", "-u", "origin", "topic")
    cap = capture.capture(a)
    assert cap.head.upstream == "origin/topic" and cap.bundle is None
    b = clone(remote, tmp_path / "b")
    resume(b, saved(cap))
    assert git(b, "rev-parse", "--abbrev-ref", "topic@{u}") == "origin/topic"

    git(a, "checkout", "-q", "-b", "lonely")
    cap = capture.capture(a)
    assert cap.head.upstream is None
    resume(b, saved(cap))
    assert git(b, "symbolic-ref", "--short", "HEAD") == "lonely"
    assert git(b, "config", "--get", "branch.lonely.remote", check=False) == ""


def test_detached_head_is_saved_and_restored_as_such(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    target = commit(a, "local", d="d\n")
    git(a, "checkout", "-q", "--detach", target)
    (a / "d").write_text("changed\n")
    cap = capture.capture(a)
    assert cap.head.detached and cap.head.branch is None
    b = clone(remote, tmp_path / "b")
    resume(b, saved(cap))
    assert git(b, "symbolic-ref", "-q", "HEAD", check=False) == ""
    assert git(b, "rev-parse", "HEAD") == target
    assert (b / "d").read_text() == "changed\n"


def test_a_dirty_clone_is_refused_and_stash_keeps_its_work(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    (a / "a.txt").write_text("from a\n")
    cap = capture.capture(a)
    b = clone(remote, tmp_path / "b")
    (b / "a.txt").write_text("b's own work\n")
    (b / "b-only.txt").write_text("untracked on b\n")
    before = snapshot(b, whole_git_dir=True)
    with pytest.raises(ResumeRefused, match="uncommitted changes") as refused:
        resume(b, saved(cap))
    assert "--stash" in refused.value.hint
    assert snapshot(b, whole_git_dir=True) == before

    applied = resume(b, saved(cap), stash=True)
    assert applied.stashed
    assert (b / "a.txt").read_text() == "from a\n" and not (b / "b-only.txt").exists()
    assert "threadline: before resuming s1" in git(b, "stash", "list")
    git(b, "checkout", "-q", "--", "a.txt")
    git(b, "stash", "pop", "-q")
    assert (b / "a.txt").read_text() == "b's own work\n"
    assert (b / "b-only.txt").read_text() == "untracked on b\n"


def test_another_project_is_refused_even_with_force(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    cap = capture.capture(a)
    other = clone(bare_remote(tmp_path, "other.git"), tmp_path / "other")
    before = snapshot(other, whole_git_dir=True)
    with pytest.raises(ResumeRefused, match="another project"):
        resume(other, saved(cap), force=True, stash=True)
    assert snapshot(other, whole_git_dir=True) == before


def test_a_diverged_branch_stops_unless_force_which_keeps_a_backup(
    tmp_path: Path, remote: Path
) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "checkout", "-q", "-b", "feature")
    commit(a, "a's work", f="a\n")
    cap = capture.capture(a)
    b = clone(remote, tmp_path / "b")
    git(b, "checkout", "-q", "-b", "feature")
    mine = commit(b, "b's own work", f="b\n")
    before = snapshot(b, whole_git_dir=True)
    with pytest.raises(ResumeRefused, match="diverged") as refused:
        resume(b, saved(cap))
    assert "--force" in refused.value.hint
    assert snapshot(b, whole_git_dir=True) == before

    resume(b, saved(cap), force=True)
    assert git(b, "rev-parse", "HEAD") == cap.head.commit
    backup = f"threadline/backup/feature-{mine[:12]}"
    assert git(b, "rev-parse", backup) == mine


def test_an_unreachable_commit_is_refused(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    commit(a, "never pushed", n="n\n")
    cap = capture.capture(a)
    cap.bundle = None  # as if the bundle were lost: the commit is nowhere to be had
    b = clone(remote, tmp_path / "b")
    before = snapshot(b, whole_git_dir=True)
    with pytest.raises(ResumeRefused, match="cannot be reached"):
        resume(b, saved(cap))
    assert snapshot(b, whole_git_dir=True) == before


def test_a_plan_alone_changes_nothing(tmp_path: Path, remote: Path) -> None:
    b = clone(remote, tmp_path / "b")
    a = clone(remote, tmp_path / "a")
    commit(a, "pushed after b cloned", pushed="p\n")
    git(a, "push", "-q", "origin", "main")
    make_work(a)
    cap = capture.capture(a)
    (b / "a.txt").write_text("dirty\n")
    before = snapshot(b, whole_git_dir=True)
    with restore.plan(b, saved(cap), stash=True) as plan:
        steps = "\n".join(plan.steps)
        assert "git stash push" in steps and "git fetch origin" in steps
        assert "git bundle unbundle  (2 commits" in steps
        assert "git checkout -b feature" in steps
        assert "new.txt" in plan.writes and "link" in plan.writes
    assert snapshot(b, whole_git_dir=True) == before


def test_a_failure_part_way_puts_everything_back(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "checkout", "-q", "-b", "feature")
    commit(a, "work", w="w\n")
    (a / "a.txt").write_text("changed\n")
    (a / "fresh.txt").write_text("untracked\n")
    cap = capture.capture(a)
    # An untracked file under a path that is a file in the saved commit: writing it fails
    # after the stash, the checkout and the patches (a real failure of the last step).
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "w").mkdir(parents=True)
    (elsewhere / "w" / "inside.txt").write_text("x\n")
    (elsewhere / "fresh.txt").write_text("untracked\n")
    cap.untracked = archive.pack_files(elsewhere, ["fresh.txt", "w/inside.txt"])

    b = clone(remote, tmp_path / "b")
    (b / "a.txt").write_text("b's work\n")
    (b / "mine.txt").write_text("b's untracked\n")
    before = snapshot(b)
    with pytest.raises(GitFailed, match="back as it was"):
        resume(b, saved(cap), stash=True)
    after = snapshot(b)
    assert after == before


def test_round_trip_a_to_b_and_back(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "checkout", "-q", "-b", "feature")
    commit(a, "start", f="1\n")
    (a / "f").write_text("1\n2 (wip on a)\n")
    first = capture.capture(a)
    b = clone(remote, tmp_path / "b")
    resume(b, saved(first, "s1"))
    git(b, "commit", "-q", "-am", "b finishes 2")
    (b / "g").write_text("new on b\n")
    second = capture.capture(b)
    assert len(second.unpushed) == 2  # a's commit and b's, neither pushed
    applied = resume(a, saved(second, "s2"), stash=True)  # a still has its own wip
    assert applied.stashed
    assert git(a, "rev-parse", "HEAD") == second.head.commit
    assert (a / "f").read_text() == "1\n2 (wip on a)\n" and (a / "g").read_text() == "new on b\n"
    assert status(a) == ["?? g"]


def test_not_a_repository_and_no_remote(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotARepository):
        capture.capture(plain)
    git(plain, "init", "-q")
    commit(plain, "first", x="x\n")
    with pytest.raises(NoRemote):
        capture.capture(plain)


def test_a_change_in_the_same_instant_as_the_index_is_seen(tmp_path: Path, remote: Path) -> None:
    """Racy git: a file changed without changing its size or its cached times, as the index
    was being written, is told apart only by its content, and git compares the content only
    when the file is not older than the index. The scratch index must keep the index's time
    or the change would be missed."""
    a = clone(remote, tmp_path / "a")
    git(a, "config", "core.trustctime", "false")
    past = os.stat(a / "a.txt").st_mtime_ns - 10**10
    os.utime(a / "a.txt", ns=(past, past))
    git(a, "update-index", "--refresh")  # caches the past time, written well after it
    (a / "a.txt").write_text("ONE\nTWO\n")  # the same size, and the same time:
    os.utime(a / "a.txt", ns=(past, past))
    os.utime(a / ".git" / "index", ns=(past, past))  # only the content tells
    assert status(a) == [" M a.txt"]
    cap = capture.capture(a)
    assert [f.path for f in cap.files] == ["a.txt"]
    assert archive.read_patches(cap.patch)[1].count(b"+ONE") == 1


def test_a_branch_checked_out_in_another_worktree_is_refused(tmp_path: Path, remote: Path) -> None:
    a = clone(remote, tmp_path / "a")
    git(a, "checkout", "-q", "-b", "feature")
    commit(a, "work", w="w\n")
    cap = capture.capture(a)
    b = clone(remote, tmp_path / "b")
    git(b, "branch", "feature", "origin/main")
    git(b, "worktree", "add", "-q", str(tmp_path / "b-feature"), "feature")
    before = snapshot(b, whole_git_dir=True)
    with pytest.raises(ResumeRefused, match="checked out in another work tree"):
        resume(b, saved(cap))
    assert snapshot(b, whole_git_dir=True) == before
