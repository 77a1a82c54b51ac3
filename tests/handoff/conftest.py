"""Hand-off fixtures: git without the user's or the system's configuration, and a bare remote
with one commit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import gitrepo


@pytest.fixture(autouse=True)
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    gitrepo.isolate(env, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in [k for k in os.environ if k.startswith("GIT_") and k not in env]:
        monkeypatch.delenv(name)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return gitrepo.bare_remote(tmp_path)
