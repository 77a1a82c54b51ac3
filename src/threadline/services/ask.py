"""Ask: a question answered from the user's own history, with citations, kept as a thread.

**Retrieval** (:func:`retrieve`, also what the evaluation measures) asks the search index
(:func:`threadline.search.engine.ranked`, the search service's own ranking — on PostgreSQL
``dense``: divided by an entry's number of distinct words too —, word matches only) for the
question's content terms (:mod:`threadline.recall.terms`): all of them together, then each
alone — as the prefix of its stem (``failing`` → ``fail*``; a compound such as
``src/auth/login.py`` as a phrase; an irregular verb with its other forms, ``ran OR run``),
which also counts the entries holding the term (up to :data:`COUNT_CAP`), and as written. The best
:data:`PER_QUERY` of each query are the candidates, within the caller's entries and the given
project and scope; the search leaves ``ask`` threads out: an earlier answer is made of the
history, and citing it would cite the history second-hand (or an answer's mistake as a fact).
Each term's count gives its weight (:mod:`threadline.recall.weights`: the rarer in this
history, the heavier). The :data:`MAX_MATCHES` candidates holding most of the terms (in their
text, by stem), then most of the weight, are read with their neighbours
(:func:`threadline.services.entries.neighbours_of`) and cut into passages by
:mod:`threadline.recall.passages`, ranked the same way, then by the search's score; a passage
counts only if it holds half the question's weight (:func:`threadline.recall.weights.is_relevant`),
the words of the prompt that set its turn going counted with its own (:func:`_turn_prompts`).
No relevant passage is ``no_match``. About ``1 + 2 × terms`` index queries, one read of the
candidates, three statements for the neighbours and two for the turns' prompts, whatever the
history's size.

**Search words from the model**: with a model configured, :func:`ask` first asks it for the
words the answering entries would hold (:mod:`threadline.recall.expand`: only the question and
the conversation's earlier questions are sent, the reply read as bounded plain words, between
two reads so no transaction waits on the model). :func:`retrieve` searches them beside the
question's terms, and a passage counts if it is relevant to either (:func:`relevant`). A
failing or slow call is logged and retrieval is lexical alone.

**The answer** is extractive (:mod:`threadline.recall.extractive`) without a language model,
or written by the configured model from the passages (:mod:`threadline.recall.prompt`), its
``[n]`` markers mapped back to passages and invented numbers dropped. A citation opens the
entry of its passage that the answer quotes (:func:`threadline.recall.extractive.best_entry`:
not a prompt when its reply holds the question's words, a tool call's result when that holds
words the call does not). With nothing relevant and
no file to answer from, the model is not called: the answer says nothing was found.

**The conversation** is a thread of kind ``ask`` in the project: every ask appends the question
(a ``user`` entry) and the answer (an ``assistant`` entry whose meta holds the citations) in
one transaction. ``thread_id`` continues a conversation (its earlier turns go to the model as
context; a follow-up (:func:`follows_on`) is searched together with the previous question;
a question naming no project, ``all_projects`` nor scope searches where the conversation's
last one did: :func:`continued`). ``about`` scopes
the conversation to ``file:<path>`` — asking about the same file again in the project finds the
same thread — and gives the file's content to the answer as a passage, stored as a hidden
``system`` entry (again only when it changed). When the model cannot be reached the question is
still stored, and the error names the thread.

Limits: :data:`MAX_QUESTION_CHARS`, :data:`MAX_ABOUT_BYTES`, :data:`MAX_ABOUT_PATH_CHARS`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import (
    ApiError,
    Conflict,
    ModelFailed,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from threadline.protocol import sse
from threadline.protocol.models import EntryCreate
from threadline.recall import citations, english, expand, extractive, passages, prompt
from threadline.recall import terms as t
from threadline.recall import weights as w
from threadline.recall.llm import PROVIDERS, LanguageModel, ModelConfig, Provider, client_for
from threadline.recall.model import Match, Passage, Source, source_from
from threadline.search import engine
from threadline.search.engine import Filters
from threadline.search.query import parse
from threadline.search.text import searchable_text
from threadline.services import entries as entry_service
from threadline.services import inputs
from threadline.services.auth import Principal
from threadline.services.entries import EntryRow
from threadline.services.search import Hit
from threadline.services.threads import (
    get_or_create_scoped,
    live_scoped_id,
    live_thread,
    parse_scope,
)
from threadline.storage.changes import ChangeCursor
from threadline.storage.database import Database
from threadline.storage.schema import entries, threads
from threadline.storage.values import json_text, json_value, now_text, ts_text

KIND = "ask"
#: The thread kinds retrieval searches: all but the conversations of ask.
SEARCHED = tuple(kind for kind in p.KINDS if kind != KIND)
#: The scope type of a conversation about a file (``file:<path>``).
ABOUT_SCOPE = "file"
MAX_QUESTION_CHARS = p.MAX_QUESTION_CHARS
MAX_ABOUT_BYTES = p.MAX_ABOUT_BYTES
MAX_ABOUT_PATH_CHARS = p.MAX_ABOUT_PATH_CHARS
#: Passages retrieved for an answer.
DEFAULT_LIMIT = 8
#: Matches taken from each query, and matches read with their neighbours.
PER_QUERY = 20
MAX_MATCHES = 24
#: Entries counted per term (past it a term is simply common: its weight is the least).
COUNT_CAP = w.DEFAULT_CAP
#: The shortest start of a word searched as a prefix (shorter ones find too much).
MIN_PREFIX_CHARS = 4
#: Entries of role ``user`` looked at before a match to find the prompt of its turn.
TURN_LOOKBACK = 3
#: Earlier turns of a conversation given to a model, and their characters in all.
MAX_TURNS = 6
MAX_TURN_CHARS = 12_000
#: An earlier question's answer when there was none (the language model failed).
UNANSWERED = "(No answer: the language model failed.)"
#: Characters of a citation's snippet, and of a new conversation's title.
SNIPPET_CHARS = 240
#: How much of a quote's start is looked for in its entry to centre the citation's snippet.
QUOTE_FOUND_CHARS = 40
TITLE_CHARS = 120


def language_model(
    provider: str,
    base_url: str,
    model: str,
    api_key_env: str,
    *,
    timeout: float,
    connect_timeout: float,
) -> LanguageModel | None:
    """The client of the configured model; ``None`` for provider ``none`` (extractive)."""
    if provider not in PROVIDERS:
        return None
    chosen: Provider = "anthropic" if provider == "anthropic" else "openai"
    config = ModelConfig(
        chosen, base_url, model, api_key_env or None, connect_timeout, read_timeout=timeout
    )
    return client_for(config)


# --- retrieval -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrieval:
    """The relevant passages for a question, best first (empty and ``no_match`` when none
    passes the relevance rule), the question's content terms and their weights."""

    passages: list[Passage]
    no_match: bool
    terms: list[t.Term] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    #: The model's search terms for the question (:mod:`threadline.recall.expand`), if any.
    expansion: list[t.Term] = field(default_factory=list)
    #: The question's names and rare words the searched history holds nowhere
    #: (:func:`absent_names`).
    absent: frozenset[str] = frozenset()


