"""Passages: the matched entries with the neighbours that make them readable.

For each match, the entries read around it in its thread (in display order) give its passage:

- a tool result goes with the call that asked for it, and a tool call with its result;
- an agent's reply goes with the prompt it answers (the nearest earlier prompt), and a prompt
  with the reply that ends its turn (the last reply before the next prompt: an agent narrates
  between its tool calls and answers last);
- a slash command's expansion (the text the agent adds right after the command, such as a
  custom command's instructions) belongs to the command's prompt, both ways;

looked for within the :data:`NEAR` entries read on each side. The prompt that set a match's
turn going, however far back (given by the caller), lends its terms to the passage: they count
for relevance (``context``) and rank a passage only after the terms it holds itself. A passage
whose matched entry repeats a better one's (:data:`SAME_WORDS` of their words shared) comes
after the others. Passages of one thread that share
an entry are merged into one (its anchor is the best match). Every entry's text is cut around
the question's terms so that a passage stays within :data:`MAX_PASSAGE_CHARS`; a passage holds
at most :data:`MAX_ENTRIES` entries, those nearest its matches first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from threadline.recall import terms as t
from threadline.recall import weights as w
from threadline.recall.model import Match, Passage, Source

#: Entries read on each side of a match to find its call, result, prompt or reply.
NEAR = 10
#: Most entries in one passage.
MAX_ENTRIES = 6
#: Characters a passage quotes in all, and at least per entry.
MAX_PASSAGE_CHARS = 3000
MIN_ENTRY_CHARS = 300
#: Share of their distinct words two passages hold in common to be one repeated.
SAME_WORDS = 0.8

_SPACE = re.compile(r"[ \t]+")
#: Characters an excerpt may move its ends by to cut between words.
_WORD_SLACK = 20
_BLANK = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")


def cut(
    matches: Sequence[Match],
    threads: dict[str, list[Source]],
    terms: list[t.Term],
    term_weights: Mapping[str, float],
    turns: Mapping[str, Source] | None = None,
) -> list[Passage]:
    """Passages for ``matches`` (given best first), best first: by the weight of the terms
    they hold (:mod:`threadline.recall.weights`), then by their best match's score; ``threads``
    maps a thread id to the entries read around its matches, in display order (each match's
    own entry among them); ``turns`` a matched entry's id to the prompt of its turn, whose
    terms a passage holds as well (a tool call serves the prompt that set its turn going,
    however far back)."""
    spans: list[_Span] = []
    for match in matches:
        rows = threads.get(match.source.thread_id) or [match.source]
        index = next((i for i, r in enumerate(rows) if r.entry_id == match.source.entry_id), None)
        if index is None:
            rows, index = [match.source], 0
        spans.append(_Span(match, rows, index))
    merged = _merge(spans)
    passages = [span.passage(terms, term_weights, turns or {}) for span in merged]
    passages.sort(
        key=lambda p: (
            -len(p.found),
            -p.weight,
            -len(p.context),
            -p.score,
            _newest_first(p.anchor.ts),
        )
    )
    return _repeats_last(passages)


def _repeats_last(ranked: list[Passage]) -> list[Passage]:
    """``ranked`` with every passage that repeats a better one (:data:`SAME_WORDS` of their
    words shared: the same to-do list rewritten, the same pasted context at every prompt) moved
    after the others, in order."""
    kept: list[Passage] = []
    repeats: list[Passage] = []
    seen: list[frozenset[str]] = []
    for passage in ranked:
        words = frozenset(
            m.group().lower() for m in _WORD.finditer(passage.anchor.text, 0, t.MAX_SCANNED_CHARS)
        )
        if any(_alike(words, other) for other in seen):
            repeats.append(passage)
        else:
            kept.append(passage)
            seen.append(words)
    return kept + repeats


def _alike(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two passages' word sets share :data:`SAME_WORDS` of their union."""
    union = len(a | b)
    return union > 0 and len(a & b) >= SAME_WORDS * union


