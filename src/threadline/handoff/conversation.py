"""A captured conversation as plain text, for ``threadline resume --read-only``: the prompts
and replies in full, each tool call and result in one short line, bookkeeping left out.

It works on the server's entries (their ``role``, ``parts`` and ``meta`` as capture projected
them), so it reads the same for Claude Code and Codex.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

#: A tool call's input or a result's first line is cut to this many characters.
BRIEF_CHARS = 100
#: Input keys that say best what a tool call does, in order of preference.
BRIEF_KEYS = ("command", "cmd", "file_path", "path", "pattern", "query", "url", "description")


def print_entries(entries: Iterable[Mapping[str, Any]], out: TextIO) -> None:
    """Write the conversation: a heading when the speaker changes, then its text."""
    speaker = None
    for entry in entries:
        meta = entry.get("meta")
        if _left_out(entry, meta if isinstance(meta, dict) else {}):
            continue
        lines = _lines(entry)
        if not lines:
            continue
        who = "You" if entry.get("role") == "user" else "Assistant"
        if who != speaker:
            out.write(f"\n{who}:\n" if speaker else f"{who}:\n")
            speaker = who
        for line in lines:
            out.write(line + "\n")


def _left_out(entry: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    if entry.get("role") == "system":
        return True
    flags = ("duplicate", "is_meta", "injected", "is_sidechain", "malformed")
    return any(meta.get(flag) for flag in flags)


def _lines(entry: Mapping[str, Any]) -> list[str]:
    parts = entry.get("parts")
    if not isinstance(parts, list):
        text = str(entry.get("text") or "").strip()
        return [text] if text else []
    lines: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and str(part.get("text", "")).strip():
            lines.append(str(part["text"]).strip())
        elif kind == "summary" and part.get("text"):
            lines.append(f"[summary] {_cut(str(part['text']))}")
        elif kind == "tool_call":
            lines.append(f"  → {part.get('name') or 'tool'}: {_brief_input(part.get('input'))}")
        elif kind == "tool_result":
            lines.append(f"  ← {_brief_output(part)}")
        elif kind == "image":
            lines.append(f"  [image {part.get('media_type') or ''}".rstrip() + "]")
    return lines


def _brief_input(value: Any) -> str:
    if isinstance(value, dict):
        for key in BRIEF_KEYS:
            if isinstance(value.get(key), str | list) and value.get(key):
                chosen = value[key]
                return _cut(" ".join(map(str, chosen)) if isinstance(chosen, list) else chosen)
    if isinstance(value, str):
        return _cut(value)
    return _cut(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _brief_output(part: Mapping[str, Any]) -> str:
    output = str(part.get("output") or "")
    lines = output.strip().splitlines()
    first = _cut(lines[0]) if lines else "(no output)"
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return ("error: " if part.get("is_error") else "") + first + more


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 1] + "…"