def relevant(
    terms: Sequence[t.Term],
    expansion: Sequence[t.Term],
    term_weights: dict[str, float],
    found: set[str],
) -> bool:
    """Whether a passage holding the stems ``found`` is relevant: to the question's own
    terms, or to the model's search words taken as a question of their own
    (:func:`threadline.recall.weights.is_relevant_to_any`)."""
    groups = [terms, expansion] if expansion else [terms]
    return w.is_relevant_to_any(term_weights, ([x.stem for x in g] for g in groups), found)


def retrieve(
    conn: sa.Connection,
    user_id: int,
    question: str,
    *,
    project: str | None = None,
    scope: str | None = None,
    limit: int = DEFAULT_LIMIT,
    expansion: Sequence[t.Term] = (),
) -> Retrieval:
    """The passages of the user's history that answer ``question`` (see the module doc).

    ``expansion`` holds the model's search terms for the question
    (:mod:`threadline.recall.expand`): they are searched beside the question's own terms, and
    a passage is relevant to either set (:func:`relevant`).

    ``project`` (``None``: every project) and ``scope`` (``type:id``: the threads of that
    scope, one per project) narrow the search. What ask wrote (questions, answers, files:
    :func:`written_by_ask`) is never retrieved nor counted in a word's weight, wherever it is
    kept — the conversation the question continues included; the notes pushed to the scope of
    a file's conversation (an ``ask`` thread) are, like any other entry. Runs inside the
    caller's transaction ``conn``.
    """
    own = t.content_terms(question)
    expanded = list(expansion)
    if not own and not expanded:
        return Retrieval([], True, own)
    within: list[str | None] = [None]
    if scope is not None:
        within = list(_scoped_threads(conn, user_id, scope, project))
    gathered = _Gathered(own, expanded)
    noted, written = _file_conversations(conn, user_id, project, scope)
    for one in within:
        gathered.add(conn, _filters(user_id, project, one), written)
    for one in noted:
        gathered.add(conn, Filters(user_id=user_id, project=project, thread_id=one), written)
    everyday = {x.stem for x in gathered.terms if not x.compound and english.is_everyday(x.word)}
    term_weights = w.weights(gathered.counts, everyday=everyday)
    chosen = _matches(conn, user_id, gathered, term_weights)
    found = _passages(conn, user_id, chosen, gathered.terms, term_weights)
    absent = absent_names(own, gathered.counts, found)
    rule = w.against_absent(term_weights, absent)
    for passage in found:
        stems = {term.stem for term in passage.found + passage.context}
        passage.relevant = relevant(own, expanded, rule, stems)
    kept = [passage for passage in found if passage.relevant][:limit]
    return Retrieval(kept, not kept, own, term_weights, expanded, absent)


def absent_names(
    terms: Sequence[t.Term], counts: dict[str, int], found: Sequence[Passage]
) -> frozenset[str]:
    """The stems of the question's names and rare words among ``terms`` (a name:
    :func:`threadline.recall.terms.is_name`; a rare word: :func:`threadline.recall.english.is_rare`,
    such as *shard* or *liveness*) that the searched
    history holds nowhere: the search counted no entry for them and none of the passages
    ``found`` holds them (a word inside a longer one, such as ``nav`` of ``NavUser``, is held
    without being a word of the index)."""
    held = {term.stem for passage in found for term in passage.found}
    return frozenset(
        term.stem
        for term in terms
        if counts.get(term.stem, 0) == 0
        and term.stem not in held
        and (t.is_name(term) or english.is_rare(term.word))
    )


def _file_conversations(
    conn: sa.Connection, user_id: int, project: str | None, scope: str | None
) -> tuple[list[str], set[int]]:
    """What the conversations about a file hold, in ``project`` and of ``scope`` when given:
    the ``ask`` threads of a file's scope that hold entries ask did not write (notes pushed
    to that scope after ask made its thread), and the keys of every entry ask wrote in a
    file's scope thread of any kind (a thread of notes pushed before the first question
    holds the conversation too) — which the search leaves out: neither a candidate nor
    counted in a word's weight."""
    query = (
        sa.select(entries.c.pk, entries.c.thread_id, entries.c.meta, threads.c.kind)
        .join(threads, threads.c.id == entries.c.thread_id)
        .where(
            threads.c.user_id == user_id,
            threads.c.scope_type == ABOUT_SCOPE,
            threads.c.deleted_at.is_(None),
        )
    )
    if project is not None:
        query = query.where(threads.c.project == project)
    if scope is not None:
        kind, ident = parse_scope(scope)
        query = query.where(threads.c.scope_type == kind, threads.c.scope_id == ident)
    noted: dict[str, None] = {}
    written: set[int] = set()
    for row in conn.execute(query):
        if written_by_ask(json_value(row.meta)):
            written.add(int(row.pk))
        elif row.kind == KIND:
            noted[str(row.thread_id)] = None
    return list(noted), written


