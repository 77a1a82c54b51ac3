"""Search over 1,000,000 entries: latency while writes go on, ingest with and without the
index, and the index's size beside the data's.

The entries are synthetic and written straight into the server database, not through HTTP
(a million entries through ``POST /sync/push`` would take most of the run and measure the
push path, which ``ingest`` does already): 30 tokens each from a 50,000-word vocabulary with
Zipf frequencies (the most common word is in ~93 % of entries, as in the figures of
``docs/architecture.md``), one token in five a code-like one made of such words
(``a_b``, ``aB``, ``a.b.c``, ``src/a/b.py``: about the share in real sessions), over 2,000
threads in 20 projects. Roles are mixed as in real
sessions: 10 % user prompts, 35 % assistant replies, 20 % tool calls (the words in a tool
call's input, in ``parts``), 35 % tool results; transcript entries (80 %) carry a raw line.

Per backend (SQLite; PostgreSQL when there is one):

1. a database migrated up to 0004 (no index) gets N − 2 × B entries in bulk (multi-row
   INSERTs on SQLite, ``COPY`` on PostgreSQL);
2. ingest without the index: B entries in transactions of 100 (``insert_rows``, as a push);
3. the search migrations (0005 on, as an upgrade from before search would run them) build
   the index for everything stored (timed); on PostgreSQL then ``VACUUM ANALYZE``, which a
   running server leaves to autovacuum (the planner's statistics of the words decide between
   the GIN index and a walk of the newest entries);
4. ingest with the index: B more entries, the same way; the ratio to step 2 is the target
   (≥ 0.8);
5. sizes: the index (FTS5 tables; on PostgreSQL the ``search_doc`` column's bytes, its GIN
   index and the ``search_words`` vocabulary with its indexes) beside the entries table with
   its own indexes (without the column);
6. search latency, through ``services.search.search`` in this process (query reading,
   ranking, snippets — no HTTP), while a writer thread pushes 25 entries every 50 ms
   through ``services.push``: a rare word (~100–500 entries), a common word (~40–93 % of
   entries), a phrase of two common words, a common word filtered by project and role, and a
   substring inside words. Baseline, same connection pool: an entry read by primary key, and
   ``count(*)`` of a 100-entry range.

Then, per backend, ingest through ``threadline serve`` as users meet it: 16 clients pushing
batches of 100 over HTTP (``ingest.run_config``), on a fresh database with the index and on
one whose index was taken out once migrated (``ingest.drop_search_index``,
benchmark only: the index has no switch in the product), two runs each, interleaved.

Target: p95 ≤ 50 ms per query kind. ``--quick`` uses 100,000 entries.

With ``run.py --search-database URL`` the corpus is built in that database (SQLite file or
PostgreSQL database) when it is empty and kept afterwards; a later run finds it there, takes
out what earlier runs' writers left (on PostgreSQL then vacuumed, the key sequence set back
to the build's), and measures the latency only — a query changed in the engine is measured
over the same million entries in a minute instead of a new build.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa

import ingest as server_ingest
from harness import Context, database, note, now, percentile, ratio, table
from threadline.protocol.models import PushRequest
from threadline.services import accounts, auth, push
from threadline.services import ask as ask_service
from threadline.services.search import SearchParams, search
from threadline.storage import migrations
from threadline.storage.database import Database, insert_rows, open_database
from threadline.storage.schema import entries, streams, threads, user_cursors
from threadline.storage.values import entry_hash, json_text

FULL = 1_000_000
QUICK = 100_000
#: Entries per ingest measurement (with the index, and without).
INGEST = 20_000
INGEST_QUICK = 10_000
VOCABULARY = 50_000
WORDS_PER_ENTRY = 30
#: One token in this many is code-like (a fifth of real sessions' tokens are).
CODE_EVERY = 5
THREADS = 2_000
PROJECTS = 20
TARGET_P95_MS = 50.0
TARGET_INGEST_RATIO = 0.8
WRITER_BATCH = 25
WRITER_PAUSE_S = 0.05
_ROLES = ("user", "assistant", "assistant-call", "tool")
_ROLE_WEIGHTS = (10, 35, 20, 35)


def run(ctx: Context) -> dict[str, Any]:
    size = QUICK if ctx.quick else FULL
    ingest = INGEST_QUICK if ctx.quick else INGEST
    samples = 20 if ctx.quick else 50
    results: dict[str, Any] = {"entries": size, "problems": []}
    if ctx.search_database:
        url = ctx.search_database
        backend = "sqlite" if url.startswith("sqlite") else "postgres"
        results[backend] = _backend(backend, url, size, ingest, samples, results["problems"])
        return results
    for backend in ctx.backends():
        note(f"{backend}: building {size:,} entries …")
        with database(backend, ctx.workdir, ctx.postgres) as url:
            results[backend] = _backend(backend, url, size, ingest, samples, results["problems"])
        note(f"{backend}: ingest through the server, with and without the index …")
        http = _http_ingest(ctx, backend)
        results[backend].update(http)
        table(
            f"{backend}: ingest through `threadline serve`, {server_ingest.CLIENTS} clients, "
            "batches of 100 (best of 2 runs each)",
            ["measure", "value"],
            [[k.replace("_", " "), v] for k, v in http.items()],
        )
    return results


# --- synthetic data --------------------------------------------------------------------------


class Corpus:
    """Deterministic pseudo-words with Zipf frequencies, and entries made of them."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        vocabulary = random.Random(1)  # the same words whatever the seed
        letters = "abcdefghijklmnopqrstuvwxyz"
        words: dict[str, None] = {}
        while len(words) < VOCABULARY:
            words["".join(vocabulary.choices(letters, k=vocabulary.randint(3, 9)))] = None
        self.words = list(words)
        self.cumulative = list(itertools.accumulate(1 / (r + 1) for r in range(VOCABULARY)))

    def text(self, count: int = WORDS_PER_ENTRY) -> str:
        """``count`` tokens: words, and one in :data:`CODE_EVERY` a code-like token made of
        words (``a_b``, ``aB``, ``a.b.c``, ``src/a/b.py``), as in real sessions."""
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=count)
        for i in range(0, count, CODE_EVERY):
            words[i] = self.code()
        return " ".join(words)

    def code(self) -> str:
        a, b, c = self.rng.choices(self.words, cum_weights=self.cumulative, k=3)
        shape = self.rng.randrange(4)
        if shape == 0:
            return f"{a}_{b}"
        if shape == 1:
            return f"{a}{b.capitalize()}"
        return f"{a}.{b}.{c}" if shape == 2 else f"src/{a}/{b}.py"

    def word(self, low: int, high: int) -> str:
        """A word whose frequency rank is in ``[low, high)`` (0 is the most common)."""
        return self.words[self.rng.randrange(low, high)]


