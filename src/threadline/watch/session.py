"""From parsed lines to what the local store keeps: entries and the session thread.

A file is read in parts (as it grows), so its summary is merged part by part
(:func:`merge_summary`) and stored with the file's offset. The entry's projection is kept
small enough for the wire: long strings in ``text`` and ``parts`` are cut (and marked), while
``raw`` always holds the whole line, from which the projection can be rebuilt.
"""

from __future__ import annotations

import base64
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from threadline import protocol as p
from threadline.protocol import compact_json
from threadline.sources.model import ParsedLine, SessionInfo, Usage
from threadline.store.transcripts import ThreadSpec

#: Searchable text of one entry is cut to this many characters (the raw line stays whole).
MAX_TEXT_CHARS = 256 * 1024
#: Any string inside ``parts`` is cut to this many characters.
MAX_PART_STRING = 64 * 1024
#: A tool call input whose JSON is longer than this is replaced by a cut preview.
MAX_INPUT_JSON = 256 * 1024

#: The token counts a summary sums: the fields of :class:`~threadline.sources.model.Usage`.
TOKEN_KEYS = tuple(field.name for field in fields(Usage))


def empty_summary() -> dict[str, Any]:
    return {"tokens": dict.fromkeys(TOKEN_KEYS, 0), "title_rank": 0, "malformed": 0}


def merge_summary(summary: dict[str, Any], info: SessionInfo) -> dict[str, Any]:
    """Fold the summary of newly read lines into the file's summary so far."""
    out = dict(summary)
    for key in ("session_id", "agent_id", "parent_session_id", "cwd"):
        out[key] = out.get(key) or getattr(info, key)
    for key in ("git_branch", "model"):  # the latest wins: both can change in a session
        out[key] = getattr(info, key) or out.get(key)
    if info.started:
        out["started"] = min(filter(None, (out.get("started"), info.started)))
    if info.last_activity:
        out["last_activity"] = max(filter(None, (out.get("last_activity"), info.last_activity)))
    if info.title and (info.title_rank > int(out.get("title_rank", 0)) or info.title_rank >= 3):
        out["title"], out["title_rank"] = info.title, info.title_rank
    tokens = dict(out.get("tokens") or {})
    for key, value in info.usage.as_dict().items():
        tokens[key] = int(tokens.get(key, 0)) + value
    out["tokens"] = tokens
    out["malformed"] = int(out.get("malformed", 0)) + len(info.malformed_lines)
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


def session_key(agent: str, summary: dict[str, Any], path: Path) -> tuple[str, str | None]:
    """``(thread key, parent thread key)`` of the file's session."""
    session = summary.get("session_id") or session_id_from_name(path)
    agent_id = summary.get("agent_id")
    parent = summary.get("parent_session_id")
    if agent == "claude-code" and agent_id:
        parent = parent or session
        return f"{agent}:{parent}/agent-{agent_id}", f"{agent}:{parent}"
    if parent and parent != session:
        return f"{agent}:{session}", f"{agent}:{parent}"
    return f"{agent}:{session}", None


def session_id_from_name(path: Path) -> str:
    """``<id>`` of ``<id>.jsonl``, and the UUID at the end of ``rollout-<time>-<uuid>.jsonl``."""
    stem = path.name.split(".", 1)[0]
    if stem.startswith("rollout-") and len(stem) >= 36:
        return stem[-36:]
    return stem


def thread_spec(agent: str, summary: dict[str, Any], path: Path, project: str) -> ThreadSpec:
    key, parent_key = session_key(agent, summary, path)
    session = key.split(":", 1)[1]
    meta: dict[str, Any] = {"agent": agent, "source": str(path)}
    for name in ("session_id", "agent_id", "cwd", "git_branch", "model", "started"):
        if summary.get(name):
            meta[name] = summary[name]
    meta["last_activity"] = summary.get("last_activity")
    meta["tokens"] = summary.get("tokens") or {}
    if summary.get("malformed"):
        meta["malformed_lines"] = summary["malformed"]
    title = summary.get("title")
    meta = _clean(meta)
    return ThreadSpec(
        key=key,
        kind=agent,
        name=session[: p.MAX_NAME_CHARS],
        project=project[: p.MAX_PROJECT_CHARS],
        title=clean_text(title[: p.MAX_TITLE_CHARS]) if isinstance(title, str) else None,
        meta=meta,
        parent_key=parent_key,
    )


def entry_row(
    line: ParsedLine, fallback_ts: str
) -> tuple[int, str, str, str, str | None, str | None, str]:
    """``(seq, ts, role, text, parts, meta, raw)`` of one line for the local store."""
    meta: dict[str, Any] = {"record": line.record_type}
    meta.update(_clean(line.meta))
    for name in ("uuid", "parent_uuid", "agent_id", "sidechain_root", "model", "error"):
        value = getattr(line, name)
        if value:
            meta[name] = value
    for flag in ("is_sidechain", "duplicate", "malformed"):
        if getattr(line, flag):
            meta[flag] = True
    if line.usage is not None:
        meta["usage"] = line.usage.as_dict()
    raw = line.raw
    if isinstance(raw, bytes) or "\x00" in raw:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        raw = base64.b64encode(data).decode("ascii")
        meta[p.RAW_ENCODING_KEY] = p.RAW_ENCODING_BASE64
    text = _cut(line.text, MAX_TEXT_CHARS)
    parts = [_fit_part(part) for part in line.parts]
    return (
        line.line_no,
        timestamp_or(line.timestamp, fallback_ts),
        line.role,
        text,
        compact_json(parts) if parts else None,
        compact_json(meta),
        raw,
    )


def timestamp_or(value: str | None, fallback: str) -> str:
    """``value`` if it is an RFC 3339 time with an offset, else ``fallback``."""
    if not value:
        return fallback
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return value if when.tzinfo is not None else fallback


def _cut(text: str, limit: int) -> str:
    text = clean_text(text)
    return text if len(text) <= limit else text[:limit]


def clean_text(text: str) -> str:
    """``text`` without what cannot travel or be stored: NUL (PostgreSQL text cannot hold it)
    and lone surrogates (from ``\\ud800`` escapes; not UTF-8) become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _clean(value: Any) -> Any:
    """``value`` with every string, dictionary keys included, passed through :func:`clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fit_part(part: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    truncated = False
    for key, value in part.items():
        if isinstance(value, str):
            out[key] = _cut(value, MAX_PART_STRING)
            truncated = truncated or len(value) > MAX_PART_STRING
        elif isinstance(value, dict | list) and len(text := compact_json(value)) > MAX_INPUT_JSON:
            out[key] = {"preview": _cut(text, MAX_PART_STRING)}
            truncated = True
        else:
            out[key] = _clean(value)
    if truncated:
        out["truncated"] = True
    return out
