"""Many clients at once: 100, then 1,000 concurrent clients pushing to one server.

Each client is a thread with its own device id, stream and note thread; it uses the CLI's own
HTTP client (:class:`threadline.client.api.Api`, one connection per request) to send a few
pushes of a few entries each, one after another, all clients released together by a barrier.
Clients share a small pool of tokens of one user (a login is a deliberately slow password
hash, so a thousand of them would dominate the run); the device in each push body is the
client's own. A push that fails without an answer (timeout, reset) is retried as the real
client would, with the same body — safe by the protocol.

Checks afterwards: every stream's tail from ``GET /api/v1/sync/status`` equals what its client
sent (zero lost), and each thread's entries from ``GET /api/v1/threads/{id}/entries`` are
exactly the ids sent, once each, with ``seq`` 1…n (zero duplicated).

Baseline, same run: one client alone sending the same pushes; ratios compare push latency.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness import (
    Context,
    Server,
    api_logins,
    cpu_seconds,
    database,
    note,
    now,
    percentile,
    ratio,
    table,
    text_of_size,
)
from threadline.client.api import Api
from threadline.errors import ServerRefused, ServerUnreachable

ENTRIES_PER_PUSH = 3
TOKENS = 16
RETRIES = 5
STACK_SIZE = 256 * 1024


@dataclass
class Client:
    index: int
    api: Api
    project: str
    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pushes: list[list[dict[str, Any]]] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    acked: int = 0
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    error: str | None = None

    @property
    def name(self) -> str:
        return f"mc-{self.index}"

    def prepare(self, pushes: int, rng: random.Random) -> None:
        seq = 0
        for _ in range(pushes):
            entries = []
            for _ in range(ENTRIES_PER_PUSH):
                seq += 1
                entry_id = str(uuid.uuid4())
                ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                text = text_of_size(120, rng)
                entries.append({"seq": seq, "id": entry_id, "ts": ts, "role": "user", "text": text})
                self.sent_ids.append(entry_id)
            self.pushes.append(entries)

    def stream(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        thread = {"key": f"note:{self.project}:{self.name}", "kind": "note", "name": self.name}
        thread["project"] = self.project
        return {"stream_id": self.stream_id, "thread": thread, "entries": entries}

    def run(self, barrier: threading.Barrier | None) -> None:
        if barrier is not None:
            barrier.wait()
        for entries in self.pushes:
            for attempt in range(RETRIES + 1):
                start = now()
                try:
                    answer = self.api.push(self.device_id, [self.stream(entries)])
                except ServerUnreachable as exc:
                    if attempt == RETRIES:
                        self.error = f"unreachable after {RETRIES} retries: {exc.message}"
                        return
                    self.retries += 1
                    time.sleep(0.05 * 2**attempt * random.random())
                    continue
                except ServerRefused as exc:
                    self.error = f"refused: {exc.status} {exc.code} {exc.message}"
                    return
                self.latencies.append(now() - start)
                self.acked = int(answer["streams"][0]["tail"])
                break


def verify(url: str, token: str, clients: list[Client], project: str) -> dict[str, Any]:
    """Compare the server's tails and entries with what the clients sent."""
    api = Api(url, token, timeout=120)
    tails = {item["stream_id"]: int(item["tail"]) for item in api.status()["streams"]}
    threads = {t["name"]: t["id"] for t in api.all_threads(project=project)}
    lost = duplicated = wrong = 0
    problems: list[str] = []

    def check(client: Client) -> tuple[int, int, int, str | None]:
        expected = len(client.sent_ids)
        tail = tails.get(client.stream_id, 0)
        thread_id = threads.get(client.name)
        stored = Api(url, token, timeout=120).all_entries(thread_id) if thread_id else []
        ids = [e["id"] for e in stored]
        seqs = [e["seq"] for e in stored]
        missing = len(set(client.sent_ids) - set(ids))
        dupes = len(ids) - len(set(ids))
        unknown = len(set(ids) - set(client.sent_ids))
        problem = None
        if (
            tail != expected
            or missing
            or dupes
            or unknown
            or sorted(seqs) != list(range(1, expected + 1))
        ):
            problem = (
                f"{client.name}: sent {expected}, tail {tail}, stored {len(ids)} "
                f"({missing} missing, {dupes} duplicated, {unknown} unknown)"
            )
        return max(missing, expected - tail), dupes, unknown, problem

    with ThreadPoolExecutor(8) as pool:
        for missing, dupes, unknown, problem in pool.map(check, clients):
            lost += missing
            duplicated += dupes
            wrong += unknown
            if problem:
                problems.append(problem)
    return {"lost": lost, "duplicated": duplicated, "unknown": wrong, "problems": problems}


