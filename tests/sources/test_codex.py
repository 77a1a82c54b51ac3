"""Codex rollouts: every real file, goldens, duplicates, token totals and ``.zst``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import zstandard

from tests.sources.golden import check_golden, projection
from tests.sources.test_claude_code import rebuilt
from threadline.sources import codex, detect, parse_file

DAY = "codex/agentcmd/sessions/2025/09"
CODEX_FILES = [
    f"{DAY}/24/rollout-2025-09-24T19-22-20-01997e76-d124-7592-9cac-2ec05abbca08.jsonl",
    f"{DAY}/24/rollout-2025-09-24T20-12-23-01997ea4-a70d-7da3-8c20-c736db82a7c5.jsonl",
    f"{DAY}/25/rollout-2025-09-25T15-12-14-019982b8-3422-79e0-8b3b-05abaf4f3c3e.jsonl",
    "codex/kvsankar/session-01.jsonl",
]
LONG = CODEX_FILES[0]


@pytest.mark.parametrize("name", CODEX_FILES)
def test_every_line_kept_byte_for_byte(fixtures: Path, name: str) -> None:
    path = fixtures / name
    assert detect(path) == "codex"
    lines, info = parse_file(path)
    data = path.read_bytes()
    assert info.agent == "codex"
    assert [line.line_no for line in lines] == list(range(1, data.count(b"\n") + 1))
    assert not info.malformed_lines and info.partial is None
    assert hashlib.sha256(rebuilt(lines, info.partial)).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    ("golden", "name"),
    [
        ("codex_kvsankar_session_01", CODEX_FILES[3]),
        ("codex_agentcmd_rollout_0040", CODEX_FILES[1]),
    ],
)
def test_golden_projection(fixtures: Path, golden: str, name: str) -> None:
    lines, info = codex.parse_file(fixtures / name)
    check_golden(golden, projection(lines, info))


@pytest.mark.parametrize("name", CODEX_FILES)
def test_prompts_and_replies_are_not_counted_twice(fixtures: Path, name: str) -> None:
    lines, _ = codex.parse_file(fixtures / name)
    events = [line for line in lines if line.record_type == "event_msg/user_message"]
    assert events and all(line.duplicate and line.role == "system" for line in events)
    assert all(part["type"] == "meta" for line in events for part in line.parts)
    prompts = [line for line in lines if line.meta.get("prompt")]
    assert len(prompts) == len(events)
    assert all(line.record_type == "response_item/message" for line in prompts)
    replies = [
        line for line in lines if line.role == "assistant" and line.parts[0]["type"] == "text"
    ]
    assert replies and all(line.record_type == "response_item/message" for line in replies)


@pytest.mark.parametrize("name", CODEX_FILES)
def test_token_totals_are_the_last_cumulative_count(fixtures: Path, name: str) -> None:
    path = fixtures / name
    _, info = codex.parse_file(path)
    last = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        payload = json.loads(raw)["payload"]
        if payload.get("type") == "token_count" and payload.get("info"):
            last = payload["info"]["total_token_usage"]
    assert last is not None
    assert info.usage.input == last["input_tokens"]
    assert info.usage.output == last["output_tokens"]
    assert info.usage.cache_read == last["cached_input_tokens"]
    assert info.usage.reasoning == last["reasoning_output_tokens"]


def test_tool_calls_pair_with_outputs(fixtures: Path) -> None:
    lines, _ = codex.parse_file(fixtures / LONG)
    calls = {p["id"] for line in lines for p in line.parts if p["type"] == "tool_call"}
    results = {
        p["tool_call_id"] for line in lines for p in line.parts if p["type"] == "tool_result"
    }
    assert len(calls) == 123 and calls == results
    shell = next(p for line in lines for p in line.parts if p["type"] == "tool_call")
    assert shell["name"] == "shell" and isinstance(shell["input"], dict)
    assert any(p.get("is_error") for line in lines for p in line.parts)


def test_zst_rollout_parses_identically(fixtures: Path, tmp_path: Path) -> None:
    plain = fixtures / CODEX_FILES[1]
    packed = tmp_path / (plain.name + ".zst")
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    assert detect(packed) == "codex"
    lines, info = parse_file(packed)
    expected, expected_info = codex.parse_file(plain)
    assert lines == expected
    assert info == expected_info


def test_image_is_a_placeholder(fixtures: Path) -> None:
    lines, _ = codex.parse_file(fixtures / CODEX_FILES[1])
    images = [p for line in lines for p in line.parts if p["type"] == "image"]
    assert images and all(set(p) == {"type", "media_type", "size"} for p in images)
    assert all(p["media_type"].startswith("image/") and p["size"] > 0 for p in images)


def _lines(*records: object) -> list[bytes]:
    return [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]


def test_older_line_shapes_are_read() -> None:
    lines = list(
        codex.parse_lines(
            _lines(
                {"id": "s-old", "timestamp": "2025-08-18T01:16:13.522Z", "instructions": None},
                {"record_type": "state"},
                {
                    "type": "message",
                    "id": None,
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}],
                },
                {
                    "timestamp": "t",
                    "record_type": "response",
                    "type": "function_call",
                    "name": "shell",
                    "arguments": "{}",
                    "call_id": "c",
                },
            )
        )
    )
    assert [line.record_type for line in lines] == [
        "session_meta",
        "state",
        "response_item/message",
        "response_item/function_call",
    ]
    assert lines[0].session_id == "s-old" and lines[0].meta["format"] == "pre-envelope"
    assert lines[2].role == "user" and lines[2].meta["prompt"] is True
    assert lines[3].parts[0]["name"] == "shell" and lines[3].meta["format"] == "transitional"
    assert codex.summarize(lines).title == "hi"


def test_unknown_malformed_and_compacted_lines_are_kept() -> None:
    records = _lines(
        {"timestamp": "t", "type": "world_state", "payload": {"anything": 1}},
        b'{"timestamp":"t","type":"event_msg","payload":',
        {
            "timestamp": "t",
            "type": "compacted",
            "payload": {"message": "summary text", "replacement_history": []},
        },
        {"timestamp": "t", "type": "response_item", "payload": {"type": "ghost_snapshot"}},
    )
    lines = list(codex.parse_lines(records))
    assert [line.record_type for line in lines] == [
        "world_state",
        "malformed",
        "compacted",
        "response_item/ghost_snapshot",
    ]
    assert lines[1].malformed and lines[1].raw == records[1].decode()
    assert lines[2].parts[1] == {"type": "summary", "text": "summary text"}
    assert all(line.role == "system" for line in lines)
    assert codex.summarize(lines).malformed_lines == [2]


def test_partial_last_line(fixtures: Path, tmp_path: Path) -> None:
    data = (fixtures / CODEX_FILES[3]).read_bytes()
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(data + b'{"timestamp":"t","ty')
    lines, info = codex.parse_file(path)
    assert len(lines) == 11 and info.partial == b'{"timestamp":"t","ty'
    assert info.complete_bytes == len(data)