def _scoped_threads(
    conn: sa.Connection, user_id: int, scope: str, project: str | None
) -> list[str]:
    """The user's live threads of ``scope`` (one per project), in ``project`` if given."""
    kind, ident = parse_scope(scope)
    query = sa.select(threads.c.id).where(
        threads.c.user_id == user_id,
        threads.c.scope_type == kind,
        threads.c.scope_id == ident,
        threads.c.deleted_at.is_(None),
    )
    if project is not None:
        query = query.where(threads.c.project == project)
    return [str(found) for found in conn.execute(query).scalars()]


def _filters(user_id: int, project: str | None, thread_id: str | None) -> Filters:
    """The caller's entries in live threads of the searched kinds (never ``ask``), in
    ``project`` and ``thread_id`` when given."""
    return Filters(user_id=user_id, project=project, kinds=SEARCHED, thread_id=thread_id)


class _Gathered:
    """The search's word matches for a question: the candidates, and each term's count.

    The question's terms, then the model's search terms (if any) not among them, are
    searched. Each term is searched alone, as the prefix of its stem (:func:`_prefix`): how many
    entries that finds, up to :data:`COUNT_CAP`, is the term's count (its weight). The
    candidates are the best :data:`PER_QUERY` matches of all the question's terms together
    (and of all the model's together), then of each term alone — its word as written
    first, then its other forms — in that order."""

    def __init__(self, own: list[t.Term], expansion: list[t.Term]) -> None:
        known = {term.stem for term in own}
        self.terms = own + [term for term in expansion if term.stem not in known]
        self.together = [group for group in (own, expansion) if len(group) > 1]
        self.counts = {term.stem: 0 for term in self.terms}
        #: Candidate entry key → its score in the query that found it first.
        self.scores: dict[int, float] = {}

    def add(self, conn: sa.Connection, filters: Filters, skip: Set[int] = frozenset()) -> None:
        """Gather the matches within ``filters`` (once per searched thread of a scope), but
        the entries of keys ``skip``."""

        def search(query: str) -> list[engine.Match]:
            hits = _word_matches(conn, query, filters)
            return [hit for hit in hits if hit.pk not in skip] if skip else hits

        found: list[list[engine.Match]] = []
        for group in self.together:
            found.append(search(" ".join(term.word for term in group)))
        for term in self.terms:
            forms = search(_prefix(term))
            self.counts[term.stem] = min(self.counts[term.stem] + len(forms), COUNT_CAP)
            found.append(self._own(term, forms, search))
        for matches in found:
            for match in matches[:PER_QUERY]:
                self.scores.setdefault(match.pk, match.score)

    def _own(
        self,
        term: t.Term,
        forms: list[engine.Match],
        search: Callable[[str], list[engine.Match]],
    ) -> list[engine.Match]:
        """A term's best matches: of its word as written, then of its other forms."""
        if _prefix(term) == term.word:
            return forms
        exact = search(term.word)[:PER_QUERY]
        seen = {match.pk for match in exact}
        return exact + [match for match in forms if match.pk not in seen]


def _word_matches(conn: sa.Connection, query: str, filters: Filters) -> list[engine.Match]:
    """The search's word matches of ``query``, best first (the newest
    :data:`~threadline.search.engine.RANKED` ranked, as the search ranks them, ``dense``)."""
    try:
        parsed = parse(query)
    except ValidationFailed:
        return []
    return engine.ranked(conn, parsed, filters, dense=True)


def _prefix(term: t.Term) -> str:
    """The search query finding the words of ``term``'s stem: ``cach*`` (caching, caches),
    ``flak*`` (flaky), ``reconnect*`` (reconnected); a word sharing fewer than
    :data:`MIN_PREFIX_CHARS` characters with its stem as it is; a compound as written (a
    phrase); with the other forms of an irregular verb (``ran OR run``)."""
    if term.compound:
        return term.word
    common = 0
    while common < min(len(term.word), len(term.stem)) and term.word[common] == term.stem[common]:
        common += 1
    query = f"{term.word[:common]}*" if common >= MIN_PREFIX_CHARS else term.word
    return " OR ".join([query, *t.forms(term.word)])


@dataclass(frozen=True)
class _Found:
    """A matched entry, read for its passage."""

    thread_id: str
    entry_id: str
    score: float
    thread_title: str | None
    thread_name: str
    project: str
    kind: str


#: What a candidate is ranked and cited by.
_CANDIDATE_COLUMNS = (
    *(entries.c[name] for name in ("pk", "entry_uuid", "thread_id", "text", "parts", "meta")),
    *(threads.c[name] for name in ("title", "name", "project", "kind")),
)


def _matches(
    conn: sa.Connection,
    user_id: int,
    gathered: _Gathered,
    term_weights: dict[str, float],
) -> list[_Found]:
    """The :data:`MAX_MATCHES` best candidates (the caller's, in live threads, none written
    by ask), read for their passages: those holding most of the question's terms
    first (in their searchable text, by stem), then most of its weight, then in the order
    found."""
    keys = list(gathered.scores)
    if not keys:
        return []
    rows = conn.execute(
        sa.select(*_CANDIDATE_COLUMNS)
        .join(threads, threads.c.id == entries.c.thread_id)
        .where(
            entries.c.pk.in_(keys),
            entries.c.user_id == user_id,
            threads.c.deleted_at.is_(None),
        )
    )
    by_key = {row.pk: row for row in rows if not written_by_ask(json_value(row.meta))}
    wanted = set(term_weights)
    position = {key: i for i, key in enumerate(keys)}
    held = {
        key: {
            term.stem
            for term in t.found_in(
                gathered.terms, [searchable_text(row.text or "", row.parts), row.project]
            )
        }
        & wanted
        for key, row in by_key.items()
    }
    best = sorted(
        by_key, key=lambda k: (-len(held[k]), -w.held(term_weights, held[k]), position[k])
    )
    return [_found(by_key[key], gathered.scores[key]) for key in best[:MAX_MATCHES]]


