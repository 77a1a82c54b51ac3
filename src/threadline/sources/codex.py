"""Codex CLI rollouts: ``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl[.zst]``.

Lines are envelopes ``{"timestamp", "type", "payload"}`` with ``type`` one of ``session_meta``,
``response_item`` (what the model saw: messages, reasoning, tool calls and outputs),
``event_msg`` (what the UI showed, plus token counts), ``turn_context`` and ``compacted``.
The earlier transitional lines (``record_type``) and bare pre-envelope items are read too.

Prompts, replies and reasoning summaries are written twice, as a ``response_item`` and as an
``event_msg``. Both lines are kept; the ``response_item`` carries the projection and the
``event_msg`` copy is marked ``duplicate`` (role ``system``, one ``meta`` part).
``token_count`` totals are cumulative: each line's ``usage`` is the growth since the last one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from threadline.sources.lines import (
    LineParser,
    as_int,
    as_str,
    image_part,
    joined_text,
    media_type_of_data_url,
    parse_path,
    title_from_prompt,
)
from threadline.sources.model import Agent, ParsedLine, Role, SessionInfo, Usage

AGENT: Agent = "codex"
#: ``event_msg`` types that repeat a ``response_item``.
DUPLICATE_EVENTS = {
    "user_message",
    "agent_message",
    "agent_reasoning",
    "agent_reasoning_raw_content",
}
#: Text Codex injects as a user message (context, not typed by the person).
INJECTED = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "<turn_aborted>",
    "<user_shell_command>",
)
ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant"}
CALLS = {"function_call", "custom_tool_call", "local_shell_call", "web_search_call"}
OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}
EXIT_CODE = re.compile(r"^Exit code: (\d+)")
#: The IDE extension wraps the typed request after this heading.
IDE_REQUEST = "## My request for Codex:"


class CodexParser(LineParser):
    """Parse rollout lines one at a time, remembering the last cumulative token total."""

    def __init__(self, first_line_no: int = 1) -> None:
        super().__init__(first_line_no)
        self._total: Usage | None = None

    def parse_object(self, line_no: int, raw: str | bytes, obj: dict[str, Any]) -> ParsedLine:
        kind, payload, shape = unwrap(obj)
        parsed = ParsedLine(line_no=line_no, raw=raw, record_type=kind)
        parsed.timestamp = as_str(obj.get("timestamp"))
        if shape != "envelope":
            parsed.meta["format"] = shape
        self._project(parsed, kind, payload)
        return parsed

    def _project(self, parsed: ParsedLine, kind: str, payload: dict[str, Any]) -> None:
        top, _, sub = kind.partition("/")
        if top == "session_meta":
            _project_session_meta(parsed, payload)
        elif top == "turn_context":
            _project_turn_context(parsed, payload)
        elif top == "response_item":
            _project_response_item(parsed, sub, payload)
        elif top == "event_msg":
            _project_event(parsed, sub, payload)
            if sub == "token_count":
                self._count_tokens(parsed, payload)
        elif top == "compacted":
            _project_compacted(parsed, payload)
        else:
            parsed.parts = [{"type": "meta", "record": kind}]

    def _count_tokens(self, parsed: ParsedLine, payload: dict[str, Any]) -> None:
        info = payload.get("info")
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if not isinstance(total, dict):
            return
        current = _usage(total)
        previous, self._total = self._total, current
        parsed.usage = current if previous is None else previous.growth_to(current)


def unwrap(obj: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """``(record type, payload, shape)`` for the three line shapes Codex has written."""
    kind = obj.get("type")
    payload = obj.get("payload")
    if isinstance(kind, str) and isinstance(payload, dict):
        return _record_type(kind, payload), payload, "envelope"
    legacy = obj.get("record_type")
    if isinstance(legacy, str):
        top = {"response": "response_item", "event": "event_msg"}.get(legacy, legacy)
        if top == "prev_session_meta":
            top = "session_meta"
        return _record_type(top, obj), obj, "transitional"
    if isinstance(kind, str):
        return _record_type("response_item", obj), obj, "pre-envelope"
    if "id" in obj and "timestamp" in obj:
        return "session_meta", obj, "pre-envelope"
    return "unknown", obj, "unknown"


def _record_type(top: str, payload: dict[str, Any]) -> str:
    sub = payload.get("type")
    if top in ("response_item", "event_msg") and isinstance(sub, str) and sub:
        return f"{top}/{sub}"
    return top


def _project_session_meta(parsed: ParsedLine, payload: dict[str, Any]) -> None:
    parsed.session_id = as_str(payload.get("session_id")) or as_str(payload.get("id"))
    parsed.cwd = as_str(payload.get("cwd"))
    git = payload.get("git")
    if isinstance(git, dict):
        parsed.git_branch = as_str(git.get("branch"))
    parent = as_str(payload.get("forked_from_id")) or as_str(payload.get("parent_thread_id"))
    if parent is not None:
        parsed.meta["parent_session_id"] = parent
    meta: dict[str, Any] = {"type": "meta", "record": "session_meta"}
    for key in ("originator", "cli_version", "source"):
        if key in payload:
            meta[key] = payload[key]
    parsed.parts = [meta]


def _project_turn_context(parsed: ParsedLine, payload: dict[str, Any]) -> None:
    parsed.model = as_str(payload.get("model"))
    parsed.cwd = as_str(payload.get("cwd"))
    parsed.parts = [{"type": "meta", "record": "turn_context", "model": parsed.model}]


def _project_response_item(parsed: ParsedLine, sub: str, payload: dict[str, Any]) -> None:
    if sub == "message":
        _project_message(parsed, payload)
    elif sub == "reasoning":
        parsed.role = "assistant"
        parsed.parts = [_reasoning(payload)]
    elif sub in CALLS:
        parsed.role = "assistant"
        parsed.parts = [_tool_call(sub, payload)]
    elif sub in OUTPUTS:
        parsed.role = "tool"
        parsed.parts = [_tool_result(payload)]
    else:
        parsed.parts = [{"type": "meta", "record": parsed.record_type}]


def _project_message(parsed: ParsedLine, payload: dict[str, Any]) -> None:
    parsed.parts = _content_parts(payload.get("content"))
    role = as_str(payload.get("role")) or ""
    text = joined_text(parsed.parts)
    if role == "user" and text.lstrip().startswith(INJECTED):
        parsed.meta["injected"] = True
        return
    parsed.role = ROLES.get(role, "system")
    if parsed.role == "user":
        parsed.meta["prompt"] = bool(text.strip())
    if phase := as_str(payload.get("phase")):
        parsed.meta["phase"] = phase


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    parts: list[dict[str, Any]] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(item, dict) and kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(item.get("text", ""))})
        elif isinstance(item, dict) and kind == "input_image":
            url = item.get("image_url")
            parts.append(image_part(media_type_of_data_url(url), url))
        else:
            parts.append({"type": "meta", "block": kind})
    return parts


def _reasoning(payload: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    for key in ("summary", "content"):
        items = payload.get(key)
        if isinstance(items, list):
            texts += [str(i.get("text", "")) for i in items if isinstance(i, dict)]
    part: dict[str, Any] = {"type": "thinking", "text": "\n\n".join(t for t in texts if t)}
    if not part["text"] and payload.get("encrypted_content"):
        part["redacted"] = True
    return part


def _tool_call(sub: str, payload: dict[str, Any]) -> dict[str, Any]:
    if sub == "function_call":
        name, tool_input = payload.get("name"), _json_or_text(payload.get("arguments"))
    elif sub == "custom_tool_call":
        name, tool_input = payload.get("name"), payload.get("input")
    elif sub == "local_shell_call":
        name, tool_input = "local_shell", payload.get("action")
    else:
        name, tool_input = "web_search", payload.get("action")
    call_id = payload.get("call_id") or payload.get("id")
    return {"type": "tool_call", "name": name, "id": call_id, "input": tool_input}


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _tool_result(payload: dict[str, Any]) -> dict[str, Any]:
    output, is_error = _output_text(payload.get("output"))
    return {
        "type": "tool_result",
        "tool_call_id": payload.get("call_id"),
        "output": output,
        "is_error": is_error,
    }


def _output_text(output: Any) -> tuple[str, bool]:
    """The text of a tool output and whether it failed, across the shapes Codex used."""
    decoded = _json_or_text(output)
    if isinstance(decoded, dict) and "output" in decoded:
        metadata = decoded.get("metadata")
        code = metadata.get("exit_code") if isinstance(metadata, dict) else None
        return str(decoded["output"]), isinstance(code, int) and code != 0
    if isinstance(decoded, dict) and "content" in decoded:
        return str(decoded["content"]), decoded.get("success") is False
    if isinstance(output, str):
        code_match = EXIT_CODE.match(output)
        return output, bool(code_match and code_match.group(1) != "0")
    if isinstance(output, list):
        texts = [str(i.get("text", "")) for i in output if isinstance(i, dict)]
        return "\n".join(texts), False
    return "" if output is None else json.dumps(output, ensure_ascii=False), False


def _project_event(parsed: ParsedLine, sub: str, payload: dict[str, Any]) -> None:
    meta: dict[str, Any] = {"type": "meta", "record": parsed.record_type}
    if sub in DUPLICATE_EVENTS:
        parsed.duplicate = True
        meta["duplicate_of"] = "response_item"
    if sub == "user_message" and (message := as_str(payload.get("message"))):
        parsed.meta["title"] = prompt_title(message)
    parsed.parts = [meta]


def _project_compacted(parsed: ParsedLine, payload: dict[str, Any]) -> None:
    history = payload.get("replacement_history")
    meta: dict[str, Any] = {"type": "meta", "record": "compacted"}
    if isinstance(history, list):
        meta["replacement_items"] = len(history)
    parsed.parts = [meta]
    if text := as_str(payload.get("message")):
        parsed.parts.append({"type": "summary", "text": text})


def prompt_title(message: str) -> str:
    """A title from a prompt: the typed request inside an IDE context block, else its start."""
    if IDE_REQUEST in message:
        message = message.rsplit(IDE_REQUEST, 1)[1]
    return title_from_prompt(message)


def _usage(total: dict[str, Any]) -> Usage:
    return Usage(
        input=as_int(total.get("input_tokens")),
        output=as_int(total.get("output_tokens")),
        cache_read=as_int(total.get("cached_input_tokens")),
        reasoning=as_int(total.get("reasoning_output_tokens")),
    )


#: Parse complete rollout lines; ``line_no`` counts from ``first_line_no``.
parse_lines = CodexParser.parse_lines


def parse_file(path: Path | str) -> tuple[list[ParsedLine], SessionInfo]:
    """Parse a rollout (``.jsonl`` or ``.jsonl.zst``); a last line without ``\\n`` is left out."""
    return parse_path(path, parse_lines, summarize)


def summarize(lines: list[ParsedLine], path: Path | None = None) -> SessionInfo:
    """Sum the parsed lines of one rollout up into a :class:`SessionInfo`.

    ``path`` is unused (a rollout names its session inside); it keeps the signature of
    :func:`threadline.sources.claude_code.summarize`, which reads ids from the path."""
    info = SessionInfo(agent=AGENT, line_count=len(lines))
    shown_prompt: str | None = None
    model_prompt: str | None = None
    for line in lines:
        if line.malformed:
            info.malformed_lines.append(line.line_no)
            continue
        _collect_line(info, line)
        shown_prompt = shown_prompt or line.meta.get("title")
        if model_prompt is None and line.meta.get("prompt"):
            model_prompt = prompt_title(line.text)
    info.title = shown_prompt or model_prompt
    info.title_rank = 2 if shown_prompt else 1 if model_prompt else 0
    return info


def _collect_line(info: SessionInfo, line: ParsedLine) -> None:
    info.collect(line)
    info.model = info.model or line.model
    info.parent_session_id = info.parent_session_id or line.meta.get("parent_session_id")
