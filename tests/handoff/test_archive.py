"""The save's archives: deterministic, byte-exact, and unable to write outside the work tree."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from threadline.errors import InvalidInput
from threadline.handoff import archive


def test_untracked_files_round_trip_with_bytes_modes_and_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "deep" / "er" / "data.bin").write_bytes(bytes(range(256)))
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("../run.sh", src / "deep" / "link")
    names = ["deep/er/data.bin", "run.sh", "deep/link"]
    blob = archive.pack_files(src, names)
    assert blob is not None and blob == archive.pack_files(src, reversed(names))  # stable

    dst = tmp_path / "dst"
    dst.mkdir()
    for member in archive.read_files(blob):
        archive.write_member(dst, member)
    assert (dst / "deep" / "er" / "data.bin").read_bytes() == bytes(range(256))
    assert os.stat(dst / "run.sh").st_mode & 0o777 == 0o755
    assert os.readlink(dst / "deep" / "link") == "../run.sh"
    assert archive.pack_files(src, []) is None


@pytest.mark.parametrize(
    "name", ["../evil", "/etc/passwd", ".git/config", "a/../../b", "a//b", "./a", "sub/.GIT/x"]
)
def test_paths_that_leave_the_work_tree_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        archive.safe_path(name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InvalidInput):
        archive.read_files(buffer.getvalue())


def test_writing_never_follows_a_link_nor_replaces_a_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(outside, tree / "linked")
    with pytest.raises(InvalidInput, match="not a folder of the work tree"):
        archive.write_member(tree, archive.Member("linked/x.txt", b"x"))
    assert list(outside.iterdir()) == []
    (tree / "here.txt").write_text("mine\n")
    with pytest.raises(FileExistsError):
        archive.write_member(tree, archive.Member("here.txt", b"theirs"))
    assert (tree / "here.txt").read_text() == "mine\n"


def test_patches_travel_together_and_an_empty_pair_is_nothing() -> None:
    assert archive.pack_patches(b"", b"") is None
    blob = archive.pack_patches(b"staged", b"")
    assert archive.read_patches(blob) == (b"staged", b"")
    assert archive.read_patches(None) == (b"", b"")
    with pytest.raises(InvalidInput, match="cannot be read"):
        archive.read_patches(b"not a tar at all" * 40)
