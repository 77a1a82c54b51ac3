"""Placing a saved transcript on another machine: moving its paths, and the whole placement.

1. **Moving paths.** A 5 MB Claude Code transcript (the real fixture ``d3ad4cdc…``, repeated)
   has its repository root moved line by line (:class:`threadline.handoff.rewrite.Rewriter`),
   and moved back. Baselines, same run: ``json.loads`` of every line (what parsing alone costs)
   and a bare ``bytes.replace`` of the root over the whole file (what a blind, unsafe rewrite
   costs).
2. **Placement.** The transcript on a real server (one stream, pushed as the capture would);
   ``plan_transcript`` + ``write_transcript`` into an empty home (first resume: everything is
   downloaded), then again after 10 more lines (second resume: a digest of the lines here, and
   the tail). Baseline, same run: one plain ``GET …/transcript`` of the whole file into
   ``/dev/null``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from harness import Context, Server, api_login, database, note, ratio, table
from threadline.client.api import Api
from threadline.handoff.rewrite import Rewriter
from threadline.handoff.transcripts import plan_transcript, write_transcript

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "claude"
    / "sniffly"
    / "d3ad4cdc-5657-435d-98fa-0035d53e383d.jsonl"
)
ROOT = "/Users/chip/dev/ai-music"
NEW_ROOT = "/home/someone/src/other clone/ai-music"
SESSION = "d3ad4cdc-5657-435d-98fa-0035d53e383d"
BATCH = 200


def corpus(target: int) -> list[bytes]:
    lines = FIXTURE.read_bytes().splitlines(keepends=True)
    out: list[bytes] = []
    while sum(map(len, out)) < target:
        out.extend(lines)
    return out


def best_of(repeats: int, work: Any) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def run(ctx: Context) -> dict[str, Any]:
    if not FIXTURE.exists():
        note(f"skipped: the real transcript {FIXTURE} is not there")
        return {"skipped": str(FIXTURE)}
    lines = corpus(2_000_000 if ctx.quick else 5_000_000)
    data = b"".join(lines)
    mb = len(data) / 1e6
    repeats = 2 if ctx.quick else 3
    there, back = Rewriter(ROOT, NEW_ROOT), Rewriter(NEW_ROOT, ROOT)
    moved: list[bytes] = []

    def move() -> None:
        moved[:] = [there.line(line) for line in lines]

    rewrite_s = best_of(repeats, move)
    back_s = best_of(repeats, lambda: [back.line(line) for line in moved])
    parse_s = best_of(repeats, lambda: [json.loads(line) for line in lines])
    blind_s = best_of(repeats, lambda: data.replace(ROOT.encode(), NEW_ROOT.encode()))
    assert [back.line(line) for line in moved] == lines, "moving back is byte-identical"
    table(
        f"Moving a {mb:.1f} MB transcript's root ({len(lines):,} lines)",
        ["what", "seconds", "MB/s", "× json.loads"],
        [
            ["Rewriter, there", rewrite_s, mb / rewrite_s, ratio(rewrite_s, parse_s)],
            ["Rewriter, back", back_s, mb / back_s, ratio(back_s, parse_s)],
            ["baseline: json.loads per line", parse_s, mb / parse_s, 1.0],
            ["baseline: bytes.replace (blind)", blind_s, mb / blind_s, ratio(blind_s, parse_s)],
        ],
    )
    results: dict[str, Any] = {
        "megabytes": round(mb, 2),
        "rewrite_mb_s": round(mb / rewrite_s, 1),
        "json_loads_mb_s": round(mb / parse_s, 1),
        "blind_replace_mb_s": round(mb / blind_s, 1),
    }
    with database("sqlite", ctx.workdir, None) as url, Server(ctx.home("server"), url) as server:
        token, device = api_login(server)
        api = Api(server.url, token, timeout=120)
        thread_id, stream_id = _push(api, device, lines[:-10])
        home = ctx.home("machine-b")
        clone = home / "clone"
        clone.mkdir()
        env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / "claude"), "PATH": ""}
        save = {
            "thread_id": thread_id,
            "session_id": SESSION,
            "agent": "claude-code",
            "line_count": len(lines) - 10,
            "repo_root": ROOT,
            "cwd": ROOT,
        }
        first_s, first = _place(api, save, clone, env)
        _push(api, device, lines, stream_id=stream_id, after=len(lines) - 10)
        save["line_count"] = len(lines)
        second_s, second = _place(api, save, clone, env)
        plain_s = best_of(1, lambda: _download(api, thread_id))
        table(
            "Placing it on another machine (plan + write, a real server on SQLite)",
            ["what", "seconds", "lines downloaded", "wire bytes", "× plain download"],
            [
                ["first resume", first_s, first[0], first[1], ratio(first_s, plain_s)],
                [
                    "second resume (+10 lines)",
                    second_s,
                    second[0],
                    second[1],
                    ratio(second_s, plain_s),
                ],
                ["baseline: GET the whole file", plain_s, len(lines), "-", 1.0],
            ],
        )
    results.update(
        first_resume_s=round(first_s, 3),
        first_resume_wire_bytes=first[1],
        second_resume_s=round(second_s, 3),
        second_resume_wire_bytes=second[1],
        plain_download_s=round(plain_s, 3),
    )
    return results


def _push(
    api: Api, device: str, lines: list[bytes], *, stream_id: str | None = None, after: int = 0
) -> tuple[str, str]:
    stream_id = stream_id or str(uuid.uuid4())
    thread = {"key": f"claude-code:{SESSION}", "kind": "claude-code", "name": SESSION}
    thread["meta"] = {"session_id": SESSION, "agent": "claude-code"}  # type: ignore[assignment]
    thread_id = ""
    for start in range(after, len(lines), BATCH):
        entries = [
            {
                "seq": seq,
                "id": str(uuid.uuid4()),
                "ts": "2026-12-01T10:00:00Z",
                "role": "assistant",
                "raw": line.rstrip(b"\n").decode(),
            }
            for seq, line in enumerate(lines[start : start + BATCH], start=start + 1)
        ]
        stream = {"stream_id": stream_id, "thread": thread, "entries": entries}
        thread_id = str(api.push(device, [stream])["streams"][0]["thread_id"])
    return thread_id, stream_id


def _place(
    api: Api, save: dict[str, Any], clone: Path, env: dict[str, str]
) -> tuple[float, tuple[int, int]]:
    start = time.perf_counter()
    plan = plan_transcript(api, save, clone, env)
    result = write_transcript(api, plan, save, clone, env=env)
    return time.perf_counter() - start, (result.lines_downloaded, result.wire_bytes)


def _download(api: Api, thread_id: str) -> None:
    with open(os.devnull, "wb") as sink:
        api.download_transcript(thread_id, sink)
