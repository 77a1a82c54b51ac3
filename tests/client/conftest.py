"""Client fixtures: a machine's Threadline home of its own, with no THREADLINE_* variable of
the caller's environment leaking in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``THREADLINE_HOME`` (``tmp_path/home``), the only Threadline setting in the
    environment; the current folder is ``tmp_path``."""
    for name in [k for k in os.environ if k.startswith("THREADLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"
