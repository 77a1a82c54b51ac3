"""Transcript capture: how fast a written line reaches the server, how fast ``import`` reads,
and how many bytes cross the wire.

1. **Line → server.** A real ``threadline daemon run`` watches a temporary Claude Code folder;
   the benchmark appends real transcript lines one at a time (about 10 per second) and polls
   ``GET /api/v1/threads/{id}`` until ``entry_count`` shows each. A sample is the time from the
   write to the first answer that shows the line. Baseline, same run: one bare GET (what a
   poll costs). The daemon's idle CPU is measured afterwards over a quiet period.
2. **Import.** The real fixtures, copied several times into a corpus, read by
   ``threadline import`` (reading, parsing and storing locally; then the same with upload to
   a server). Baseline, same run: merely reading every file and ``json.loads`` of every line.
3. **Wire bytes.** The bytes of every push request body (zstd-compressed JSON) against the
   raw bytes of the lines they carry: for a full import, and for appending one line, and ten,
   to a synced transcript.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import (
    THREADLINE,
    Context,
    Server,
    api_login,
    clean_env,
    cli,
    cli_login,
    cpu_seconds,
    database,
    note,
    now,
    ratio,
    summary_ms,
    table,
)
from threadline.client.api import Api

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
TARGET_P99_MS = 2000.0
SEED_INTERVAL_MS = 30_000.0
POLL_EVERY = 0.005
GIVE_UP_AFTER = 10.0


def _fixture_files() -> list[Path]:
    from threadline.watch import roots

    return list(roots.walk(FIXTURES))


def _agent_env(root: Path) -> dict[str, str]:
    home = root / "home"
    (home / ".claude" / "projects").mkdir(parents=True, exist_ok=True)
    (home / ".codex" / "sessions").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CODEX_HOME": str(home / ".codex"),
    }


# --- 1. line → server --------------------------------------------------------------------------


def line_latency(ctx: Context, lines_to_write: int) -> dict[str, Any]:
    source = FIXTURES / "claude" / "agentcmd" / "full-session-four.jsonl"
    lines = source.read_bytes().splitlines(keepends=True)
    while len(lines) < lines_to_write:
        lines += lines
    lines = lines[:lines_to_write]
    client = ctx.home("capture-client")
    agent = _agent_env(client)
    samples: list[float] = []
    polls_alone: list[float] = []
    problems: list[str] = []
    idle_cpu = float("nan")
    with (
        database("sqlite", ctx.workdir, None) as url,
        Server(ctx.home("capture-server"), url) as server,
    ):
        cli_login(client, server)
        token, _ = api_login(server, "reader")
        api = Api(server.url, token, timeout=10)
        env = clean_env(client, **agent)
        daemon = subprocess.Popen(
            [THREADLINE, "daemon", "run", "--quiet"],
            env=env,
            cwd=client,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_running(client, agent)
            folder = Path(agent["CLAUDE_CONFIG_DIR"]) / "projects" / "-bench"
            folder.mkdir()
            path = folder / "bench-session.jsonl"
            thread_id = None
            for count, line in enumerate(lines, start=1):
                start = now()
                with path.open("ab") as fh:
                    fh.write(line)
                while True:
                    if thread_id is None:
                        thread_id = _thread_id(api)
                    if thread_id is not None:
                        shown = api.call("GET", f"/api/v1/threads/{thread_id}")["entry_count"]
                        if shown >= count:
                            break
                    if now() - start > GIVE_UP_AFTER:
                        problems.append(f"line {count} not on the server after {GIVE_UP_AFTER} s")
                        break
                    time.sleep(POLL_EVERY)
                samples.append(now() - start)
                poll_start = now()
                api.call("GET", f"/api/v1/threads/{thread_id}")
                polls_alone.append(now() - poll_start)
                time.sleep(0.1)
            idle_window = 5.0 if ctx.quick else 15.0
            time.sleep(1.0)
            cpu_before = cpu_seconds(daemon.pid)
            time.sleep(idle_window)
            idle_cpu = (cpu_seconds(daemon.pid) - cpu_before) / idle_window * 100
        finally:
            daemon.terminate()
            daemon.wait(15)
    rows: list[dict[str, Any]] = [
        {"measure": "line written → on the server", **summary_ms(samples)},
        {"measure": "one GET …/threads/{id} (baseline)", **summary_ms(polls_alone)},
    ]
    for row in rows:
        row["ratio"] = ratio(row["median_ms"], rows[1]["median_ms"])
    return {"rows": rows, "idle_cpu_percent": round(idle_cpu, 3), "problems": problems}


def _wait_running(client: Path, agent: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = cli(client, "daemon", "status", "--json", env=agent)
        if status.returncode == 0 and json.loads(status.stdout)["running"]:
            return
        time.sleep(0.05)
    raise RuntimeError("the daemon did not start")


def _thread_id(api: Api) -> str | None:
    threads = api.threads(kind="claude-code")["threads"]
    return threads[0]["id"] if threads else None


# --- 2. import ---------------------------------------------------------------------------------


def build_corpus(folder: Path, copies: int) -> tuple[list[Path], int]:
    files: list[Path] = []
    for i in range(copies):
        for path in _fixture_files():
            target = folder / f"copy{i}" / path.relative_to(FIXTURES)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            files.append(target)
    return files, sum(f.stat().st_size for f in files)


def read_and_parse(files: list[Path]) -> float:
    start = now()
    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                try:  # noqa: SIM105 - suppress() would slow the baseline down
                    json.loads(line)
                except ValueError:
                    pass
    return now() - start


def import_speed(ctx: Context, copies: int) -> dict[str, Any]:
    corpus = ctx.home("capture-corpus")
    files, size = build_corpus(corpus, copies)
    mb = size / 1e6
    baseline = min(read_and_parse(files) for _ in range(3))
    local_home = ctx.home("capture-import-local")
    start = now()
    result = cli(local_home, "import", "--no-upload", str(corpus), timeout=1200)
    local = now() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    rows: list[dict[str, Any]] = [
        {"measure": "read + json.loads (baseline)", "seconds": baseline},
        {"measure": "threadline import --no-upload", "seconds": local},
    ]
    with (
        database("sqlite", ctx.workdir, None) as url,
        Server(ctx.home("capture-import-server"), url) as server,
    ):
        home = ctx.home("capture-import-full")
        cli_login(home, server)
        start = now()
        result = cli(home, "import", str(corpus), timeout=1200)
        full = now() - start
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        rows.append({"measure": "threadline import (with upload)", "seconds": full})
        start = now()
        again = cli(home, "import", str(corpus), timeout=1200)
        rows.append({"measure": "threadline import, second run", "seconds": now() - start})
        if "Nothing new to upload" not in again.stdout:
            raise RuntimeError(f"the second import was not empty: {again.stdout}")
    for row in rows:
        row["mb_per_s"] = round(mb / row["seconds"], 1)
        row["ratio"] = ratio(row["seconds"], baseline)
        row["seconds"] = round(row["seconds"], 2)
    return {"files": len(files), "mb": round(mb, 1), "rows": rows}


# --- 3. wire bytes -----------------------------------------------------------------------------


class _Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0


def wire_bytes(ctx: Context) -> dict[str, Any]:
    """In-process import and delivery, counting every push request body on its way out."""
    import os

    import threadline.client.api as api_mod
    from threadline.store import db
    from threadline.sync import engine
    from threadline.watch.tail import Tailer

    counter = _Counter()
    real_request = vars(api_mod)["request"]

    def counting(method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/sync/push") and kwargs.get("body"):
            counter.bytes += len(kwargs["body"])
            counter.requests += 1
        return real_request(method, url, **kwargs)

    rows: list[dict[str, Any]] = []
    folder = ctx.home("capture-wire")
    files = []
    for path in _fixture_files():
        target = folder / path.relative_to(FIXTURES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        files.append(target)
    raw = sum(f.stat().st_size for f in files)
    with (
        database("sqlite", ctx.workdir, None) as url,
        Server(ctx.home("capture-wire-server"), url) as server,
    ):
        token, _ = api_login(server, "wire")
        old_home = os.environ.get("THREADLINE_HOME")
        os.environ["THREADLINE_HOME"] = str(ctx.home("capture-wire-client"))
        vars(api_mod)["request"] = counting
        try:
            conn = db.connect()
            api = Api(server.url, token, timeout=60, zstd=True)
            tailer = Tailer(conn)
            for path in files:
                tailer.ingest(path)
            engine.deliver(conn, api)
            rows.append(_wire_row("full import of the fixtures", raw, counter))
            target = files[0]
            lines = (FIXTURES / "claude" / "agentcmd" / "full-session-four.jsonl").read_bytes()
            sample = sorted(lines.splitlines(keepends=True), key=len)
            typical = sample[len(sample) // 2]
            for count in (1, 10):
                counter.bytes = counter.requests = 0
                with target.open("ab") as fh:
                    fh.write(typical * count)
                tailer.ingest(target)
                engine.deliver(conn, api)
                rows.append(
                    _wire_row(f"append {count} line(s) of {len(typical):,} B", len(typical) * count,
                              counter)
                )  # fmt: skip
            conn.close()
        finally:
            vars(api_mod)["request"] = real_request
            if old_home is None:
                os.environ.pop("THREADLINE_HOME", None)
            else:
                os.environ["THREADLINE_HOME"] = old_home
    return {"rows": rows}


def _wire_row(measure: str, raw: int, counter: _Counter) -> dict[str, Any]:
    return {
        "measure": measure,
        "raw_bytes": raw,
        "wire_bytes": counter.bytes,
        "requests": counter.requests,
        "wire_per_raw": round(counter.bytes / raw, 3) if raw else None,
    }


# --- all of it ---------------------------------------------------------------------------------


def run(ctx: Context) -> dict[str, Any]:
    if not FIXTURES.is_dir():
        raise RuntimeError(f"the real transcripts are not at {FIXTURES}")
    lines = 60 if ctx.quick else 200
    latency = line_latency(ctx, lines)
    table(
        f"capture — {lines} transcript lines appended one by one, daemon → server (SQLite)",
        ["measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "× one GET"],
        [
            [r["measure"], r["n"], r["median_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
             r["ratio"]]
            for r in latency["rows"]
        ],
    )  # fmt: skip
    p99 = latency["rows"][0]["p99_ms"]
    verdict = "met" if p99 <= TARGET_P99_MS else "MISSED"
    note(f"target: p99 ≤ {TARGET_P99_MS:.0f} ms → {p99} ms, {verdict}")
    sooner = SEED_INTERVAL_MS / latency["rows"][0]["median_ms"]
    note(f"vs a 30 s sync interval: p50 is {sooner:.0f}× sooner")
    note(f"idle daemon CPU: {latency['idle_cpu_percent']} % of one core")

    copies = 3 if ctx.quick else 10
    speed = import_speed(ctx, copies)
    table(
        f"capture — import of {speed['files']} files, {speed['mb']} MB (fixtures ×{copies})",
        ["measure", "seconds", "MB/s", "× baseline time"],
        [[r["measure"], r["seconds"], r["mb_per_s"], r["ratio"]] for r in speed["rows"]],
    )

    wire = wire_bytes(ctx)
    table(
        "capture — bytes on the wire (zstd JSON push bodies) against raw transcript bytes",
        ["measure", "raw bytes", "wire bytes", "requests", "wire / raw"],
        [
            [r["measure"], r["raw_bytes"], r["wire_bytes"], r["requests"], r["wire_per_raw"]]
            for r in wire["rows"]
        ],
    )
    return {
        "latency": latency,
        "import": speed,
        "wire": wire,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": p99 <= TARGET_P99_MS,
        "problems": latency["problems"],
    }
