"""Ask evaluation: how well retrieval finds the entries that answer real questions.

    .venv/bin/python benchmarks/ask_eval.py [--check] [--postgres URL] [--variant NAME ...]
    .venv/bin/python benchmarks/run.py --only ask_eval

The questions (``benchmarks/ask_questions.json``) were written by reading the real transcripts
in ``../shared/fixtures``. Each names the entries that answer it by fixture file (relative to
the fixtures folder) and line number — the entry's ``seq`` — so they survive any re-import.
Some are *paraphrased*: they share no word with their answering entries except stop words
(``--check`` verifies that claim mechanically, see :func:`shared_words`). Others have no answer
anywhere in the fixtures: the right reply to them is "nothing found".

The run imports the fixtures with the real ``threadline import`` into a real ``threadline
serve`` (a fresh SQLite file, and a fresh PostgreSQL schema when one is configured), maps every
(file, line) to its entry id through the API (``GET /threads``: the thread's ``meta.source`` is
the file; ``GET /threads/{id}/entries``: ``seq`` is the line), then asks every retrieval variant
every question, in process, on the server's own database.

Metrics, for the questions that have an answer:

- a variant returns a ranked list of *passages*, each a set of entry ids (an entry with the
  neighbours it is read with: a tool call with its result, a reply with its prompt); a plain
  search hit is a passage of one entry;
- the question is *found at rank k* when the passage at rank k holds at least one of its
  answering entries; its rank is the smallest such k;
- recall@1 and recall@5 are the fractions found at rank ≤ 1 and ≤ 5; MRR is the mean of 1/rank
  over the first :data:`MRR_DEPTH` passages (0 when not found there);
- a variant that answers "nothing found" (``no_match``) has found nothing.

And for "nothing found": *none right* is the fraction of the no-answer questions answered
``no_match``; *none wrong* the fraction of the answerable ones answered ``no_match``.

Variants (``--variant NAME``; each function's docstring says more):

- ``search`` — the question typed into the search as it is; every hit a passage of one entry.
- ``search-or`` — the question's content terms joined with ``OR``, the search's own ranking.
- ``ask`` — ``services.ask.retrieve``, the product's retrieval, over every project: the
  search's word matches for all the terms together and for each alone, term weights from
  each term's match count (:mod:`threadline.recall.weights`), relevant passages holding half
  of the question's weight.
- ``ask-absent-x1``, ``ask-absent-words-x2``, ``ask-absent-names-x3`` — ``ask`` with the
  question's names and rare words the history holds nowhere weighing 1× (the rule before it
  counted them), with every such word (names, rare or not) weighing 2×, and with names and
  rare words weighing 3× (``ask``: 2×); ``ask-absent-names-only`` — names alone weighing 2×,
  rare English words as usual (the rule before it counted rare words).
- ``cited`` — what the answer links to: the citations of the extractive answer made from the
  ``ask`` retrieval (at most 5), each the single entry it opens.
- ``weighted`` — the same weights and rule, with the hits taken through the search service
  (``services.search``, whose plain queries add substring matches: ``reconnect`` inside
  ``reconnected``), each hit's terms read from its text; slower, kept to show what the
  substring matches add.
- ``embed`` — embeddings alone (WordLlama's static model, whose weights ship in its wheel;
  optional: skipped unless ``wordllama`` is installed). Never "nothing found".
- ``minilm`` — embeddings alone with all-MiniLM-L6-v2 run in numpy (``minilm.py``; optional:
  skipped unless its model package is installed, see ``minilm.INSTALL_HINT``), every entry's
  first 256 tokens; ``minilm-context`` the same with each entry followed by the one before it
  in its thread. Never "nothing found".
- ``hybrid`` — reciprocal rank fusion of ``ask`` and ``minilm``; "nothing found" when
  ``ask`` finds nothing. ``hybrid-c40``/``-c50``/``-c60``: also answered when the best
  cosine reaches 0.40/0.50/0.60. The best cosine of every question is printed by kind
  (no answer, paraphrased, literal): where a threshold would have to fall.

``--embed-cache DIR`` keeps the embedded corpus between runs (the model embeds a few entries
a second on two cores).

Targets for the product's default (``ask``): recall@5 ≥ 0.95 and none right = 1.0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from harness import Context, Server, api_login, cli, cli_login, database, note, table  # noqa: E402
from threadline.sources.model import ParsedLine  # noqa: E402

QUESTIONS = HERE / "ask_questions.json"
FIXTURES = HERE.parent.parent / "shared" / "fixtures"
#: How many passages a variant is asked for, and how deep MRR looks.
LIMIT = 8
MRR_DEPTH = 8
TARGET_RECALL_AT_5 = 0.95

#: Minimum numbers the question file must keep (the test checks them too).
MIN_QUESTIONS = 40
MIN_NO_ANSWER = 10
#: Hits taken from each query of the relaxed retrieval (as ask takes).
SEARCH_LIMIT = 20
#: Problems printed by ``--check`` (all are returned).
SHOWN_PROBLEMS = 20
#: ``--misses``: print every question a variant gets wrong.
SHOW_MISSES: list[bool] = []

# --- questions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An answering entry: its fixture file (relative to the fixtures folder) and line."""

    file: str
    line: int


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    paraphrased: bool
    kind: str
    answers: tuple[Answer, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The questions of ``path``; raises ``ValueError`` on a malformed file."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: list[Question] = []
    for item in doc["questions"]:
        answers = tuple(Answer(str(a["file"]), int(a["line"])) for a in item["answers"])
        if not isinstance(item["paraphrased"], bool):
            raise ValueError(f"{item['id']}: paraphrased must be true or false")
        out.append(
            Question(
                id=str(item["id"]),
                question=str(item["question"]),
                paraphrased=item["paraphrased"],
                kind=str(item["kind"]),
                answers=answers,
            )
        )
    return out


# --- the paraphrase check ----------------------------------------------------------------------

#: English stop words (NLTK's list, plus a few auxiliaries): the only words a paraphrased
#: question may share with its answering entries.
_STOP_WORDS = """
    a about above after again against ain all also am an and any are aren aren't as at be
    because been before being below between both but by can could couldn couldn't d did didn
    didn't do does doesn doesn't doing don don't down during each ever few for from further had
    hadn hadn't has hasn hasn't have haven haven't having he her here hers herself him himself
    his how i if in into is isn isn't it it's its itself just ll m ma may me might mightn
    mightn't more most must mustn mustn't my myself needn needn't no nor not now o of off on once
    only or other our ours ourselves out over own re s same shan shan't she she's should
    should've shouldn shouldn't so some such t than that that'll the their theirs them
    themselves then there these they this those through to too under until up us ve very was
    wasn wasn't we were weren weren't what when where which while who whom why will with won
    won't would wouldn wouldn't y you you'd you'll you're you've your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[^\W_]+")
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
#: Two words count as the same when one, at least this long, is a prefix of the other.
MIN_PREFIX = 4


def words(text: str) -> set[str]:
    """The non-stop words of ``text``, lowercased: every run of letters and digits, and the
    parts of a camelCase or snake_case identifier as words of their own."""
    found: set[str] = set()
    for raw in _WORD.findall(text):
        found.add(raw.lower())
        found.update(part.lower() for part in _CAMEL_PART.findall(raw))
    return {w for w in found if w not in STOP_WORDS}


@cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def shared_words(question: str, text: str) -> list[tuple[str, str]]:
    """The (question word, entry word) pairs the question shares with ``text``: the same
    Snowball stem, or one word or stem (at least :data:`MIN_PREFIX` long) a prefix of the
    other's — a deliberately strict test, so "paraphrased" means what it says."""
    stem = _stemmer().stemWord
    theirs = words(text)
    their_stems = {stem(w): w for w in theirs}
    pairs: list[tuple[str, str]] = []
    for mine in sorted(words(question)):
        if (s := stem(mine)) in their_stems:
            pairs.append((mine, their_stems[s]))
            continue
        for other in sorted(theirs):
            if _prefixed(mine, other) or _prefixed(s, stem(other)):
                pairs.append((mine, other))
                break
    return pairs


def _prefixed(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return len(short) >= MIN_PREFIX and long.startswith(short)


def entry_text(line: ParsedLine) -> str:
    """Everything searchable in an entry, as broadly as any index could take it: text,
    thinking and summaries, tool calls (name and input as JSON) and tool results."""
    chunks: list[str] = []
    for part in line.parts:
        kind = part.get("type")
        if kind in ("text", "thinking", "summary"):
            chunks.append(str(part.get("text", "")))
        elif kind == "tool_call":
            chunks.append(
                f"{part.get('name', '')} {json.dumps(part.get('input'), ensure_ascii=False)}"
            )
        elif kind == "tool_result":
            chunks.append(str(part.get("output", "")))
    return "\n".join(chunks)


def parse_fixture(fixtures: Path, file: str) -> dict[int, ParsedLine]:
    """A fixture file's parsed lines by line number, with the project's own parsers."""
    from threadline.sources.detect import parse_file

    lines, _ = parse_file(fixtures / file)
    return {line.line_no: line for line in lines}


def check_questions(
    questions: Sequence[Question], fixtures: Path, *, strict: bool = True
) -> list[str]:
    """Every problem with a question file: unknown files or lines, answering entries without
    text, paraphrase claims that do not hold; and when ``strict`` (this project's own file), too
    few questions of a kind."""
    problems: list[str] = []
    ids = [q.id for q in questions]
    problems += [f"duplicate id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    parsed: dict[str, dict[int, ParsedLine]] = {}
    for q in questions:
        for a in q.answers:
            path = fixtures / a.file
            if not path.resolve().is_relative_to(fixtures.resolve()) or not path.is_file():
                problems.append(f"{q.id}: no fixture {a.file}")
                continue
            if a.file not in parsed:
                parsed[a.file] = parse_fixture(fixtures, a.file)
            line = parsed[a.file].get(a.line)
            if line is None:
                problems.append(f"{q.id}: {a.file} has no line {a.line}")
                continue
            text = entry_text(line)
            if not text.strip():
                problems.append(f"{q.id}: {a.file}:{a.line} holds no text")
            if q.paraphrased and (pairs := shared_words(q.question, text)):
                shown = ", ".join(f"{m}~{o}" for m, o in pairs)
                problems.append(f"{q.id}: shares {shown} with {a.file}:{a.line}")
    if not strict:
        return problems
    answerable = [q for q in questions if q.answerable]
    if len(questions) < MIN_QUESTIONS:
        problems.append(f"only {len(questions)} questions (at least {MIN_QUESTIONS})")
    if 2 * sum(q.paraphrased for q in answerable) < len(answerable):
        problems.append("fewer than half of the answerable questions are paraphrased")
    if sum(not q.answerable for q in questions) < MIN_NO_ANSWER:
        problems.append(f"fewer than {MIN_NO_ANSWER} questions without an answer")
    return problems


# --- the corpus: the fixtures imported into a real server --------------------------------------


@dataclass
class Corpus:
    """The fixtures as a real server stored them, and how to find their entries."""

    backend: str
    database_url: str
    #: The user the import ran as, as the services see a caller.
    user_id: int
    principal: Any
    #: The server's database, opened in this process (variants run here, on it).
    db: Any
    #: (fixture file, line) → entry id.
    entry_ids: dict[tuple[str, int], str]
    threads: int
    entries: int
    import_seconds: float

    def answer_ids(self, question: Question) -> frozenset[str]:
        """The entry ids of the question's answers (every one must have been imported)."""
        missing = [a for a in question.answers if (a.file, a.line) not in self.entry_ids]
        if missing:
            raise RuntimeError(f"{question.id}: not imported: {missing}")
        return frozenset(self.entry_ids[(a.file, a.line)] for a in question.answers)


def _agent_env(home: Path) -> dict[str, str]:
    """A client environment whose agent folders are empty ones inside ``home``."""
    agents = home / "agents"
    (agents / ".claude" / "projects").mkdir(parents=True, exist_ok=True)
    (agents / ".codex" / "sessions").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(agents),
        "CLAUDE_CONFIG_DIR": str(agents / ".claude"),
        "CODEX_HOME": str(agents / ".codex"),
    }


def map_entries(api: Any, fixtures: Path) -> tuple[dict[tuple[str, int], str], int, int]:
    """(fixture file, line) → entry id, through the API; and the thread and entry counts."""
    root = fixtures.resolve()
    ids: dict[tuple[str, int], str] = {}
    threads = api.all_threads()
    count = 0
    for thread in threads:
        source = (thread.get("meta") or {}).get("source")
        if not source:
            continue
        path = Path(source).resolve()
        if not path.is_relative_to(root):
            continue
        file = path.relative_to(root).as_posix()
        for entry in api.all_entries(thread["id"]):
            ids[(file, int(entry["seq"]))] = str(entry["id"])
            count += 1
    return ids, len(threads), count


@contextlib.contextmanager
def imported_corpus(
    backend: str, workdir: Path, postgres: str | None, fixtures: Path = FIXTURES
) -> Iterator[Corpus]:
    """A real server on a fresh database holding the fixtures, imported by the real CLI."""
    from threadline.client.api import Api
    from threadline.services.auth import authenticate
    from threadline.storage.database import open_database

    with (
        database(backend, workdir, postgres) as url,
        Server(workdir / f"ask-eval-server-{backend}", url) as server,
    ):
        home = workdir / f"ask-eval-client-{backend}"
        home.mkdir(parents=True, exist_ok=True)
        cli_login(home, server)
        started = time.perf_counter()
        result = cli(home, "import", str(fixtures), timeout=1200, env=_agent_env(home))
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"threadline import failed: {result.stderr.strip()}")
        token, _ = api_login(server, "ask-eval")
        api = Api(server.url, token, timeout=60)
        entry_ids, threads, entries = map_entries(api, fixtures)
        db = open_database(url, migrate=False)
        try:
            principal = authenticate(db, f"Bearer {token}")
            yield Corpus(
                backend=backend,
                database_url=url,
                user_id=principal.user_id,
                principal=principal,
                db=db,
                entry_ids=entry_ids,
                threads=threads,
                entries=entries,
                import_seconds=seconds,
            )
        finally:
            db.dispose()


# --- variants ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """A variant's reply: passages best first, each a set of entry ids; or nothing found."""

    passages: tuple[frozenset[str], ...]
    no_match: bool


#: A retrieval variant: (corpus, question) → its ranked passages.
Variant = Callable[[Corpus, str], Ranked]


@dataclass
class VariantResult:
    name: str
    ranks: dict[str, int | None] = field(default_factory=dict)
    no_match: dict[str, bool] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    error: str | None = None


def rank_of(ranked: Ranked, answers: frozenset[str]) -> int | None:
    """The 1-based rank of the first passage holding an answering entry (None: not found)."""
    if ranked.no_match:
        return None
    for k, passage in enumerate(ranked.passages, start=1):
        if passage & answers:
            return k
    return None


def evaluate(
    name: str, variant: Variant, corpus: Corpus, questions: Sequence[Question]
) -> VariantResult:
    """Ask ``variant`` every question; keep each rank and "nothing found"."""
    result = VariantResult(name)
    for q in questions:
        started = time.perf_counter()
        ranked = variant(corpus, q.question)
        result.seconds.append(time.perf_counter() - started)
        result.no_match[q.id] = ranked.no_match
        result.ranks[q.id] = rank_of(ranked, corpus.answer_ids(q)) if q.answerable else None
    return result


@dataclass(frozen=True)
class Scores:
    recall_at_1: float
    recall_at_5: float
    mrr: float
    recall_at_5_paraphrased: float
    recall_at_5_literal: float
    none_right: float
    none_wrong: float
    median_ms: float


def _fraction(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score(result: VariantResult, questions: Sequence[Question]) -> Scores:
    answerable = [q for q in questions if q.answerable]
    ranks = [result.ranks[q.id] for q in answerable]

    def within(k: int, qs: Sequence[Question]) -> float:
        return _fraction([(r := result.ranks[q.id]) is not None and r <= k for q in qs])

    return Scores(
        recall_at_1=within(1, answerable),
        recall_at_5=within(5, answerable),
        mrr=statistics.fmean(1 / r if r is not None and r <= MRR_DEPTH else 0.0 for r in ranks),
        recall_at_5_paraphrased=within(5, [q for q in answerable if q.paraphrased]),
        recall_at_5_literal=within(5, [q for q in answerable if not q.paraphrased]),
        none_right=_fraction([result.no_match[q.id] for q in questions if not q.answerable]),
        none_wrong=_fraction([result.no_match[q.id] for q in answerable]),
        median_ms=statistics.median(result.seconds) * 1000,
    )


def _search_variant() -> Variant:
    """(a) Plain search hits: the question as typed into ``threadline search``, every hit a
    passage of one entry; no hit is "nothing found"."""
    from threadline.services import search as search_service

    def run(corpus: Corpus, question: str) -> Ranked:
        params = search_service.SearchParams(query=question, limit=LIMIT)
        page = search_service.search(corpus.db, corpus.principal, params)
        hits = tuple(frozenset({hit.entry_id}) for hit in page.results)
        return Ranked(hits, no_match=not hits)

    return run


def _search_or_variant() -> Variant:
    """(a') The question's content terms (as ask reads them) joined with ``OR``, typed into
    the search: its own BM25 ranking, every hit a passage of one entry."""
    from threadline.recall import terms as terms_mod
    from threadline.services import search as search_service

    def run(corpus: Corpus, question: str) -> Ranked:
        terms = terms_mod.content_terms(question)
        if not terms:
            return Ranked((), no_match=True)
        query = " OR ".join(term.word for term in terms)
        params = search_service.SearchParams(query=query, limit=LIMIT)
        page = search_service.search(corpus.db, corpus.principal, params)
        hits = tuple(frozenset({hit.entry_id}) for hit in page.results)
        return Ranked(hits, no_match=not hits)

    return run


def _ask_variant() -> Variant:
    """(b) The ask retrieval (``services.ask.retrieve``), over every project."""
    from threadline.services import ask as ask_service

    def run(corpus: Corpus, question: str) -> Ranked:
        with corpus.db.read() as conn:
            retrieval = ask_service.retrieve(conn, corpus.user_id, question, limit=LIMIT)
        passages = tuple(passage_ids(p) for p in retrieval.passages)
        return Ranked(passages, no_match=bool(retrieval.no_match))

    return run


@contextlib.contextmanager
def _patched(target: Any, **values: Any) -> Iterator[None]:
    """``target``'s attributes set to ``values`` for the duration (a rule's variant)."""
    saved = {name: getattr(target, name) for name in values}
    for name, value in values.items():
        setattr(target, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(target, name, value)


def _absent_variant(factor: float, every_word: bool) -> Variant:
    """(b'') The ask retrieval with another weight for the question's terms the searched
    history holds nowhere (:data:`threadline.recall.weights.ABSENT_NAME_FACTOR`): ``factor``
    times their weight, for names and rare words (the product's rule) or for ``every_word``."""
    from threadline.recall import terms as terms_mod
    from threadline.recall import weights as w

    lexical = _ask_variant()

    def run(corpus: Corpus, question: str) -> Ranked:
        names = (lambda term: True) if every_word else terms_mod.is_name
        with _patched(w, ABSENT_NAME_FACTOR=factor), _patched(terms_mod, is_name=names):
            return lexical(corpus, question)

    return run


def _names_only_variant() -> Variant:
    """The ask retrieval with only names weighing double when the history holds them nowhere,
    not rare English words (:data:`threadline.recall.english.RARE_PER_MILLION` at 0)."""
    from threadline.recall import english

    lexical = _ask_variant()

    def run(corpus: Corpus, question: str) -> Ranked:
        with _patched(english, RARE_PER_MILLION=0.0):
            return lexical(corpus, question)

    return run


def _cited_variant() -> Variant:
    """(b') What a user of ``threadline ask`` opens: the citations of the extractive answer
    built from the ``ask`` retrieval, in order, each the one entry it links to."""
    from threadline.recall import extractive
    from threadline.services import ask as ask_service

    def run(corpus: Corpus, question: str) -> Ranked:
        with corpus.db.read() as conn:
            retrieval = ask_service.retrieve(conn, corpus.user_id, question, limit=LIMIT)
        reply = extractive.answer(retrieval.terms, retrieval.passages)
        cited = tuple(frozenset({str(c.source.entry_id)}) for c in reply.cited)
        return Ranked(cited, no_match=reply.no_match)

    return run


def passage_ids(passage: Any) -> frozenset[str]:
    """The entry ids a passage of the ask retrieval holds."""
    return frozenset(str(source.entry_id) for source in passage.entries)


def _weighted_variant() -> Variant:
    """(c) The ask retrieval's weights and rule (:mod:`threadline.recall.weights`) over hits
    taken through the search service.

    Each content term is searched alone as a prefix of its stem (``failing`` → ``fail*``, as
    ask's ``_prefix`` writes it); its match count, up to the cap, gives its weight. Hits: the
    words all together, then each word alone (:data:`SEARCH_LIMIT` each), substring matches
    included. Hits and passages rank by how many terms they hold, then by the weight held,
    then by the search's score; relevant passages hold half the question's weight."""
    from threadline.recall import terms as terms_mod
    from threadline.recall import weights as w
    from threadline.services import ask as ask_service
    from threadline.services import search as search_service

    def run(corpus: Corpus, question: str) -> Ranked:
        terms = terms_mod.content_terms(question)
        if not terms:
            return Ranked((), no_match=True)
        with corpus.db.read() as conn:

            def search(query: str, limit: int) -> list[Any]:
                params = search_service.SearchParams(query=query, limit=limit)
                return list(search_service.search_in(conn, corpus.user_id, params).results)

            counts = {
                term.stem: len(search(ask_service._prefix(term), w.DEFAULT_CAP)) for term in terms
            }
            pages = [search(" ".join(term.word for term in terms), SEARCH_LIMIT)]
            if len(terms) > 1:
                pages += [search(term.word, SEARCH_LIMIT) for term in terms]
            found_hits: dict[str, tuple[int, Any]] = {}
            for page in pages:
                for hit in page:
                    if hit.kind != ask_service.KIND and hit.entry_id not in found_hits:
                        found_hits[hit.entry_id] = (len(found_hits), hit)
            term_weights = w.weights(counts)

            def order(s: tuple[int, Any]) -> tuple[int, float, int]:
                held = set(term_weights) & terms_mod.stems(s[1].text)
                return (-len(held), -w.held(term_weights, held), s[0])

            ranked_hits = sorted(found_hits.values(), key=order)
            hits = [hit for _, hit in ranked_hits[: ask_service.MAX_MATCHES]]
            passages = ask_service._passages(conn, corpus.user_id, hits, terms, term_weights)
        chosen = [p for p in passages if p.relevant]
        return Ranked(tuple(passage_ids(p) for p in chosen[:LIMIT]), no_match=not chosen)

    return run


#: Characters of an entry given to the embedding model (its beginning).
EMBED_CHARS = 2000


def _wordllama() -> Any:
    """WordLlama's bundled 256-dimension static model, loaded from the files its wheel ships
    (its own loader looks for the tokenizer in the wrong folder and then downloads it)."""
    import importlib

    package: Any = importlib.import_module("wordllama")
    inference: Any = importlib.import_module("wordllama.inference")
    safetensors: Any = importlib.import_module("safetensors")
    root = Path(package.__file__).parent
    tokenizer = package.WordLlama.load_tokenizer(
        root / "tokenizers" / "l2_supercat_tokenizer_config.json"
    )
    weights = root / "weights" / "l2_supercat_256.safetensors"
    with safetensors.safe_open(str(weights), framework="np", device="cpu") as tensors:
        table = tensors.get_tensor("embedding.weight")
    return inference.WordLlamaInference(table, tokenizer)


def _entry_hits(corpus: Corpus) -> tuple[list[str], list[Any]]:
    """Every entry of the corpus with text: its searchable text and a search hit for it (as
    ask's passages are cut around)."""
    import sqlalchemy as sa

    from threadline.search.text import searchable_text
    from threadline.services import search as search_service
    from threadline.storage.schema import entries, threads

    query = (
        sa.select(*search_service.HIT_COLUMNS)
        .join(threads, threads.c.id == entries.c.thread_id)
        .where(entries.c.user_id == corpus.user_id, threads.c.deleted_at.is_(None))
        .order_by(threads.c.name, entries.c.seq)
    )
    with corpus.db.read() as conn:
        rows = conn.execute(query).all()
    hits, texts = [], []
    for r in rows:
        text = searchable_text(r.text or "", r.parts)
        if not text.strip():
            continue
        texts.append(text)
        hits.append(
            search_service.Hit(
                thread_id=r.thread_id,
                entry_id=r.entry_uuid,
                seq=r.seq,
                ts=r.ts,
                role=r.role,
                snippet="",
                score=0.0,
                url="",
                thread_title=r.title,
                thread_name=r.name,
                project=r.project,
                kind=r.kind,
                text=text,
            )
        )
    return texts, hits


@dataclass
class CosineIndex:
    """Unit vectors of every entry's text (row ``i`` is ``hits[i]``) and the model's embed
    function for questions."""

    vectors: Any
    hits: list[Any]
    embed: Callable[[list[str]], Any]

    def top(self, question: str, limit: int) -> tuple[list[Any], float]:
        """The ``limit`` most similar entries as hits scored by cosine, and the best cosine."""
        from dataclasses import replace

        similarity = self.vectors @ self.embed([question])[0]
        best = similarity.argsort()[::-1][:limit]
        chosen = [replace(self.hits[i], score=float(similarity[i])) for i in best]
        return chosen, float(similarity[best[0]]) if len(best) else -1.0


def _cosine_passages(corpus: Corpus, hits: list[Any]) -> tuple[frozenset[str], ...]:
    """Ask's passages around ``hits``, in the hits' order."""
    from threadline.services import ask as ask_service

    with corpus.db.read() as conn:
        found = ask_service._passages(conn, corpus.user_id, hits, [], {})
    return tuple(passage_ids(p) for p in found[:LIMIT])


def with_context(texts: list[str], hits: list[Any]) -> list[str]:
    """Each entry's text followed by the text of the entry before it in its thread (the prompt
    a reply answers, the call a result belongs to): the model reads the first 256 tokens, so a
    short entry ("Fixed.") is embedded with what it is about, a long one as it is."""
    by_place = {(h.thread_id, h.seq): t for t, h in zip(texts, hits, strict=True)}
    return [
        f"{t}\n{by_place.get((h.thread_id, h.seq - 1), '')}"[:CONTEXT_CHARS]
        for t, h in zip(texts, hits, strict=True)
    ]


#: Characters given to the model with :func:`with_context` (well past its 256 tokens).
CONTEXT_CHARS = 4000


def _cosine_index(
    embed: Callable[[list[str]], Any],
    name: str,
    chars: int | None = None,
    context: bool = False,
) -> Callable[[Corpus], CosineIndex]:
    """The corpus's :class:`CosineIndex` with the model ``embed`` (the corpus embedded once
    per database; throughput noted)."""
    cached: dict[str, CosineIndex] = {}

    def index(corpus: Corpus) -> CosineIndex:
        if corpus.database_url in cached:
            return cached[corpus.database_url]
        texts, hits = _entry_hits(corpus)
        texts = with_context(texts, hits) if context else texts
        texts = [t[:chars] if chars else t for t in texts]
        vectors = _cached_vectors(name, texts, embed)
        cached[corpus.database_url] = CosineIndex(vectors, hits, embed)
        return cached[corpus.database_url]

    return index


def _loaded(
    name: str, load: Callable[[], Callable[[list[str]], Any]]
) -> Callable[[list[str]], Any]:
    """``load()``, timed: raises ``ImportError`` when the model is not installed, so the
    variant that needs it is skipped."""
    started = time.perf_counter()
    model = load()
    note(f"{name}: model loaded in {time.perf_counter() - started:.1f} s")
    return model


#: A folder keeping embedded corpora between runs (``--embed-cache``; None: embed every run).
EMBED_CACHE: list[Path] = []


def _cached_vectors(name: str, texts: list[str], embed: Callable[[list[str]], Any]) -> Any:
    """``embed(texts)``, kept in :data:`EMBED_CACHE` under a digest of the texts."""
    import hashlib
    import importlib

    np: Any = importlib.import_module("numpy")
    digest = hashlib.sha256("\0".join([name, *texts]).encode()).hexdigest()[:16]
    path = EMBED_CACHE[0] / f"{name}-{digest}.npy" if EMBED_CACHE else None
    if path is not None and path.exists():
        note(f"{name}: {len(texts):,} vectors read from {path}")
        return np.load(path)
    started = time.perf_counter()
    vectors = embed(texts)
    seconds = time.perf_counter() - started
    note(
        f"{name}: {len(texts):,} entries embedded in {seconds:.1f} s "
        f"({len(texts) / seconds:.1f} entries/s)"
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def _wordllama_embed() -> Callable[[list[str]], Any]:
    model = _wordllama()
    return lambda texts: model.embed(texts, norm=True)


def _minilm_embed() -> Callable[[list[str]], Any]:
    """all-MiniLM-L6-v2 run in numpy (:mod:`minilm`; optional, see its ``INSTALL_HINT``)."""
    import minilm

    try:
        return minilm.load().embed
    except minilm.EmbedderUnavailable as exc:
        raise ImportError(str(exc)) from exc


def _cosine_variant(index: Callable[[Corpus], CosineIndex]) -> Variant:
    """Embeddings alone: the entries most similar to the question by cosine, read into
    passages like ask's. Never "nothing found": a similarity says nothing absolute."""
    from threadline.services import ask as ask_service

    def run(corpus: Corpus, question: str) -> Ranked:
        hits, _ = index(corpus).top(question, ask_service.MAX_MATCHES)
        return Ranked(_cosine_passages(corpus, hits), no_match=False)

    return run


def _embed_variant() -> Variant:
    """(d) Embeddings alone with WordLlama's static model (optional: ``pip install
    wordllama``; its weights ship in the wheel), every entry's first :data:`EMBED_CHARS`
    characters embedded."""
    return _cosine_variant(_cosine_index(_loaded("embed", _wordllama_embed), "embed", EMBED_CHARS))


@cache
def _minilm_model() -> Callable[[list[str]], Any]:
    return _loaded("minilm", _minilm_embed)


@cache
def _minilm_index() -> Callable[[Corpus], CosineIndex]:
    return _cosine_index(_minilm_model(), "minilm")


@cache
def _minilm_context_index() -> Callable[[Corpus], CosineIndex]:
    return _cosine_index(_minilm_model(), "minilm-context", context=True)


def _minilm_variant() -> Variant:
    """(e) Embeddings alone with all-MiniLM-L6-v2 (:mod:`minilm`, optional): every entry's
    first 256 tokens."""
    return _cosine_variant(_minilm_index())


#: Reciprocal rank fusion's constant: a passage at rank r of a list scores 1 / (RRF_K + r).
RRF_K = 60


def fuse(*lists: Sequence[frozenset[str]]) -> tuple[frozenset[str], ...]:
    """Reciprocal rank fusion of ranked passage lists; passages that share an entry are one
    (their entries united, each list counting once, by its best rank)."""
    groups: list[tuple[set[str], dict[int, float]]] = []
    for which, ranked in enumerate(lists):
        for rank, passage in enumerate(ranked, start=1):
            touching = [g for g in groups if g[0] & passage]
            ids, scores = set(passage), {which: 1 / (RRF_K + rank)}
            for g in touching:
                groups.remove(g)
                ids |= g[0]
                for k, v in g[1].items():
                    scores[k] = max(scores.get(k, 0.0), v)
            groups.append((ids, scores))
    groups.sort(key=lambda g: -sum(g[1].values()))
    return tuple(frozenset(ids) for ids, _ in groups[:LIMIT])


def _hybrid_variant(threshold: float | None) -> Variant:
    """(f) Reciprocal rank fusion of ``ask`` (the product's retrieval) and ``minilm``.
    "Nothing found" when ``ask`` finds nothing relevant and (``threshold`` given) no entry's
    cosine reaches ``threshold``; without a threshold, ``ask`` alone decides."""
    from threadline.services import ask as ask_service

    lexical = _ask_variant()
    index = _minilm_index()

    def run(corpus: Corpus, question: str) -> Ranked:
        words = lexical(corpus, question)
        hits, best = index(corpus).top(question, ask_service.MAX_MATCHES)
        meaning = _cosine_passages(corpus, hits)
        TOP_COSINES.setdefault(question, best)
        if words.no_match and (threshold is None or best < threshold):
            return Ranked((), no_match=True)
        return Ranked(fuse(words.passages, meaning), no_match=False)

    return run


#: The best cosine of every question asked of a hybrid variant (printed after the run).
TOP_COSINES: dict[str, float] = {}
#: The cosine thresholds tried (``hybrid-cNN`` is NN/100).
HYBRID_THRESHOLDS = (0.4, 0.5, 0.6)


#: Every variant by name, built lazily (a variant whose module is absent is skipped).
VARIANTS: dict[str, Callable[[], Variant]] = {
    "search": _search_variant,
    "search-or": _search_or_variant,
    "ask": _ask_variant,
    "cited": _cited_variant,
    "ask-absent-x1": lambda: _absent_variant(1.0, every_word=False),
    "ask-absent-words-x2": lambda: _absent_variant(2.0, every_word=True),
    "ask-absent-names-x3": lambda: _absent_variant(3.0, every_word=False),
    "ask-absent-names-only": _names_only_variant,
    "weighted": _weighted_variant,
    "embed": _embed_variant,
    "minilm": _minilm_variant,
    "minilm-context": lambda: _cosine_variant(_minilm_context_index()),
    "hybrid": lambda: _hybrid_variant(None),
    **{
        f"hybrid-c{round(t * 100)}": (lambda t=t: _hybrid_variant(t))  # type: ignore[misc]
        for t in HYBRID_THRESHOLDS
    },
}


# --- running it ----------------------------------------------------------------------------------


def run_backend(
    ctx: Context,
    backend: str,
    questions: Sequence[Question],
    names: Sequence[str],
    fixtures: Path = FIXTURES,
) -> dict[str, Any]:
    """Import the fixtures on ``backend``, evaluate every variant, print the table."""
    figures: dict[str, Any] = {}
    with imported_corpus(backend, ctx.workdir, ctx.postgres, fixtures) as corpus:
        note(
            f"{backend}: imported {corpus.threads} threads, {corpus.entries:,} entries "
            f"in {corpus.import_seconds:.1f} s"
        )
        rows: list[list[Any]] = []
        for name in names:
            try:
                variant = VARIANTS[name]()
            except ImportError as exc:
                note(f"{name}: not run ({exc})")
                figures[name] = {"skipped": str(exc)}
                continue
            result = evaluate(name, variant, corpus, questions)
            s = score(result, questions)
            figures[name] = {**s.__dict__, "ranks": result.ranks}
            if SHOW_MISSES:
                _note_misses(name, result, questions)
            rows.append(
                [
                    name,
                    s.recall_at_1,
                    s.recall_at_5,
                    s.mrr,
                    s.recall_at_5_literal,
                    s.recall_at_5_paraphrased,
                    s.none_right,
                    s.none_wrong,
                    s.median_ms,
                ]
            )
        answerable = [q for q in questions if q.answerable]
        paraphrased = sum(q.paraphrased for q in answerable)
        table(
            f"ask_eval on {backend}: {len(answerable)} answerable questions "
            f"({paraphrased} paraphrased), {len(questions) - len(answerable)} without an answer; "
            f"target recall@5 ≥ {TARGET_RECALL_AT_5} and none right = 1",
            [
                "variant",
                "recall@1",
                "recall@5",
                "MRR",
                "r@5 literal",
                "r@5 paraphr.",
                "none right",
                "none wrong",
                "median ms",
            ],
            rows,
        )
        _note_cosines(questions)
    return figures


def _note_misses(name: str, result: VariantResult, questions: Sequence[Question]) -> None:
    """Every question ``name`` got wrong: an answer not in the first five passages (its rank,
    or "not found"), or "nothing found" wrongly given or withheld."""
    for q in questions:
        if q.answerable:
            rank = result.ranks.get(q.id)
            if rank is None or rank > 5:
                shown = "nothing found" if result.no_match.get(q.id) else f"rank {rank}"
                kind = "paraphrased" if q.paraphrased else "literal"
                note(f"{name} missed {q.id} ({kind}, {shown}): {q.question}")
        elif not result.no_match.get(q.id):
            note(f"{name} answered {q.id} (no answer exists): {q.question}")


def _note_cosines(questions: Sequence[Question]) -> None:
    """The best cosine the hybrid variants saw, by kind of question: where a threshold on it
    would separate "nothing found" from the rest."""
    groups = {
        "no answer": [q for q in questions if not q.answerable],
        "paraphrased": [q for q in questions if q.answerable and q.paraphrased],
        "literal": [q for q in questions if q.answerable and not q.paraphrased],
    }
    for label, qs in groups.items():
        best = sorted(TOP_COSINES[q.question] for q in qs if q.question in TOP_COSINES)
        if best:
            shown = " ".join(f"{b:.2f}" for b in best)
            note(f"best cosine, {label} ({len(best)}): {shown}")


def run(
    ctx: Context,
    names: Sequence[str] | None = None,
    fixtures: Path = FIXTURES,
    questions_file: Path = QUESTIONS,
) -> dict[str, Any]:
    """The benchmark entry point of ``run.py``."""
    if not fixtures.is_dir():
        note(f"not run: the real transcripts are not at {fixtures}")
        return {"skipped": "no fixtures"}
    questions = load_questions(questions_file)
    problems = check_questions(questions, fixtures, strict=questions_file == QUESTIONS)
    if problems:
        return {"problems": problems}
    chosen = list(names or VARIANTS)
    return {
        backend: run_backend(ctx, backend, questions, chosen, fixtures)
        for backend in ctx.backends()
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the question file")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), metavar="NAME")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL database to run on too")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--embed-cache", type=Path, metavar="DIR", help="keep embedded corpora in DIR"
    )
    parser.add_argument(
        "--misses", action="store_true", help="print every question a variant gets wrong"
    )
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help=f"default: {FIXTURES}")
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS, help="another question file of this shape"
    )
    args = parser.parse_args(argv)
    fixtures: Path = args.fixtures
    if args.embed_cache:
        EMBED_CACHE.append(args.embed_cache)
    if args.misses:
        SHOW_MISSES.append(True)
    questions = load_questions(args.questions)
    problems = check_questions(questions, fixtures, strict=args.questions == QUESTIONS)
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"PROBLEM: {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"… and {len(problems) - SHOWN_PROBLEMS} more problems")
    if args.check or problems:
        answerable = [q for q in questions if q.answerable]
        print(
            f"{len(questions)} questions: {len(answerable)} answerable "
            f"({sum(q.paraphrased for q in answerable)} paraphrased), "
            f"{len(questions) - len(answerable)} without an answer"
        )
        return 1 if problems else 0
    postgres = None if args.no_postgres else harness.postgres_base_url(args.postgres)[0]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="threadline-ask-eval-") as tmp:
        ctx = Context(quick=False, postgres=postgres, workdir=Path(tmp))
        run(ctx, args.variant, fixtures, args.questions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
