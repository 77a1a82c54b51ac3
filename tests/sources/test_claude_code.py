"""Claude Code transcripts: every real file, goldens, and the format's special cases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.sources.conftest import DATA
from tests.sources.golden import check_golden, projection
from threadline.sources import claude_code, detect
from threadline.sources.lines import TITLE_CHARS
from threadline.sources.model import ParsedLine

CLAUDE_FILES = [
    "claude/sniffly/ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl",
    "claude/sniffly/d3ad4cdc-5657-435d-98fa-0035d53e383d.jsonl",
    "claude/sniffly/ff71dbed-a4f2-4284-a4fc-fe2fb90de929.jsonl",
    "claude/claude-code-viewer/fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl",
    "claude/claude-code-viewer/5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl",
    "claude/agentcmd/full-session-three.jsonl",
    "claude/agentcmd/full-session-four.jsonl",
    "claude/agentcmd/full-session-five.jsonl",
    "claude/spotter/short.jsonl",
    "claude/spotter/tool_heavy.jsonl",
    "claude/spotter/subagent.jsonl",
    "claude/spotter/6c2214d7-b87e-4432-8e41-22ba294ea584/subagents/agent-afc096d.jsonl",
    "claude/kvsankar/session-01.jsonl",
]
SUBAGENT = CLAUDE_FILES[11]
INLINE = CLAUDE_FILES[3]


def rebuilt(lines: list[ParsedLine], partial: bytes | None) -> bytes:
    """The file again, from the raw lines."""
    data = b"".join(
        (line.raw if isinstance(line.raw, bytes) else line.raw.encode()) + b"\n" for line in lines
    )
    return data + (partial or b"")


@pytest.mark.parametrize("name", CLAUDE_FILES)
def test_every_line_kept_byte_for_byte(fixtures: Path, name: str) -> None:
    path = fixtures / name
    assert detect(path) == "claude-code"
    lines, info = claude_code.parse_file(path)
    data = path.read_bytes()
    assert [line.line_no for line in lines] == list(range(1, data.count(b"\n") + 1))
    assert info.line_count == len(lines)
    assert not info.malformed_lines
    assert info.partial is None and info.complete_bytes == len(data)
    assert hashlib.sha256(rebuilt(lines, info.partial)).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    ("golden", "name"),
    [
        ("claude_spotter_short", "claude/spotter/short.jsonl"),
        ("claude_kvsankar_session_01", "claude/kvsankar/session-01.jsonl"),
        ("claude_spotter_subagent_file", SUBAGENT),
        ("claude_viewer_inline_sidechains", INLINE),
    ],
)
def test_golden_projection(fixtures: Path, golden: str, name: str) -> None:
    lines, info = claude_code.parse_file(fixtures / name)
    check_golden(golden, projection(lines, info))


@pytest.mark.parametrize(
    "name",
    [
        "claude/spotter/tool_heavy.jsonl",
        "claude/sniffly/ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl",
    ],
)
def test_usage_counted_once_per_message(fixtures: Path, name: str) -> None:
    """A response spans several lines that repeat its usage (output may grow as it streams)."""
    path = fixtures / name
    lines, info = claude_code.parse_file(path)
    final: dict[tuple[str, str], tuple[int, int]] = {}
    naive_input = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(raw)
        if obj.get("type") == "assistant":
            usage = obj["message"]["usage"]
            key = (obj["message"]["id"], obj["requestId"])
            seen = final.get(key, (0, 0))
            final[key] = (max(seen[0], usage["input_tokens"]), max(seen[1], usage["output_tokens"]))
            naive_input += usage["input_tokens"]
    assistant_lines = sum(line.record_type == "assistant" for line in lines)
    assert assistant_lines > len(final), "fixture must split a message over lines"
    assert info.usage.input == sum(i for i, _ in final.values()) < naive_input
    assert info.usage.output == sum(o for _, o in final.values())
    counted = [line for line in lines if line.usage is not None]
    assert {line.meta["message_id"] for line in counted} == {key[0] for key in final}
    assert len(counted) < assistant_lines


def test_inline_sidechains_are_linked_to_their_roots(fixtures: Path) -> None:
    lines, info = claude_code.parse_file(fixtures / INLINE)
    assert len(info.sidechain_roots) == 5
    sidechain = [line for line in lines if line.is_sidechain]
    assert sidechain and all(line.sidechain_root in info.sidechain_roots for line in sidechain)
    assert info.agent_id is None and info.parent_session_id is None
    assert not any(line.sidechain_root for line in lines if not line.is_sidechain)


def test_nested_subagent_file_links_to_parent(fixtures: Path) -> None:
    _, info = claude_code.parse_file(fixtures / SUBAGENT)
    assert info.agent_id == "afc096d"
    assert info.parent_session_id == "6c2214d7-b87e-4432-8e41-22ba294ea584"
    assert info.sidechain_roots == []


def test_parent_session_names_its_subagents(fixtures: Path) -> None:
    _, info = claude_code.parse_file(fixtures / "claude/spotter/subagent.jsonl")
    assert info.subagent_ids == ["afb92ff"]


def test_flat_subagent_file_links_to_parent(fixtures: Path, tmp_path: Path) -> None:
    source = (fixtures / SUBAGENT).read_bytes().split(b"\n")[:3]
    flat = tmp_path / "agent-afc096d.jsonl"
    flat.write_bytes(b"\n".join(source) + b"\n")
    _, info = claude_code.parse_file(flat)
    assert info.agent_id == "afc096d"
    assert info.parent_session_id == "6c2214d7-b87e-4432-8e41-22ba294ea584"


def test_titles_prefer_the_agents_own() -> None:
    records = [
        {"type": "user", "sessionId": "s", "uuid": "a", "message": {"content": "first prompt"}},
        {"type": "summary", "summary": "A summary", "leafUuid": "a"},
        {"type": "ai-title", "aiTitle": "AI title", "sessionId": "s"},
    ]
    lines = [json.dumps(record).encode() for record in records]
    assert claude_code.summarize(list(claude_code.parse_lines(lines))).title == "AI title"
    custom = json.dumps({"type": "custom-title", "customTitle": "Mine", "sessionId": "s"})
    parsed = list(claude_code.parse_lines([*lines, custom.encode()]))
    assert claude_code.summarize(parsed).title == "Mine"
    assert claude_code.summarize(parsed[:1]).title == "first prompt"


def test_title_skips_meta_commands_and_tool_results(fixtures: Path) -> None:
    lines, info = claude_code.parse_file(fixtures / "claude/spotter/tool_heavy.jsonl")
    prompts = [line for line in lines if line.meta.get("prompt")]
    assert info.title == "start phoenix in background" == prompts[0].parts[0]["text"]
    for line in lines:
        text = line.text
        if line.role == "tool" or text.startswith(("<local-command", "[Request interrupted")):
            assert not line.meta.get("prompt"), line.line_no
    assert any(line.meta.get("command") == "/mcp" for line in lines)


def test_malformed_and_unknown_lines_are_kept() -> None:
    path = DATA / "malformed.jsonl"
    lines, info = claude_code.parse_file(path)
    assert len(lines) == 5
    assert info.malformed_lines == [2, 4]
    bad = lines[1]
    assert bad.malformed and bad.error and bad.error.startswith("invalid JSON")
    assert bad.raw == '{"type":"user","sessionId":"s-1","uuid":"u2",'
    unknown = lines[2]
    assert unknown.record_type == "brand-new-record" and not unknown.malformed
    assert unknown.role == "system"
    assert unknown.parts == [{"type": "meta", "record": "brand-new-record"}]
    assert lines[4].role == "assistant" and info.usage.output == 2
    assert rebuilt(lines, info.partial) == path.read_bytes()


def test_invalid_utf8_is_kept_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"type":"user","x":"\xff"}\n{"type":"summary","summary":"ok"}\n')
    lines, info = claude_code.parse_file(path)
    assert lines[0].raw == b'{"type":"user","x":"\xff"}' and lines[0].malformed
    assert info.title == "ok"
    assert rebuilt(lines, info.partial) == path.read_bytes()


def test_partial_last_line_is_reported_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    complete = b'{"type":"summary","summary":"t"}\n'
    path.write_bytes(complete + b'{"type":"user","mess')
    lines, info = claude_code.parse_file(path)
    assert len(lines) == 1
    assert info.partial == b'{"type":"user","mess'
    assert info.complete_bytes == len(complete)


def test_lines_of_several_megabytes(tmp_path: Path) -> None:
    big = "x" * (5 * 1024 * 1024)
    record = {"type": "user", "sessionId": "s", "uuid": "u", "message": {"content": big}}
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    lines, info = claude_code.parse_file(path)
    assert [line.parts[0]["text"] == big for line in lines] == [True, True]
    assert info.complete_bytes == path.stat().st_size
    assert info.title == "x" * TITLE_CHARS


def test_crlf_stays_in_raw() -> None:
    lines = list(claude_code.parse_lines([b'{"type":"summary","summary":"t"}\r']))
    assert lines[0].raw == '{"type":"summary","summary":"t"}\r' and not lines[0].malformed


def test_images_become_placeholders() -> None:
    block = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"},
    }
    record = {"type": "user", "uuid": "u", "message": {"content": [block]}}
    line = next(claude_code.parse_lines([json.dumps(record).encode()]))
    assert line.parts == [{"type": "image", "media_type": "image/png", "size": 3}]


def test_detect_says_none_for_other_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    other = tmp_path / "other.jsonl"
    other.write_bytes(b'{"hello":"world"}\n')
    assert detect(empty) is None
    assert detect(other) is None
    assert detect(tmp_path / "missing.jsonl") is None
