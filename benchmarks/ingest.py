"""Server ingest rate: entries stored per second with 16 concurrent clients.

Each client is a thread with its own device (its own token from ``POST /api/v1/auth/login``)
and its own stream and note thread, all of one user. It sends ``POST /api/v1/sync/push``
batches of 1, 100 or 1,000 entries (about 200 characters of text each) with consecutive
``seq``, one after another, over one keep-alive ``http.client`` connection — the CLI's own
client opens a connection per request; keep-alive here keeps the benchmark's side cheap.
Bodies are built before the clock starts and, like the real client's, gzip-compressed when
over 4 kB. A configuration stops at its entry total or its time budget, whichever comes first.

Afterwards, every stream's tail from ``GET /api/v1/sync/status`` and every thread's
``entry_count`` must equal what its client had acknowledged (zero lost).

Baseline, same run: the same rows inserted with one ``executemany`` in one transaction into
a table shaped like the server's ``entries`` table (same columns, unique constraints and
index) — with :mod:`sqlite3` (WAL, ``synchronous=NORMAL``, as the server) and, on PostgreSQL,
with psycopg. Ratio = server rate / raw rate.

The search index's cost: the batches of 100 once more on each backend against a database whose
index was taken out (:func:`drop_search_index`), as the ratio of the rates and of the CPU time
per entry — the server's, plus on PostgreSQL its database backends' (:func:`database_cpu`).
``run.py --only ingest --index-pairs N`` measures only that, as N interleaved pairs
(:func:`index_pairs`): on a shared machine one pair's ratio swings more than most changes.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sqlite3
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

from harness import (
    ADMIN_USER,
    Context,
    Server,
    api_logins,
    cpu_seconds,
    create_users,
    database,
    note,
    now,
    percentile,
    table,
    text_of_size,
)
from threadline import protocol as p
from threadline.client.api import Api
from threadline.storage.database import open_database

CLIENTS = 16
TEXT_CHARS = 200
TEXT_POOL = 2000
REPEATS = 3
TARGET_RATE = 20_000
#: Push rate with the search index over the rate without it.
TARGET_INDEX_RATIO = 0.8
COMPRESS_OVER = 4096
PUSH_PATH = f"{p.API_PREFIX}/sync/push"


@dataclass
class Config:
    batch: int
    total: int
    budget_s: float
    users: int = 1
    #: ``threadline serve --workers``: server processes sharing the port.
    workers: int = 1
    #: ``False``: the server's database has no search index (see :func:`drop_search_index`),
    #: to measure what the index costs a push.
    search_index: bool = True


def configs(quick: bool) -> list[Config]:
    if quick:
        return [
            Config(1, 1_600, 6),
            Config(100, 16_000, 10),
            Config(100, 16_000, 10, search_index=False),
            Config(100, 16_000, 10, workers=2),
            Config(1000, 16_000, 12),
        ]
    return [
        Config(1, 8_000, 25),
        Config(100, 48_000, 40),
        # the same without the search index: what the index costs
        Config(100, 48_000, 40, search_index=False),
        # one server process per core
        Config(100, 48_000, 40, workers=2),
        Config(1000, 48_000, 40),
        # the same load from 16 users: a user's writes are serialized, different users' not
        Config(100, 48_000, 40, users=CLIENTS),
    ]


@dataclass
class Client:
    index: int
    token: str
    device_id: str
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    bodies: list[tuple[bytes, dict[str, str], int]] = field(default_factory=list)
    acked: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    error: str | None = None


def _entries(
    client: Client, first_seq: int, count: int, rng: random.Random, texts: list[str]
) -> list[Any]:
    base = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    out = []
    for seq in range(first_seq, first_seq + count):
        ts = (base + timedelta(microseconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = rng.choice(texts)
        out.append(
            {"seq": seq, "id": str(uuid.uuid4()), "ts": ts, "role": "assistant", "text": text}
        )
    return out


def _body(client: Client, entries: list[Any]) -> tuple[bytes, dict[str, str]]:
    thread = {"key": f"note:bench:ingest-{client.index}", "kind": "note"}
    thread.update(name=f"ingest-{client.index}", project="bench")
    body = {
        "device_id": client.device_id,
        "streams": [{"stream_id": client.stream_id, "thread": thread, "entries": entries}],
    }
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Authorization": f"Bearer {client.token}",
        p.VERSION_HEADER: str(p.PROTOCOL_VERSION),
        "Content-Type": "application/json",
    }
    if len(data) > COMPRESS_OVER:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = compressor.compress(data) + compressor.flush()
        headers["Content-Encoding"] = "gzip"
    return data, headers


def prepare(clients: list[Client], cfg: Config, rows: list[tuple[Any, ...]]) -> None:
    """Build every client's request bodies; collect the rows for the raw baseline."""
    rng = random.Random(cfg.batch)
    # a pool far larger than gzip's 32 kB window, so bodies compress like varied prose
    texts = [text_of_size(TEXT_CHARS, rng) for _ in range(TEXT_POOL)]
    per_client = cfg.total // len(clients)
    for client in clients:
        seq = 1
        while seq <= per_client:
            count = min(cfg.batch, per_client - seq + 1)
            entries = _entries(client, seq, count, rng, texts)
            data, headers = _body(client, entries)
            client.bodies.append((data, headers, seq + count - 1))
            rows.extend(
                (client.index, e["seq"], e["id"], e["ts"], e["role"], e["text"]) for e in entries
            )
            seq += count