def run_one(backend: str, url: str, tokens: list[str], count: int, pushes: int) -> dict[str, Any]:
    project = f"bench-mc-{count}"
    rng = random.Random(count)
    clients = [
        Client(i, Api(url, tokens[i % len(tokens)], timeout=60), project) for i in range(count)
    ]
    for client in clients:
        client.prepare(pushes, rng)
    barrier = threading.Barrier(count + 1)
    old_stack = threading.stack_size(STACK_SIZE)
    try:
        workers = [threading.Thread(target=c.run, args=(barrier,)) for c in clients]
        for worker in workers:
            worker.start()
    finally:
        threading.stack_size(old_stack)
    barrier.wait()
    start = now()
    for worker in workers:
        worker.join()
    elapsed = now() - start
    checked = verify(url, tokens[0], clients, project)
    latencies = [lat for c in clients for lat in c.latencies]
    errors = [f"{c.name}: {c.error}" for c in clients if c.error]
    return {
        "backend": backend,
        "clients": count,
        "pushes": len(latencies),
        "entries": sum(c.acked for c in clients),
        "seconds": round(elapsed, 2),
        "pushes_per_s": round(len(latencies) / elapsed, 1) if elapsed else float("nan"),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
        "retries": sum(c.retries for c in clients),
        "lost": checked["lost"],
        "duplicated": checked["duplicated"],
        "problems": errors + checked["problems"],
    }


def run(ctx: Context) -> dict[str, Any]:
    pushes = 2 if ctx.quick else 5
    counts = [100, 1000]
    rows: list[dict[str, Any]] = []
    for backend in ctx.backends():
        home = ctx.home(f"many-{backend}")
        with database(backend, ctx.workdir, ctx.postgres) as url, Server(home, url) as server:
            tokens = [token for token, _ in api_logins(server, TOKENS, "many")]
            base = run_one(backend, server.url, tokens, 1, 50)
            base["clients"] = "1 (baseline)"
            rows.append(base)
            for count in counts:
                print(f"  {backend}, {count} clients …", flush=True)
                cpu_before = cpu_seconds(server.pid)
                row = run_one(backend, server.url, tokens, count, pushes)
                row["server_cpu_pct"] = round(
                    100 * (cpu_seconds(server.pid) - cpu_before) / row["seconds"]
                )
                rows.append(row)
            for row in rows:
                if row["backend"] == backend:
                    row["p50_ratio"] = ratio(row["p50_ms"], base["p50_ms"])
    table(
        f"many_clients — concurrent clients, {pushes} pushes of {ENTRIES_PER_PUSH} entries each "
        "(baseline: one client alone)",
        ["backend", "clients", "pushes", "entries", "total s", "pushes/s", "p50 ms", "p99 ms",
         "max ms", "p50 × alone", "server CPU %", "retries", "lost", "duplicated"],
        [
            [r["backend"], r["clients"], r["pushes"], r["entries"], r["seconds"],
             r["pushes_per_s"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["p50_ratio"],
             r.get("server_cpu_pct", float("nan")), r["retries"], r["lost"], r["duplicated"]]
            for r in rows
        ],
    )  # fmt: skip
    note("push latency = one POST /api/v1/sync/push with the CLI's client (new connection each)")
    note("server CPU % = CPU time of the `threadline serve` process / wall time (100% = one core)")
    return {"rows": rows, "problems": [p_ for r in rows for p_ in r["problems"]]}
