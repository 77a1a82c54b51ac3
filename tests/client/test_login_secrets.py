"""``threadline login`` never asks anything with ``--password-stdin`` and never repeats a
value that may be a password, whatever goes wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import cli
from tests.helpers.server import ADMIN_PASSWORD, ServerProcess

SECRET = "s3cret-Pa55"


def _no_secret(result: subprocess.CompletedProcess[str]) -> None:
    assert SECRET not in result.stdout + result.stderr, result
    assert "Traceback" not in result.stderr


def test_password_stdin_without_a_server_asks_nothing_and_names_the_setting(
    tmp_path: Path,
) -> None:
    result = cli.run(tmp_path, "login", "--user", "admin", "--password-stdin", input=SECRET + "\n")
    assert result.returncode == 1
    _no_secret(result)
    assert "Server URL" not in result.stdout + result.stderr.split("Hint:")[0]
    assert result.stderr.splitlines() == [
        "Error: no server URL (nothing is asked with --password-stdin)",
        "Hint: Pass --server URL or set THREADLINE_SERVER_URL, e.g. http://127.0.0.1:8787.",
    ]
    assert not (tmp_path / "credentials.json").exists()


def test_password_stdin_without_a_user_asks_nothing(tmp_path: Path) -> None:
    result = cli.run(
        tmp_path,
        "login",
        "--server",
        "http://127.0.0.1:9",
        "--password-stdin",
        input=SECRET + "\n",
    )
    assert result.returncode == 1
    _no_secret(result)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --password-stdin needs --user\nHint:")


def test_a_url_typed_at_the_prompt_is_not_repeated(tmp_path: Path) -> None:
    """Someone who types the password where the URL is asked does not see it printed."""
    result = cli.run(
        tmp_path,
        "login",
        "--user",
        "admin",
        input=SECRET + "\n",
        THREADLINE_PASSWORD="pw",
    )
    assert result.returncode == 1
    assert "Server URL" in result.stdout  # it was asked for
    _no_secret(result)
    assert "Error: the server URL is not an http(s) URL (it is not repeated here)" in result.stderr
    assert "Hint: Give it as http://HOST:PORT" in result.stderr


def test_a_bad_url_given_with_server_is_shown(tmp_path: Path) -> None:
    for given in (["--server", "localhost:8787"], []):
        env = {} if given else {"THREADLINE_SERVER_URL": "localhost:8787"}
        result = cli.run(
            tmp_path,
            "login",
            *given,
            "--user",
            "admin",
            "--password-stdin",
            input=SECRET + "\n",
            env=env,
        )
        assert result.returncode == 1
        _no_secret(result)
        assert "Error: the server URL 'localhost:8787' is not an http(s) URL" in result.stderr


def test_password_stdin_signs_in_and_a_wrong_one_is_not_echoed(tmp_path: Path) -> None:
    server_home = tmp_path / "server"
    with ServerProcess(server_home, f"sqlite:///{server_home / 'server.db'}") as server:
        home = tmp_path / "client"
        args = ("login", "--server", server.base_url, "--user", "admin", "--password-stdin")
        wrong = cli.run(home, *args, input=SECRET + "\n")
        assert wrong.returncode == 1 and wrong.stderr.startswith("Error:")
        _no_secret(wrong)
        right = cli.run(home, *args, input=ADMIN_PASSWORD + "\n")
        assert right.returncode == 0, right.stderr
        assert right.stdout.startswith(f"Logged in to {server.base_url} as admin.")
        assert ADMIN_PASSWORD not in right.stdout + right.stderr
