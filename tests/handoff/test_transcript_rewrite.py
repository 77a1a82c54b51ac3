"""Moving a transcript's paths from the saving machine's root to this clone's: on every real
transcript, only path-bearing strings change, and moving back gives the original bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.errors import InvalidInput
from threadline.handoff.rewrite import Rewriter, replace_root
from threadline.handoff.transcripts import rewrite_line

#: A root unlike any in the fixtures: a space, a dot, an underscore, non-ASCII, an emoji.
NEW_ROOT = "/srv/other machine/clones/my.proj_é🎉"


def _first_cwd(path: Path) -> str | None:
    for line in path.read_bytes().splitlines():
        record = json.loads(line)
        payload = record.get("payload") if isinstance(record.get("payload"), dict) else {}
        cwd = record.get("cwd") or payload.get("cwd")
        if cwd:
            return str(cwd)
    return None


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl") if _first_cwd(p))


def _moved(value: Any, old: str, new: str) -> Any:
    """The JSON value with the root moved in every string (keys too), recursively — what the
    byte-level rewrite must amount to."""
    if isinstance(value, str):
        inner = _inner_json(value)
        if inner is not None:
            moved = json.dumps(_moved(inner, old, new), ensure_ascii=False, separators=(",", ":"))
            if json.dumps(inner, ensure_ascii=False, separators=(",", ":")) == value:
                return moved
        return replace_root(value, old, new)
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    if isinstance(value, dict):
        return {replace_root(k, old, new): _moved(v, old, new) for k, v in value.items()}
    return value


def _inner_json(value: str) -> Any:
    if not value.startswith(("{", "[")):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


@pytest.fixture(params=["claude", "codex"])
def agent_files(request: pytest.FixtureRequest, fixtures: Path) -> list[Path]:
    return _files(fixtures / request.param)


def test_every_real_transcript_moves_and_moves_back_byte_identical(
    agent_files: list[Path],
) -> None:
    assert agent_files
    for path in agent_files:
        old = _first_cwd(path)
        assert old is not None
        there, back = Rewriter(old, NEW_ROOT), Rewriter(NEW_ROOT, old)
        original = path.read_bytes().splitlines(keepends=True)
        moved = [there.line(line) for line in original]
        assert [back.line(line) for line in moved] == original, path.name
        changed = sum(a != b for a, b in zip(original, moved, strict=True))
        assert changed, f"{path.name}: its cwd {old} was not moved"
        assert not any(old.encode() + b'"' in line for line in moved), path.name


def test_only_path_bearing_strings_change(agent_files: list[Path]) -> None:
    """Each rewritten line parses to the original with the root moved inside its strings
    (strings holding JSON included), and keeps the original's bytes wherever no path is."""
    for path in agent_files:
        old = _first_cwd(path)
        assert old is not None
        rewriter = Rewriter(old, NEW_ROOT)
        for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
            moved = rewriter.line(line)
            if old.encode() not in line:
                assert moved is line, (path.name, number)
                continue
            assert json.loads(moved) == _moved(json.loads(line), old, NEW_ROOT), (path.name, number)
            # Byte for byte the original, but for some occurrences of the root.
            assert _replaced_somewhere(line, moved, old.encode(), NEW_ROOT.encode()), (
                path.name,
                number,
            )


def _replaced_somewhere(original: bytes, moved: bytes, old: bytes, new: bytes) -> bool:
    """Whether ``moved`` is ``original`` with some of its ``old`` occurrences made ``new``
    (neither root is a prefix of the other, so each step has one way to go)."""
    first, *pieces = original.split(old)
    if not moved.startswith(first):
        return False
    at = len(first)
    for piece in pieces:
        root = next((r for r in (old, new) if moved.startswith(r + piece, at)), None)
        if root is None:
            return False
        at += len(root) + len(piece)
    return at == len(moved)