def _send_all(client: Client, url: str, barrier: threading.Barrier, deadline: list[float]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        barrier.wait()
        for data, headers, last_seq in client.bodies:
            if now() > deadline[0]:
                break
            start = now()
            conn.request("POST", PUSH_PATH, data, headers)
            response = conn.getresponse()
            answer = response.read()
            client.latencies.append(now() - start)
            client.requests += 1
            if response.status != 200:
                client.error = f"HTTP {response.status}: {answer[:300]!r}"
                return
            tail = json.loads(answer)["streams"][0]["tail"]
            if tail != last_seq:
                client.error = f"tail {tail} after sending up to seq {last_seq}"
                return
            client.acked = tail
    except (OSError, http.client.HTTPException) as exc:
        client.error = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def verify(url: str, clients: list[Client]) -> tuple[int, list[str]]:
    """Every stream's tail and every thread's entry_count equal what its client had acked.
    Returns the number of acknowledged entries missing on the server, and the problems."""
    problems = []
    lost = 0
    for client in clients:
        api = Api(url, client.token, timeout=60)
        streams = api.status(stream_ids=[client.stream_id])["streams"]
        tail = streams[0]["tail"] if streams else 0
        counts = {t["name"]: t["entry_count"] for t in api.all_threads(project="bench")}
        count = counts.get(f"ingest-{client.index}", 0)
        lost += max(0, client.acked - min(tail, count))
        if tail != client.acked or count != client.acked:
            problems.append(
                f"client {client.index}: acked {client.acked}, server tail {tail}, "
                f"thread entry_count {count}"
            )
    return lost, problems


def run_config(ctx: Context, backend: str, cfg: Config) -> dict[str, Any]:
    """One measurement on a fresh server and database, with its own raw baseline."""
    name = f"{backend}-{cfg.batch}-{cfg.users}-{cfg.workers}-{int(cfg.search_index)}"
    home = ctx.home(f"ingest-{name}")
    server_args = ("--workers", str(cfg.workers))
    with database(backend, ctx.workdir, ctx.postgres) as url:
        if not cfg.search_index:
            drop_search_index(url)
        with Server(home, url, *server_args) as server:
            return measure(cfg, backend, ctx, server, url)


def drop_search_index(url: str) -> None:
    """Benchmark only: migrate the database at ``url``, then take its search index out, so
    the server's pushes cost what they would without search. On SQLite: every trigger of
    ``entries`` (they queue entries for FTS5; ``Database.write`` indexes only what is queued,
    so nothing is). On PostgreSQL: the generated column's expression (it stays, empty, as a
    plain column), its GIN index and the vocabulary's triggers."""
    db = open_database(url)
    try:
        with db.engine.begin() as conn:  # not db.write(): it would index before the commit
            if db.dialect == "sqlite":
                names = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'"
                ).scalars()
                for name in list(names):
                    conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
                return
            conn.exec_driver_sql("ALTER TABLE entries ALTER COLUMN search_doc DROP EXPRESSION")
            conn.exec_driver_sql("DROP INDEX ix_entries_search_doc")
            conn.exec_driver_sql("DROP TRIGGER entries_search_words ON entries")
            conn.exec_driver_sql("DROP TRIGGER entries_search_words_update ON entries")
    finally:
        db.dispose()