def written_by_ask(meta: Any) -> bool:
    """Whether an entry of this ``meta`` was written by ask (a question, an answer, or the
    file of ``about``). Such entries are never retrieved, also where they are kept outside an
    ``ask`` thread: the conversation about a file lives in the thread of its scope
    ``file:<path>``, which may be a thread of notes."""
    return isinstance(meta, dict) and isinstance(meta.get("ask"), dict)


def _found(row: Any, score: float) -> _Found:
    return _Found(
        str(row.thread_id), str(row.entry_uuid), score, row.title, row.name, row.project, row.kind
    )


def _passages(
    conn: sa.Connection,
    user_id: int,
    hits: Sequence[Hit | _Found],
    terms: list[t.Term],
    term_weights: dict[str, float],
) -> list[Passage]:
    by_thread: dict[str, list[str]] = {}
    for hit in hits:
        by_thread.setdefault(hit.thread_id, []).append(hit.entry_id)
    found = entry_service.neighbours_of(conn, user_id, by_thread, passages.NEAR)
    rows = {
        tid: [_source(r, tid) for r in found.get(tid, []) if not written_by_ask(r.meta)]
        for tid in by_thread
    }
    turns = _turn_prompts(conn, user_id, hits)
    matches = []
    for hit in hits:
        source = next((s for s in rows[hit.thread_id] if s.entry_id == hit.entry_id), None)
        if source is not None:
            title = hit.thread_title or hit.thread_name
            matches.append(Match(source, hit.score, title, hit.project, hit.kind))
    return passages.cut(matches, rows, terms, term_weights, turns)


def _turn_prompts(
    conn: sa.Connection, user_id: int, hits: Sequence[Hit | _Found]
) -> dict[str, Source]:
    """Each hit's entry id → the prompt of its turn: the nearest person's prompt before it
    (not text the agent added), looked for among :data:`TURN_LOOKBACK` entries of role
    ``user`` back."""
    thread_of = {hit.entry_id: hit.thread_id for hit in hits}
    before = entry_service.prompts_before(conn, user_id, list(thread_of), TURN_LOOKBACK)
    turns: dict[str, Source] = {}
    for entry_id, rows in before.items():
        sources = (
            _source(row, thread_of[entry_id]) for row in rows if not written_by_ask(row.meta)
        )
        prompt = next((source for source in sources if source.prompt), None)
        if prompt is not None:
            turns[entry_id] = prompt
    return turns


def _source(row: EntryRow, thread_id: str) -> Source:
    return source_from(
        entry_id=row.id,
        thread_id=thread_id,
        seq=row.seq,
        ts=row.ts,
        role=row.role,
        text=row.text,
        parts=row.parts,
        meta=row.meta,
    )


# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class About:
    """A file the question is about: its repository-relative path and current content."""

    path: str
    content: str


@dataclass(frozen=True)
class Question:
    """What is asked, and where.

    ``project`` is where a new conversation is kept and, unless ``all_projects``, what is
    searched (``None``: every project, and the conversation is kept without a project).
    """

    text: str
    project: str | None = None
    all_projects: bool = False
    thread_id: str | None = None
    scope: str | None = None
    about: About | None = None


@dataclass(frozen=True)
class Citation:
    n: int
    thread_id: str
    entry_id: str
    seq: int
    ts: str
    role: str
    snippet: str
    url: str
    thread_title: str
    project: str

    def as_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "thread_id": self.thread_id,
            "entry_id": self.entry_id,
            "seq": self.seq,
            "ts": self.ts,
            "snippet": self.snippet,
            "url": self.url,
            "role": self.role,
            "thread_title": self.thread_title,
            "project": self.project,
        }


@dataclass(frozen=True)
class Answered:
    """A stored question and its answer."""

    question: str
    answer: str
    no_match: bool
    citations: list[Citation]
    thread_id: str
    question_entry_id: str
    answer_entry_id: str
    mode: str
    model: str | None
    #: The model's search words for the question (empty: retrieval was lexical alone).
    expanded_terms: list[str] = field(default_factory=list)
    #: The project searched (``None``: every project) and the scope, if any: a follow-up's
    #: are its conversation's unless it named its own (:func:`continued`).
    searched_project: str | None = None
    searched_scope: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The answer as the API sends it (the ``--json`` shape, and a few more fields)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "no_match": self.no_match,
            "citations": [c.as_json() for c in self.citations],
            "thread_id": self.thread_id,
            "question_entry_id": self.question_entry_id,
            "answer_entry_id": self.answer_entry_id,
            "mode": self.mode,
            "model": self.model,
            "expanded_terms": self.expanded_terms,
            "searched_project": self.searched_project,
            "searched_scope": self.searched_scope,
        }


@dataclass(frozen=True)
class Delta:
    """A piece of the answer's text, as it is written."""

    text: str


@dataclass(frozen=True)
class Done:
    answered: Answered


def event_bytes(event: Delta | Done) -> bytes:
    """``event`` as a server-sent event: ``delta`` with ``{"text": …}``, or ``done`` with the
    answer's JSON (the API's stream and the web's Ask page send the same)."""
    if isinstance(event, Delta):
        return sse.encode("delta", json.dumps({"text": event.text}, ensure_ascii=False))
    return sse.encode("done", json.dumps(event.answered.as_json(), ensure_ascii=False))


