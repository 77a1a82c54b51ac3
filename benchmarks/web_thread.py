"""The web UI's thread page with a 5,000-entry session: how long the server takes to answer.

A fresh ``threadline serve`` on SQLite gets one Claude Code session of 5,000 lines through
``POST /api/v1/sync/push`` (batches of 1,000): the real lines of a shared fixture transcript
(tool calls, results, thinking, bookkeeping records), repeated with new uuids and later
timestamps, parsed by the real parser as the daemon does. A browser signs in (``POST
/login``, the session cookie) and, over one keep-alive connection, each request below is sent
``n`` times in turn after a few warm-up requests. A sample is the time from sending the request
to having read the whole answer, on loopback.

- ``GET /threads/{id}``: the first screen (header and the first 100 entries);
- ``GET /threads/{id}/entries?after=…``: a later page of fragments (page 25, as scrolling
  fetches it);
- ``GET /threads/{id}?around=<entry>``: a link to an entry deep in the thread.

Baseline, same run and connection: the REST API's ``GET /api/v1/threads/{id}/entries?limit=100``
(the same 100 entries as JSON). Target: p95 ≤ 200 ms for the first screen; nothing here
asserts it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    ROOT,
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
)
from threadline.client.api import Api
from threadline.sources import claude_code
from threadline.watch.session import empty_summary, entry_row, merge_summary, thread_spec

ENTRIES = 5_000
BATCH = 1_000
TARGET_P95_MS = 200.0
FIXTURE = ROOT.parent / "shared" / "fixtures" / "claude" / "spotter" / "tool_heavy.jsonl"
_AFTER = re.compile(r'data-after="([^"]*)"')
_LI = re.compile(rb'<li class="entry')


def session_lines(count: int) -> list[bytes]:
    """``count`` lines: the fixture's, repeated with fresh uuids and later timestamps."""
    if not FIXTURE.is_file():
        raise RuntimeError(f"the shared fixture {FIXTURE} is missing (see shared/fixtures)")
    source = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    session = str(uuid.uuid4())
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    out: list[bytes] = []
    round_no = 0
    while len(out) < count:
        fresh: dict[str, str] = {}
        for obj in source:
            if len(out) >= count:
                break
            line = dict(obj)
            for key in ("uuid", "parentUuid"):
                if isinstance(line.get(key), str):
                    line[key] = fresh.setdefault(line[key], str(uuid.uuid4()))
            if "sessionId" in line:
                line["sessionId"] = session
            stamp = start + timedelta(seconds=len(out) * 2, minutes=round_no)
            if "timestamp" in line:
                line["timestamp"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            out.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
        round_no += 1
    return out


def push_session(api: Api, device_id: str, lines: list[bytes]) -> str:
    """Push the lines as one session thread, as the daemon would; returns the thread id."""
    parsed = list(claude_code.parse_lines(lines))
    info = claude_code.summarize(parsed, None)
    path = Path(f"/bench/.claude/projects/-bench/{info.session_id}.jsonl")
    spec = thread_spec("claude-code", merge_summary(empty_summary(), info), path, "bench/web")
    thread = {
        "key": spec.key, "kind": spec.kind, "name": spec.name, "project": spec.project,
        "title": spec.title, "meta": spec.meta, "parent_key": spec.parent_key,
    }  # fmt: skip
    stream_id = str(uuid.uuid4())
    fallback = "2026-03-01T09:00:00Z"
    thread_id = ""
    for first in range(0, len(parsed), BATCH):
        batch = []
        for line in parsed[first : first + BATCH]:
            seq, ts, role, text, parts, meta, raw = entry_row(line, fallback)
            batch.append({
                "seq": seq, "id": str(uuid.uuid4()), "ts": ts, "role": role, "text": text,
                "parts": json.loads(parts) if parts else None,
                "meta": json.loads(meta) if meta else None, "raw": raw,
            })  # fmt: skip
        body = {"stream_id": stream_id, "generation": 1, "source": str(path), "thread": thread}
        answer = api.push(device_id, [{**body, "entries": batch}])
        thread_id = answer["streams"][0]["thread_id"]
    return thread_id


def _time(browser: WebClient, path: str, n: int, headers: dict[str, str] | None = None) -> Any:
    samples: list[float] = []
    size = entries = 0
    for i in range(n + 3):
        started = now()
        status, _, data = browser.request("GET", path, headers=headers)
        elapsed = now() - started
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        if i >= 3:
            samples.append(elapsed)
        size, entries = browser.wire_bytes, len(_LI.findall(data))
    return samples, size, entries


def _stats(name: str, samples: list[float], size: int, entries: int | None) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "name": name,
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
        "bytes": size,
        "entries": entries,
    }


def measure(ctx: Context, n: int) -> dict[str, Any]:
    home = ctx.home("web-thread")
    with database("sqlite", ctx.workdir, None) as url, Server(home, url) as server:
        token, device_id = api_login(server, "web-thread")
        api = Api(server.url, token, timeout=300)
        started = now()
        thread_id = push_session(api, device_id, session_lines(ENTRIES))
        note(f"pushed {ENTRIES:,} entries in {now() - started:.1f} s")
        browser = WebClient(server.url)
        browser.sign_in(ADMIN_USER, ADMIN_PASSWORD)
        page = f"/threads/{thread_id}"
        # The cursor of page 25, as scrolling reaches it.
        _, _, first = browser.request("GET", page)
        cursor = _AFTER.search(first.decode()).group(1)  # type: ignore[union-attr]
        for _ in range(24):
            _, headers, _ = browser.request("GET", f"{page}/entries?after={cursor}")
            cursor = headers["threadline-after"]
        entries_page = f"{page}/entries?after={cursor}"
        listed = api.call("GET", f"/api/v1/threads/{thread_id}/entries", query={"limit": 500})
        deep = listed["entries"][400]["id"]
        bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        rows = []
        for name, path, extra, counted in (
            ("baseline: GET /api/v1/threads/{id}/entries?limit=100",
             f"/api/v1/threads/{thread_id}/entries?limit=100", bearer, False),
            ("GET /threads/{id} (first screen)", page, None, True),
            ("GET /threads/{id}/entries?after=… (page 25)", entries_page, None, True),
            ("GET /threads/{id}?around=<entry 400>", f"{page}?around={deep}", None, True),
        ):  # fmt: skip
            samples, size, entries = _time(browser, path, n, extra)
            rows.append(_stats(name, samples, size, entries if counted else None))
        browser.close()
        problems = server.trouble()
    base = rows[0]["p95_ms"]
    table(
        f"Thread page, {ENTRIES:,}-entry session, SQLite ({n} requests each, one connection)",
        ["request", "p50 ms", "p95 ms", "max ms", "bytes (gzip)", "entries", "p95 × baseline"],
        [
            [r["name"], r["p50_ms"], r["p95_ms"], r["max_ms"], r["bytes"],
             r["entries"] if r["entries"] is not None else "-", ratio(r["p95_ms"], base)]
            for r in rows
        ],
    )  # fmt: skip
    first_p95 = rows[1]["p95_ms"]
    met = "met" if first_p95 <= TARGET_P95_MS else "NOT met"
    note(f"target p95 ≤ {TARGET_P95_MS:.0f} ms for the first screen: {met} ({first_p95} ms)")
    return {"rows": rows, "problems": [f"server logged: {line.strip()}" for line in problems[:3]]}


def run(ctx: Context) -> dict[str, Any]:
    return measure(ctx, 30 if ctx.quick else 100)
