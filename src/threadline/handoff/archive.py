"""The two archives a save carries besides its bundle, as plain tar files.

- The *patch* archive holds ``index.patch`` (HEAD → the index: what was staged) and
  ``worktree.patch`` (the index → the work tree: what was changed but not staged), both binary
  git diffs with full object names, so ``git apply`` re-creates them exactly, modes included.
- The *untracked* archive holds the untracked files, byte for byte: regular files with their
  permission bits and symbolic links with their targets.

Both are deterministic (no times, owners or names of users) so the same work gives the same
blob, which the server stores once. Reading refuses any member that is not a plain relative
path inside the work tree (``..``, an absolute path, anything under ``.git``), and writing a
file never follows a symbolic link nor replaces a file that is there.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from threadline.errors import InvalidInput

INDEX_PATCH = "index.patch"
WORKTREE_PATCH = "worktree.patch"


def _info(name: str, *, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_patches(index_patch: bytes, worktree_patch: bytes) -> bytes | None:
    """The patch archive, or ``None`` when neither patch holds anything."""
    if not index_patch and not worktree_patch:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((INDEX_PATCH, index_patch), (WORKTREE_PATCH, worktree_patch)):
            tar.addfile(_info(name, size=len(data)), io.BytesIO(data))
    return buffer.getvalue()


def read_patches(blob: bytes | None) -> tuple[bytes, bytes]:
    """``(index patch, work tree patch)`` of a patch archive (empty for ``None``)."""
    if not blob:
        return b"", b""
    found = {INDEX_PATCH: b"", WORKTREE_PATCH: b""}
    with _open(blob, "patch") as tar:
        for member in tar:
            if member.name in found and member.isfile():
                reader = tar.extractfile(member)
                found[member.name] = reader.read() if reader is not None else b""
    return found[INDEX_PATCH], found[WORKTREE_PATCH]


def pack_files(root: Path, paths: Iterable[str]) -> bytes | None:
    """The untracked archive of ``paths`` (relative to ``root``; regular files and symbolic
    links, others skipped), or ``None`` when there are none."""
    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(paths):
            full = root / path
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                info = _info(path, mode=0o777)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    data = fh.read()
                tar.addfile(_info(path, size=len(data), mode=st.st_mode & 0o777), io.BytesIO(data))
            else:
                continue
            count += 1
    return buffer.getvalue() if count else None


@dataclass(frozen=True)
class Member:
    """One file of the untracked archive: its path, and its bytes and permission bits, or
    the target of a symbolic link."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    link: str | None = None


def read_files(blob: bytes | None) -> list[Member]:
    """The members of an untracked archive, each path checked (:func:`safe_path`)."""
    if not blob:
        return []
    members = []
    with _open(blob, "untracked") as tar:
        for info in tar:
            path = safe_path(info.name)
            if info.issym():
                members.append(Member(path, link=info.linkname))
            elif info.isfile():
                reader = tar.extractfile(info)
                data = reader.read() if reader is not None else b""
                members.append(Member(path, data, info.mode & 0o777))
            else:
                raise InvalidInput(f"the untracked archive holds {info.name!r}, not a file")
    return members


def _open(blob: bytes, what: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(blob), mode="r:")
    except tarfile.TarError as exc:
        raise InvalidInput(f"the {what} archive of this save cannot be read: {exc}") from exc


def safe_path(name: str) -> str:
    """``name`` if it is a relative path that stays inside the work tree and outside
    ``.git``; :class:`InvalidInput` otherwise."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
        or any(part.lower() == ".git" for part in parts)
    ):
        raise InvalidInput(f"the save holds a file with a path that is not allowed: {name!r}")
    return name


def write_member(root: Path, member: Member) -> None:
    """Create ``member`` under ``root``: never over an existing path, never through a
    symbolic link (every folder on the way must be a real folder inside ``root``)."""
    target = root / member.path
    _make_parents(root, target.parent)
    if member.link is not None:
        os.symlink(member.link, target)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(member.data)
        os.fchmod(fh.fileno(), member.mode)


def _make_parents(root: Path, folder: Path) -> None:
    missing: list[Path] = []
    here = folder
    while here != root and not os.path.lexists(here):
        missing.append(here)
        here = here.parent
    inside = os.path.realpath(here).startswith(os.path.realpath(root) + os.sep)
    if here != root and (os.path.islink(here) or not here.is_dir() or not inside):
        raise InvalidInput(f"{here} is not a folder of the work tree: cannot write inside it")
    for path in reversed(missing):
        os.mkdir(path)


def created_folders(root: Path, members: Iterable[Member]) -> Iterator[Path]:
    """The folders writing ``members`` would create, deepest first (to remove them again)."""
    seen: set[Path] = set()
    for member in members:
        here = (root / member.path).parent
        while here != root and not os.path.lexists(here) and here not in seen:
            seen.add(here)
            here = here.parent
    yield from sorted(seen, key=lambda p: len(p.parts), reverse=True)