class _Span:
    """The entries (indexes into ``rows``) one or more matches of a thread pick; ``anchors``
    are the matched entries, the best match first."""

    def __init__(self, match: Match, rows: list[Source], at: int) -> None:
        self.match, self.rows = match, rows
        self.anchors = [at]
        self.picked = _companions(rows, at)

    def passage(
        self, terms: list[t.Term], term_weights: Mapping[str, float], turns: Mapping[str, Source]
    ) -> Passage:
        nearest = sorted(self.picked, key=lambda i: min(abs(i - a) for a in self.anchors))
        entries = [self.rows[i] for i in sorted(nearest[:MAX_ENTRIES])]
        shown = {e.entry_id for e in entries}
        context = [  # a prompt starts a turn of its own: the one before lends it nothing
            turn.text
            for turn in (
                turns.get(self.rows[a].entry_id) for a in self.anchors if not self.rows[a].prompt
            )
            if turn is not None and turn.entry_id not in shown
        ]
        found = t.found_in(terms, [*(e.text for e in entries), self.match.project])
        known = {term.stem for term in found}
        around = [x for x in t.found_in(terms, context) if x.stem not in known]
        stems = {term.stem for term in found + around}
        budget = max(MIN_ENTRY_CHARS, MAX_PASSAGE_CHARS // len(entries))
        wanted = {term.stem for term in terms}
        return Passage(
            thread_id=self.match.source.thread_id,
            thread_title=self.match.thread_title,
            project=self.match.project,
            anchor=self.rows[self.anchors[0]],
            entries=entries,
            excerpts=[excerpt(e.text, wanted, budget) for e in entries],
            found=found,
            score=self.match.score,
            relevant=w.is_relevant(term_weights, stems),
            weight=w.held(term_weights, known),
            context=around,
        )


def _companions(rows: list[Source], at: int) -> set[int]:
    """``at`` and the entries that make it readable (see the module documentation)."""
    entry = rows[at]
    picked = {at}
    lo, hi = max(0, at - NEAR), min(len(rows), at + NEAR + 1)
    if entry.result_ids:
        wanted = set(entry.result_ids)
        picked |= {i for i in range(lo, at) if wanted & set(rows[i].call_ids)}
    if entry.call_ids:
        wanted = set(entry.call_ids)
        picked |= {i for i in range(at + 1, hi) if wanted & set(rows[i].result_ids)}
    if entry.reply:
        prompt = next((i for i in range(at - 1, lo - 1, -1) if rows[i].prompt), None)
        if prompt is not None:
            picked |= {prompt} | _expansion(rows, prompt)
    if entry.injected and at > 0 and rows[at - 1].prompt:
        picked |= {at - 1} | _turn_end(rows, at - 1, hi)
    if entry.prompt:
        picked |= _expansion(rows, at) | _turn_end(rows, at, hi)
    return picked


def _expansion(rows: list[Source], prompt: int) -> set[int]:
    """The text the agent added right after the prompt ``prompt`` (a command's expansion)."""
    after = prompt + 1
    return {after} if after < len(rows) and rows[after].injected else set()


def _turn_end(rows: list[Source], prompt: int, hi: int) -> set[int]:
    """The reply that ends the turn of the prompt ``prompt`` (before the next prompt)."""
    end = next((i for i in range(prompt + 1, hi) if rows[i].prompt), hi)
    reply = next((i for i in range(end - 1, prompt, -1) if rows[i].reply), None)
    return {reply} if reply is not None else set()


def _merge(spans: list[_Span]) -> list[_Span]:
    """Spans of one thread that share an entry become one, anchored at the better match."""
    kept: list[_Span] = []
    for span in spans:
        ids = {span.rows[i].entry_id for i in span.picked}
        home = next((k for k in kept if k.match.source.thread_id == span.match.source.thread_id
                     and ids & {k.rows[i].entry_id for i in k.picked}), None)  # fmt: skip
        if home is None:
            kept.append(span)
            continue
        # Both spans read the same thread: map the newcomer's picks into the kept rows.
        position = {r.entry_id: i for i, r in enumerate(home.rows)}
        for i in span.picked:
            found = position.get(span.rows[i].entry_id)
            if found is not None:
                home.picked.add(found)
        mine = position.get(span.match.source.entry_id)
        if mine is not None and mine not in home.anchors:
            home.anchors.append(mine)
    return kept


def excerpt(text: str, wanted: Iterable[str], budget: int) -> str:
    """``text`` with runs of blanks squeezed, cut to ``budget`` characters around the densest
    place of the ``wanted`` stems (``…`` where cut)."""
    text = _SPACE.sub(" ", text.strip())
    if len(text) <= budget:
        return text
    stems = set(wanted)
    hits = [
        m.start()
        for m in _WORD.finditer(text, 0, t.MAX_SCANNED_CHARS)
        if t.stem(m.group().lower()) in stems
    ]
    return _cut(text, _densest(hits, budget) if hits else 0, budget)


def excerpt_at(text: str, needle: str, budget: int) -> str | None:
    """``text`` on one line (every run of blanks and line breaks one space), cut to
    ``budget`` characters around where it holds ``needle`` (read the same way); ``None`` when
    it does not."""
    text, needle = " ".join(text.split()), " ".join(needle.split())
    at = text.find(needle)
    if at < 0:
        return None
    return text if len(text) <= budget else _cut(text, at, budget)


def _cut(text: str, start: int, budget: int) -> str:
    """``text`` cut to ``budget`` characters from a little before ``start``, between words
    when one is near (``…`` where cut)."""
    start = max(0, min(start - budget // 5, len(text) - budget))
    end = start + budget
    # Cut between words when one is near (a word cut in two reads as another word).
    if start and not text[start - 1].isspace():
        after = _BLANK.search(text, start, start + _WORD_SLACK)
        start = after.end() if after else start
    if end < len(text) and not text[end].isspace():
        before = [m.start() for m in _BLANK.finditer(text, max(start, end - _WORD_SLACK), end)]
        end = before[-1] if before else end
    cut_text = text[start:end].strip()
    return ("…" if start else "") + cut_text + ("…" if end < len(text) else "")


def _densest(positions: list[int], width: int) -> int:
    """The position starting the ``width``-wide window that holds most ``positions``."""
    best, best_count, lo = positions[0], 0, 0
    for hi, end in enumerate(positions):
        while end - positions[lo] > width:
            lo += 1
        if hi - lo + 1 > best_count:
            best, best_count = positions[lo], hi - lo + 1
    return best


def _newest_first(ts: str) -> str:
    """A sort key putting later timestamps (text in time order) first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in ts)
