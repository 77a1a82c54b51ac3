"""Hand-off blobs through a real server: uploading and downloading a save's blobs.

Two payloads of the same size: text like a patch or a transcript (compresses well) and random
bytes (like a git bundle, whose objects are compressed already). For each, against a fresh
server per backend, with ``httpx`` over a loopback socket, the median of a few rounds of:

- ``put``: a new blob, sent plain (the server hashes it, compresses it, stores it: ``201``);
- ``put zstd``: a new blob compressed by the client first (its compression time included);
- ``put again``: a blob the server already has (hashed, found, nothing stored: ``200``);
- ``get zstd``: downloaded with ``Accept-Encoding: zstd`` (the stored frame as is);
- ``get plain``: downloaded without it (decompressed by the server as it is sent).

The wire column is what crossed the socket. Baseline, same run: SHA-256 plus zstd (level 3) of
the same bytes in this process — the work a new blob costs the server before any I/O.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
from collections.abc import Callable
from typing import Any

import httpx
import zstandard

from harness import Context, Server, api_login, database, now, ratio, table, text_of_size

MB = 1024 * 1024


def run(ctx: Context) -> dict[str, Any]:
    size = (4 if ctx.quick else 32) * MB
    rounds = 3 if ctx.quick else 5
    rng = random.Random(11)
    payloads = {
        "text": text_of_size(size, rng).encode(),
        "random": rng.randbytes(size),
    }
    results: dict[str, Any] = {"size_bytes": size, "rounds": rounds, "backends": {}}
    rows: list[list[Any]] = []
    for backend in ctx.backends():
        with (
            database(backend, ctx.workdir, ctx.postgres) as url,
            Server(ctx.home(f"blobs-{backend}"), url) as server,
        ):
            token, _ = api_login(server, "blobs")
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=300) as http:
                figures = {name: _measure(http, data, rounds) for name, data in payloads.items()}
        results["backends"][backend] = figures
        for name, found in figures.items():
            base = found["baseline_ms"]
            for operation, (ms, wire) in found["operations"].items():
                speed = size / MB / (ms / 1000) if ms else float("nan")
                rows.append(
                    [backend, name, operation, ms, round(speed, 1), wire / MB, ratio(ms, base)]
                )
            rows.append([backend, name, "baseline: sha256 + zstd", base, float("nan"), 0.0, 1.0])
    table(
        f"Blobs of {size / MB:.0f} MiB (median of {rounds})",
        ["backend", "payload", "operation", "ms", "MiB/s", "wire MiB", "× baseline"],
        rows,
    )
    return results


def _measure(http: httpx.Client, data: bytes, rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {}
    wire: dict[str, int] = {}

    def timed(name: str, work: Callable[..., int], *args: Any) -> None:
        start = now()
        wire[name] = work(http, *args)
        times.setdefault(name, []).append(now() - start)

    baseline = []
    for _ in range(rounds):
        fresh = os.urandom(16) + data  # a new name each round: stored, not found
        start = now()
        hashlib.sha256(fresh).hexdigest()
        zstandard.ZstdCompressor(level=3).compress(fresh)
        baseline.append(now() - start)
        timed("put", _put, fresh, False)
        timed("put zstd", _put, os.urandom(16) + data, True)
        timed("put again", _put, fresh, False)
        timed("get zstd", _get, fresh, "zstd")
        timed("get plain", _get, fresh, "identity")
    return {
        "baseline_ms": round(statistics.median(baseline) * 1000, 1),
        "operations": {
            name: (round(statistics.median(samples) * 1000, 1), wire[name])
            for name, samples in times.items()
        },
    }


def _put(http: httpx.Client, blob: bytes, compress: bool) -> int:
    name = hashlib.sha256(blob).hexdigest()
    body, headers = blob, {}
    if compress:
        body = zstandard.ZstdCompressor(level=3).compress(blob)
        headers["Content-Encoding"] = "zstd"
    answer = http.put(f"/api/v1/blobs/{name}", content=body, headers=headers)
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"PUT answered {answer.status_code}: {answer.text[:200]}")
    return len(body)


def _get(http: httpx.Client, blob: bytes, encoding: str) -> int:
    name, size = hashlib.sha256(blob).hexdigest(), len(blob)
    received = 0
    decoder = zstandard.ZstdDecompressor().decompressobj() if encoding == "zstd" else None
    decoded = 0
    with http.stream(
        "GET", f"/api/v1/blobs/{name}", headers={"Accept-Encoding": encoding}
    ) as answer:
        for chunk in answer.iter_raw():
            received += len(chunk)
            decoded += len(decoder.decompress(chunk)) if decoder else len(chunk)
    if decoded != size:
        raise RuntimeError(f"GET {name} gave {decoded} bytes, not {size}")
    return received
