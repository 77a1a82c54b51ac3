"""``threadline ask --json`` as a whole process: what a developer waits for an answer.

A real server (SQLite) holds a few thousand entries: the real transcripts of
``shared/fixtures`` imported with ``threadline import`` when they are there, and synthetic
note threads pushed with ``POST /api/v1/sync/push`` to make up the rest. Each sample is the
wall time of one ``subprocess.run`` of the real console script — start-up, configuration,
the request, the server's retrieval and extractive answer, the JSON printed — beside, in the
same rounds, the baseline ``threadline --version`` (the CLI's own start-up) and the same
question sent from this process (``POST /api/v1/ask``: the server's part alone). The questions
rotate over a few that find something and one that finds nothing.

Target: p95 ≤ 500 ms (extractive, no language model).
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    THREADLINE,
    Context,
    Server,
    api_login,
    clean_env,
    cli_login,
    note,
    now,
    percentile,
    ratio,
    summary_ms,
    table,
    text_of_size,
)
from threadline.client.api import Api

TARGET_P95_MS = 500.0
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
#: Synthetic notes pushed on top of the transcripts.
NOTES = 3000
QUESTIONS = [
    "Why did we choose optimistic locking for the order service?",
    "Which migration was missing a column?",
    "How did the client http timeout fallback work?",
    "What about the zqxvbnm quorbleflax?",
]


def _push_notes(server: Server, count: int) -> None:
    """``count`` notes in 30 note threads, pushed in batches of 500."""
    token, device_id = api_login(server, "ask-bench")
    api = Api(server.url, token, timeout=120)
    rng = random.Random(7)
    streams = [str(uuid.uuid4()) for _ in range(30)]
    seqs = dict.fromkeys(streams, 0)
    for start in range(0, count, 500):
        batch: dict[str, list[dict[str, Any]]] = {}
        for _ in range(min(500, count - start)):
            stream = rng.choice(streams)
            seqs[stream] += 1
            batch.setdefault(stream, []).append(
                {
                    "seq": seqs[stream],
                    "id": str(uuid.uuid4()),
                    "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "role": rng.choice(["user", "assistant"]),
                    "text": text_of_size(rng.randint(80, 600), rng),
                }
            )
        api.push(
            device_id,
            [
                {
                    "stream_id": stream,
                    "thread": {
                        "key": f"note:bench:{stream[:8]}",
                        "name": stream[:8],
                        "project": "bench",
                    },
                    "entries": entries,
                }
                for stream, entries in batch.items()
            ],
        )


def _sample(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str | None]:
    start = now()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    elapsed = now() - start
    if result.returncode:
        return elapsed, f"exit {result.returncode}: {result.stderr.strip()[:200]}"
    return elapsed, None


def run(ctx: Context) -> dict[str, Any]:
    runs = 15 if ctx.quick else 40
    client = ctx.home("ask-client")
    server = Server(ctx.home("ask-server"), f"sqlite:///{ctx.workdir / 'ask-process.db'}")
    env = clean_env(client)
    failures: list[str] = []
    with server:
        cli_login(client, server)
        if FIXTURES.is_dir():
            imported = subprocess.run(
                [THREADLINE, "import", str(FIXTURES)], cwd=client, env=env,
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if imported.returncode:
                failures.append(f"import: {imported.stderr.strip()[:200]}")
        else:
            note(f"no fixtures at {FIXTURES}: synthetic notes only")
        _push_notes(server, NOTES)
        count = _entries(client, env)
        ask: list[float] = []
        base: list[float] = []
        answer: list[float] = []
        token = json.loads((client / "credentials.json").read_text())["token"]
        api = Api(server.url, token, timeout=60)
        for i in range(runs + 3):
            question = QUESTIONS[i % len(QUESTIONS)]
            argv = [THREADLINE, "ask", "--all-projects", "--json", question]
            elapsed, problem = _sample(argv, client, env)
            version, version_problem = _sample([THREADLINE, "--version"], client, env)
            if problem or version_problem:
                failures.append(problem or version_problem or "")
                continue
            start = now()
            api.ask({"question": question})
            served = now() - start
            if i >= 3:  # warm-up rounds are not counted
                ask.append(elapsed)
                base.append(version)
                answer.append(served)
        found = _found(client, env)
    rows: list[dict[str, Any]] = []
    measured = (
        ("threadline --version", base),
        ("threadline ask --json", ask),
        ("POST /api/v1/ask (no process)", answer),
    )
    for name, samples in measured:
        stats = summary_ms(samples) if samples else {}
        p95 = round(percentile([s * 1000 for s in samples], 95), 2) if samples else float("nan")
        rows.append({"variant": name, **stats, "p95_ms": p95})
    base_median = float(rows[0].get("median_ms", float("nan")))
    for row in rows:
        row["ratio_to_version"] = ratio(float(row.get("median_ms", float("nan"))), base_median)
    keys = ["variant", "n", "median_ms", "p90_ms", "p95_ms", "max_ms", "ratio_to_version"]
    table(
        f"ask_process — {count:,} entries, extractive answers ({runs} runs each)",
        ["variant", "n", "p50 ms", "p90 ms", "p95 ms", "max ms", "× --version"],
        [[row.get(k, float("nan")) for k in keys] for row in rows],
    )
    p95 = float(rows[1].get("p95_ms", float("nan")))
    verdict = "met" if p95 <= TARGET_P95_MS else "MISSED"
    note(f"target: p95 ≤ {TARGET_P95_MS:.0f} ms → {p95} ms, {verdict}")
    note(f"questions answered with citations: {found} of {len(QUESTIONS)}")
    for failure in failures[:3]:
        note(f"FAILED: {failure}")
    return {
        "runs": runs,
        "entries": count,
        "rows": rows,
        "target_p95_ms": TARGET_P95_MS,
        "target_met": p95 <= TARGET_P95_MS,
        "problems": failures[:3],
    }


def _entries(client: Path, env: dict[str, str]) -> int:
    result = subprocess.run(
        [THREADLINE, "thread", "list", "--all-projects", "--json"], cwd=client, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        return sum(int(t.get("entry_count") or 0) for t in json.loads(result.stdout))
    except ValueError:
        return 0


def _found(client: Path, env: dict[str, str]) -> int:
    """How many of the questions are answered with citations (each one noted)."""
    found = 0
    for question in QUESTIONS:
        result = subprocess.run(
            [THREADLINE, "ask", "--all-projects", "--json", question], cwd=client, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        cited = len(json.loads(result.stdout)["citations"]) if result.returncode == 0 else -1
        note(f"{question!r}: {cited} citations" if cited >= 0 else f"{question!r}: failed")
        found += cited > 0
    return found
