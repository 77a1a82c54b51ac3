"""``threadline push`` as a whole process: what an agent pays after every step.

Each sample is the wall time of one ``subprocess.run`` of the real console script, from fork to
exit, beside two baselines run with the same interpreter in the same rounds: ``python -c pass``
(interpreter start-up, the floor) and ``python -c "import sqlite3, json, socket"`` (the
standard-library modules a push cannot avoid). Variants are interleaved round by round so that
noise on a shared machine hits them alike; ratios are to ``python -c pass`` of the same phase.

- phase "server up": the client is logged in (real ``threadline login``) to a live server on
  loopback; every push delivers its entry before exiting (checked: nothing on stderr).
- phase "server up" also times ``push --scope pr:1``: a scoped note (its thread key is a
  SHA-256, so ``hashlib`` is imported).
- phase "server down": the same client after the server stopped, ``push_timeout`` 0.2 s; the
  connection is refused at once, the entry is queued (checked: "queued" on stderr).

Compiled bytecode is cached as for any installed program (``run.py`` sees to it). When the
caller's environment sets ``PYTHONDONTWRITEBYTECODE``, one more variant shows a push under it:
every module of the package is then compiled from source on every run.

Then, for information, the ten largest cumulative imports of
``python -X importtime -m threadline push --no-sync``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    THREADLINE,
    Context,
    Server,
    clean_env,
    cli_login,
    note,
    now,
    ratio,
    summary_ms,
    table,
)

TARGET_MEDIAN_MS = 60.0
PY = sys.executable


class Variant:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        check: Callable[[subprocess.CompletedProcess[str]], str | None] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.check = check
        self.samples: list[float] = []
        self.failures: list[str] = []

    def once(self, cwd: Path, record: bool = True) -> None:
        start = now()
        result = subprocess.run(
            self.argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=60
        )
        elapsed = now() - start
        problem = (
            f"exit {result.returncode}: {result.stderr.strip()}" if result.returncode else None
        )
        if problem is None and self.check is not None:
            problem = self.check(result)
        if problem is not None:
            self.failures.append(problem)
        elif record:
            self.samples.append(elapsed)


def _delivered(result: subprocess.CompletedProcess[str]) -> str | None:
    return f"not delivered: {result.stderr.strip()}" if result.stderr.strip() else None


def _queued(result: subprocess.CompletedProcess[str]) -> str | None:
    return None if "queued" in result.stderr else f"expected 'queued': {result.stderr.strip()}"


def _rounds(variants: list[Variant], cwd: Path, runs: int, warmup: int = 3) -> None:
    for _ in range(warmup):
        for variant in variants:
            variant.once(cwd, record=False)
    for _ in range(runs):
        for variant in variants:
            variant.once(cwd)


def _rows(variants: list[Variant], base: Variant) -> list[dict[str, Any]]:
    base_median = summary_ms(base.samples)["median_ms"]
    rows = []
    for variant in variants:
        stats = summary_ms(variant.samples) if variant.samples else {}
        stats_ratio = ratio(stats.get("median_ms", float("nan")), base_median)
        row = {"variant": variant.name, **stats, "ratio_to_pass": stats_ratio}
        rows.append({**row, "failures": len(variant.failures)})
    return rows


def _print(title: str, rows: list[dict[str, Any]]) -> None:
    headers = ["variant", "n", "median ms", "p90 ms", "min ms", "max ms", "× pass", "failed"]
    keys = ["variant", "n", "median_ms", "p90_ms", "min_ms", "max_ms", "ratio_to_pass", "failures"]
    table(title, headers, [[row.get(k, float("nan")) for k in keys] for row in rows])


def import_times(home: Path, top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` largest cumulative imports of a local-only push, in microseconds."""
    result = subprocess.run(
        [PY, "-X", "importtime", "-m", "threadline", "push", "--no-sync", "importtime"],
        cwd=home,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    items: list[dict[str, Any]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        items.append(
            {"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)}
        )
    items.sort(key=lambda item: item["cumulative_us"], reverse=True)
    return items[:top]


def run(ctx: Context) -> dict[str, Any]:
    runs = 15 if ctx.quick else 40
    client = ctx.home("push-client")
    server = Server(ctx.home("push-server"), f"sqlite:///{ctx.workdir / 'push-process.db'}")
    env = clean_env(client)
    down_env = clean_env(client, THREADLINE_PUSH_TIMEOUT="0.2")
    base = Variant("python -c pass", [PY, "-c", "pass"], env)
    imports = Variant(
        "python -c 'import sqlite3, json, socket'",
        [PY, "-c", "import sqlite3, json, socket"],
        env,
    )
    up = Variant("threadline push (server up)", [THREADLINE, "push", "a note"], env, _delivered)
    local = Variant("threadline push --no-sync", [THREADLINE, "push", "--no-sync", "x"], env)
    scoped = Variant(
        "threadline push --scope pr:1 (server up)",
        [THREADLINE, "push", "--scope", "pr:1", "a note"],
        env,
        _delivered,
    )
    phase_up = [base, imports, up, local, scoped]
    if "PYTHONDONTWRITEBYTECODE" in ctx.inherited_env:
        # the caller's environment forbids .pyc files: show what that costs every push
        no_pyc = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
        no_pyc["PYTHONDONTWRITEBYTECODE"] = ctx.inherited_env["PYTHONDONTWRITEBYTECODE"]
        label = "threadline push (server up), PYTHONDONTWRITEBYTECODE=1"
        phase_up.append(Variant(label, [THREADLINE, "push", "a note"], no_pyc, _delivered))
    with server:
        cli_login(client, server)
        _rounds(phase_up, client, runs)
        # deliver what --no-sync queued, so the server-down phase starts from the same state
        subprocess.run([THREADLINE, "sync"], cwd=client, env=env, capture_output=True, timeout=60)
    down_base = Variant("python -c pass", [PY, "-c", "pass"], down_env)
    down = Variant(
        "threadline push (server down, timeout 0.2 s)",
        [THREADLINE, "push", "a note"],
        down_env,
        _queued,
    )
    _rounds([down_base, down], client, runs)

    up_rows = _rows(phase_up, base)
    down_rows = _rows([down_base, down], down_base)
    _print(f"push_process — server up, client logged in ({runs} runs each)", up_rows)
    _print(f"push_process — server down ({runs} runs each)", down_rows)
    median_up = up_rows[2].get("median_ms", float("nan"))
    verdict = "met" if median_up <= TARGET_MEDIAN_MS else "MISSED"
    note(
        f"target: median ≤ {TARGET_MEDIAN_MS:.0f} ms with the server up → {median_up} ms, {verdict}"
    )
    for variant in [*phase_up, down]:
        for failure in variant.failures[:3]:
            note(f"FAILED {variant.name}: {failure}")

    top = import_times(client)
    table(
        "push_process — top-10 cumulative imports of `python -X importtime -m threadline push "
        "--no-sync x`",
        ["module", "cumulative ms", "self ms"],
        [[i["module"], i["cumulative_us"] / 1000, i["self_us"] / 1000] for i in top],
    )
    return {
        "runs": runs,
        "server_up": up_rows,
        "server_down": down_rows,
        "target_median_ms": TARGET_MEDIAN_MS,
        "target_met": median_up <= TARGET_MEDIAN_MS,
        "top_imports": top,
    }
