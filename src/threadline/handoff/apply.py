"""Carry out a checked resume plan (:func:`~threadline.handoff.restore.plan`), or undo it.

:func:`apply` stashes local changes when the plan says so, adds the objects fetched for the
checks, switches to the saved branch (created, fast-forwarded, moved with a backup, or a
detached HEAD) at the saved commit, applies the staged and the unstaged changes and writes the
untracked files. It records each step in an :class:`Applied`; if a step fails,
:meth:`Applied.undo` removes the files it wrote, checks out the original HEAD again (the work
tree and index with it), puts the branches back and pops the stash — and the error says
whether everything is back. A later step of the resume (writing the transcript) calls
:meth:`Applied.undo` the same way when it fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from threadline.errors import ThreadlineError
from threadline.handoff import archive
from threadline.handoff.errors import GitFailed
from threadline.handoff.restore import CHECKOUT, CREATE, DETACH, MOVE, Plan


class Applied:
    """What :func:`apply` did, with the way back (:meth:`undo`)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stash_commit: str | None = None
        self.moved_head = False
        self.created_branch: str | None = None
        self.moved_branch: tuple[str, str] | None = None
        self.backup_branch: str | None = None
        self.changed_tree = False
        self.written: list[Path] = []
        self.folders: list[Path] = []

    @property
    def stashed(self) -> bool:
        return self.stash_commit is not None

    def undo(self) -> list[str]:
        """Put the repository back as it was; returns what could not be put back (empty when
        everything was)."""
        problems: list[str] = []
        git = self.plan.git
        for path in reversed(self.written):
            _quietly(problems, lambda path=path: os.unlink(path))
        for folder in self.folders:
            _quietly(problems, lambda folder=folder: os.rmdir(folder))
        if self.changed_tree or self.moved_head:
            _quietly(
                problems,
                lambda: git.run("checkout", "-q", "-f", "--detach", self.plan.orig_commit, "--"),
            )
        if self.moved_branch is not None:
            name, tip = self.moved_branch
            _quietly(problems, lambda: git.run("update-ref", f"refs/heads/{name}", tip))
        for created in (self.created_branch, self.backup_branch):
            if created is not None:
                _quietly(problems, lambda created=created: git.run("branch", "-q", "-D", created))
        if (self.changed_tree or self.moved_head) and self.plan.orig_ref is not None:
            _quietly(problems, lambda: git.run("symbolic-ref", "HEAD", self.plan.orig_ref or ""))
        if self.stash_commit is not None:
            try:
                git.run("stash", "pop", "-q", "--index")
            except GitFailed as exc:
                problems.append(
                    f"your changes are still in the stash ({exc.message}); "
                    "`git stash pop --index` brings them back"
                )
        return problems


def _quietly(problems: list[str], step: Any) -> None:
    try:
        step()
    except (OSError, ThreadlineError) as exc:
        problems.append(getattr(exc, "message", None) or str(exc))


def apply(plan: Plan) -> Applied:
    """Carry out a checked plan; on failure undo what was done and raise an error that says
    whether the repository is back as it was."""
    done = Applied(plan)
    try:
        _apply(plan, done)
    except (ThreadlineError, OSError) as exc:
        problems = done.undo()
        raise failure("resuming", exc, problems) from exc
    return done


def failure(what: str, exc: BaseException, problems: list[str]) -> ThreadlineError:
    """The error to raise when ``what`` failed with ``exc`` and :meth:`Applied.undo` then
    reported ``problems`` (none: the repository is back as it was)."""
    message = getattr(exc, "message", None) or str(exc)
    if problems:
        return GitFailed(
            f"{what} failed ({message}), and putting the repository back failed too: "
            + "; ".join(problems),
            hint="`git status` and `git stash list` show where the repository is.",
        )
    return GitFailed(
        f"{what} failed ({message}); the repository is back as it was "
        "(branch, work tree, index and stash)",
        hint=getattr(exc, "hint", None) or "",
    )


def _apply(plan: Plan, done: Applied) -> None:
    git = plan.git
    s = plan.saved
    if plan.stash:
        before = git.maybe("rev-parse", "-q", "--verify", "refs/stash")
        git.run(
            "stash",
            "push",
            "-q",
            "--include-untracked",
            "-m",
            f"threadline: before resuming {s.save_id}",
        )
        after = git.maybe("rev-parse", "-q", "--verify", "refs/stash")
        if after is not None and after != before:
            done.stash_commit = after
    plan.scratch.keep_objects()
    _switch(plan, done)
    if plan.index_patch:
        done.changed_tree = True
        git.run("apply", "--index", "--binary", "--whitespace=nowarn", input=plan.index_patch)
    if plan.worktree_patch:
        done.changed_tree = True
        git.run("apply", "--binary", "--whitespace=nowarn", input=plan.worktree_patch)
    done.folders = list(archive.created_folders(plan.root, plan.members))
    for member in plan.members:
        archive.write_member(plan.root, member)
        done.written.append(plan.root / member.path)


def _switch(plan: Plan, done: Applied) -> None:
    git = plan.git
    s = plan.saved
    if plan.action is None:
        return
    done.moved_head = True
    if plan.action == DETACH:
        git.run("checkout", "-q", "--detach", s.commit, "--")
    elif plan.action == CREATE:
        assert s.branch is not None
        git.run("checkout", "-q", "-b", s.branch, s.commit, "--")
        done.created_branch = s.branch
        if s.upstream and s.upstream_merge:
            git.run("config", f"branch.{s.branch}.remote", plan.remote.name)
            git.run("config", f"branch.{s.branch}.merge", s.upstream_merge)
    elif plan.action == CHECKOUT:
        git.run("checkout", "-q", str(s.branch), "--")
    else:  # FAST_FORWARD, MOVE
        assert s.branch is not None and plan.local_tip is not None
        if plan.action == MOVE and plan.backup_branch is not None:
            git.run("branch", plan.backup_branch, plan.local_tip)
            done.backup_branch = plan.backup_branch
        done.moved_branch = (s.branch, plan.local_tip)
        git.run("checkout", "-q", "-B", s.branch, s.commit, "--")