def error_bytes(exc: ApiError) -> bytes:
    """A failure after the stream started, as an ``error`` event in the one error shape."""
    body = {"error": {"code": exc.code, "message": exc.message, "detail": exc.detail}}
    return sse.encode("error", json.dumps(body, ensure_ascii=False))


def ask(
    db: Database, who: Principal, question: Question, model: LanguageModel | None = None
) -> Iterator[Delta | Done]:
    """Answer ``question`` from the caller's history: the answer's text as it is written
    (:class:`Delta`), then the stored question and answer (:class:`Done`)."""
    question = _checked(question)
    plan = _plan(db, who, question, model)
    if model is None or (plan.retrieval.no_match and plan.about is None):
        reply = _extractive(plan)
        yield Delta(reply.text)
        yield Done(_store(db, who, plan, reply, "extractive", None))
        return
    pieces: list[str] = []
    shown = citations.Streamed(len(plan.given))  # no invented number shown as it streams
    try:
        for piece in model.stream(plan.prompt):
            pieces.append(piece)
            if text := shown.feed(piece):
                yield Delta(text)
        if text := shown.end():
            yield Delta(text)
    except (ModelUnavailable, ModelFailed) as exc:
        kept = _store(db, who, plan, None, "llm", model.config.model)
        exc.detail["thread_id"] = kept.thread_id
        raise
    reply = _from_model(plan, "".join(pieces))
    yield Done(_store(db, who, plan, reply, "llm", model.config.model))


def answer(
    db: Database, who: Principal, question: Question, model: LanguageModel | None = None
) -> Answered:
    """:func:`ask` without the pieces: the stored answer."""
    for event in ask(db, who, question, model):
        if isinstance(event, Done):
            return event.answered
    raise AssertionError("ask ends with Done")


