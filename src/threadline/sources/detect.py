"""Which agent wrote a transcript file, and parsing it with the right module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline.sources import claude_code, codex
from threadline.sources.lines import LineParser, LineSplitter, load_object, open_binary
from threadline.sources.model import Agent, ParsedLine, SessionInfo


@dataclass(frozen=True, slots=True)
class AgentSource:
    """What one agent's source module offers: its line parser (one per file), the summary of
    parsed lines, and the parse of a whole file."""

    parser: type[LineParser]
    summarize: Callable[[list[ParsedLine], Path | None], SessionInfo]
    parse_file: Callable[[Path | str], tuple[list[ParsedLine], SessionInfo]]


#: Each agent's source module.
SOURCES: dict[Agent, AgentSource] = {
    "claude-code": AgentSource(
        claude_code.ClaudeCodeParser, claude_code.summarize, claude_code.parse_file
    ),
    "codex": AgentSource(codex.CodexParser, codex.summarize, codex.parse_file),
}

#: Lines looked at before giving up.
SNIFF_LINES = 5
CODEX_ENVELOPES = {
    "session_meta",
    "response_item",
    "event_msg",
    "turn_context",
    "compacted",
    "inter_agent_communication",
    "inter_agent_communication_metadata",
    "world_state",
}
CODEX_BARE_ITEMS = {"message", "reasoning", "function_call", "function_call_output"}


def detect(path: Path | str) -> Agent | None:
    """``"claude-code"``, ``"codex"`` or ``None`` (empty, unreadable or unknown content)."""
    path = Path(path)
    if path.name.endswith(".jsonl.zst"):
        return "codex"
    try:
        with open_binary(path) as stream:
            for count, line in enumerate(LineSplitter(stream, chunk_size=1 << 16)):
                obj, _ = load_object(line.decode("utf-8", "replace"))
                if obj is not None and (agent := agent_of(obj)) is not None:
                    return agent
                if count + 1 >= SNIFF_LINES:
                    break
    except OSError:
        return None
    return None


def agent_of(obj: dict[str, Any]) -> Agent | None:
    """The agent whose record ``obj`` looks like, if any."""
    kind = obj.get("type")
    if "record_type" in obj:
        return "codex"
    if kind in CODEX_ENVELOPES and isinstance(obj.get("payload"), dict):
        return "codex"
    if "sessionId" in obj or "uuid" in obj or "leafUuid" in obj or "messageId" in obj:
        return "claude-code"
    if kind in CODEX_BARE_ITEMS or (kind is None and "id" in obj and "timestamp" in obj):
        return "codex"
    return None


def parse_file(path: Path | str) -> tuple[list[ParsedLine], SessionInfo]:
    """Parse ``path`` with the parser of the agent :func:`detect` finds (Claude Code if none)."""
    return SOURCES[detect(path) or "claude-code"].parse_file(path)
