"""Run the real ``threadline`` console script as a subprocess, in an isolated home folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

_found = shutil.which("threadline", path=str(Path(sys.executable).parent))
THREADLINE = _found or "threadline"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a test CLI: our own ``THREADLINE_HOME``, no inherited settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_HOME"] = str(home)
    env.update(extra)
    return env


def run(
    home: Path,
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``threadline ARGS`` with ``clean_env(home)`` plus ``env`` and ``extra`` variables."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [THREADLINE, *args],
        cwd=cwd or home,
        env=clean_env(home, **{**(env or {}), **extra}),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
