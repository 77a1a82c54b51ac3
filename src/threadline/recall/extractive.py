"""The offline answer: sentences quoted from the best passages, each cited.

From each relevant passage (best first, at most :data:`MAX_CITED`) the sentences — or lines,
for code and tool output — that carry most of the question's terms are quoted, at most
:data:`PER_PASSAGE` of them, each followed by the passage's citation ``[n]``. Nothing is
paraphrased, so nothing is invented, and text in the history that reads like an instruction is
quoted like any other. With no relevant passage the answer is :data:`NO_MATCH`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.recall import terms as t
from threadline.recall.model import Passage
from threadline.recall.passages import excerpt

#: Most passages an answer cites, and sentences it quotes from each.
MAX_CITED = 5
PER_PASSAGE = 2
#: Characters of one quoted sentence.
MAX_SENTENCE_CHARS = 300
MIN_SENTENCE_CHARS = 8

HEADER = "From the history (quoted from the cited entries):"
NO_MATCH = "Nothing relevant was found in the history{where}, so there is no answer to give."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: What starts a line without being part of its sentence: quote and list marks, headings, and
#: the line numbers of a file read by an agent (``  12→``).
_MARKUP = re.compile(r"^(?:\s*\d+→)?[\s>#*\-+•|`]*")


@dataclass(frozen=True)
class Cited:
    """Citation ``n`` of an answer: the passage it points at."""

    n: int
    passage: Passage


@dataclass(frozen=True)
class Answer:
    text: str
    no_match: bool
    cited: list[Cited]


def no_match(where: str = "") -> Answer:
    """The plain "nothing found" answer; ``where`` says what was searched (`` for project x``)."""
    return Answer(NO_MATCH.format(where=where), True, [])


def answer(terms: list[t.Term], passages: Sequence[Passage], where: str = "") -> Answer:
    """The extractive answer to a question of ``terms`` from ``passages`` (best first)."""
    lines: list[str] = []
    cited: list[Cited] = []
    seen: set[str] = set()
    for passage in [p for p in passages if p.relevant]:
        if len(cited) == MAX_CITED:
            break
        quotes = [q for q in best_sentences(terms, passage) if q.lower() not in seen]
        if not quotes:
            continue
        n = len(cited) + 1
        cited.append(Cited(n, passage))
        for quote in quotes:
            seen.add(quote.lower())
            lines.append(f"- “{quote}” [{n}]")
    if not cited:
        return no_match(where)
    return Answer("\n".join([HEADER, *lines]), False, cited)


def best_sentences(terms: list[t.Term], passage: Passage) -> list[str]:
    """Up to :data:`PER_PASSAGE` of the sentences of ``passage`` that carry the most of
    ``terms``, in the passage's order. A person's prompt is what was asked, not what was
    found: its sentences come only when no other entry of the passage has one with a term.
    Among equals, the anchor's and then the conversation's (not tool output) come first."""
    wanted = {term.stem for term in terms}
    scored: list[tuple[tuple[int, int, int], int, int, str]] = []
    for position, (entry, text) in enumerate(zip(passage.entries, passage.excerpts, strict=True)):
        told = int(not entry.prompt)
        bonus = (entry.entry_id == passage.anchor.entry_id) + (entry.role in ("user", "assistant"))
        for order, sentence in enumerate(sentences(text)):
            hits = len(wanted & t.stems(sentence))
            if hits:
                scored.append(((told, hits, bonus), position, order, sentence))
    if not scored:
        return []
    scored.sort(key=lambda s: s[0], reverse=True)
    best = [s for s in scored if s[0][:2] == scored[0][0][:2]]
    chosen = sorted(best[:PER_PASSAGE], key=lambda s: (s[1], s[2]))
    return [excerpt(s[3], wanted, MAX_SENTENCE_CHARS) for s in chosen]


def sentences(text: str) -> list[str]:
    """The sentences of ``text``: each line split after ``.``, ``!`` or ``?``, list and quote
    marks and line numbers removed, blanks squeezed; fragments under
    :data:`MIN_SENTENCE_CHARS` dropped."""
    found: list[str] = []
    for line in text.splitlines():
        for piece in _SENTENCE_END.split(line):
            cleaned = " ".join(_MARKUP.sub("", piece).split())
            if len(cleaned) >= MIN_SENTENCE_CHARS:
                found.append(cleaned)
    return found