def _checked(question: Question) -> Question:
    for value, where in (
        (question.text, "question"),
        (question.project or "", "project"),
        (question.scope or "", "scope"),
        (question.thread_id or "", "thread"),
    ):
        inputs.text(value, where)  # fmt: skip
    if question.about is not None:
        inputs.text(question.about.path + question.about.content, "about")
    text = question.text.strip()
    if not text:
        raise _invalid("question", "the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise _invalid("question", f"the question is longer than {MAX_QUESTION_CHARS} characters")
    if question.about is not None:
        _check_about(question.about)
    if question.scope is not None:
        parse_scope(question.scope)
    return replace(question, text=text)


def _check_about(about: About) -> None:
    path = about.path
    parts = path.split("/")
    if not path or len(path) > MAX_ABOUT_PATH_CHARS or path.startswith("/") or "\\" in path:
        raise _invalid("about.path", "must be a relative path with / between folders")
    if any(part in ("", ".", "..") for part in parts):
        raise _invalid("about.path", "must not hold empty, '.' or '..' parts")
    try:
        parse_scope(f"{ABOUT_SCOPE}:{path}", "about.path")
    except ValidationFailed as exc:  # the path names the scope; its hint is not for scopes
        detail = {key: value for key, value in exc.detail.items() if key != "hint"}
        raise ValidationFailed(exc.message, detail=detail, hint=_ABOUT_PATH_HINT) from None
    size = len(about.content.encode("utf-8", "surrogatepass"))
    if size > MAX_ABOUT_BYTES:
        raise PayloadTooLarge(
            f"the file's content is {size} bytes; the limit is {MAX_ABOUT_BYTES}",
            code="about_too_large",
            detail={"limit": MAX_ABOUT_BYTES, "size": size},
            hint="Ask about a smaller file, or about a part of it.",
        )


_ABOUT_PATH_HINT = (
    "Send the file's path from the repository root as written, without control characters or "
    "space at either end (ask about a copy under a plain name)."
)


def _invalid(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{where}: {message}", detail={"errors": [{"loc": ["body", where], "msg": message}]}
    )


# --- the plan: everything read before answering ----------------------------------------------


@dataclass(frozen=True)
class _AboutFile:
    """The file of ``about`` (or the last one the conversation was given): its entry, stored
    already (``stored``) or to store with the question."""

    path: str
    content: str
    entry_id: str
    stored: bool
    #: The stored entry's place and time (a new one's are known once it is stored).
    seq: int = 0
    ts: str = ""


@dataclass
class _Plan:
    question: Question
    asked_at: datetime
    #: The conversation's thread, if it exists (``None``: created when storing).
    thread_id: str | None
    project: str
    turns: list[prompt.Turn]
    retrieval: Retrieval
    about: _AboutFile | None
    #: What the answer is made from: the file first, then the retrieved passages.
    given: list[Passage]

    @property
    def prompt(self) -> prompt.Prompt:
        return prompt.build(self.question.text, self.given, self.turns)

    @property
    def where(self) -> str:
        if self.question.all_projects or self.question.project is None:
            where = " of any project"
        else:
            where = f" of project {self.question.project or '(none)'}"
        if self.question.scope is not None:
            where += f" about {self.question.scope}"
        return where


def _plan(db: Database, who: Principal, question: Question, model: LanguageModel | None) -> _Plan:
    """Everything read before answering. With a model, its search words for the question
    are asked for between two reads (no transaction stays open while it answers)."""
    asked_at = datetime.now(UTC)
    with db.read() as conn:
        thread = _conversation(conn, who.user_id, question)
        turns, last_about, place = (
            _history(conn, thread.id) if thread is not None else ([], None, None)
        )
    question = continued(question, place)
    searched = question.text
    if turns and follows_on(searched):
        searched = f"{turns[-1].question}\n{searched}"
    earlier = [turn.question for turn in turns]
    expansion = expand.expand(model, question.text, earlier) if model is not None else []
    with db.read() as conn:
        retrieval = retrieve(
            conn,
            who.user_id,
            searched,
            project=None if question.all_projects else question.project,
            scope=question.scope,
            expansion=expansion,
        )
    about = _about_file(question.about, last_about)
    project = thread.project if thread is not None else (question.project or "")
    thread_id = thread.id if thread is not None else None
    given = list(retrieval.passages)
    if about is not None:
        passage = _file_passage(about, thread_id or "", project, asked_at, retrieval)
        given.insert(0, passage)
    return _Plan(question, asked_at, thread_id, project, turns, retrieval, about, given)


def _conversation(conn: sa.Connection, user_id: int, question: Question) -> Any:
    """The thread the question continues: ``thread_id``'s (an ``ask`` thread, else ``409``),
    or the one of the ``about`` file's scope in the project; ``None`` for a new one. A thread
    of another kind is taken only as the thread of the ``about`` file's scope (notes about the
    file pushed before the first question): never a session's."""
    if question.thread_id is not None:
        try:
            row = live_thread(conn, user_id, question.thread_id)
        except NotFound as exc:
            raise NotFound(
                exc.message,
                hint="Pass the thread_id an earlier answer gave (`threadline thread list "
                "--all-projects` lists the conversations of ask), or leave it out to start one.",
            ) from None
        about = question.about
        of_file = about is not None and (row.scope_type, row.scope_id) == (ABOUT_SCOPE, about.path)
        if row.kind != KIND and not of_file:
            raise Conflict(
                f"thread {question.thread_id} is a {row.kind} thread, not a conversation of ask",
                code="not_an_ask_thread",
                hint="Pass the thread_id of an earlier answer (with a file, leave the thread "
                "out: the conversation about it is found by its path).",
            )
        if about is not None and not of_file:
            raise Conflict(
                f"thread {question.thread_id} is not the conversation about {about.path}",
                code="not_the_files_conversation",
                hint="Leave the thread out: the conversation about a file is found by its path "
                "(or ask without the file to continue that conversation).",
            )
        return row
    if question.about is not None:
        return _find_about_thread(conn, user_id, question.project or "", question.about.path)
    return None


#: A question that goes on from the one before it: it opens with a joining word ("and why?",
#: "what about tests?"), or is short and points back at what was said ("why was it slow?").
_GOES_ON = re.compile(r"^\W*(?:and|but|so|also|then|or|what about|how about)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(
    r"\b(?:it|its|they|them|their|that|this|those|these|one|ones|same)\b", re.IGNORECASE
)
#: Fewer content terms than this, and a question pointing back is a follow-up.
FOLLOW_UP_TERMS = 3


def follows_on(question: str) -> bool:
    """Whether ``question``, asked in a conversation, goes on from the question before it
    (searched with it, then): it has fewer than two content terms ("and why?"), opens with a
    joining word ("and why did we pick the most diverse one?"), or has fewer than
    :data:`FOLLOW_UP_TERMS` and points back ("why was it slow?")."""
    count = len(t.content_terms(question))
    if count < 2 or _GOES_ON.match(question):
        return True
    return count < FOLLOW_UP_TERMS and _POINTS_BACK.search(question) is not None


@dataclass(frozen=True)
class Place:
    """Where a conversation's last question was asked: its project (``None`` with
    ``all_projects`` or for every project), and its scope."""

    project: str | None
    all_projects: bool
    scope: str | None


def continued(question: Question, place: Place | None) -> Question:
    """``question`` asked where its conversation's last question was (``place``), when it
    names no project, ``all_projects`` nor scope of its own: a follow-up searches what the
    conversation searched, not the current folder's project."""
    named = question.project is not None or question.all_projects or question.scope is not None
    if place is None or named:
        return question
    return replace(
        question, project=place.project, all_projects=place.all_projects, scope=place.scope
    )


def _place(mine: dict[str, Any]) -> Place | None:
    """The place a question's ``meta.ask`` records (``None``: it records none)."""
    if "all_projects" not in mine:
        return None
    project, scope = mine.get("project"), mine.get("scope")
    return Place(
        project if isinstance(project, str) else None,
        mine.get("all_projects") is True,
        scope if isinstance(scope, str) else None,
    )


@dataclass(frozen=True)
class Said:
    """A question or an answer ask stored in a conversation: its entry, role (``user`` or
    ``assistant``), text and what ask noted of it (``meta.ask``: an answer's citations …)."""

    entry_id: str
    role: str
    text: str
    ask: dict[str, Any]


def conversation(db: Database, who: Principal, thread_id: str, limit: int) -> list[Said] | None:
    """The questions and answers ask stored in ``who``'s thread ``thread_id``, oldest first,
    among its ``limit`` newest ``user`` and ``assistant`` entries (notes of a file's thread
    left out); ``None`` when the thread is not one of theirs."""
    with db.read() as conn:
        return _said(conn, thread_id, limit) if _theirs(conn, who, thread_id) else None


def _theirs(conn: sa.Connection, who: Principal, thread_id: str) -> bool:
    """Whether ``thread_id`` is one of ``who``'s live threads."""
    try:
        live_thread(conn, who.user_id, thread_id)
    except NotFound:
        return False
    return True


def _said(conn: sa.Connection, thread_id: str, limit: int) -> list[Said]:
    """:func:`conversation` inside a transaction, the thread already checked."""
    query = (
        sa.select(entries.c.entry_uuid, entries.c.role, entries.c.text, entries.c.meta)
        .where(entries.c.thread_id == thread_id, entries.c.role.in_(("user", "assistant")))
        .order_by(entries.c.ts.desc(), entries.c.pk.desc())
        .limit(limit)
    )
    said: list[Said] = []
    for row in reversed(list(conn.execute(query))):
        meta = json_value(row.meta) if row.meta else None
        mine = meta.get("ask") if isinstance(meta, dict) else None
        if isinstance(mine, dict):  # else a note or a session's entry of a scope's thread
            said.append(Said(str(row.entry_uuid), str(row.role), str(row.text or ""), mine))
    return said


def conversation_place(db: Database, who: Principal, thread_id: str) -> Place | None:
    """Where the conversation ``thread_id`` (one of ``who``'s) was last asked; ``None`` when it
    is not one of theirs or holds no question yet."""
    with db.read() as conn:
        return _history(conn, thread_id)[2] if _theirs(conn, who, thread_id) else None


def _history(
    conn: sa.Connection, thread_id: str
) -> tuple[list[prompt.Turn], _AboutFile | None, Place | None]:
    """The conversation's last turns (at most :data:`MAX_TURNS`, :data:`MAX_TURN_CHARS`), the
    last file it was given, and where its last question was asked."""
    turns: list[prompt.Turn] = []
    pending: str | None = None
    place: Place | None = None
    for one in _said(conn, thread_id, MAX_TURNS * 2 + 1):
        if one.role == "user":
            if pending is not None:  # kept when the model failed: still what was asked
                turns.append(prompt.Turn(pending, UNANSWERED))
            pending = one.text
            place = _place(one.ask) or place
        elif pending is not None:
            turns.append(prompt.Turn(pending, one.text))
            pending = None
    if pending is not None:
        turns.append(prompt.Turn(pending, UNANSWERED))
    kept: list[prompt.Turn] = []
    size = 0
    for turn in reversed(turns[-MAX_TURNS:]):
        size += len(turn.question) + len(turn.answer)
        if size > MAX_TURN_CHARS:
            break
        kept.insert(0, turn)
    return kept, _last_file(conn, thread_id), place


def _last_file(conn: sa.Connection, thread_id: str) -> _AboutFile | None:
    """The last file the conversation was given (``None`` if none)."""
    columns = (entries.c.entry_uuid, entries.c.text, entries.c.meta, entries.c.seq, entries.c.ts)
    system = conn.execute(
        sa.select(*columns)
        .where(entries.c.thread_id == thread_id, entries.c.role == "system")
        .order_by(entries.c.ts.desc(), entries.c.pk.desc())
        .limit(1)
    ).first()
    return _stored_file(system)


def _stored_file(row: Any) -> _AboutFile | None:
    """The file an ``about`` entry holds (``None`` for any other entry, or none)."""
    meta = json_value(row.meta) if row is not None and row.meta else None
    mine = meta.get("ask") if isinstance(meta, dict) else None
    if not isinstance(mine, dict) or not isinstance(mine.get("about"), str):
        return None
    return _AboutFile(mine["about"], row.text, row.entry_uuid, True, int(row.seq), str(row.ts))


def _about_file(about: About | None, last: _AboutFile | None) -> _AboutFile | None:
    """The file to answer from: the one sent (stored anew unless it is the last one stored,
    unchanged), else the last one the conversation was given."""
    if about is None:
        return last
    if last is not None and last.path == about.path and last.content == about.content:
        return last
    return _AboutFile(about.path, about.content, str(uuid.uuid4()), False)


def _file_passage(
    about: _AboutFile, thread_id: str, project: str, at: datetime, retrieval: Retrieval
) -> Passage:
    ts = about.ts if about.stored else ts_text(at)
    source = Source(about.entry_id, thread_id, about.seq, ts, "system", about.content)
    found = t.found_in(retrieval.terms + retrieval.expansion, [about.content])
    stems = {term.stem for term in found}
    return Passage(
        thread_id=thread_id,
        thread_title=f"file {about.path}",
        project=project,
        anchor=source,
        entries=[source],
        excerpts=[about.content],
        found=found,
        score=0.0,
        relevant=True,  # what the question is about, whatever words it holds
        weight=w.held(retrieval.weights, stems),
        label=f"the file {about.path} (its current content, sent with the question)",
    )


# --- the answer ------------------------------------------------------------------------------


def _extractive(plan: _Plan) -> extractive.Answer:
    return extractive.answer(plan.retrieval.terms, plan.given, plan.where)


def _from_model(plan: _Plan, text: str) -> extractive.Answer:
    cleaned, numbers = citations.resolve(text, len(plan.given))
    terms = plan.retrieval.terms + plan.retrieval.expansion
    cited = [
        extractive.Cited(n, plan.given[n - 1], extractive.best_entry(terms, plan.given[n - 1]))
        for n in sorted(numbers)
    ]
    return extractive.Answer(cleaned.strip(), False, cited)


# --- storing ---------------------------------------------------------------------------------


def _store(
    db: Database,
    who: Principal,
    plan: _Plan,
    reply: extractive.Answer | None,
    mode: str,
    model: str | None,
) -> Answered:
    """Store the question (with the file, if new) and, unless ``reply`` is ``None`` (the model
    failed), the answer, in one transaction."""
    question_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    asked = plan.asked_at

    def work(conn: sa.Connection) -> Answered:
        thread_id = plan.thread_id or _new_thread(conn, who, plan)
        about = plan.about
        stored: dict[str, tuple[str, int, str]] = {}
        if about is not None and not about.stored:
            # the user's writes wait for each other from here (the lock a write takes first):
            # an ask about the same file at the same moment has stored it, or will see it
            ChangeCursor(conn, who.user_id)
            found = _about_file(plan.question.about, _last_file(conn, thread_id))
            if found is not None and found.stored:
                # stored by an ask about the same file that ran at the same time
                stored[about.entry_id] = (found.entry_id, found.seq, found.ts)
            else:
                meta = {"ask": {"about": about.path, "bytes": len(about.content.encode())}}
                entry = _append(
                    conn, who, thread_id, about.entry_id, asked, "system", about.content, meta
                )
                stored[about.entry_id] = (about.entry_id, int(entry.seq), ts_text(entry.ts))
        meta = {"ask": _asked_meta(plan.question)}
        words = [term.word for term in plan.retrieval.expansion]
        _append(conn, who, thread_id, question_id, asked + _TICK, "user", plan.question.text, meta)
        cited = _citations(reply, thread_id, stored) if reply is not None else []
        if reply is not None:
            meta = {"ask": {"mode": mode, "model": model, "no_match": reply.no_match,
                            "citations": [c.as_json() for c in cited],
                            "expanded_terms": words}}  # fmt: skip
            shown = _with_links(reply.markdown or reply.text, cited)
            at = max(datetime.now(UTC), asked + 2 * _TICK)
            _append(conn, who, thread_id, answer_id, at, "assistant", reply.text, meta, shown)
        return Answered(
            question=plan.question.text,
            answer=reply.text if reply is not None else "",
            no_match=reply.no_match if reply is not None else False,
            citations=cited,
            thread_id=thread_id,
            question_entry_id=question_id,
            answer_entry_id=answer_id if reply is not None else "",
            mode=mode,
            model=model,
            expanded_terms=words,
            searched_project=None if plan.question.all_projects else plan.question.project,
            searched_scope=plan.question.scope,
        )

    return db.run_write(work)


_TICK = timedelta(microseconds=1)


def _asked_meta(question: Question) -> dict[str, Any]:
    meta: dict[str, Any] = {"project": question.project, "all_projects": question.all_projects}
    if question.scope:
        meta["scope"] = question.scope
    if question.about is not None:
        meta["about"] = question.about.path
    return meta


def _append(
    conn: sa.Connection,
    who: Principal,
    thread_id: str,
    entry_id: str,
    at: datetime,
    role: str,
    text: str,
    meta: dict[str, Any],
    shown: str | None = None,
) -> Any:
    """Store an entry of ask's in the conversation; the stored entry."""
    body = EntryCreate.model_construct(
        id=uuid.UUID(entry_id),
        ts=at,
        role=role,
        text=text,
        parts=[{"type": "text", "text": text if shown is None else shown}],
        meta=meta,
    )
    return entry_service.append_entry(conn, who, thread_id, body)


def _citations(
    reply: extractive.Answer,
    thread_id: str,
    stored: dict[str, tuple[str, int, str]] | None = None,
) -> list[Citation]:
    """The answer's citations; ``stored`` gives the id, place and time, known only now, of
    the entry holding the file of ``about`` (stored with the question, or found stored)."""
    found = []
    for cited in reply.cited:
        passage, anchor = cited.passage, cited.source
        if stored and anchor.entry_id in stored:
            entry_id, seq, ts = stored[anchor.entry_id]
            anchor = replace(anchor, entry_id=entry_id, seq=seq, ts=ts)
        owner = anchor.thread_id or thread_id
        # Around what the answer quotes of the entry (where its words are, if the quote's
        # markup was dropped), else around the passage's terms in it.
        quote = cited.quotes[0] if cited.quotes else ""
        wanted = t.stems(quote) if quote else {x.stem for x in passage.found}
        snippet = (
            quote and passages.excerpt_at(anchor.text, quote[:QUOTE_FOUND_CHARS], SNIPPET_CHARS)
        ) or passages.excerpt(" ".join(anchor.text.split()), wanted, SNIPPET_CHARS)
        found.append(
            Citation(
                n=cited.n,
                thread_id=owner,
                entry_id=anchor.entry_id,
                seq=anchor.seq,
                ts=anchor.ts,
                role=anchor.role,
                snippet=snippet,
                url=p.entry_path(owner, anchor.entry_id),
                thread_title=passage.thread_title,
                project=passage.project,
            )
        )
    return found


def _with_links(text: str, cited: Sequence[Citation]) -> str:
    """The answer as the thread page shows it: each ``[n]`` a Markdown reference link to the
    cited entry. The definitions come first: Markdown keeps the first definition of a label, so
    one the answer's text holds (a model can be talked into writing ``[1]: https://…``) cannot
    move a citation's link."""
    if not cited:
        return text
    links = "\n".join(f"[{c.n}]: {c.url}" for c in cited)
    return f"{links}\n\n{text}"


def _new_thread(conn: sa.Connection, who: Principal, plan: _Plan) -> str:
    """The conversation's thread, created now: scoped to the file of ``about`` (or found, if
    another ask created it meanwhile), else a new ``ask`` thread."""
    title = " ".join(plan.question.text.split())[:TITLE_CHARS]
    about = plan.question.about
    if about is not None:
        name = f"About {about.path}"[: p.MAX_NAME_CHARS]
        thread, _ = get_or_create_scoped(
            conn, who.user_id, project=plan.project, kind=KIND, name=name,
            scope_type=ABOUT_SCOPE, scope_id=about.path, title=name,
        )  # fmt: skip
        return thread.id
    thread_id = str(uuid.uuid4())
    return _insert_thread(conn, who, f"{KIND}:{thread_id}", title, title, plan, thread_id)


def _find_about_thread(conn: sa.Connection, user_id: int, project: str, path: str) -> Any:
    """The user's live thread of the scope ``file:<path>`` in ``project``, or ``None``."""
    found = live_scoped_id(conn, user_id, project, ABOUT_SCOPE, path)
    return live_thread(conn, user_id, found) if found is not None else None


def _insert_thread(
    conn: sa.Connection,
    who: Principal,
    key: str,
    name: str,
    title: str,
    plan: _Plan,
    thread_id: str | None = None,
) -> str:
    change = ChangeCursor(conn, who.user_id)
    thread_id, now = thread_id or str(uuid.uuid4()), now_text()
    conn.execute(
        threads.insert().values(
            id=thread_id, user_id=who.user_id, key=key, kind=KIND, name=name[:200],
            project=plan.project, title=title, meta=json_text({}), created_at=now,
            updated_at=now, last_activity_at=now, entry_count=0, deleted_at=None,
            change=change.next,
        )
    )  # fmt: skip
    change.finish()
    return thread_id