def _entry(corpus: Corpus, seq: int, ts: str, transcript: bool) -> dict[str, Any]:
    role = corpus.rng.choices(_ROLES, weights=_ROLE_WEIGHTS)[0]
    text, parts = corpus.text(), None
    if role == "assistant-call":
        role = "assistant"
        command = {"command": text, "description": corpus.text(4)}
        parts = [{"type": "tool_call", "id": f"call_{seq}", "name": "Bash", "input": command}]
        text = ""
    elif role == "tool":
        parts = [{"type": "tool_result", "tool_call_id": f"call_{seq}", "output": text}]
    raw = None
    if transcript:
        raw = json.dumps({"type": role, "timestamp": ts, "message": {"content": parts or text}})
    return {"role": role, "text": text, "parts": json_text(parts), "raw": raw}


def _rows(
    corpus: Corpus, user_id: int, start: int, count: int, base: datetime
) -> Iterator[dict[str, Any]]:
    """Entries ``start`` … ``start + count - 1``, in runs of 50 per thread (thread = stream)."""
    received = base.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for n in range(start, start + count):
        thread = (n // 50) % THREADS
        seq = n // (50 * THREADS) * 50 + n % 50 + 1
        ts = (base + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = _entry(corpus, n, ts, transcript=thread % 5 != 0)
        entry_uuid = str(uuid.UUID(int=n + 1))
        yield {
            "user_id": user_id,
            "thread_id": f"t{thread}",
            "stream_pk": thread + 1,
            "seq": seq,
            "entry_uuid": entry_uuid,
            "ts": ts,
            "role": body["role"],
            "text": body["text"],
            "parts": body["parts"],
            "meta": None,
            "raw": body["raw"],
            "hash": entry_hash(
                entry_uuid, ts, body["role"], body["text"], body["parts"], None, body["raw"]
            ),
            "device_id": None,
            "received_at": received,
            "change": 1,
        }


def _threads(db: Database, user_id: int, base: datetime) -> None:
    now_text = base.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with db.write() as conn:
        for i in range(THREADS):
            kind = "note" if i % 5 == 0 else ("claude-code", "codex")[i % 2]
            conn.execute(
                threads.insert().values(
                    id=f"t{i}",
                    user_id=user_id,
                    key=f"{kind}:t{i}",
                    kind=kind,
                    name=f"t{i}",
                    project=f"acme/project-{i % PROJECTS:02d}",
                    title=f"thread {i}",
                    meta="{}",
                    created_at=now_text,
                    updated_at=now_text,
                    last_activity_at=now_text,
                    entry_count=0,
                    deleted_at=None,
                    change=1,
                )
            )
            conn.execute(
                streams.insert().values(
                    pk=i + 1,
                    user_id=user_id,
                    stream_uuid=str(uuid.UUID(int=10**9 + i)),
                    thread_id=f"t{i}",
                    device_id=None,
                    tail=0,
                    change=1,
                )
            )
        conn.execute(user_cursors.update().where(user_cursors.c.user_id == user_id).values(value=1))
        if db.dialect == "postgresql":  # the streams took explicit keys: move the sequence on
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('streams', 'pk'), "
                "(SELECT max(pk) FROM streams))"
            )


# --- building --------------------------------------------------------------------------------


def _bulk(db: Database, rows: Iterator[dict[str, Any]]) -> None:
    """Rows as fast as the database takes them: ``COPY`` on PostgreSQL."""
    if db.dialect == "sqlite":
        while chunk := list(itertools.islice(rows, 5000)):
            with db.write() as conn:
                insert_rows(conn, entries, chunk)
        return
    columns = [c.name for c in entries.columns if c.name != "pk"]
    with db.write() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f"COPY entries ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def _ingest(db: Database, rows: list[dict[str, Any]]) -> float:
    """Entries per second stored in transactions of 100, as pushes store them."""
    start = now()
    for i in range(0, len(rows), 100):
        with db.write() as conn:
            insert_rows(conn, entries, rows[i : i + 100])
    return len(rows) / (now() - start)


def _build(
    url: str, size: int, ingest: int, problems: list[str]
) -> tuple[Database, Corpus, dict[str, Any]]:
    shipped = migrations.available()
    before = [m for m in shipped if m.version < 5]
    migrations_available = migrations.available
    migrations.available = lambda: before
    try:
        db = open_database(url)
    finally:
        migrations.available = migrations_available
    accounts.create_user(db, "bench", "bench-password-1")
    with db.read() as conn:
        user_id = int(conn.execute(sa.text("SELECT id FROM users")).scalar_one())
    base = datetime(2025, 1, 1, tzinfo=UTC)
    _threads(db, user_id, base)
    corpus = Corpus()
    bulk = size - 2 * ingest
    start = now()
    _bulk(db, _rows(corpus, user_id, 0, bulk, base))
    figures: dict[str, Any] = {"bulk_rows_per_s": round(bulk / (now() - start))}
    plain = list(_rows(corpus, user_id, bulk, ingest, base))
    indexed = list(_rows(corpus, user_id, bulk + ingest, ingest, base))
    figures["ingest_without_index_per_s"] = round(_ingest(db, plain))
    start = now()
    migrations.migrate(db)
    figures["index_build_s"] = round(now() - start, 1)
    figures["ingest_with_index_per_s"] = round(_ingest(db, indexed))
    figures["ingest_ratio"] = round(
        ratio(figures["ingest_with_index_per_s"], figures["ingest_without_index_per_s"]), 2
    )
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    figures.update(_sizes(db))
    return db, corpus, figures


def _sizes(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        if db.dialect == "sqlite":
            rows = conn.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").all()
            sizes = {str(name): int(size) for name, size in rows}
            index = sum(v for k, v in sizes.items() if k.startswith(("entries_fts", "entries_tri")))
            own = ("ix_entries", "uq_entries", "sqlite_autoindex_entries")
            data = sum(v for k, v in sizes.items() if k == "entries" or k.startswith(own))
        else:
            # the index: the GIN index, the vocabulary with its indexes, and the generated
            # column's bytes inside the entries table (counted out of the data)
            index, data = conn.exec_driver_sql(
                "WITH doc AS (SELECT coalesce(sum(pg_column_size(search_doc)), 0) AS bytes "
                "FROM entries), gin AS (SELECT pg_relation_size('ix_entries_search_doc') AS bytes) "
                "SELECT doc.bytes + gin.bytes + pg_total_relation_size('search_words'), "
                "pg_total_relation_size('entries') - doc.bytes - gin.bytes FROM doc, gin"
            ).one()
    return {
        "index_mb": round(index / 2**20, 1),
        "data_mb": round(data / 2**20, 1),
        "index_to_data": round(index / data, 2),
    }


def _http_ingest(ctx: Context, backend: str) -> dict[str, Any]:
    """Entries per second through ``threadline serve`` (batches of 100 from concurrent
    clients, as ``ingest`` measures), on a fresh database with the index and on another
    with it taken out (``ingest.drop_search_index``), twice each, interleaved; the better run
    of each counts (the machine's noise only ever slows a run down)."""
    total, budget = (16_000, 10) if ctx.quick else (32_000, 20)
    runs: dict[str, list[int]] = {"with": [], "without": []}
    for _ in range(2):
        for name, indexed in (("with", True), ("without", False)):
            cfg = server_ingest.Config(100, total, budget, search_index=indexed)
            result = server_ingest.run_config(ctx, backend, cfg)
            if result["problems"] or result["lost"]:
                raise RuntimeError(f"ingest {name} the index: {result['problems']}")
            runs[name].append(int(result["entries_per_s"]))
    best = {name: max(rates) for name, rates in runs.items()}
    return {
        "http_ingest_without_index_per_s": best["without"],
        "http_ingest_with_index_per_s": best["with"],
        "http_ingest_ratio": round(ratio(best["with"], best["without"]), 2),
        "http_ingest_runs": runs,
    }


# --- searching -------------------------------------------------------------------------------


class Writer(threading.Thread):
    """Pushes :data:`WRITER_BATCH` entries every :data:`WRITER_PAUSE_S` seconds."""

    def __init__(self, db: Database, who: auth.Principal, corpus: Corpus) -> None:
        super().__init__(daemon=True)
        self.db, self.who, self.corpus = db, who, corpus
        self.stop = threading.Event()
        self.stored = 0
        self.error: str | None = None

    #: The one thread it pushes to.
    THREAD: ClassVar[dict[str, str]] = {
        "key": "note:bench-writer", "kind": "note", "name": "w", "project": "acme/w"
    }  # fmt: skip

    def run(self) -> None:
        stream, device = str(uuid.uuid4()), str(uuid.uuid4())
        seq = 0
        thread = self.THREAD
        started = now()
        while not self.stop.is_set():
            batch = []
            for _ in range(WRITER_BATCH):
                seq += 1
                ts = datetime.now(UTC).isoformat()
                text = self.corpus.text()
                batch.append({"seq": seq, "id": str(uuid.uuid4()), "ts": ts, "role": "user",
                              "text": text})  # fmt: skip
            request = PushRequest.model_validate(
                {"device_id": device, "streams": [
                    {"stream_id": stream, "thread": thread, "entries": batch}]}
            )  # fmt: skip
            try:
                push.push(self.db, self.who, request, push.PushLimits())
            except Exception as exc:  # reported with the figures
                self.error = f"{type(exc).__name__}: {exc}"
                return
            self.stored += len(batch)
            self.stop.wait(WRITER_PAUSE_S)
        self.rate = self.stored / (now() - started)


def _queries(corpus: Corpus) -> list[tuple[str, Callable[[], SearchParams]]]:
    def rare() -> SearchParams:
        return SearchParams(query=corpus.word(10_000, 40_000))

    def common() -> SearchParams:
        return SearchParams(query=corpus.word(0, 5))

    def phrase() -> SearchParams:
        return SearchParams(query=f'"{corpus.word(0, 10)} {corpus.word(0, 10)}"')

    def filtered() -> SearchParams:
        project = f"acme/project-{corpus.rng.randrange(PROJECTS):02d}"
        return SearchParams(query=corpus.word(0, 20), project=project, role="assistant")

    def substring() -> SearchParams:
        word = corpus.word(100, 1000)
        return SearchParams(query=word[1:] if len(word) > 4 else word)

    return [
        ("rare word", rare),
        ("common word", common),
        ("phrase of two common words", phrase),
        ("common word, project + role", filtered),
        ("substring inside words", substring),
    ]


def _latency(db: Database, who: auth.Principal, corpus: Corpus, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with db.read() as conn:
        top = int(conn.execute(sa.select(sa.func.max(entries.c.pk))).scalar_one())

    def by_key() -> None:
        with db.read() as conn:
            pk = corpus.rng.randrange(1, top)
            conn.execute(sa.select(entries.c.text).where(entries.c.pk == pk)).first()

    def small_count() -> None:
        with db.read() as conn:
            low = corpus.rng.randrange(1, top - 100)
            conn.execute(
                sa.select(sa.func.count()).where(entries.c.pk.between(low, low + 99))
            ).scalar()

    for name, work in (("baseline: entry by primary key", by_key),
                       ("baseline: count(*) of 100 entries", small_count)):  # fmt: skip
        rows.append(_stats(name, _time(work, n), None))
    for name, make in _queries(corpus):
        hits: list[int] = []

        def one(make: Callable[[], SearchParams] = make, hits: list[int] = hits) -> None:
            hits.append(len(search(db, who, make()).results))

        rows.append(_stats(name, _time(one, n), sum(hits) / max(len(hits), 1)))
    return rows


def _questions(corpus: Corpus) -> list[tuple[str, Callable[[], str]]]:
    return [
        ("a rare word and a commoner one",
         lambda: f"what did we decide about {corpus.word(10_000, 40_000)} and "
                 f"{corpus.word(500, 5_000)}?"),
        ("two common words", lambda: f"why is {corpus.word(0, 50)} {corpus.word(0, 50)} failing?"),
        ("three words of middling frequency",
         lambda: f"which {corpus.word(50, 500)} did {corpus.word(50, 500)} use for "
                 f"{corpus.word(50, 500)}?"),
        ("a name the history lacks", lambda: "how did we configure Kafka for billing?"),
    ]  # fmt: skip


def _ask_latency(db: Database, who: auth.Principal, corpus: Corpus, n: int) -> list[dict[str, Any]]:
    """``ask`` as the server runs it (retrieval, extractive answer, the conversation stored)
    over the whole corpus, a question at a time in one project; the mean number of citations
    as its hits (the synthetic words make no sense together: only the time means anything)."""
    rows: list[dict[str, Any]] = []
    for name, make in _questions(corpus):
        cited: list[int] = []

        def one(make: Callable[[], str] = make, cited: list[int] = cited) -> None:
            project = f"acme/project-{corpus.rng.randrange(PROJECTS):02d}"
            question = ask_service.Question(make(), project=project)
            cited.append(len(ask_service.answer(db, who, question).citations))

        rows.append(_stats(name, _time(one, n), sum(cited) / max(len(cited), 1)))
    return rows


def _time(work: Callable[[], None], n: int) -> list[float]:
    for _ in range(3):
        work()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


def _stats(name: str, samples: list[float], hits: float | None) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "query": name,
        "n": len(ms),
        "hits": None if hits is None else round(hits, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


def _stored(url: str) -> int | None:
    """Entries in the database at ``url``: ``None`` when it has no tables yet."""
    db = Database(url)
    try:
        with db.read() as conn:
            if not sa.inspect(conn).has_table("entries"):
                return None
            return int(conn.execute(sa.select(sa.func.count()).select_from(entries)).scalar_one())
    finally:
        db.dispose()


def _kept(url: str, size: int) -> tuple[Database, Corpus, dict[str, Any]]:
    """The corpus built before in the kept database at ``url`` (``--search-database``),
    migrated to the code's latest schema, without the entries the writers of earlier runs
    left (on PostgreSQL then vacuumed, as they were after the build): every run searches
    the same entries."""
    stored = _stored(url)
    if stored is None or stored < size:
        raise RuntimeError(
            f"the search database {url} holds {stored or 0:,} entries, not a finished build "
            f"of {size:,}: drop it (or name an empty one) and run again to build it"
        )
    db = open_database(url)
    with db.write() as conn:
        left = conn.execute(
            entries.delete().where(
                entries.c.thread_id.in_(
                    sa.select(threads.c.id).where(threads.c.key == Writer.THREAD["key"])
                )
            )
        ).rowcount
        # the conversations earlier runs' questions were kept in (``ask`` threads)
        asked = sa.select(threads.c.id).where(threads.c.kind == ask_service.KIND)
        left += conn.execute(entries.delete().where(entries.c.thread_id.in_(asked))).rowcount
        conn.execute(streams.delete().where(streams.c.thread_id.in_(asked)))
        conn.execute(threads.delete().where(threads.c.kind == ask_service.KIND))
        # the next entry takes the key after the build's again: search takes the keys of the
        # newest entries to be about as many as the entries (a gap would leave the build's
        # entries out of the newest)
        if db.dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('entries', 'pk'), (SELECT max(pk) FROM "
                "entries))"
            )
        elif sa.inspect(conn).has_table("sqlite_sequence"):
            conn.exec_driver_sql(
                "UPDATE sqlite_sequence SET seq = (SELECT max(pk) FROM entries) "
                "WHERE name = 'entries'"
            )
    if db.dialect == "postgresql" and left:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE entries")
    return db, Corpus(), {"kept_entries": stored - left, "earlier_writers_entries": left}


def _backend(
    backend: str, url: str, size: int, ingest: int, samples: int, problems: list[str]
) -> dict[str, Any]:
    start = now()
    if _stored(url) is None:
        db, corpus, figures = _build(url, size, ingest, problems)
    else:
        note(f"{backend}: reusing the corpus kept in {url}")
        db, corpus, figures = _kept(url, size)
    try:
        note(f"{backend}: ready in {now() - start:.0f} s")
        table(
            f"{backend}: ingest and size ({size:,} entries)",
            ["measure", "value"],
            [[k.replace("_", " "), v] for k, v in figures.items()],
        )
        if figures.get("ingest_ratio", TARGET_INGEST_RATIO) < TARGET_INGEST_RATIO:
            note(f"ingest with the index is {figures['ingest_ratio']}× the rate without it "
                 f"(target ≥ {TARGET_INGEST_RATIO}×)")  # fmt: skip
        token = accounts.create_token(db, "bench", "bench")
        who = auth.authenticate(db, f"Bearer {token.secret}")
        writer = Writer(db, who, corpus)
        writer.start()
        try:
            rows = _latency(db, who, Corpus(seed=11), samples)
        finally:
            writer.stop.set()
            writer.join(30)
        if writer.error:
            problems.append(f"{backend}: the writer failed: {writer.error}")
        figures["writer_entries_per_s"] = round(getattr(writer, "rate", 0.0))
        table(
            f"{backend}: search latency, {samples} samples each, writer at "
            f"{figures['writer_entries_per_s']} entries/s",
            ["query", "n", "hits", "p50_ms", "p95_ms", "max_ms"],
            [[r["query"], r["n"], r["hits"], r["p50_ms"], r["p95_ms"], r["max_ms"]] for r in rows],
        )
        slow = [r["query"] for r in rows if r["hits"] is not None and r["p95_ms"] > TARGET_P95_MS]
        if slow:
            note(f"over the {TARGET_P95_MS:.0f} ms p95 target: {', '.join(slow)}")
        figures["latency"] = rows
        asked = _ask_latency(db, who, Corpus(seed=13), max(samples // 5, 5))
        table(
            f"{backend}: `ask` (extractive) in process, project scope, no writer",
            ["question", "n", "cited", "p50_ms", "p95_ms", "max_ms"],
            [[r["query"], r["n"], r["hits"], r["p50_ms"], r["p95_ms"], r["max_ms"]]
             for r in asked],
        )  # fmt: skip
        figures["ask_latency"] = asked
        return figures
    finally:
        db.dispose()
