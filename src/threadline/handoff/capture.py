"""Record a repository's state for a save — without changing the repository.

No commit, stash, branch, ref, index or work tree file is written: the staged and unstaged
work is read through a copy of the index in a temporary object store (:class:`~threadline.
handoff.git.Scratch`), and the commits the remote lacks are written to a bundle file outside
the repository. ``--push`` is the one exception the user asks for: it pushes the branch (which
moves its remote-tracking branch) instead of carrying a bundle.

What travels: the remote, branch, HEAD and upstream; a patch archive (staged and unstaged
changes of tracked files, as binary diffs: contents, deletions, renames, modes, symbolic
links); an archive of the untracked files that are not ignored; a bundle of the unpushed
commits. What does not: ignored files, submodules and nested repositories, and files that look
like secrets (:data:`SECRET_GLOBS` and the ``handoff_exclude`` setting) unless named with
``--include`` — these are listed in :attr:`Capture.excluded` with the reason.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.errors import InvalidInput
from threadline.handoff import archive
from threadline.handoff.git import Git, Head, Remote, Scratch, pick_remote, read_head, toplevel

#: Names of files that look like secrets; a glob without ``/`` matches a file's name or any
#: folder on its path, one with ``/`` the whole path from the repository root.
SECRET_GLOBS = (".env*", "*.pem", "*.key", "credentials.json")

SECRET = "looks like a secret"
NESTED = "a submodule or another repository"

#: ``git diff-tree`` options of the carried patches: binary, whole object names, no rename
#: detection (a rename is a deletion and an addition, which applies anywhere).
DIFF = ("diff-tree", "-r", "-p", "--binary", "--full-index", "--no-renames", "--no-textconv")


@dataclass(frozen=True)
class ChangedFile:
    """A path ``git status --porcelain`` lists: its two status letters (``"M "``, ``" M"``,
    ``"A "``, ``"D "``, ``"R "``, ``"??"`` …), its mode in the work tree (``"100644"``,
    ``"100755"``, ``"120000"``; ``None`` once deleted) and a rename's original path."""

    path: str
    status: str
    mode: str | None
    source: str | None = None

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"path": self.path, "status": self.status, "mode": self.mode}
        if self.source is not None:
            item["from"] = self.source
        return item


@dataclass(frozen=True)
class LeftOut:
    path: str
    reason: str


@dataclass
class Capture:
    """A repository's state as a save records it (see the module documentation)."""

    root: Path
    remote: Remote
    head: Head
    files: list[ChangedFile] = field(default_factory=list)
    excluded: list[LeftOut] = field(default_factory=list)
    unpushed: list[str] = field(default_factory=list)
    bundle: bytes | None = None
    patch: bytes | None = None
    untracked: bytes | None = None
    #: Whether the branch was pushed (``--push``) instead of carrying a bundle.
    pushed: bool = False

    def blobs(self) -> dict[str, bytes | None]:
        return {"bundle": self.bundle, "patch": self.patch, "untracked": self.untracked}


def capture(
    cwd: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    push: bool = False,
    dry_run: bool = False,
) -> Capture:
    """Record the state of the repository holding ``cwd``.

    ``include`` are paths (relative to ``cwd``) carried even though they look like secrets;
    ``exclude`` are more secret globs. ``push`` pushes the branch instead of bundling (not
    with ``dry_run``, which reports what would be pushed)."""
    root = toplevel(cwd)
    git = Git(root)
    head = read_head(git)
    remote = pick_remote(git, head)
    if push and head.branch is None:
        raise InvalidInput(
            "--push needs a branch, and HEAD is detached",
            hint="Leave out --push: the commits travel in a bundle with the save.",
        )
    result = Capture(root, remote, head)
    if push and not dry_run:
        git.run("push", "--quiet", remote.name, f"HEAD:{_push_target(head, remote)}")
        result.pushed = True
    result.unpushed = _unpushed(git, remote)
    if result.unpushed and not (push or result.pushed):
        result.bundle = _bundle(git, remote)
    included = {_relative(root, cwd, p) for p in include}
    with Scratch(git, index=True) as scratch:
        _work(scratch.git, result, _Filter(SECRET_GLOBS + tuple(exclude), included))
    return result


def _push_target(head: Head, remote: Remote) -> str:
    """The branch on the remote: the upstream's when it is on this remote, else the same name."""
    if head.upstream_merge and head.upstream_remote == remote.name:
        return head.upstream_merge
    return f"refs/heads/{head.branch}"


def _unpushed(git: Git, remote: Remote) -> list[str]:
    return git.text("rev-list", "HEAD", "--not", f"--remotes={remote.name}").split()


