"""Small typed values the source parsers return.

``ParsedLine`` is one transcript line: its exact raw text and a normalized projection
(``role`` and ``parts``). ``SessionInfo`` sums a whole file up (ids, title, tokens, links).

Part shapes (dicts, so they go on the wire as they are):

* ``{"type": "text", "text"}``
* ``{"type": "thinking", "text"}`` (``"redacted": True`` when the agent only kept ciphertext)
* ``{"type": "tool_call", "name", "id", "input"}``
* ``{"type": "tool_result", "tool_call_id", "output", "is_error"}``
* ``{"type": "image", "media_type", "size"}`` — a placeholder, never the data
* ``{"type": "summary", "text"}`` — a compaction or session summary
* ``{"type": "meta", "record", ...}`` — bookkeeping records, unknown records and blocks
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant", "system", "tool"]
Agent = Literal["claude-code", "codex"]


@dataclass(slots=True)
class Usage:
    """Token counts of one model response (or a sum of them).

    ``input`` excludes cache reads for Claude and includes them for Codex, as each API reports.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0
    reasoning: int = 0

    def add(self, other: Usage) -> None:
        """Add ``other`` into this total."""
        self.input += other.input
        self.output += other.output
        self.cache_read += other.cache_read
        self.cache_creation += other.cache_creation
        self.reasoning += other.reasoning

    def growth_to(self, later: Usage) -> Usage | None:
        """What ``later`` counts beyond this usage (per field, never negative); ``None`` if
        nothing."""
        growth = Usage(
            input=max(later.input - self.input, 0),
            output=max(later.output - self.output, 0),
            cache_read=max(later.cache_read - self.cache_read, 0),
            cache_creation=max(later.cache_creation - self.cache_creation, 0),
            reasoning=max(later.reasoning - self.reasoning, 0),
        )
        return growth if any(growth.as_dict().values()) else None

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_creation": self.cache_creation,
            "reasoning": self.reasoning,
        }


@dataclass(slots=True)
class ParsedLine:
    """One complete transcript line and its projection."""

    line_no: int
    raw: str | bytes
    record_type: str
    role: Role = "system"
    parts: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    timestamp: str | None = None
    model: str | None = None
    usage: Usage | None = None
    git_branch: str | None = None
    cwd: str | None = None
    session_id: str | None = None
    uuid: str | None = None
    parent_uuid: str | None = None
    is_sidechain: bool = False
    agent_id: str | None = None
    sidechain_root: str | None = None
    duplicate: bool = False
    malformed: bool = False
    error: str | None = None

    @property
    def text(self) -> str:
        """Searchable text: the text, thinking, summary and tool output parts joined."""
        chunks: list[str] = []
        for part in self.parts:
            kind = part.get("type")
            if kind in ("text", "thinking", "summary"):
                chunks.append(str(part.get("text", "")))
            elif kind == "tool_result":
                chunks.append(str(part.get("output", "")))
        return "\n".join(chunk for chunk in chunks if chunk)


@dataclass(slots=True)
class SessionInfo:
    """What one transcript file says about its session."""

    agent: Agent
    session_id: str | None = None
    title: str | None = None
    #: How good ``title`` is, to merge summaries of a file read in parts: 5 the user's own
    #: title, 4 the agent's, 3 a summary, 2 the first prompt, 1 a command, 0 none.
    title_rank: int = 0
    cwd: str | None = None
    git_branch: str | None = None
    model: str | None = None
    started: str | None = None
    last_activity: str | None = None
    usage: Usage = field(default_factory=Usage)
    agent_id: str | None = None
    parent_session_id: str | None = None
    subagent_ids: list[str] = field(default_factory=list)
    sidechain_roots: list[str] = field(default_factory=list)
    line_count: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    complete_bytes: int = 0
    partial: bytes | None = None

    def collect(self, line: ParsedLine) -> None:
        """Take in what any agent's line says of its session: the first session id, working
        folder and branch, the time span, the usage. (The rest is up to each agent.)"""
        self.session_id = self.session_id or line.session_id
        self.cwd = self.cwd or line.cwd
        self.git_branch = self.git_branch or line.git_branch
        if line.timestamp:
            self.started = min(self.started or line.timestamp, line.timestamp)
            self.last_activity = max(self.last_activity or line.timestamp, line.timestamp)
        if line.usage is not None:
            self.usage.add(line.usage)


class Parser(Protocol):
    """A parser of one file's lines, fed one complete line at a time (it keeps state across
    lines); ``next_line_no`` is the number the next line gets."""

    next_line_no: int

    def parse(self, line: bytes) -> ParsedLine: ...
