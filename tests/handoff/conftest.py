"""Hand-off fixtures: git without the user's or the system's configuration, and a bare remote
with one commit (made once, copied for each test)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import gitrepo


@pytest.fixture(autouse=True)
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(tmp_path, monkeypatch)


def isolate_git(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git in this process and its children reads only a configuration of ours, in ``folder``."""
    env: dict[str, str] = {}
    gitrepo.isolate(env, folder)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in [k for k in os.environ if k.startswith("GIT_") and k not in env]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def remote_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bare remote, made once: making it takes five git commands, copying it none."""
    folder = tmp_path_factory.mktemp("remote-template")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_git(folder, monkeypatch)
        return gitrepo.bare_remote(folder)


@pytest.fixture
def remote(tmp_path: Path, remote_template: Path) -> Path:
    """A bare remote of the test's own, with one commit on ``main``."""
    return Path(shutil.copytree(remote_template, tmp_path / "remote.git"))
