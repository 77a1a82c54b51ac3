"""The cache of downloaded blobs: each blob crosses the wire once, a damaged copy is fetched
again, and the folder stays under its limit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from threadline.handoff import blobcache


def test_a_blob_is_downloaded_once_and_checked_when_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path))
    data = b"bundle bytes" * 100
    name = hashlib.sha256(data).hexdigest()
    calls: list[str] = []

    def download(sha: str) -> bytes:
        calls.append(sha)
        return data

    assert blobcache.get(name, download) == data
    assert blobcache.get(name, download) == data
    assert calls == [name]
    (blobcache.folder() / name).write_bytes(b"damaged")
    assert blobcache.get(name, download) == data
    assert calls == [name, name]
    assert blobcache.get("not-a-name", download) == data  # never a path from a bad name


def test_the_least_recently_used_go_first(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for i, size in enumerate((100, 200, 300)):
        path = cache / hashlib.sha256(bytes([i])).hexdigest()
        path.write_bytes(b"x" * size)
        os.utime(path, (1000 + i, 1000 + i))
    blobcache._prune(cache, limit=450)
    assert sorted(p.stat().st_size for p in cache.iterdir()) == [300]
