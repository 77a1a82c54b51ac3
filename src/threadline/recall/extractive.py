"""The offline answer: sentences quoted from the best passages, each cited.

From each relevant passage (best first) the sentences — or lines, for code and tool output —
that carry most of the question's terms are quoted, at most :data:`PER_PASSAGE` of them, all
from one entry of the passage (the one holding the best sentence), each followed by the
citation ``[n]`` of that entry: a citation opens the entry its quotes come from. When that
entry is a tool call that failed, its error follows, cited on its own (:func:`failure`);
:data:`MAX_CITED` counts citations. Nothing is paraphrased, so nothing is invented, and text in
the history that reads like an instruction is quoted like any other. With no relevant passage
the answer is :data:`NO_MATCH`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.recall import terms as t
from threadline.recall.model import Passage, Source
from threadline.recall.passages import excerpt

#: Most passages an answer cites, and sentences it quotes from each.
MAX_CITED = 5
PER_PASSAGE = 2
#: Sentences quoted after a quoted one that ends with a colon (what it introduces: a list).
LISTED = 3
#: Characters of one quoted sentence.
MAX_SENTENCE_CHARS = 300
MIN_SENTENCE_CHARS = 8

HEADER = "From the history (quoted from the cited entries):"
NO_MATCH = "Nothing relevant was found in the history{where}, so there is no answer to give."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: Markdown's bold (``**Heading**``, as a model writes its thinking's headings): its text.
#: Not inside a word: ``\n**Heading**`` in a JSON string stays as it is (``\nHeading`` would
#: make a word the entry does not hold), as Markdown would leave it.
_BOLD = re.compile(r"(?<![0-9A-Za-z])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![0-9A-Za-z])")
#: What starts a line without being part of its sentence: quote and list marks, headings, and
#: the line numbers of a file read by an agent (``  12→``).
_MARKUP = re.compile(r"^(?:\s*\d+→)?[\s>#*\-+•|`]*")


@dataclass(frozen=True)
class Cited:
    """Citation ``n`` of an answer: the passage it comes from, and the entry of that passage
    it points at (``None``: the passage's anchor)."""

    n: int
    passage: Passage
    entry: Source | None = None
    #: What the answer quotes of that entry (none: a model's answer, which quotes nothing).
    quotes: tuple[str, ...] = ()

    @property
    def source(self) -> Source:
        """The entry the citation opens."""
        return self.entry or self.passage.anchor


@dataclass(frozen=True)
class Answer:
    text: str
    no_match: bool
    cited: list[Cited]
    #: The answer as Markdown where that differs from ``text``: the quotes' brackets escaped,
    #: so that only the answer's own ``[n]`` can become links to citations.
    markdown: str | None = None


def no_match(where: str = "") -> Answer:
    """The plain "nothing found" answer; ``where`` says what was searched (`` for project x``)."""
    return Answer(NO_MATCH.format(where=where), True, [])


def answer(terms: list[t.Term], passages: Sequence[Passage], where: str = "") -> Answer:
    """The extractive answer to a question of ``terms`` from ``passages`` (best first)."""
    lines: list[str] = []
    marked: list[str] = []  # the same lines as Markdown (see :func:`literal`)
    cited: list[Cited] = []
    seen: set[str] = set()
    for passage in [p for p in passages if p.relevant]:
        if len(cited) == MAX_CITED:
            break
        source, chosen = quoted(terms, passage)
        said = [(source, chosen)]
        if source is not None and (failed := failure(terms, passage, source)) is not None:
            said.append(failed)
        for entry, told in said:
            quotes = list({q.lower(): q for q in told if q.lower() not in seen}.values())
            if entry is None or not quotes or len(cited) == MAX_CITED:
                continue
            n = len(cited) + 1
            cited.append(Cited(n, passage, entry, tuple(quotes)))
            for quote in quotes:
                seen.add(quote.lower())
                lines.append(f"- “{quote}” [{n}]")
                marked.append(f"- “{literal(quote)}” [{n}]")
    if not cited:
        return no_match(where)
    return Answer("\n".join([HEADER, *lines]), False, cited, "\n".join([HEADER, *marked]))


#: A code span of single backticks (a longer run opens or closes none of these).
_CODE_SPAN = re.compile(r"(?<!`)(`[^`\n]*`)(?!`)")
_MARKDOWN_MARKUP = re.compile(r"([\\\[\]*_~<])")


def literal(quote: str) -> str:
    """``quote`` as Markdown that reads as it was written: ``\\``, ``[``, ``]``, ``*``, ``_``,
    ``~`` and ``<`` escaped outside code spans (inside one, nothing is markup), so
    ``columns[2]`` or a planted ``[2]`` in the history stays text instead of linking to
    citation 2, ``__init__`` is not bold and ``*latency*`` not italic."""
    pieces = _CODE_SPAN.split(quote)
    return "".join(
        piece if i % 2 else _MARKDOWN_MARKUP.sub(r"\\\1", piece) for i, piece in enumerate(pieces)
    )


def best_sentences(terms: list[t.Term], passage: Passage) -> list[str]:
    """The quotes of :func:`quoted`."""
    return quoted(terms, passage)[1]


def best_entry(terms: list[t.Term], passage: Passage) -> Source:
    """The entry of ``passage`` a citation of it opens: the one :func:`quoted` quotes (the
    anchor when no sentence holds a term)."""
    return quoted(terms, passage)[0] or passage.anchor


def quoted(terms: list[t.Term], passage: Passage) -> tuple[Source | None, list[str]]:
    """The entry of ``passage`` holding the sentence that carries the most of ``terms``, and
    up to :data:`PER_PASSAGE` of its sentences carrying as many, in its order. A person's
    prompt is what was asked, not what was found: it is quoted only when no other entry of
    the passage has a sentence with a term. Among equals, the anchor and then the
    conversation (not tool output) come first. ``(None, [])`` when no sentence holds a term
    — but for a file given with the question (a passage with a ``label``), which is what the
    question is about: its first sentences then."""
    wanted = {term.stem for term in terms}
    scored: list[tuple[tuple[int, int, int], int, int, str]] = []
    said: list[list[str]] = []  # each entry's sentences
    for position, (entry, text) in enumerate(zip(passage.entries, passage.excerpts, strict=True)):
        told = int(not entry.prompt)
        conversation = entry.role in ("user", "assistant")
        bonus = (entry.entry_id == passage.anchor.entry_id) + conversation
        prose = conversation and not (entry.call_ids or entry.result_ids)
        said.append(sentences(text, prose=prose))
        for order, sentence in enumerate(said[-1]):
            hits = len(t.found_in(terms, [sentence]))
            if hits:
                scored.append(((told, hits, bonus), position, order, sentence))
    if not scored and passage.label is not None and passage.excerpts:
        text = passage.excerpts[0]
        # a file too short for a sentence ("TODO", "x = 1") is quoted as it is
        opening = (sentences(text) or [" ".join(text.split())] if text.strip() else [])[
            :PER_PASSAGE
        ]
        return passage.entries[0], [excerpt(x, wanted, MAX_SENTENCE_CHARS) for x in opening]
    if not scored:
        return None, []
    scored.sort(key=lambda s: (s[0], -s[1], -s[2]), reverse=True)
    anchor = next((i for i, e in enumerate(passage.entries) if e == passage.anchor), None)
    calls = set(passage.anchor.call_ids)
    asked = {term.stem for term in t.found_in(terms, [passage.anchor.text])}
    results = {
        i
        for i, e in enumerate(passage.entries)
        if calls & set(e.result_ids)
        and {term.stem for term in t.found_in(terms, [passage.excerpts[i]])} - asked
    }
    mine = [s for s in scored if s[1] in results] or [
        s for s in scored if s[1] == anchor and s[0][0]
    ]
    if mine:
        scored = mine
    top, home = scored[0][0][:2], scored[0][1]
    best = [s for s in scored if s[1] == home and s[0][:2] == top]
    taken = {s[2] for s in best[:PER_PASSAGE]}
    lines = said[home]
    for order in [i for i in taken if lines[i].rstrip().endswith(":")]:
        # "Top 3 models found:" says what follows: quote what follows too
        taken.update(range(order + 1, min(order + 1 + LISTED, len(lines))))
    return passage.entries[home], [
        excerpt(lines[i], wanted, MAX_SENTENCE_CHARS) for i in sorted(taken)
    ]


def failure(terms: list[t.Term], passage: Passage, call: Source) -> tuple[Source, list[str]] | None:
    """When ``call`` (the entry of ``passage`` an answer quotes) calls a tool and the passage
    holds that call's result reporting an error: the result, and its last sentence that
    says an error (:data:`_ERROR`; else its first) — what happened to the call, quoted and
    cited beside the call itself. ``None`` otherwise."""
    calls = set(call.call_ids)
    for entry, text in zip(passage.entries, passage.excerpts, strict=True):
        if entry.failed and calls & set(entry.result_ids):
            said = sentences(_TAG.sub(" ", text))
            if not said:
                return None
            errors = [sentence for sentence in said if _ERROR.search(sentence)]
            best = errors[-1] if errors else said[0]
            return entry, [excerpt(best, {term.stem for term in terms}, MAX_SENTENCE_CHARS)]
    return None


#: A tag around a tool's error (``<tool_use_error>``): not part of what it says.
_TAG = re.compile(r"</?[a-z_]+>")
#: What says an error in a tool's output (the last such line of a traceback is its error).
_ERROR = re.compile(
    r"error|exception|fail|denied|not found|no such|cannot|can't|unable|invalid|exceed"
    r"|refused|timed out|no module",
    re.IGNORECASE,
)


def sentences(text: str, *, prose: bool = False) -> list[str]:
    """The sentences of ``text``: each line split after ``.``, ``!`` or ``?``, list and quote
    marks, line numbers and bold marks removed, blanks squeezed; fragments under
    :data:`MIN_SENTENCE_CHARS` dropped. A line holding JSON (a tool's structured output:
    search results, an MCP tool's reply) gives its string values instead, each one alone —
    what a reader would quote — and not the punctuation around them (:func:`json_values`).
    In ``prose`` (a person's prompt, a reply) a sentence broken over lines is one line again
    (:func:`unwrapped`)."""
    found: list[str] = []
    for line in unwrapped(text) if prose else text.splitlines():
        for piece in json_values(line) or [line]:
            for part in _SENTENCE_END.split(_BOLD.sub(r"\1", piece)):
                cleaned = " ".join(_MARKUP.sub("", part).split())
                if len(cleaned) >= MIN_SENTENCE_CHARS:
                    found.append(cleaned)
    return found


#: A line that ends a sentence, a clause or a bracket, or is empty: the next is not its rest.
_ENDED = re.compile(r"(?:[.!?:;)\]}>`|]|^\s*)$")
#: A line that goes on with the sentence before it: a lowercase word, not a list item.
_GOES_ON = re.compile(r"^\s*[a-z]")
_FENCE = re.compile(r"^\s*(?:```|~~~)")


def unwrapped(text: str) -> list[str]:
    """The lines of prose ``text`` with each sentence broken over lines (typed with a line
    break, or wrapped) joined again: a line that ends without a sentence's or clause's mark
    and a next line that starts with a lowercase word are one (``…contributor is VERY`` /
    ``slow. It looks…``). Lines inside code fences are left as they are."""
    lines: list[str] = []
    fenced = False
    joinable = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append(line)
            joinable = False
            continue
        if joinable and not fenced and _GOES_ON.match(line):
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
        joinable = not fenced and not _ENDED.search(lines[-1])
    return lines


#: A JSON string literal (``"…"`` with its escapes), and whether a ``:`` follows it (a key).
_JSON_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?')
#: Where a line's JSON starts: after a short label without quotes (``Links: ``), an array or
#: an object opening on a string or another of them.
_JSON_START = re.compile(r'^[^"{\[]{0,40}?([\[{])\s*[\[{"]')
#: How many ``"key": `` pairs make a line JSON rather than prose quoting a word.
_JSON_KEYS = 2


#: A line that is one JSON string, as a notebook's cells and other JSON documents hold their
#: text one line a string: ``"    x = load(\\"model\\")\\n",``.
_JSON_STRING_LINE = re.compile(r'^\s*"((?:[^"\\\n]|\\.)*)"\s*,?\s*$')


def json_values(line: str) -> list[str]:
    """The text of ``line`` before its JSON, then the JSON's string values (not its keys), in
    order, a value's lines apart; ``[]`` when the line does not start as JSON
    (:data:`_JSON_START`), holds fewer than :data:`_JSON_KEYS` keys, or a string that does
    not decode. Works on a line cut short at its end (an excerpt) as well as on a whole
    document: the strings are read one by one."""
    if (one := _JSON_STRING_LINE.match(line)) is not None and "\\" in one.group(1):
        try:
            return str(json.loads(f'"{one.group(1)}"')).splitlines() or [""]
        except ValueError:
            return []
    opening = _JSON_START.match(line)
    if opening is None:  # prose, or a line cut inside a string (where quotes pair wrongly)
        return []
    start = opening.end(1)
    strings = list(_JSON_STRING.finditer(line, start))
    if sum(1 for s in strings if s.group(2)) < _JSON_KEYS:
        return []
    values = [line[: start - 1]] if start > 1 else []
    for string in strings:
        if string.group(2):
            continue
        try:
            value = json.loads(f'"{string.group(1)}"')
        except ValueError:  # not JSON after all: the line as it is
            return []
        values.extend(str(value).splitlines())
    return values
