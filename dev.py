#!/usr/bin/env python3
"""Set up and run Threadline from a clone, with nothing but Python (≥ 3.11) and pip.

    python3 dev.py serve [ARGS…]   create .venv, install, run `threadline serve ARGS…`
    python3 dev.py test [ARGS…]    create .venv, install with test extras, run ruff, mypy and
                                   pytest (ARGS go to pytest)
    python3 dev.py bench [ARGS…]   create .venv, install, run the benchmarks

The virtual environment lives in ``.venv`` next to this file; it is reused when it exists and
reinstalled only when ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if result.returncode:
        raise SystemExit(result.returncode)


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - a clear message on an older Python
        raise SystemExit("Threadline needs Python 3.11 or newer.")
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"Installing {target} into .venv …", flush=True)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("serve", "test", "bench"):
        raise SystemExit(__doc__)
    command, rest = argv[0], argv[1:]
    if command == "serve":
        ensure_venv("")
        os.execv(BIN / "threadline", [str(BIN / "threadline"), "serve", *rest])
    ensure_venv("test")
    if command == "bench":
        run(BIN / "python", ROOT / "benchmarks" / "run.py", *rest)
        return
    run(BIN / "ruff", "check", "src", "tests", "benchmarks", "dev.py")
    run(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py")
    run(BIN / "mypy", "--strict", "src", "tests", "benchmarks", "dev.py")
    run(BIN / "python", "-m", "pytest", *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
