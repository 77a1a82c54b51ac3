"""Claude Code transcripts: ``~/.claude/projects/<encoded cwd>/<sessionId>.jsonl``.

Each line is one record: conversational ones (``user``, ``assistant``, ``system``, ``progress``,
``attachment``) carry ``uuid``/``parentUuid`` and the session envelope; bookkeeping ones
(``summary``, ``file-history-snapshot``, ``queue-operation``, ``last-prompt``, ``custom-title``,
``ai-title`` …) do not. One API response is written as several ``assistant`` lines (one content
block each) that share ``message.id`` and repeat the same ``usage``: it is counted on the first.

Subagents come in three layouts, all recognised: inline lines with ``isSidechain: true`` in the
main file (each run rooted at ``parentUuid: null``), flat ``agent-<id>.jsonl`` files next to the
sessions, and ``<sessionId>/subagents/agent-<id>.jsonl``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from threadline.sources.lines import (
    LineParser,
    as_int,
    as_str,
    image_part,
    joined_text,
    parse_path,
    title_from_prompt,
)
from threadline.sources.model import Agent, ParsedLine, SessionInfo, Usage

AGENT: Agent = "claude-code"
#: Prefixes of user text that the agent or a command wrote, not the person.
NOT_A_PROMPT = ("<", "Caveat:", "[Request interrupted")
SYNTHETIC_MODEL = "<synthetic>"
COMMAND_NAME = re.compile(r"<command-name>(.*?)</command-name>", re.S)
COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)


class ClaudeCodeParser(LineParser):
    """Parse Claude Code lines one at a time, remembering what spans lines.

    Keep one parser per file while tailing it so usage stays counted once per message and
    inline sidechains keep their roots.
    """

    def __init__(self, first_line_no: int = 1) -> None:
        super().__init__(first_line_no)
        self._counted: dict[tuple[str, str | None], Usage] = {}
        self._sidechain_root: dict[str, str] = {}

    def parse_object(self, line_no: int, raw: str | bytes, obj: dict[str, Any]) -> ParsedLine:
        parsed = ParsedLine(line_no=line_no, raw=raw, record_type=record_type(obj))
        _read_envelope(parsed, obj)
        _PROJECTIONS.get(str(obj.get("type")), _project_other)(parsed, obj)
        self._count_usage(parsed, obj)
        self._link_sidechain(parsed)
        return parsed

    def _count_usage(self, parsed: ParsedLine, obj: dict[str, Any]) -> None:
        """Usage once per message: the first line, then only what later lines add.

        Lines of one response repeat its ``usage``; while it streams, ``output_tokens`` can grow
        from one line to the next. Summing ``ParsedLine.usage`` gives each message's final count.
        """
        message = obj.get("message")
        if parsed.record_type != "assistant" or not isinstance(message, dict):
            return
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return
        current = _usage(usage)
        message_id = as_str(message.get("id"))
        if message_id is None:
            parsed.usage = current
            return
        key = (message_id, as_str(obj.get("requestId")))
        seen = self._counted.get(key)
        if seen is None:
            self._counted[key] = Usage(**current.as_dict())
            parsed.usage = current
            return
        growth = seen.growth_to(current)
        if growth is not None:
            seen.add(growth)
            parsed.usage = growth

    def _link_sidechain(self, parsed: ParsedLine) -> None:
        if not parsed.is_sidechain or parsed.uuid is None:
            return
        if parsed.parent_uuid is None:
            root: str | None = parsed.uuid
        else:
            root = self._sidechain_root.get(parsed.parent_uuid)
        if root is not None:
            self._sidechain_root[parsed.uuid] = root
            parsed.sidechain_root = root


#: Parse complete Claude Code lines; ``line_no`` counts from ``first_line_no``.
parse_lines = ClaudeCodeParser.parse_lines


def parse_file(path: Path | str) -> tuple[list[ParsedLine], SessionInfo]:
    """Parse a whole transcript file; the last line is left out if it has no ``\\n``."""
    return parse_path(path, parse_lines, summarize)


def record_type(obj: dict[str, Any]) -> str:
    """``type``, refined by the sub-type for ``system``, ``progress`` and ``attachment``."""
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        return "unknown"
    sub: Any = None
    if kind == "system":
        sub = obj.get("subtype")
    elif kind in ("progress", "attachment"):
        inner = obj.get("data" if kind == "progress" else "attachment")
        sub = inner.get("type") if isinstance(inner, dict) else None
    return f"{kind}/{sub}" if isinstance(sub, str) and sub else kind


def _read_envelope(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    parsed.timestamp = as_str(obj.get("timestamp"))
    parsed.session_id = as_str(obj.get("sessionId"))
    parsed.cwd = as_str(obj.get("cwd"))
    parsed.git_branch = as_str(obj.get("gitBranch"))
    parsed.uuid = as_str(obj.get("uuid"))
    parsed.parent_uuid = as_str(obj.get("parentUuid"))
    parsed.is_sidechain = obj.get("isSidechain") is True
    parsed.agent_id = as_str(obj.get("agentId"))
    for key, name in (
        ("version", "version"),
        ("requestId", "request_id"),
        ("logicalParentUuid", "logical_parent_uuid"),
        ("promptId", "prompt_id"),
    ):
        if (value := as_str(obj.get(key))) is not None:
            parsed.meta[name] = value


def _project_user(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    message = obj.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    parsed.parts = content_parts(content)
    if obj.get("isCompactSummary") is True:
        parsed.meta["is_compact_summary"] = True
        parsed.parts = [{"type": "summary", "text": joined_text(parsed.parts)}]
    elif any(part["type"] == "tool_result" for part in parsed.parts):
        parsed.role = "tool"
        result = obj.get("toolUseResult")
        if isinstance(result, dict) and (agent_id := as_str(result.get("agentId"))):
            parsed.meta["subagent_id"] = agent_id
    elif obj.get("isMeta") is True:
        parsed.meta["is_meta"] = True
    else:
        parsed.role = "user"
        parsed.meta["prompt"] = _is_prompt(parsed.parts)
        if command := _command(parsed.parts):
            parsed.meta["command"] = command


def _project_assistant(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    parsed.role = "assistant"
    message = obj.get("message")
    if not isinstance(message, dict):
        return
    parsed.parts = content_parts(message.get("content"))
    parsed.model = as_str(message.get("model"))
    if (message_id := as_str(message.get("id"))) is not None:
        parsed.meta["message_id"] = message_id
    if obj.get("isApiErrorMessage") is True:
        parsed.meta["api_error"] = True


def _project_system(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    meta: dict[str, Any] = {"type": "meta", "record": parsed.record_type}
    compact = obj.get("compactMetadata")
    if isinstance(compact, dict):
        meta["trigger"] = compact.get("trigger")
        meta["pre_tokens"] = compact.get("preTokens")
    parsed.parts = [meta]
    if text := as_str(obj.get("content")):
        parsed.parts.append({"type": "text", "text": text})


def _project_summary(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    text = as_str(obj.get("summary")) or ""
    parsed.parts = [{"type": "summary", "text": text}]
    parsed.meta["title"] = text
    if leaf := as_str(obj.get("leafUuid")):
        parsed.meta["leaf_uuid"] = leaf


def _project_progress(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    meta: dict[str, Any] = {"type": "meta", "record": parsed.record_type}
    data = obj.get("data")
    if isinstance(data, dict) and (agent_id := as_str(data.get("agentId"))):
        meta["agent_id"] = agent_id
        parsed.meta["subagent_id"] = agent_id
    if tool_use := as_str(obj.get("parentToolUseID")):
        meta["tool_call_id"] = tool_use
    parsed.parts = [meta]


def _project_title(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    key = "customTitle" if parsed.record_type == "custom-title" else "aiTitle"
    title = as_str(obj.get(key))
    parsed.parts = [{"type": "meta", "record": parsed.record_type, "title": title}]
    if title is not None:
        parsed.meta["title"] = title


def _project_other(parsed: ParsedLine, obj: dict[str, Any]) -> None:
    """Known bookkeeping records and anything new: kept, shown as a ``meta`` part."""
    parsed.parts = [{"type": "meta", "record": parsed.record_type}]


_PROJECTIONS = {
    "user": _project_user,
    "assistant": _project_assistant,
    "system": _project_system,
    "summary": _project_summary,
    "progress": _project_progress,
    "custom-title": _project_title,
    "ai-title": _project_title,
}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Normalized parts of a Messages-API ``content`` (a string or a list of blocks)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    parts: list[dict[str, Any]] = []
    for block in content:
        parts.extend(_block_parts(block))
    return parts


def _block_parts(block: Any) -> list[dict[str, Any]]:
    if isinstance(block, str):
        return [{"type": "text", "text": block}]
    if not isinstance(block, dict):
        return [{"type": "meta", "block": type(block).__name__}]
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text", "text": str(block.get("text", ""))}]
    if kind == "thinking":
        return [{"type": "thinking", "text": str(block.get("thinking", ""))}]
    if kind == "redacted_thinking":
        return [{"type": "thinking", "text": "", "redacted": True}]
    if kind == "tool_use":
        return [_tool_call(block)]
    if kind == "tool_result":
        return _tool_result(block)
    if kind == "image":
        return [_image(block)]
    return [{"type": "meta", "block": kind}]


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "name": block.get("name"),
        "id": block.get("id"),
        "input": block.get("input"),
    }


def _tool_result(block: dict[str, Any]) -> list[dict[str, Any]]:
    inner = content_parts(block.get("content"))
    images = [part for part in inner if part["type"] == "image"]
    result = {
        "type": "tool_result",
        "tool_call_id": block.get("tool_use_id"),
        "output": joined_text(inner),
        "is_error": block.get("is_error") is True,
    }
    return [result, *images]


def _image(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        return image_part(None, None)
    return image_part(as_str(source.get("media_type")), source.get("data"))


def _is_prompt(parts: list[dict[str, Any]]) -> bool:
    text = joined_text(parts).lstrip()
    return bool(text) and not text.startswith(NOT_A_PROMPT)


def _command(parts: list[dict[str, Any]]) -> str | None:
    """``/name args`` of a slash-command wrapper, else ``None``."""
    text = joined_text(parts)
    name = COMMAND_NAME.search(text)
    if name is None:
        return None
    args = COMMAND_ARGS.search(text)
    return f"{name.group(1).strip()} {args.group(1).strip() if args else ''}".strip()


def _usage(usage: dict[str, Any]) -> Usage:
    return Usage(
        input=as_int(usage.get("input_tokens")),
        output=as_int(usage.get("output_tokens")),
        cache_read=as_int(usage.get("cache_read_input_tokens")),
        cache_creation=as_int(usage.get("cache_creation_input_tokens")),
    )


def summarize(lines: list[ParsedLine], path: Path | None = None) -> SessionInfo:
    """Sum the parsed lines of one file up into a :class:`SessionInfo`."""
    info = SessionInfo(agent=AGENT, line_count=len(lines))
    titles: dict[str, str] = {}
    prompts: dict[bool, str] = {}
    command: str | None = None
    for line in lines:
        _collect_line(info, line)
        if title := line.meta.get("title"):
            titles[line.record_type] = title
        if line.meta.get("prompt") and line.is_sidechain not in prompts:
            prompts[line.is_sidechain] = joined_text(line.parts)
        if command is None and not line.is_sidechain:
            command = line.meta.get("command")
    _link_subagent_file(info, lines, path)
    prompt = prompts.get(info.agent_id is not None)
    for rank, record in ((5, "custom-title"), (4, "ai-title"), (3, "summary")):
        if titles.get(record):
            info.title, info.title_rank = titles[record], rank
            break
    else:
        if prompt and (text := title_from_prompt(prompt)):
            info.title, info.title_rank = text, 2
        elif command and (text := title_from_prompt(command)):
            info.title, info.title_rank = text, 1
    if info.session_id is None and path is not None and info.agent_id is None:
        info.session_id = path.name.split(".", 1)[0]
    return info


def _collect_line(info: SessionInfo, line: ParsedLine) -> None:
    if line.malformed:
        info.malformed_lines.append(line.line_no)
        return
    info.collect(line)
    if line.model and line.model != SYNTHETIC_MODEL:
        info.model = info.model or line.model
    subagent = line.meta.get("subagent_id")
    if subagent and subagent not in info.subagent_ids:
        info.subagent_ids.append(subagent)
    if line.sidechain_root == line.uuid and line.uuid is not None:
        info.sidechain_roots.append(line.uuid)


def _link_subagent_file(info: SessionInfo, lines: list[ParsedLine], path: Path | None) -> None:
    """A subagent file (``agent-*.jsonl`` or all sidechain): its agent id and parent session."""
    name = path.name.split(".", 1)[0] if path is not None else ""
    chained = [line for line in lines if line.uuid is not None]
    all_sidechain = bool(chained) and all(line.is_sidechain for line in chained)
    if not (name.startswith("agent-") or all_sidechain):
        return
    agent_ids = [line.agent_id for line in lines if line.agent_id]
    if agent_ids:
        info.agent_id = agent_ids[0]
    elif name.startswith("agent-"):
        info.agent_id = name.removeprefix("agent-")
    if path is not None and path.parent.name == "subagents":
        info.parent_session_id = path.parent.parent.name
    else:
        info.parent_session_id = info.session_id
    info.sidechain_roots = []
