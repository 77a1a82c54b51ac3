"""Real git repositories for the hand-off tests: a bare remote, clones at different paths,
commits, and :func:`snapshot` — everything a user could see of a repository, to prove that a
command changed nothing (or put everything back)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com")


def git(repo: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    """Run git in ``repo`` and return its output (stripped)."""
    done = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(repo), *IDENTITY, *args],
        input=input,
        capture_output=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout.decode("utf-8", "replace").rstrip()


def isolate(env: dict[str, str], folder: Path) -> None:
    """No user or system git configuration in ``env``: a global file of our own instead."""
    config = folder / "gitconfig"
    config.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    env["GIT_CONFIG_GLOBAL"] = str(config)
    env["GIT_CONFIG_NOSYSTEM"] = "1"


def bare_remote(folder: Path, name: str = "remote.git") -> Path:
    """A bare repository with one commit on ``main`` (a README), to clone from."""
    remote = folder / name
    git(folder, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = folder / f"seed-{name}"
    git(folder, "clone", "-q", str(remote), str(seed))
    (seed / "README.md").write_text("# project\n")
    (seed / "a.txt").write_text("one\ntwo\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "first")
    git(seed, "push", "-q", "origin", "HEAD:refs/heads/main")
    return remote


def clone(remote: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "clone", "-q", str(remote), str(path))
    return path


def commit(repo: Path, message: str, **files: str) -> str:
    """Write ``files`` (name → text; ``__`` in a name means ``/``), commit them, return HEAD."""
    for name, text in files.items():
        target = repo / name.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def tree_files(repo: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """Every path of the work tree (``.git`` aside) → (kind and permission bits, content hash
    or link target)."""
    found: dict[str, tuple[str, str]] = {}
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not (Path(folder) == repo and d == ".git")]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = Path(folder) / name
            rel = full.relative_to(repo).as_posix()
            if rel in skip:
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(full))
            else:
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                found[rel] = (oct(st.st_mode & 0o777), digest)
    return found


def git_dir_files(repo: Path) -> dict[str, str]:
    """Every file inside ``.git`` → its hash: the strongest proof that nothing was written."""
    found = {}
    root = repo / ".git"
    for folder, _, files in os.walk(root):
        for name in files:
            full = Path(folder) / name
            found[full.relative_to(root).as_posix()] = hashlib.sha256(full.read_bytes()).hexdigest()
    return found


def snapshot(repo: Path, *, whole_git_dir: bool = False) -> dict[str, Any]:
    """What a user sees of ``repo``: refs, HEAD, the index (its entries and its bytes),
    stash, config, ``git status`` (ignored files too) and every work tree file's bytes and
    mode; with ``whole_git_dir`` every file of ``.git`` as well."""
    index = repo / ".git" / "index"
    shot: dict[str, Any] = {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "index_entries": git(repo, "ls-files", "-s"),
        "stash": git(repo, "stash", "list", "--format=%H %s"),
        "config": (repo / ".git" / "config").read_text(),
        "status": git(
            repo, "-c", "core.quotePath=off", "status", "--porcelain", "-uall", "--ignored"
        ),
        "files": tree_files(repo),
    }
    if whole_git_dir:
        shot["git_dir"] = git_dir_files(repo)
        shot["index_bytes"] = (
            hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None
        )
    return shot
