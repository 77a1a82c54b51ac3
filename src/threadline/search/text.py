"""An entry's searchable text, and the snippet of it a hit shows, with its matches marked.

:func:`searchable_text` is what the index holds, read back in Python: the entry's ``text``
plus its tool calls (name and the scalar values of the input, one call a line), as migration
0005 writes them into the index. :func:`snippet` cuts an excerpt of about
:data:`SNIPPET_CHARS` characters around the part with the most distinct matches, with runs of
whitespace folded to one space and ``…`` where it was cut, and returns the ``[start, end)``
character offsets of the matches inside it. Matching here follows the index: words compared
without case, a phrase as its words with anything but letters and digits between them, a
prefix as the start of a word; for a substring hit, the typed text anywhere, without case.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from threadline.search.query import Query, Term
from threadline.storage.search_index import INDEXED_CHARS, PROSE_ROLES, parsed_tool_calls

#: About how long a snippet is.
SNIPPET_CHARS = 200
#: How much of the snippet comes before its first match, at most.
_LEAD_CHARS = 50
#: Matches looked at to choose the excerpt.
_MAX_MATCHES = 200
_SPACE = re.compile(r"\s+")
_WORD_CHAR = r"[^\W_]"
_GAP = r"[\W_]+"


def searchable_text(text: str, parts: str | None) -> str:
    """``text`` and, on lines after it, the tool calls of the JSON ``parts``."""
    calls = parsed_tool_calls(parts)
    if not calls:
        return text
    return f"{text}\n{calls}" if text else calls


def substring_text(role: str, text: str, parts: str | None) -> str:
    """What PostgreSQL's substring search looks in: the text of a prompt or reply, then its
    tool calls (tool output is left out), each cut at :data:`INDEXED_CHARS`."""
    body = text[:INDEXED_CHARS] if role in PROSE_ROLES else ""
    return f"{body}\n{parsed_tool_calls(parts)[:INDEXED_CHARS]}"


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]


def snippet(text: str, query: Query, *, substring: bool = False) -> Snippet:
    """The excerpt of ``text`` that shows the most of ``query``'s terms (its words, or for a
    ``substring`` hit the typed needles), with their places in it."""
    scanned = text[: 2 * INDEXED_CHARS + 1]
    spans = list(_matches(scanned, query, substring))
    if not spans:
        return _cut(text, 0, [])
    start = _best_start(spans)
    return _cut(text, start, [(s, e) for s, e, _ in spans])


def _matches(text: str, query: Query, substring: bool) -> Iterator[tuple[int, int, int]]:
    """``(start, end, which term)`` of every match, in order, at most :data:`_MAX_MATCHES`."""
    pattern = _pattern(query, substring)
    if pattern is None:
        return
    for count, match in enumerate(pattern.finditer(text)):
        if count >= _MAX_MATCHES:
            return
        if match.end() > match.start():
            yield match.start(), match.end(), match.lastindex or 0


def _pattern(query: Query, substring: bool) -> re.Pattern[str] | None:
    if substring:
        needles = [n for n in query.needles or () if n]
        alternatives = [re.escape(n) for n in needles]
    else:
        alternatives = [_term_pattern(term) for term in query.terms]
    if not alternatives:
        return None
    # longest first, so a phrase wins over a word it starts with
    alternatives.sort(key=len, reverse=True)
    return re.compile("|".join(f"({a})" for a in alternatives), re.IGNORECASE)


def matches(query: Query, text: str) -> bool:
    """Whether ``text`` matches ``query`` as the word index would: a term of every group, and
    no excluded term."""
    found = {term for term in (*query.terms, *query.excluded) if _term_regex(term).search(text)}
    if any(term in found for term in query.excluded):
        return False
    return all(any(term in found for term in group) for group in query.groups)


@functools.lru_cache(maxsize=256)
def _term_regex(term: Term) -> re.Pattern[str]:
    return re.compile(_term_pattern(term), re.IGNORECASE)


def _term_pattern(term: Term) -> str:
    words = [re.escape(word) for word in term.words]
    end = "" if term.prefix else f"(?!{_WORD_CHAR})"
    return f"(?<!{_WORD_CHAR})" + _GAP.join(words) + end


def _best_start(spans: list[tuple[int, int, int]]) -> int:
    """Where the excerpt starts: before the match whose next :data:`SNIPPET_CHARS` characters
    hold the most distinct terms (the earliest of equals)."""
    best, best_count = spans[0][0], 0
    for i, (start, _end, _term) in enumerate(spans):
        seen = {term for s, e, term in spans[i:] if e <= start + SNIPPET_CHARS - _LEAD_CHARS}
        if len(seen) > best_count:
            best, best_count = start, len(seen)
    return best


def _cut(text: str, first_match: int, spans: list[tuple[int, int]]) -> Snippet:
    """The excerpt from a little before ``first_match``, whitespace folded, cut at word
    boundaries, with the ``spans`` inside it moved to its offsets."""
    start = max(0, first_match - _LEAD_CHARS)
    if start > 0:
        space = text.find(" ", start, first_match)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_CHARS)
    for s, e in spans:  # never cut through a match that starts inside
        if start <= s < end < e:
            end = e
    if end < len(text):
        space = text.rfind(" ", start + SNIPPET_CHARS // 2, end)
        end = space if space > 0 and not _inside(space, spans) else end
    return _fold(text, start, end, [(s, e) for s, e in spans if s >= start and e <= end])


def _inside(offset: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < offset < e for s, e in spans)


def _fold(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> Snippet:
    """``text[start:end]`` with whitespace runs folded to one space, trimmed, and ``…`` at a
    cut end; the spans re-measured in the result."""
    out: list[str] = ["…"] if start > 0 else []
    length = len(out)
    marks: list[tuple[int, int]] = []
    position = start
    for s, e in sorted(set(spans)):
        if s < position:
            continue
        piece = _squash(text[position:s], leading=length <= int(start > 0))
        out.append(piece)
        length += len(piece)
        inner = _squash(text[s:e], leading=False)
        marks.append((length, length + len(inner)))
        out.append(inner)
        length += len(inner)
        position = e
    out.append(_squash(text[position:end], leading=length <= int(start > 0)).rstrip())
    if end < len(text):
        out.append("…")
    return Snippet("".join(out), tuple(marks))


def _squash(piece: str, *, leading: bool) -> str:
    folded = _SPACE.sub(" ", piece)
    return folded.lstrip() if leading else folded
