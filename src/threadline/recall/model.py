"""The values recall works on: entries as :class:`Source`, search hits as :class:`Match`,
and what it makes of them, :class:`Passage`.

A :class:`Source` is built from an entry's stored role, text and normalized parts (see
``threadline.sources.model`` for the part shapes): its text shows tool calls as ``name input``
and tool results by their output, so a passage reads like the conversation did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from threadline.protocol.text import printable
from threadline.recall.terms import Term

#: Characters of a tool call's input shown in its text.
MAX_INPUT_CHARS = 2000


@dataclass(frozen=True)
class Source:
    """One stored entry, as recall reads it."""

    entry_id: str
    thread_id: str
    seq: int
    ts: str
    role: str
    text: str
    #: Ids of the tool calls this entry makes, and of those whose results it holds.
    call_ids: tuple[str, ...] = ()
    result_ids: tuple[str, ...] = ()
    #: A person's prompt (role ``user``, not a tool result, not bookkeeping).
    prompt: bool = False
    #: Text the agent added on the person's behalf (Claude Code's ``isMeta`` lines: a slash
    #: command's expansion right after the command, a caveat before it).
    injected: bool = False
    #: A tool's result that reports an error (the call failed).
    failed: bool = False

    @property
    def reply(self) -> bool:
        """The agent writing to the person: assistant text that calls no tool."""
        return self.role == "assistant" and not self.call_ids and bool(self.text.strip())


@dataclass(frozen=True)
class Match:
    """A search hit: the entry that matched, its score (higher is better) and its thread."""

    source: Source
    score: float
    thread_title: str
    project: str
    kind: str


@dataclass
class Passage:
    """Entries of one thread cut around one or more matches, in display order.

    ``anchor`` is the matched entry a citation of the passage points at; ``excerpts`` holds
    each entry's text as quoted (cut around the matched terms to keep the passage bounded);
    ``found`` are the question's terms the passage contains, ``weight`` their weight and
    ``relevant`` whether they pass the relevance rule of :mod:`threadline.recall.weights`.
    """

    thread_id: str
    thread_title: str
    project: str
    anchor: Source
    entries: list[Source]
    excerpts: list[str]
    found: list[Term]
    score: float
    relevant: bool
    #: What the passage is, for a prompt ("session", "file" …); ``None`` for history.
    label: str | None = None
    weight: float = 0.0
    #: The question's terms the passage does not hold but the prompt of its turn does.
    context: list[Term] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def source_from(
    *,
    entry_id: str,
    thread_id: str,
    seq: int,
    ts: str,
    role: str,
    text: str,
    parts: list[dict[str, Any]] | None,
    meta: dict[str, Any] | None,
) -> Source:
    """A :class:`Source` from an entry's stored fields."""
    chunks: list[str] = []
    calls: list[str] = []
    results: list[str] = []
    failed = False
    for part in parts or ():
        kind = part.get("type")
        if kind in ("text", "thinking", "summary"):
            chunks.append(str(part.get("text") or ""))
        elif kind == "tool_call":
            calls.append(str(part.get("id") or ""))
            chunks.append(_call_text(part))
        elif kind == "tool_result":
            results.append(str(part.get("tool_call_id") or ""))
            chunks.append(_output_text(part.get("output")))
            failed = failed or part.get("is_error") is True
    shown = printable("\n".join(c for c in chunks if c.strip()) or text)
    if _REMINDER_START in shown:
        shown = _REMINDER.sub("", shown).strip()
    injected = bool((meta or {}).get("is_meta"))
    is_prompt = role == "user" and not results and not injected
    return Source(
        entry_id=entry_id,
        thread_id=thread_id,
        seq=seq,
        ts=ts,
        role=role,
        text=shown,
        call_ids=tuple(c for c in calls if c),
        result_ids=tuple(r for r in results if r),
        prompt=is_prompt and bool(shown.strip()),
        injected=injected and not results and bool(shown.strip()),
        failed=failed,
    )


#: What an agent appends to a tool's output or a prompt for the model alone (Claude Code's
#: ``<system-reminder>`` blocks: "whenever you read a file, … you MUST refuse …"): neither what
#: the tool returned nor what the person wrote. Recall leaves them out, so the boilerplate's
#: words match no question and are never quoted.
_REMINDER_START = "<system-reminder>"
_REMINDER = re.compile(r"<system-reminder>.*?(?:</system-reminder>|\Z)", re.S)


def _call_text(part: dict[str, Any]) -> str:
    """A tool call as text: its name, then each input field as ``key: value`` with text values
    as written. (As JSON, a value's line breaks became ``\\n`` glued to the next word —
    ``"\\nTest"`` read as the word *nTest* — so the words of a file an agent wrote or edited
    were neither matched nor quoted as written.)"""
    name = str(part.get("name") or "tool")
    tool_input = part.get("input")
    if isinstance(tool_input, dict):
        shown = "\n".join(f"{key}: {_value_text(value)}" for key, value in tool_input.items())
    else:
        shown = _value_text(tool_input)
    return f"{name} {shown[:MAX_INPUT_CHARS]}"


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = [str(b.get("text")) for b in output if isinstance(b, dict) and b.get("text")]
        if texts:
            return "\n".join(texts)
    return "" if output is None else json.dumps(output, ensure_ascii=False)
