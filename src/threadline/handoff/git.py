"""Running git for the hand-off, and what a repository says about itself.

Every command runs with ``-C root`` and without the variables that would point git elsewhere
(``GIT_DIR``, ``GIT_INDEX_FILE`` … set by a hook that started Threadline). ``GIT_OPTIONAL_LOCKS=0``
keeps read-only commands such as ``status`` from refreshing the index behind the user's back,
and a few ``-c`` settings keep the user's configuration (quoted paths, colour, automatic
garbage collection) from changing what is parsed or written.

:class:`Scratch` is a temporary object store, with a copy of the index when asked: commands run
in it read the repository's objects (as alternates) but write new ones — blobs of changed
files, trees, fetched packs — into a temporary folder only. Capture and the checks of a resume
therefore leave ``.git`` byte for byte as it was; a resume moves the packs it fetched into the
repository only once every check has passed (:meth:`Scratch.keep_objects`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from threadline.config import normalize_remote
from threadline.handoff.errors import GitFailed, NoCommit, NoRemote, NotARepository

#: Variables that would make git use another repository, index or object store than ours.
LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
    "GIT_LITERAL_PATHSPECS",
    "GIT_GLOB_PATHSPECS",
    "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS",
)

#: Settings that keep output parseable and keep git from doing more than asked.
SETTINGS = (
    "core.quotePath=off",
    "color.ui=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.detachedHead=false",
    "fetch.unpackLimit=1",
    "transfer.unpackLimit=1",
)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCATION_VARIABLES}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    if not sys.stdin.isatty():
        env["GIT_TERMINAL_PROMPT"] = "0"  # nobody could answer a password prompt
    return env


class Git:
    """git in one work tree, with extra environment variables (a :class:`Scratch`'s)."""

    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.extra = dict(env or {})

    def with_env(self, **env: str) -> Git:
        return Git(self.root, {**self.extra, **env})

    def run(self, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
        """Standard output of ``git ARGS``; :class:`GitFailed` on an exit status not in ``ok``."""
        return self.result(*args, input=input, ok=ok).stdout

    def result(
        self, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["git", "-C", str(self.root)]
        for setting in SETTINGS:
            command += ["-c", setting]
        try:
            done = subprocess.run(
                [*command, *args],
                input=input,
                capture_output=True,
                env={**_base_env(), **self.extra},
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitFailed("git is not installed", hint="Install git, then try again.") from exc
        if done.returncode not in ok:
            raise GitFailed(f"`git {' '.join(args)}` failed: {_last_lines(done.stderr)}")
        return done

    def text(self, *args: str) -> str:
        return self.run(*args).decode("utf-8", "surrogateescape").strip()

    def maybe(self, *args: str) -> str | None:
        """Output of a query that may find nothing (exit status 1 or 128): then ``None``."""
        done = self.result(*args, ok=(0, 1, 128))
        text = done.stdout.decode("utf-8", "surrogateescape").strip()
        return text if done.returncode == 0 and text else None

    def succeeds(self, *args: str) -> bool:
        return self.result(*args, ok=(0, 1, 128)).returncode == 0

    def git_path(self, name: str) -> Path:
        """Absolute path of ``name`` inside ``.git`` (the right one in a linked worktree)."""
        return Path(self.text("rev-parse", "--path-format=absolute", "--git-path", name))


def _last_lines(stderr: bytes, count: int = 4) -> str:
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return " / ".join(lines[-count:]) or "no message"


def toplevel(cwd: Path) -> Path:
    """The root of the work tree holding ``cwd``; :class:`NotARepository` outside one."""
    done = Git(cwd).result("rev-parse", "--show-toplevel", ok=(0, 128))
    root = done.stdout.decode("utf-8", "surrogateescape").strip()
    if done.returncode != 0 or not root:
        raise NotARepository(f"{cwd} is not inside a git work tree")
    return Path(root)


@dataclass(frozen=True)
class Head:
    """Where HEAD is: its commit, its branch (``None`` when detached) and that branch's
    upstream as ``remote/branch`` with the branch's name on the remote (``refs/heads/…``)."""

    commit: str
    branch: str | None
    upstream: str | None = None
    upstream_remote: str | None = None
    upstream_merge: str | None = None

    @property
    def detached(self) -> bool:
        return self.branch is None


def read_head(git: Git) -> Head:
    commit = git.maybe("rev-parse", "--verify", "-q", "HEAD^{commit}")
    if commit is None:
        raise NoCommit(f"the repository at {git.root} has no commit yet")
    ref = git.maybe("symbolic-ref", "-q", "HEAD")
    if ref is None or not ref.startswith("refs/heads/"):
        return Head(commit, None)
    branch = ref.removeprefix("refs/heads/")
    upstream = git.maybe("rev-parse", "--abbrev-ref", "--symbolic-full-name", f"{branch}@{{u}}")
    return Head(
        commit,
        branch,
        upstream,
        git.maybe("config", "--get", f"branch.{branch}.remote"),
        git.maybe("config", "--get", f"branch.{branch}.merge"),
    )


@dataclass(frozen=True)
class Remote:
    """A remote: its name here, its URL (without a password) and its normalized key
    ``host/owner/repo`` — the same on every clone of the project."""

    name: str
    url: str
    key: str


def remotes(git: Git) -> list[Remote]:
    found = []
    for name in git.text("remote").splitlines():
        url = git.maybe("remote", "get-url", name)
        if url:
            found.append(Remote(name, strip_credentials(url), normalize_remote(url)))
    return found


def pick_remote(git: Git, head: Head) -> Remote:
    """The remote a save is named by: the branch's upstream remote, else ``origin``, else
    the first; :class:`NoRemote` when there is none."""
    found = {r.name: r for r in remotes(git)}
    if not found:
        raise NoRemote(f"the repository at {git.root} has no remote")
    for name in (head.upstream_remote, "origin"):
        if name in found:
            return found[name]
    return next(iter(found.values()))


def strip_credentials(url: str) -> str:
    """``https://user:token@host/repo`` → ``https://host/repo``: a URL is shown and stored,
    a password in it must not be."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class Scratch:
    """A temporary object store over the repository's, and a copy of its index if asked.

    Use as a context manager; :attr:`git` runs commands inside it."""

    def __init__(self, git: Git, *, index: bool = False) -> None:
        self.base = git
        self.folder = Path(tempfile.mkdtemp(prefix="threadline-git-"))
        self.objects = self.folder / "objects"
        self.objects.mkdir()
        self.real_objects = git.git_path("objects")
        env = {
            "GIT_OBJECT_DIRECTORY": str(self.objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(self.real_objects),
        }
        if index:
            env["GIT_INDEX_FILE"] = str(self._copy_index(git))
        self.git = git.with_env(**env)

    def _copy_index(self, git: Git) -> Path:
        copy = self.folder / "index"
        real = git.git_path("index")
        if real.is_file():
            # copy2 keeps the index's time: git trusts an entry's cached stat data only if the
            # file is older than the index, so a newer copy would hide a change made in the
            # same second as the last index write ("racy git").
            shutil.copy2(real, copy)
            for shared in real.parent.glob("sharedindex.*"):  # a split index refers to these
                shutil.copy2(shared, self.folder / shared.name)
        else:
            git.with_env(GIT_INDEX_FILE=str(copy)).run("read-tree", "HEAD")
        return copy

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def keep_objects(self) -> int:
        """Copy the packs written here (fetched, unbundled) into the repository's object
        store, each pack before its index so git never sees an index without its pack.
        Objects are immutable and named by their content: adding them changes nothing a
        user sees. Returns the number of packs copied."""
        source = self.objects / "pack"
        target = self.real_objects / "pack"
        copied = 0
        for idx in sorted(source.glob("pack-*.idx")) if source.is_dir() else []:
            target.mkdir(parents=True, exist_ok=True)
            for suffix in (".pack", ".rev", ".idx"):
                part = idx.with_suffix(suffix)
                if part.is_file() and not (target / part.name).exists():
                    _copy_readonly(part, target / part.name)
            copied += 1
        return copied


def _copy_readonly(source: Path, target: Path) -> None:
    partial = target.with_name(f".tmp-threadline-{target.name}")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o444)
    os.replace(partial, target)