def _bundle(git: Git, remote: Remote) -> bytes:
    with tempfile.TemporaryDirectory(prefix="threadline-bundle-") as folder:
        path = Path(folder) / "save.bundle"
        git.run(
            "bundle", "create", "--quiet", str(path), "HEAD", "--not", f"--remotes={remote.name}"
        )
        return path.read_bytes()


def _relative(root: Path, cwd: Path, path: str) -> str:
    full = Path(os.path.abspath(cwd / path))
    try:
        return full.relative_to(Path(os.path.realpath(root))).as_posix()
    except ValueError:
        try:
            return full.relative_to(root).as_posix()
        except ValueError:
            raise InvalidInput(f"--include {path}: not inside the repository {root}") from None


class _Filter:
    """Which changed paths are left out, and why."""

    def __init__(self, globs: Iterable[str], included: set[str]) -> None:
        self.globs = [g for g in globs if g]
        self.included = included

    def secret(self, path: str) -> bool:
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.included):
            return False
        parts = path.split("/")
        for glob in self.globs:
            if "/" in glob.strip("/"):
                if fnmatch.fnmatchcase(path, glob.strip("/")):
                    return True
            elif any(fnmatch.fnmatchcase(part, glob.strip("/")) for part in parts):
                return True
        return False


def _work(git: Git, result: Capture, keep: _Filter) -> None:
    """Fill in the changed files, what is left out, and the patch and untracked archives;
    ``git`` runs in a scratch store with a copy of the index."""
    gitlinks = _gitlinks(git)
    left: dict[str, str] = {}
    carried: list[ChangedFile] = []
    for item in _status(git, result.root):
        reason = _reason(item, gitlinks, keep, result.root)
        if reason is None:
            carried.append(item)
        else:
            left[item.path] = reason
            if item.source is not None:
                left.setdefault(item.source, reason)
    result.files = carried
    result.excluded = [LeftOut(path, why) for path, why in left.items()]
    tracked_left = [p for p in left if p in gitlinks or _in_index_or_head(git, p)]
    _forget(git, tracked_left)
    staged = git.text("write-tree")
    git.run("add", "--update")
    _forget(git, tracked_left)
    worktree = git.text("write-tree")
    result.patch = archive.pack_patches(
        git.run(*DIFF, "HEAD", staged), git.run(*DIFF, staged, worktree)
    )
    untracked = [f.path for f in carried if f.status == "??"]
    result.untracked = archive.pack_files(result.root, untracked)


def _reason(item: ChangedFile, gitlinks: set[str], keep: _Filter, root: Path) -> str | None:
    if item.path in gitlinks or item.path.endswith("/") or item.mode == "040000":
        return NESTED
    if keep.secret(item.path) or (item.source is not None and keep.secret(item.source)):
        return SECRET
    return None


def _forget(git: Git, paths: list[str]) -> None:
    """Set ``paths`` back to HEAD in the scratch index: their changes do not travel."""
    if paths:
        pathspecs = b"".join(os.fsencode(p) + b"\0" for p in paths)
        git.with_env(GIT_LITERAL_PATHSPECS="1").run(
            "reset", "-q", "HEAD", "--pathspec-from-file=-", "--pathspec-file-nul", input=pathspecs
        )


def _in_index_or_head(git: Git, path: str) -> bool:
    literal = git.with_env(GIT_LITERAL_PATHSPECS="1")
    return bool(
        literal.run("ls-files", "-z", "--", path).strip(b"\0")
        or literal.run("ls-tree", "-z", "--name-only", "HEAD", "--", path).strip(b"\0")
    )


def _gitlinks(git: Git) -> set[str]:
    """Paths of submodules in the index."""
    out = git.run("ls-files", "-s", "-z")
    links = set()
    for record in out.split(b"\0"):
        if record.startswith(b"160000 "):
            links.add(os.fsdecode(record.split(b"\t", 1)[1]))
    return links


def _status(git: Git, root: Path) -> list[ChangedFile]:
    """The entries of ``git status --porcelain -uall``, with each path's mode."""
    fields = git.run("status", "--porcelain=v1", "-z", "-uall").split(b"\0")
    items = []
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if len(record) < 4:
            continue
        code, path = record[:2].decode("ascii", "replace"), os.fsdecode(record[3:])
        source = None
        if code[0] in "RC" or code[1] in "RC":
            source = os.fsdecode(fields[i])
            i += 1
        items.append(ChangedFile(path, code, _mode(root / path), source))
    return items


def _mode(path: Path) -> str | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "120000"
    if stat.S_ISDIR(st.st_mode):
        return "040000"
    return "100755" if st.st_mode & stat.S_IXUSR else "100644"
