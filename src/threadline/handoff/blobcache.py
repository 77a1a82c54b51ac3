"""The blobs of saves this machine has downloaded, kept by name for the next resume.

A save made again on the other machine often carries the same bundle and the same work (only
the session went on): its blobs have the same SHA-256 names, and a resume then takes them from
here instead of the wire. Each file is checked against its name when read (a damaged one is
dropped and downloaded again), written atomically, and the folder is kept under
:data:`MAX_BYTES` by removing the least recently used files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from threadline import paths

#: The most the cache keeps, in bytes.
MAX_BYTES = 256 * 1024 * 1024
_NAME = re.compile(r"^[0-9a-f]{64}$")


def folder() -> Path:
    return paths.data_dir() / "handoff-blobs"


def get(sha256: str, download: Callable[[str], bytes]) -> bytes:
    """The blob ``sha256``: from the cache when it holds it intact, else ``download``-ed (and
    kept, when its bytes match its name)."""
    if not _NAME.match(sha256):
        return download(sha256)
    path = folder() / sha256
    with contextlib.suppress(OSError):
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            os.utime(path)  # recently used
            return data
        path.unlink()
    data = download(sha256)
    if hashlib.sha256(data).hexdigest() == sha256:
        with contextlib.suppress(OSError):
            _keep(path, data)
    return data


def _keep(path: Path, data: bytes) -> None:
    paths.ensure_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)
    _prune(path.parent)


def _prune(where: Path, limit: int = MAX_BYTES) -> None:
    files = []
    for entry in os.scandir(where):
        if entry.is_file() and _NAME.match(entry.name):
            st = entry.stat()
            files.append((st.st_mtime, st.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            return
        with contextlib.suppress(OSError):
            path.unlink()
        total -= size