def measure(cfg: Config, backend: str, ctx: Context, server: Server, url: str) -> dict[str, Any]:
    """Pushes of ``cfg`` from :data:`CLIENTS` clients to ``server``, checked afterwards."""
    users = [ADMIN_USER]
    if cfg.users > 1:
        users = [f"ingest-user-{i}" for i in range(cfg.users)]
        create_users(server, users)
    logins = api_logins(server, CLIENTS, "ingest", users)
    clients = [Client(i, token, device) for i, (token, device) in enumerate(logins)]
    rows: list[tuple[Any, ...]] = []
    prepare(clients, cfg, rows)
    raw = raw_rate(backend, ctx, rows)
    barrier = threading.Barrier(len(clients) + 1)
    deadline = [float("inf")]
    workers = [
        threading.Thread(target=_send_all, args=(c, server.url, barrier, deadline)) for c in clients
    ]
    for worker in workers:
        worker.start()
    cpu_before = cpu_seconds(server.pid)
    db_before = database_cpu(backend, url)
    own_before = time.process_time()
    barrier.wait()
    start = now()
    deadline[0] = start + cfg.budget_s
    for worker in workers:
        worker.join()
    elapsed = now() - start
    server_cpu = cpu_seconds(server.pid) - cpu_before
    db_cpu = _cpu_since(db_before, database_cpu(backend, url))
    client_cpu = time.process_time() - own_before
    problems = [f"client {c.index}: {c.error}" for c in clients if c.error]
    lost, found = verify(server.url, clients)
    transactions = write_transactions(backend, url)
    problems += found
    stored = sum(c.acked for c in clients)
    latencies = [lat for c in clients for lat in c.latencies]
    rate = stored / elapsed if elapsed else 0.0
    return {
        "backend": backend,
        "batch": cfg.batch,
        "users": cfg.users,
        "workers": cfg.workers,
        "search_index": cfg.search_index,
        "clients": CLIENTS,
        "entries": stored,
        "planned": cfg.total,
        "requests": sum(c.requests for c in clients),
        "seconds": round(elapsed, 2),
        "entries_per_s": round(rate),
        "raw_entries_per_s": round(raw),
        "ratio_to_raw": round(rate / raw, 3),
        "request_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "request_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "server_cpu_pct": round(100 * server_cpu / elapsed) if elapsed else 0,
        "server_cpu_us_per_entry": round(1e6 * server_cpu / stored, 1) if stored else 0.0,
        "client_cpu_pct": round(100 * client_cpu / elapsed) if elapsed else 0,
        # PostgreSQL's backends serving the server (their own processes); 0 on SQLite
        "database_cpu_us_per_entry": round(1e6 * db_cpu / stored, 1) if stored else 0.0,
        # PostgreSQL: transactions that stored entries (a user's waiting pushes are written
        # together); None on SQLite, which cannot tell
        "entries_per_transaction": round(stored / transactions) if transactions else None,
        "lost": lost,
        "problems": problems,
    }


