"""Plan the re-creation of a saved repository state in another clone, checking every step.

:func:`plan` checks everything before anything is touched, and refuses
(:class:`~threadline.handoff.errors.ResumeRefused`) when:

- the clone is another project (its remotes' normalized keys differ from the save's; nothing
  overrides this);
- a merge, rebase, cherry-pick or revert is in progress;
- there are uncommitted changes, unless ``stash`` or ``force`` (both stash them first: local
  work is never discarded);
- the saved commit cannot be reached even after fetching and applying the bundle;
- the saved branch exists here with commits the save does not have (ahead or diverged), unless
  ``force``, which keeps those commits on a backup branch;
- the saved changes do not apply to the saved commit, or an untracked file of the save would
  overwrite a file that is here (an ignored one).

Fetching for the checks writes into a temporary object store only, so a refused resume and a
dry run change nothing at all. The plan lists its steps for ``--dry-run``;
:func:`threadline.handoff.apply.apply` carries it out (and undoes it on failure).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.errors import InvalidInput
from threadline.handoff import archive
from threadline.handoff.errors import GitFailed, NoCommit, ResumeRefused
from threadline.handoff.git import Git, Remote, Scratch, remotes, toplevel

#: How many paths a refusal lists before "and N more".
SHOWN_PATHS = 10

#: Files in ``.git`` that mean an operation is half done.
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or `git am`",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
}

# Branch actions.
CREATE = "create"
CHECKOUT = "checkout"
FAST_FORWARD = "fast-forward"
MOVE = "move"
DETACH = "detach"


@dataclass(frozen=True)
class Saved:
    """What a resume needs of a save: its git fields (the wire JSON) and its blobs."""

    save_id: str
    remote_key: str
    remote: str
    commit: str
    branch: str | None
    upstream: str | None
    upstream_merge: str | None
    files: list[dict[str, Any]]
    bundle: bytes | None = None
    patch: bytes | None = None
    untracked: bytes | None = None

    @classmethod
    def of(cls, save: Mapping[str, Any], blobs: Mapping[str, bytes | None]) -> Saved:
        upstream = save.get("upstream")
        merge = save.get("upstream_merge")
        if not merge and upstream and "/" in upstream:
            merge = "refs/heads/" + upstream.split("/", 1)[1]
        return cls(
            save_id=str(save["save_id"]),
            remote_key=str(save["remote_key"]),
            remote=str(save.get("remote") or save["remote_key"]),
            commit=str(save["commit"]),
            branch=None if save.get("detached") else save.get("branch"),
            upstream=upstream,
            upstream_merge=merge,
            files=list(save.get("files") or []),
            bundle=blobs.get("bundle"),
            patch=blobs.get("patch"),
            untracked=blobs.get("untracked"),
        )


@dataclass
class Plan:
    """Every step of a resume, checked; :func:`apply` carries it out. Close it (or use it as
    a context manager) to remove its temporary object store."""

    saved: Saved
    root: Path
    remote: Remote
    scratch: Scratch
    orig_ref: str | None
    orig_commit: str
    dirty: list[str]
    stash: bool
    action: str | None
    local_tip: str | None
    backup_branch: str | None
    fetched: bool
    bundle_commits: int
    index_patch: bytes
    worktree_patch: bytes
    members: list[archive.Member]
    steps: list[str] = field(default_factory=list)

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.scratch.close()

    @property
    def git(self) -> Git:
        return self.scratch.base

    @property
    def writes(self) -> list[str]:
        """The work tree paths the resume writes (or deletes), for the dry run."""
        paths = []
        for f in self.saved.files:
            paths += [str(f["from"])] if f.get("from") else []
            paths.append(str(f.get("path")))
        return paths or [m.path for m in self.members]


def plan(cwd: Path, saved: Saved, *, stash: bool = False, force: bool = False) -> Plan:
    """Check every step of resuming ``saved`` in the clone holding ``cwd``; refuse
    (:class:`ResumeRefused`) before anything is changed when one cannot be done."""
    root = toplevel(cwd)
    git = Git(root)
    remote = _same_project(git, saved)
    _nothing_in_progress(git)
    orig_ref, orig_commit = _where(git)
    dirty = _dirty(git)
    if dirty and not (stash or force):
        raise ResumeRefused(
            f"this clone has uncommitted changes: {_some(dirty)}",
            hint="Commit them, or pass --stash to stash them first (`git stash pop` brings "
            "them back). Nothing was changed.",
        )
    scratch = Scratch(git)
    try:
        result = _plan_in(scratch, saved, remote, orig_ref, orig_commit, dirty, force)
    except BaseException:
        scratch.close()
        raise
    result.steps = _steps(result)
    return result


def _plan_in(
    scratch: Scratch,
    saved: Saved,
    remote: Remote,
    orig_ref: str | None,
    orig_commit: str,
    dirty: list[str],
    force: bool,
) -> Plan:
    git = scratch.git
    fetched, bundle_commits = _objects(scratch, saved, remote)
    action, local_tip, backup = _branch_action(git, saved, orig_ref, orig_commit, force)
    index_patch, worktree_patch = archive.read_patches(saved.patch)
    _check_patches(scratch, saved.commit, index_patch, worktree_patch)
    members = archive.read_files(saved.untracked)
    _check_untracked(git, saved.commit, members, set(dirty))
    return Plan(
        saved=saved,
        root=git.root,
        remote=remote,
        scratch=scratch,
        orig_ref=orig_ref,
        orig_commit=orig_commit,
        dirty=dirty,
        stash=bool(dirty),
        action=action,
        local_tip=local_tip,
        backup_branch=backup,
        fetched=fetched,
        bundle_commits=bundle_commits,
        index_patch=index_patch,
        worktree_patch=worktree_patch,
        members=members,
    )


def _some(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOWN_PATHS])
    more = len(paths) - SHOWN_PATHS
    return shown + (f" and {more} more" if more > 0 else "")


def _same_project(git: Git, saved: Saved) -> Remote:
    here = remotes(git)
    for remote in here:
        if remote.key == saved.remote_key:
            return remote
    mine = ", ".join(f"{r.name} = {r.key}" for r in here) or "no remote"
    raise ResumeRefused(
        f"this clone is another project: the save is of {saved.remote_key}, this repository "
        f"has {mine}",
        hint="Run `threadline resume` in a clone of the save's repository "
        f"(`git clone {saved.remote}`). Nothing was changed.",
    )


def _nothing_in_progress(git: Git) -> None:
    for name, what in IN_PROGRESS.items():
        if os.path.lexists(git.git_path(name)):
            raise ResumeRefused(
                f"{what} is in progress in this clone",
                hint="Finish it or abort it (`git status` says how), then resume. "
                "Nothing was changed.",
            )


def _where(git: Git) -> tuple[str | None, str]:
    commit = git.maybe("rev-parse", "--verify", "-q", "HEAD^{commit}")
    if commit is None:
        raise NoCommit(f"this clone ({git.root}) has no commit checked out yet")
    return git.maybe("symbolic-ref", "-q", "HEAD"), commit


def _dirty(git: Git) -> list[str]:
    fields = git.run("status", "--porcelain=v1", "-z", "-uall").split(b"\0")
    paths = []
    skip = False
    for record in fields:
        if skip:
            skip = False
            continue
        if len(record) >= 4:
            paths.append(os.fsdecode(record[3:]))
            skip = record[0:1] in (b"R", b"C") or record[1:2] in (b"R", b"C")
    return paths


def _objects(scratch: Scratch, saved: Saved, remote: Remote) -> tuple[bool, int]:
    """Make the saved commit available in the scratch store: fetch from the remote when a
    commit it builds on is missing, then unbundle. Returns ``(fetched, commits in bundle)``."""
    git = scratch.git
    needed = _prerequisites(saved.bundle) if saved.bundle else [saved.commit]
    fetched = False
    if not all(_has_commit(git, c) for c in needed):
        _fetch(git, remote)
        fetched = True
    missing = [c for c in needed if not _has_commit(git, c)]
    if missing and saved.bundle:
        raise ResumeRefused(
            f"the save's commits build on {_some([c[:12] for c in missing])}, which neither "
            f"this clone nor {remote.name} ({remote.url}) has",
            hint="The branch was probably rewritten (rebased, force-pushed) since the save: "
            "save again on the other machine. Nothing was changed.",
        )
    commits = 0
    if saved.bundle:
        path = scratch.folder / "save.bundle"
        path.write_bytes(saved.bundle)
        git.run("bundle", "unbundle", str(path))
        commits = _bundle_commits(git, saved.commit, needed)
    if not _has_commit(git, saved.commit):
        raise ResumeRefused(
            f"the saved commit {saved.commit[:12]} cannot be reached: {remote.name} "
            f"({remote.url}) does not have it and the save carries no bundle of it",
            hint="Push the branch from the machine that saved it, then resume again. "
            "Nothing was changed.",
        )
    return fetched, commits


def _prerequisites(bundle: bytes) -> list[str]:
    """The commits a bundle builds on (its ``-<sha>`` header lines)."""
    head = bundle.split(b"\n\n", 1)[0].split(b"\n")
    if not head or not head[0].startswith(b"# v") or b"git bundle" not in head[0]:
        raise InvalidInput("the save's bundle is not a git bundle")
    return [ln[1:].split(b" ", 1)[0].decode("ascii") for ln in head[1:] if ln.startswith(b"-")]


def _bundle_commits(git: Git, commit: str, prerequisites: list[str]) -> int:
    out = git.text("rev-list", "--count", commit, "--not", *prerequisites)
    return int(out or 0)


def _has_commit(git: Git, commit: str) -> bool:
    return git.succeeds("cat-file", "-e", f"{commit}^{{commit}}")


def _fetch(git: Git, remote: Remote) -> None:
    """Fetch every branch of ``remote`` into the scratch store: objects only, no ref written
    (``--refmap=`` and no destination), no ``FETCH_HEAD``."""
    heads = [
        line.split("\t", 1)[1]
        for line in git.text("ls-remote", "--heads", remote.name).splitlines()
        if "\t" in line
    ]
    if not heads:
        return
    git.run(
        "fetch",
        "--quiet",
        "--stdin",
        "--no-write-fetch-head",
        "--refmap=",
        "--no-tags",
        "--no-auto-gc",
        "--no-recurse-submodules",
        remote.name,
        input="".join(f"{h}\n" for h in heads).encode(),
    )


def _branch_action(
    git: Git, saved: Saved, orig_ref: str | None, orig_commit: str, force: bool
) -> tuple[str | None, str | None, str | None]:
    """``(action, local tip of the branch, backup branch)``; ``None`` when HEAD is already
    the save's."""
    if saved.branch is None:
        return (None if orig_ref is None and orig_commit == saved.commit else DETACH), None, None
    ref = f"refs/heads/{saved.branch}"
    tip = git.maybe("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    if tip is None:
        return CREATE, None, None
    elsewhere = _checked_out_elsewhere(git, ref)
    if elsewhere is not None:
        raise ResumeRefused(
            f"the branch {saved.branch} is checked out in another work tree of this "
            f"repository ({elsewhere})",
            hint="Resume there, or switch that work tree to another branch. Nothing was changed.",
        )
    if tip == saved.commit:
        return (None if orig_ref == ref else CHECKOUT), tip, None
    if git.succeeds("merge-base", "--is-ancestor", tip, saved.commit):
        return FAST_FORWARD, tip, None
    ahead = git.succeeds("merge-base", "--is-ancestor", saved.commit, tip)
    backup = _backup_name(git, saved.branch, tip)
    how = "is ahead of the save" if ahead else "has diverged from the save"
    if not force:
        raise ResumeRefused(
            f"the branch {saved.branch} here (at {tip[:12]}) {how} (at {saved.commit[:12]}): "
            "it has commits the save does not have",
            hint="Save again from the machine with the newer work, or pass --force to move "
            f"{saved.branch} to the save and keep {tip[:12]} on the branch {backup}. "
            "Nothing was changed.",
        )
    return MOVE, tip, backup


def _checked_out_elsewhere(git: Git, ref: str) -> str | None:
    """The other work tree (``git worktree``) that has ``ref`` checked out, if any."""
    here = os.path.realpath(git.root)
    folder = None
    for line in git.text("worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            folder = line.removeprefix("worktree ")
        elif line == f"branch {ref}" and folder and os.path.realpath(folder) != here:
            return folder
    return None


def _backup_name(git: Git, branch: str, tip: str) -> str:
    name = f"threadline/backup/{branch}-{tip[:12]}"
    n = 1
    while git.succeeds("rev-parse", "--verify", "-q", f"refs/heads/{name}"):
        n += 1
        name = f"threadline/backup/{branch}-{tip[:12]}-{n}"
    return name


def _check_patches(
    scratch: Scratch, commit: str, index_patch: bytes, worktree_patch: bytes
) -> None:
    """Apply both patches to a scratch index of ``commit``: proof that they will apply."""
    if not index_patch and not worktree_patch:
        return
    git = scratch.git.with_env(GIT_INDEX_FILE=str(scratch.folder / "check-index"))
    git.run("read-tree", commit)
    for name, patch in (("staged", index_patch), ("unstaged", worktree_patch)):
        if not patch:
            continue
        try:
            git.run("apply", "--cached", "--binary", "--whitespace=nowarn", input=patch)
        except GitFailed as exc:
            raise ResumeRefused(
                f"the save's {name} changes do not apply to its commit {commit[:12]}: "
                f"{exc.message}",
                hint="The save is damaged; save again on the other machine. Nothing was changed.",
            ) from exc


def _check_untracked(git: Git, commit: str, members: list[archive.Member], dirty: set[str]) -> None:
    """Refuse when an untracked file of the save would land on a file that stays here."""
    if not members:
        return
    listing = git.run("ls-tree", "-r", "-z", "--name-only", commit).split(b"\0")
    in_commit = {os.fsdecode(p) for p in listing if p}
    clash = [
        m.path
        for m in members
        if m.path in in_commit or (os.path.lexists(git.root / m.path) and m.path not in dirty)
    ]
    if clash:
        raise ResumeRefused(
            f"untracked files of the save would overwrite files here: {_some(clash)}",
            hint="Move those files away (they may be ignored here: `git status --ignored`), "
            "then resume. Nothing was changed.",
        )


def _steps(plan: Plan) -> list[str]:
    s = plan.saved
    short = s.commit[:12]
    steps = []
    if plan.stash:
        steps.append(
            f"git stash push --include-untracked  ({len(plan.dirty)} uncommitted paths here)"
        )
    if plan.fetched:
        steps.append(f"git fetch {plan.remote.name}  (objects only; {plan.remote.url})")
    if plan.bundle_commits:
        steps.append(f"git bundle unbundle  ({plan.bundle_commits} commits not on the remote)")
    if plan.action == CREATE:
        upstream = (
            f"; upstream {plan.remote.name}/{_branch_of(s.upstream_merge)}"
            if (s.upstream and s.upstream_merge)
            else ""
        )
        steps.append(f"git checkout -b {s.branch} {short}  (new branch{upstream})")
    elif plan.action == CHECKOUT:
        steps.append(f"git checkout {s.branch}  (already at {short})")
    elif plan.action == FAST_FORWARD:
        steps.append(
            f"git checkout -B {s.branch} {short}  (fast-forward from {(plan.local_tip or '')[:12]})"
        )
    elif plan.action == MOVE:
        tip = (plan.local_tip or "")[:12]
        steps.append(f"git branch {plan.backup_branch} {tip}  (keeps your commits)")
        steps.append(f"git checkout -B {s.branch} {short}  (--force)")
    elif plan.action == DETACH:
        steps.append(f"git checkout --detach {short}  (the save was of a detached HEAD)")
    if plan.index_patch:
        steps.append("git apply --index  (the staged changes)")
    if plan.worktree_patch:
        steps.append("git apply  (the unstaged changes)")
    if plan.members:
        steps.append(f"write {len(plan.members)} untracked files")
    return steps


def _branch_of(merge: str | None) -> str:
    return (merge or "").removeprefix("refs/heads/")