ROOT = "/home/a/proj"
NEW = "/srv/b/other proj"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('{"cwd":"/home/a/proj"}', '{"cwd":"/srv/b/other proj"}'),
        ('{"f":"/home/a/proj/src/x.py"}', '{"f":"/srv/b/other proj/src/x.py"}'),
        ('{"f":"/home/a/proj/"}', '{"f":"/srv/b/other proj/"}'),
        ('{"cmd":"cd /home/a/proj && ls"}', '{"cmd":"cd /srv/b/other proj && ls"}'),
        ('{"t":"<cwd>/home/a/proj</cwd>"}', '{"t":"<cwd>/srv/b/other proj</cwd>"}'),
        ('{"t":"dir: /home/a/proj\\n - next"}', '{"t":"dir: /srv/b/other proj\\n - next"}'),
        (
            '{"t":"`/home/a/proj`, (/home/a/proj)"}',
            '{"t":"`/srv/b/other proj`, (/srv/b/other proj)"}',
        ),
        ('{"/home/a/proj/k":1}', '{"/srv/b/other proj/k":1}'),
        # Codex's arguments: JSON inside a JSON string, escapes and all.
        (
            '{"arguments":"{\\"command\\":[\\"bash\\",\\"-lc\\",\\"ls\\"],'
            '\\"workdir\\":\\"/home/a/proj\\"}"}',
            '{"arguments":"{\\"command\\":[\\"bash\\",\\"-lc\\",\\"ls\\"],'
            '\\"workdir\\":\\"/srv/b/other proj\\"}"}',
        ),
        ('{"a":"x\\\\n/home/a/proj"}', '{"a":"x\\\\n/srv/b/other proj"}'),
        # Not the root as a whole path: left alone.
        ('{"f":"/home/a/proj.bak"}', None),
        ('{"f":"/home/a/proj-old/x"}', None),
        ('{"f":"/home/a/project"}', None),
        ('{"f":"/mnt/home/a/proj"}', None),
        ('{"f":"x/home/a/proj"}', None),
        ('{"f":"home/a/proj"}', None),
        ('{"n":1}', None),
        # Not JSON: left alone.
        ("cwd=/home/a/proj", None),
        ('{"cwd":"/home/a/proj"', None),
    ],
)
def test_the_root_moves_only_where_it_is_a_whole_path(before: str, after: str | None) -> None:
    for eol in (b"\n", b"\r\n", b""):
        line = before.encode() + eol
        expected = (after or before).encode() + eol
        assert rewrite_line(line, "claude-code", ROOT, NEW) == expected
        assert rewrite_line(line, "codex", ROOT + "/", NEW + "/") == expected


def test_escapes_the_encoder_would_not_reproduce_are_left_alone() -> None:
    escaped_slash = b'{"cwd":"\\/home\\/a\\/proj","keep":"\\u00e9"}\n'
    assert rewrite_line(escaped_slash, "codex", ROOT, NEW) == escaped_slash
    ascii_escaped = b'{"cwd":"/home/a/proj","t":"caf\\u00e9"}\n'
    assert rewrite_line(ascii_escaped, "codex", ROOT, NEW) == (
        b'{"cwd":"/srv/b/other proj","t":"caf\\u00e9"}\n'
    )
    mixed = b'{"cwd":"/home/a/proj \\u00e9 \xc3\xa9"}\n'
    assert rewrite_line(mixed, "codex", ROOT, NEW) == mixed, "neither encoder gives these bytes"


def test_a_non_ascii_root_is_found_raw_and_escaped() -> None:
    root = "/home/zoë/projet 🎉"
    raw = json.dumps({"cwd": root}, ensure_ascii=False).encode()
    escaped = json.dumps({"cwd": root}, ensure_ascii=True).encode()
    assert rewrite_line(raw, "claude-code", root, NEW) == b'{"cwd": "/srv/b/other proj"}'
    assert rewrite_line(escaped, "claude-code", root, NEW) == b'{"cwd": "/srv/b/other proj"}'


@pytest.mark.parametrize("root", ["/", "", "relative/path", "/a\nb"])
def test_a_root_that_is_not_an_absolute_folder_is_refused(root: str) -> None:
    with pytest.raises(InvalidInput, match="not an absolute folder"):
        Rewriter(root, NEW)
    with pytest.raises(InvalidInput):
        Rewriter(ROOT, root)


def test_the_same_root_changes_nothing() -> None:
    line = b'{"cwd":"/home/a/proj"}\n'
    assert Rewriter(ROOT, ROOT + "/").line(line) is line
