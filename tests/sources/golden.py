"""Golden projections: a compact summary of how a transcript was understood.

They pin roles, part types, tool names, titles and token totals — not transcript text.
Set ``THREADLINE_UPDATE_GOLDEN=1`` to rewrite them after a deliberate change, then review them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers.golden import check_golden_file
from threadline.sources.model import ParsedLine, SessionInfo

GOLDEN = Path(__file__).resolve().parent / "golden"
#: Files up to this many lines also pin the per-line sequence.
SEQUENCE_MAX = 40


def projection(lines: list[ParsedLine], info: SessionInfo) -> dict[str, Any]:
    """What a golden file pins about one parsed transcript."""
    parts = Counter(part["type"] for line in lines for part in line.parts)
    tools = Counter(
        str(part.get("name"))
        for line in lines
        for part in line.parts
        if part["type"] == "tool_call"
    )
    result: dict[str, Any] = {
        "lines": len(lines),
        "records": dict(Counter(line.record_type for line in lines)),
        "roles": dict(Counter(line.role for line in lines)),
        "parts": dict(parts),
        "tools": dict(tools),
        "duplicates": sum(line.duplicate for line in lines),
        "malformed": info.malformed_lines,
        "info": {
            "agent": info.agent,
            "session_id": info.session_id,
            "title": info.title,
            "cwd": info.cwd,
            "git_branch": info.git_branch,
            "model": info.model,
            "started": info.started,
            "last_activity": info.last_activity,
            "usage": info.usage.as_dict(),
            "agent_id": info.agent_id,
            "parent_session_id": info.parent_session_id,
            "subagent_ids": info.subagent_ids,
            "sidechain_roots": len(info.sidechain_roots),
        },
    }
    if len(lines) <= SEQUENCE_MAX:
        result["sequence"] = [_line_summary(line) for line in lines]
    return result


def _line_summary(line: ParsedLine) -> str:
    kinds = ",".join(_part_label(part) for part in line.parts)
    flags = " dup" if line.duplicate else ""
    return f"{line.line_no} {line.record_type} {line.role}{flags}: {kinds}"


def _part_label(part: dict[str, Any]) -> str:
    if part["type"] == "tool_call":
        return f"tool_call({part.get('name')})"
    return str(part["type"])


def check_golden(name: str, actual: dict[str, Any]) -> None:
    """Compare with ``golden/<name>.json`` (or rewrite it when asked)."""
    text = json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    check_golden_file(GOLDEN / f"{name}.json", text)
