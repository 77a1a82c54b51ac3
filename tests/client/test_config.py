"""Settings resolution: every source in order, and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli
from threadline import config
from threadline.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "THREADLINE_SERVER_URL",
        "THREADLINE_TOKEN",
        "THREADLINE_PROJECT",
        "THREADLINE_THREAD",
        "THREADLINE_PUSH_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_defaults_and_folder_project(home: Path, tmp_path: Path) -> None:
    work = tmp_path / "shop"
    work.mkdir()
    cfg = config.load(cwd=work)
    assert cfg.thread == "main"
    assert cfg.push_timeout == 2.0
    assert cfg.values["thread"].source == "default"
    assert (cfg.project, cfg.values["project"].source) == ("shop", "current folder")
    assert cfg.server_url is None


def test_order_user_file_project_file_env_flag(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "config.toml").write_text('server_url = "http://user-file"\nthread = "from-user"\n')
    repo = tmp_path / "repo"
    (repo / "sub" / "deeper").mkdir(parents=True)
    (repo / "threadline.toml").write_text(
        '[threadline]\nproject = "acme/shop"\nthread = "from-project"\ntoken = "ignored"\n'
    )
    cfg = config.load(cwd=repo / "sub" / "deeper")
    assert cfg.server_url == "http://user-file"
    assert cfg.thread == "from-project"
    assert cfg.project == "acme/shop"
    assert cfg.token is None, "a project file never sets a secret"
    assert cfg.project_file == repo / "threadline.toml"

    monkeypatch.setenv("THREADLINE_THREAD", "from-env")
    cfg = config.load(cwd=repo)
    assert (cfg.thread, cfg.values["thread"].source) == ("from-env", "env THREADLINE_THREAD")
    cfg = config.load({"thread": "from-flag"}, cwd=repo)
    assert (cfg.thread, cfg.values["thread"].source) == ("from-flag", "flag")


def test_credentials_file_is_private_and_read(home: Path) -> None:
    path = config.write_credentials({"server_url": "http://s", "token": "tl_x", "user": "ann"})
    assert path.stat().st_mode & 0o777 == 0o600
    cfg = config.load()
    assert (cfg.server_url, cfg.token, cfg.get("user")) == ("http://s", "tl_x", "ann")
    assert cfg.values["token"].source == str(path)


def test_bad_values_are_clear_errors(home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text("push_timeout = 'soon'\n")
    with pytest.raises(ConfigError, match=r"push_timeout .* must be a float"):
        config.load(cwd=tmp_path)
    (home / "config.toml").write_text("this is = = not toml\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(cwd=tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:Acme/Shop.git", "github.com/acme/shop"),
        ("https://github.com/Acme/Shop", "github.com/acme/shop"),
        (
            "https://user:pw@gitlab.example.com:8443/group/sub/repo.git",
            "gitlab.example.com/group/sub/repo",
        ),
        ("ssh://git@github.com/acme/shop.git/", "github.com/acme/shop"),
    ],
)
def test_normalize_remote(url: str, expected: str) -> None:
    assert config.normalize_remote(url) == expected


def test_project_from_git_remote(home: Path, tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "checkout"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "git@github.com:Acme/Widget.git"],
        check=True,
    )
    (repo / "src").mkdir()
    cfg = config.load(cwd=repo / "src")
    assert (cfg.project, cfg.values["project"].source) == (
        "github.com/acme/widget",
        "git remote origin",
    )


def test_a_linked_worktree_is_its_repositorys_project(home: Path, tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    repo = tmp_path / "widget"
    repo.mkdir()
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty",
        "-m", "start")  # fmt: skip
    git("worktree", "add", "-q", str(tmp_path / "widget-worktrees" / "fix-login"))
    worktree = tmp_path / "widget-worktrees" / "fix-login"
    # No remote: the main repository's folder, not the worktree's.
    cfg = config.load(cwd=worktree)
    assert (cfg.project, cfg.values["project"].source) == ("widget", "git repository folder")
    assert config.load(cwd=repo).project == "widget"
    # With one: the remote, read from the repository's own config.
    git("remote", "add", "origin", "https://github.com/Acme/Widget")
    assert config.load(cwd=worktree).project == "github.com/acme/widget"


def test_config_command_prints_sources(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = cli.run(
        home,
        "config",
        "--json",
        THREADLINE_SERVER_URL="http://x:1",
        THREADLINE_TOKEN="tl_secretsecret",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["settings"]["server_url"] == {
        "value": "http://x:1",
        "source": "env THREADLINE_SERVER_URL",
    }
    assert "secretsecret" not in result.stdout
    assert data["files"]["local store"] == str(home / "local.db")
    table = cli.run(home, "config").stdout
    assert "push_timeout" in table and "default" in table