def database_cpu(backend: str, url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the database of ``url``
    (the server's pool: no one else uses a benchmark's database), by process id, from
    Linux ``/proc`` (the server runs on this machine); nothing on SQLite, whose work is done
    in the server's own process."""
    if backend == "sqlite":
        return {}
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    out = {}
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def write_transactions(backend: str, url: str) -> int | None:
    """PostgreSQL: how many transactions stored the entries (their distinct ``xmin``)."""
    if backend == "sqlite":
        return None
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(DISTINCT xmin::text) FROM entries").fetchone()
    return int(row[0]) if row else None


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two :func:`database_cpu` samples by the backends alive at the second
    (one started between counts from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def index_cost(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Print and return, per backend, the rate with the search index over the rate without
    it (batches of 100, one user, one server process), the same run; and the same ratio of
    the server's CPU time per entry, steadier on a shared machine."""
    ratios: dict[str, float] = {}
    for backend in ("sqlite", "postgres"):
        pair = [
            r
            for r in rows
            if r["backend"] == backend
            and r["batch"] == 100
            and r["users"] == 1
            and r["workers"] == 1
        ]
        with_index = [r for r in pair if r["search_index"]]
        without = [r for r in pair if not r["search_index"]]
        if not with_index or not without or not without[0]["entries_per_s"]:
            continue
        on, off = with_index[0], without[0]
        value = round(float(on["entries_per_s"]) / float(off["entries_per_s"]), 2)
        cpu_on, cpu_off = _cpu_per_entry(on), _cpu_per_entry(off)
        cpu = cpu_off / max(cpu_on, 0.1)
        ratios[backend] = value
        note(
            f"search index ({backend}, batches of 100): {on['entries_per_s']:,} entries/s with "
            f"it, {off['entries_per_s']:,} without → {value}× (target ≥ {TARGET_INDEX_RATIO}×); "
            f"CPU per entry (server + database) {cpu_on:.1f} µs with it, {cpu_off:.1f} µs "
            f"without → {cpu:.2f}×"
        )
    return ratios


def _cpu_per_entry(row: dict[str, Any]) -> float:
    return float(row["server_cpu_us_per_entry"]) + float(row["database_cpu_us_per_entry"])


# --- the raw baseline ------------------------------------------------------------------------

_RAW_COLUMNS = (
    "pk INTEGER PRIMARY KEY, user_id BIGINT NOT NULL, thread_id TEXT NOT NULL, "
    "stream_pk BIGINT NOT NULL, seq BIGINT NOT NULL, entry_uuid TEXT NOT NULL, "
    "ts TEXT NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL, parts TEXT, meta TEXT, raw TEXT, "
    "hash TEXT NOT NULL, device_id BIGINT, received_at TEXT NOT NULL, change BIGINT NOT NULL, "
    "UNIQUE (stream_pk, seq), UNIQUE (user_id, entry_uuid)"
)
_RAW_INSERT = (
    "INSERT INTO entries (user_id, thread_id, stream_pk, seq, entry_uuid, ts, role, text, "
    "hash, device_id, received_at, change) VALUES ({0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, "
    "{0}, {0}, {0}, {0})"
)


def _raw_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fake_hash = "0" * 64
    return [
        (1, f"thread-{stream}", stream, seq, uid, ts, role, text, fake_hash, 1, received, 1)
        for stream, seq, uid, ts, role, text in rows
    ]


def raw_rate(backend: str, ctx: Context, rows: list[tuple[Any, ...]]) -> float:
    """Entries per second of one executemany of ``rows`` in one transaction."""
    values = _raw_rows(rows)
    if backend == "sqlite":
        return _raw_sqlite(ctx.workdir / "raw-baseline.db", values)
    return _raw_postgres(ctx, values)


def _raw_sqlite(path: Path, values: list[tuple[Any, ...]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"CREATE TABLE entries ({_RAW_COLUMNS})")
        conn.execute("CREATE INDEX ix_entries_thread_ts ON entries (thread_id, ts, pk)")
        start = now()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_RAW_INSERT.format("?"), values)
        conn.execute("COMMIT")
        elapsed = now() - start
    finally:
        conn.close()
    path.unlink(missing_ok=True)
    return len(values) / elapsed


def _raw_postgres(ctx: Context, values: list[tuple[Any, ...]]) -> float:
    import psycopg

    # the URL carries the fresh schema as search_path in libpq options
    with (
        database("postgres", ctx.workdir, ctx.postgres) as url,
        psycopg.connect(url) as conn,
    ):
        columns = _RAW_COLUMNS.replace("pk INTEGER PRIMARY KEY", "pk BIGSERIAL PRIMARY KEY")
        conn.execute(f"CREATE TABLE entries ({columns})")
        conn.execute("CREATE INDEX ix_entries_thread_ts ON entries (thread_id, ts, pk)")
        conn.commit()
        start = now()
        with conn.cursor() as cursor:
            cursor.executemany(_RAW_INSERT.format("%s"), values)
        conn.commit()
        return len(values) / (now() - start)


# --- the benchmark ---------------------------------------------------------------------------


def repeated(ctx: Context, backend: str, cfg: Config, times: int) -> dict[str, Any]:
    """The run with the median rate of ``times`` runs, with every run's rate and the lost
    entries and problems of all of them."""
    runs = [run_config(ctx, backend, cfg) for _ in range(times)]
    runs.sort(key=lambda r: r["entries_per_s"])
    chosen = dict(runs[len(runs) // 2])
    chosen["runs_entries_per_s"] = [r["entries_per_s"] for r in runs]
    chosen["lost"] = sum(r["lost"] for r in runs)
    chosen["problems"] = [problem for r in runs for problem in r["problems"]]
    return chosen


def index_pairs(ctx: Context) -> dict[str, Any]:
    """``--index-pairs N``: per backend, N runs with the search index and N without it,
    interleaved (with, without, with, …), batches of 100 from one user; the medians of the
    rates, of their ratios pair by pair and of the CPU per entry, with the load average."""
    cfg = Config(100, 32_000 if ctx.quick else 48_000, 20 if ctx.quick else 40)
    out: dict[str, Any] = {"pairs": ctx.index_pairs, "backends": {}, "problems": []}
    for backend in ctx.backends():
        pairs = []
        for i in range(ctx.index_pairs):
            print(f"  {backend}, pair {i + 1} of {ctx.index_pairs} …", flush=True)
            on = run_config(ctx, backend, cfg)
            off = run_config(ctx, backend, replace(cfg, search_index=False))
            pairs.append((on, off, os.getloadavg()[0]))
        out["problems"] += [x for on, off, _ in pairs for x in on["problems"] + off["problems"]]
        rates = [float(on["entries_per_s"]) / max(1, off["entries_per_s"]) for on, off, _ in pairs]
        cpus = [_cpu_per_entry(off) / max(0.1, _cpu_per_entry(on)) for on, off, _ in pairs]
        summary = {
            "with_entries_per_s": median(on["entries_per_s"] for on, _, _ in pairs),
            "without_entries_per_s": median(off["entries_per_s"] for _, off, _ in pairs),
            "rate_ratio": round(median(rates), 2),
            "rate_ratios": [round(r, 2) for r in rates],
            "with_cpu_us_per_entry": round(median(_cpu_per_entry(on) for on, _, _ in pairs), 1),
            "without_cpu_us_per_entry": round(
                median(_cpu_per_entry(off) for _, off, _ in pairs), 1
            ),
            "cpu_ratio": round(median(cpus), 2),
            "load_average": [
                round(min(x for *_, x in pairs), 1),
                round(max(x for *_, x in pairs), 1),
            ],
        }
        out["backends"][backend] = summary
        note(
            f"search index ({backend}, {len(pairs)} interleaved pairs, load average "
            f"{summary['load_average'][0]}–{summary['load_average'][1]}): medians "
            f"{summary['with_entries_per_s']:,.0f} entries/s with it, "
            f"{summary['without_entries_per_s']:,.0f} without; rate ratio "
            f"{summary['rate_ratio']}× [{min(rates):.2f}–{max(rates):.2f}] (target ≥ "
            f"{TARGET_INDEX_RATIO}×); CPU per entry (server + database) "
            f"{summary['with_cpu_us_per_entry']} / {summary['without_cpu_us_per_entry']} µs → "
            f"{summary['cpu_ratio']}×"
        )
    return out


def run(ctx: Context) -> dict[str, Any]:
    if ctx.index_pairs:
        return index_pairs(ctx)
    rows = []
    for backend in ctx.backends():
        for cfg in configs(ctx.quick):
            # the short configurations run several times; noise on a shared machine is bursty
            times = 1 if ctx.quick or cfg.batch == 1 else REPEATS
            print(
                f"  {backend}, batches of {cfg.batch}, {cfg.users} user(s), "
                f"{cfg.workers} server process(es), "
                f"{'' if cfg.search_index else 'no search index, '}{times} run(s) …",
                flush=True,
            )
            rows.append(repeated(ctx, backend, cfg, times))
    table(
        f"ingest — {CLIENTS} concurrent clients, one stream each, ~{TEXT_CHARS}-char entries",
        ["backend", "batch", "users", "workers", "index", "entries", "requests", "s", "entries/s",
         "raw entries/s",
         "server/raw", "req p50 ms", "req p99 ms", "server CPU %",
         "server CPU µs/entry", "PG CPU µs/entry", "entries/transaction", "client CPU %",
         "lost",
         "entries/s of each run"],
        [
            [r["backend"], r["batch"], r["users"], r["workers"],
             "yes" if r["search_index"] else "no", r["entries"], r["requests"],
             r["seconds"],
             r["entries_per_s"], r["raw_entries_per_s"], r["ratio_to_raw"], r["request_p50_ms"],
             r["request_p99_ms"], r["server_cpu_pct"],
             r["server_cpu_us_per_entry"], r["database_cpu_us_per_entry"] or "",
             r["entries_per_transaction"] or "", r["client_cpu_pct"], r["lost"],
             " ".join(f"{x:,}" for x in r["runs_entries_per_s"])]
            for r in rows
        ],
    )  # fmt: skip
    note(
        "raw = one sqlite3/psycopg executemany of the same rows in one transaction, measured "
        "just before each run; a row shows the run with the median rate"
    )
    note(
        "server / client CPU % = CPU time of the `threadline serve` processes (workers "
        "included) / of this benchmark's clients, over wall time (100% = one core)"
    )
    index_ratio = index_cost(rows)
    targets = [
        r
        for r in rows
        if r["backend"] == "sqlite" and r["batch"] == 100 and r["users"] == 1 and r["search_index"]
    ]
    for r in targets:
        verdict = "met" if r["entries_per_s"] >= TARGET_RATE else "MISSED"
        note(
            f"target: ≥ {TARGET_RATE:,} entries/s in batches of 100 on SQLite, "
            f"{r['workers']} server process(es) → {r['entries_per_s']:,}, {verdict}"
        )
    target = max(targets, key=lambda r: r["entries_per_s"], default=None)
    short = [r for r in rows if r["entries"] < r["planned"] and not r["problems"]]
    for r in short:
        note(
            f"{r['backend']} batch {r['batch']}: time budget reached after "
            f"{r['entries']:,} of {r['planned']:,} entries"
        )
    return {
        "configs": rows,
        "search_index_ratio": index_ratio,
        "target_entries_per_s": TARGET_RATE,
        "target_met": bool(target and target["entries_per_s"] >= TARGET_RATE),
        "problems": [p_ for r in rows for p_ in r["problems"]],
    }
