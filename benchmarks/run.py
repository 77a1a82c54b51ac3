"""Run Threadline's benchmarks and print their figures.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--postgres URL]

Every benchmark starts real ``threadline`` processes (server and CLI) in temporary homes. The
machine running them is assumed noisy, so each prints its figures beside a baseline measured in
the same run and the ratio to it; nothing here asserts a timing. Figures are also written as
JSON to ``benchmarks/results/latest.json``.

PostgreSQL runs when ``--postgres URL`` is given, else ``$THREADLINE_TEST_DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/test`` if it answers; each run uses a fresh schema,
dropped afterwards. The exit status is 1 when a benchmark failed or found entries lost or
duplicated, else 0 — whether or not a performance target was met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ask_eval  # noqa: E402
import ask_process  # noqa: E402
import blobs  # noqa: E402
import capture  # noqa: E402
import handoff  # noqa: E402
import harness  # noqa: E402
import ingest  # noqa: E402
import many_clients  # noqa: E402
import push_process  # noqa: E402
import push_to_visible  # noqa: E402
import search  # noqa: E402
import transcript_place  # noqa: E402
import web_browser  # noqa: E402
import web_list  # noqa: E402
import web_thread  # noqa: E402

BENCHMARKS = {
    "push_process": push_process.run,
    "push_to_visible": push_to_visible.run,
    "ingest": ingest.run,
    "many_clients": many_clients.run,
    "capture": capture.run,
    "web_thread": web_thread.run,
    "web_browser": web_browser.run,
    "web_list": web_list.run,
    "ask_process": ask_process.run,
    "blobs": blobs.run,
    "transcript_place": transcript_place.run,
    "search": search.run,
    "handoff": handoff.run,
    "ask_eval": ask_eval.run,
}
RESULTS = HERE / "results" / "latest.json"
WANTED_OPEN_FILES = 8192


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> tuple[int, int]:
    """Raise the soft limit on open files (inherited by the server processes started later),
    so a thousand concurrent sockets fit. Returns the limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def enable_bytecode_cache(folder: Path) -> dict[str, str]:
    """Let the processes the benchmarks start cache compiled bytecode, as every installed
    program does, in ``folder`` (so nothing is written into the source tree): without it,
    ``PYTHONDONTWRITEBYTECODE=1`` in the caller's environment makes each ``threadline push``
    compile its modules again. Returns the variables as they were."""
    names = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    inherited = {name: os.environ[name] for name in names if name in os.environ}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    return inherited


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() + ("+uncommitted src changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def redact(url: str | None) -> str | None:
    """A database URL without its password."""
    if not url or "@" not in url or ":" not in url.split("@", 1)[0].split("//", 1)[-1]:
        return url
    scheme, rest = url.split("//", 1)
    credentials, host = rest.split("@", 1)
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{host}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (about 2 minutes)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL database to benchmark on")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="PostgreSQL only (where a benchmark has both)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--search-database",
        metavar="URL",
        help="search: build the corpus in this database (sqlite:///FILE or postgresql://…) "
        "when it is empty, reuse it when built, and keep it; measures that backend's latency only",
    )
    parser.add_argument(
        "--index-pairs",
        metavar="N",
        type=int,
        default=0,
        help="ingest: only what the search index costs, as N interleaved runs with and "
        "without it (batches of 100), reported as medians",
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    limits = raise_open_files_limit()
    if args.no_postgres and args.no_sqlite:
        print("--no-postgres and --no-sqlite leave no database to measure", file=sys.stderr)
        return 2
    if args.no_postgres:
        postgres, why = None, "not run: --no-postgres"
    else:
        postgres, why = harness.postgres_base_url(args.postgres)
    workdir = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    inherited = enable_bytecode_cache(workdir / "pycache")
    ctx = harness.Context(
        quick=args.quick,
        postgres=postgres,
        workdir=workdir,
        inherited_env=inherited,
        sqlite=not args.no_sqlite,
        search_database=args.search_database,
        index_pairs=max(0, args.index_pairs),
    )
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": "quick" if args.quick else "full",
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "open_files_limit": limits[0],
        "postgres": redact(postgres),
        "postgres_why": why,
        "bytecode_cache": "PYTHONPYCACHEPREFIX in the working folder",
        "inherited_PYTHONDONTWRITEBYTECODE": inherited.get("PYTHONDONTWRITEBYTECODE"),
    }
    print(
        f"Threadline benchmarks ({meta['mode']}) — commit {meta['commit']}, Python "
        f"{meta['python']}, {meta['cpus']} CPUs, {meta['platform']}"
    )
    print(f"PostgreSQL: {redact(postgres) or '-'} ({why})")
    print(f"Working folder: {workdir}", flush=True)
    if "PYTHONDONTWRITEBYTECODE" in inherited:
        print(
            "Bytecode: PYTHONDONTWRITEBYTECODE is set here; the processes started by the "
            "benchmarks cache it under the working folder instead (as an installed program would)"
        )

    selected = args.only or list(BENCHMARKS)
    results: dict[str, Any] = {}
    failed = False
    total_start = time.perf_counter()
    try:
        for name in selected:
            print(f"\n=== {name} ===", flush=True)
            start = time.perf_counter()
            try:
                results[name] = BENCHMARKS[name](ctx)
            except Exception as exc:
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                failed = True
            results[name]["seconds"] = round(time.perf_counter() - start, 1)
            problems = results[name].get("problems") or []
            for problem in problems:
                print(f"  PROBLEM: {problem}")
            failed = failed or bool(problems)
            print(f"  ({name} took {results[name]['seconds']} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    meta["seconds"] = round(time.perf_counter() - total_start, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"\nAll done in {meta['seconds']} s; figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
