"""The web UI's threads list with 10,000 threads: how long the server takes to answer a page.

A fresh ``threadline serve`` on SQLite gets 10,000 threads of one user through
``POST /api/v1/sync/push`` in batches of 1,000 streams (one entry each): notes, Claude Code and
Codex sessions over 20 projects and four weeks, every tenth a subagent of a session. Then a
browser signs in (``POST /login``, the session cookie) and, over one keep-alive connection
with ``Accept-Encoding: gzip`` as a browser sends, each page below is requested ``n`` times in
turn (after a few warm-up requests). A sample is the time from sending the request to having
read the whole answer, on loopback — the server's time plus a few hundred microseconds.

- ``GET /threads``: the first page (100 top-level threads, the filter bar, project counts);
- a filtered page: one project and one kind, active in the last 7 days;
- a text search (``q``), which matches titles and names by substring;
- page 50 (``?cursor=…``, the cursor the 49th page's "Load more" link carries);
- ``GET /threads/rows?cursor=…``: the rows of page 50 alone, as infinite scroll fetches them;
- ``GET /threads/rows?since_change=N``: a live update after ten threads changed.

Baselines, same run and connection: ``GET /healthz`` (the cheapest answer) and the REST API's
``GET /api/v1/threads?limit=100&top_level=true`` (the same first page as JSON). Target: p95 ≤
200 ms for every page; nothing here asserts it.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    Context,
    Server,
    WebClient,
    api_login,
    database,
    note,
    now,
    percentile,
    ratio,
    table,
    text_of_size,
)

THREADS = 10_000
BATCH = 1_000
PROJECTS = 20
TARGET_P95_MS = 200.0
_ROW = re.compile(rb'<tr id="thread-')


def _streams(start: int, count: int, base: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Streams ``start`` … ``start + count - 1``: thread ``i`` was last active ``4 i`` minutes
    before ``base``; every tenth is a subagent of the session just before it."""
    streams: list[dict[str, Any]] = []
    for i in range(start, start + count):
        project = f"acme/project-{i % PROJECTS:02d}"
        when = base - timedelta(minutes=4 * i)
        kind = ("note", "claude-code", "codex")[i % 3] if i % 10 else "claude-code"
        title = text_of_size(60, rng).capitalize()
        ref: dict[str, Any] = {"kind": kind, "project": project, "title": title}
        if kind == "note":
            ref.update(key=f"note:{project}:n{i}", name=f"n{i}")
        else:
            session = f"{uuid.UUID(int=i)}"
            ref.update(
                key=f"{kind}:{session}",
                name=session,
                meta={
                    "agent": kind,
                    "session_id": session,
                    "model": "claude-opus-4" if kind == "claude-code" else "gpt-5-codex",
                    "git_branch": f"feature/{i % 37}",
                    "cwd": f"/home/dev/{project}",
                },
            )
            if i % 10 == 0 and i > start:
                ref["parent_key"] = f"claude-code:{uuid.UUID(int=i - 1)}"
        entry = {
            "seq": 1,
            "id": str(uuid.uuid4()),
            "ts": when.isoformat(),
            "role": "assistant",
            "text": text_of_size(200, rng),
        }
        streams.append({"stream_id": str(uuid.uuid4()), "thread": ref, "entries": [entry]})
    return streams


def _fill(browser: WebClient, token: str, device_id: str, base: datetime) -> float:
    """Push :data:`THREADS` threads; returns the seconds it took."""
    rng = random.Random(7)
    start = now()
    for first in range(0, THREADS, BATCH):
        _push(browser, token, device_id, _streams(first, BATCH, base, rng))
    return now() - start


def _push(browser: WebClient, token: str, device_id: str, streams: list[dict[str, Any]]) -> None:
    body = json.dumps({"device_id": device_id, "streams": streams}).encode()
    status, _, answer = browser.request(
        "POST",
        "/api/v1/sync/push",
        body,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    if status != 200:
        raise RuntimeError(f"push answered {status}: {answer[:300]!r}")


def _time(
    browser: WebClient, path: str, n: int, headers: dict[str, str] | None = None
) -> tuple[list[float], int, dict[str, str]]:
    """``n`` samples of ``GET path`` after 5 warm-up requests; the rows of the last answer."""
    samples: list[float] = []
    rows, last_headers = 0, dict[str, str]()
    for i in range(n + 5):
        start = now()
        status, last_headers, body = browser.request("GET", path, headers=headers)
        took = now() - start
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        if i >= 5:
            samples.append(took)
        rows = len(_ROW.findall(body))
    return samples, rows, last_headers


def _stats(name: str, samples: list[float], rows: int | None) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "measure": name,
        "n": len(ms),
        "rows": rows,
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def measure(ctx: Context, n: int) -> dict[str, Any]:
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    base = datetime.now(UTC).replace(microsecond=0)
    with (
        database("sqlite", ctx.workdir, ctx.postgres) as url,
        Server(ctx.home("web-list-server"), url) as server,
    ):
        token, device_id = api_login(server, "web-list")
        browser = WebClient(server.url)
        try:
            fill_seconds = _fill(browser, token, device_id, base)
            note(f"{THREADS:,} threads pushed in {fill_seconds:.1f} s")
            browser.sign_in(ADMIN_USER, ADMIN_PASSWORD)
            bearer = {"Authorization": f"Bearer {token}"}

            # the cursor of page 50, as the 49th page's "Load more" link carries it
            cursor = ""
            for _ in range(49):
                query = urlencode({"cursor": cursor} if cursor else {})
                status, headers, _ = browser.request("GET", f"/threads/rows?{query}")
                cursor = headers.get("threadline-next-cursor", "")
                if status != 200 or not cursor:
                    raise RuntimeError("fewer than 50 pages of threads")
            since = (base - timedelta(days=7)).date().isoformat()
            filtered = urlencode({"project": "acme/project-07", "kind": "claude-code",
                                  "since": since})  # fmt: skip
            # a live update: ten threads get a new entry, then the fragment since before that
            status, headers, page = browser.request("GET", "/threads")
            found = re.search(rb'<tbody id="thread-rows" data-change="(\d+)"', page)
            if status != 200 or not found:
                raise RuntimeError("GET /threads has no tbody#thread-rows[data-change]")
            change = int(found.group(1))
            _touch_ten(browser, token, device_id, base)

            plan: list[tuple[str, str, dict[str, str] | None, int | None]] = [
                ("GET /healthz (baseline)", "/healthz", None, None),
                ("GET /api/v1/threads JSON (baseline)",
                 "/api/v1/threads?limit=100&top_level=true", bearer, None),
                ("GET /threads (first page)", "/threads", None, 100),
                ("GET /threads filtered (project, kind, 7 days)",
                 f"/threads?{filtered}", None, None),
                ("GET /threads?q=… (text search)", "/threads?q=optimistic", None, None),
                ("GET /threads page 50 (cursor)", f"/threads?{urlencode({'cursor': cursor})}",
                 None, 100),
                ("GET /threads/rows page 50 (scroll)",
                 f"/threads/rows?{urlencode({'cursor': cursor})}", None, 100),
                ("GET /threads/rows?since_change (live)",
                 f"/threads/rows?since_change={change}", None, None),
            ]  # fmt: skip
            for name, path, headers_, expected in plan:
                samples, count, _ = _time(browser, path, n, headers_)
                shown = count if path.startswith("/threads") else None
                rows.append(_stats(name, samples, shown))
                if expected is not None and count != expected:
                    problems.append(f"{name}: {count} rows, expected {expected}")
            live = rows[-1]["rows"]
            if live is None or live < 9:
                problems.append(f"the live fragment sent {live} rows for ten changed threads")
        finally:
            browser.close()
    json_p50 = rows[1]["p50_ms"]
    for row in rows:
        row["x_json"] = ratio(row["p50_ms"], json_p50)
    worst = max(r["p95_ms"] for r in rows[2:])
    return {
        "threads": THREADS,
        "fill_seconds": round(fill_seconds, 1),
        "rows": rows,
        "worst_page_p95_ms": worst,
        "target_p95_ms": TARGET_P95_MS,
        "target_met": worst <= TARGET_P95_MS,
        "problems": problems,
    }


def _touch_ten(browser: WebClient, token: str, device_id: str, base: datetime) -> None:
    """Ten new threads, active a minute after the newest (what a burst of agents does)."""
    latest = base + timedelta(minutes=4 * THREADS + 1)
    _push(browser, token, device_id, _streams(THREADS, 10, latest, random.Random(8)))


def run(ctx: Context) -> dict[str, Any]:
    n = 50 if ctx.quick else 200
    result = measure(ctx, n)
    table(
        f"web_list — {THREADS:,} threads on SQLite, one signed-in browser, keep-alive, "
        f"{n} requests each",
        ["measure", "n", "rows", "p50 ms", "p95 ms", "p99 ms", "max ms", "× JSON p50"],
        [
            [r["measure"], r["n"], "-" if r["rows"] is None else r["rows"], r["p50_ms"],
             r["p95_ms"], r["p99_ms"], r["max_ms"], r["x_json"]]
            for r in result["rows"]
        ],
    )  # fmt: skip
    worst = result["worst_page_p95_ms"]
    verdict = "met" if result["target_met"] else "MISSED"
    note(f"target: p95 ≤ {TARGET_P95_MS:.0f} ms for every page → worst {worst} ms, {verdict}")
    return result
