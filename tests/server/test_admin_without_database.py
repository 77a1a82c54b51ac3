"""``threadline user`` and ``threadline token`` never create a server database: without one
that ``threadline serve`` has set up they refuse, naming where they looked."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.helpers.server import ServerProcess

COMMANDS = [
    ("user", "list"),
    ("user", "create", "bob", "--password-stdin"),
    ("token", "create", "--user", "admin"),
    ("token", "list"),
    ("token", "revoke", "1"),
]


def _refused(result: subprocess.CompletedProcess[str], where: str) -> list[str]:
    """The two lines of the refusal, checked for what every refusal says."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines: list[str] = result.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Hint:"), lines
    assert where in lines[0]
    assert "--database-url" in lines[1] and "THREADLINE_DATABASE_URL" in lines[1]
    assert "threadline serve" in lines[1]
    return lines


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_no_database_file_is_an_error_and_none_is_created(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    result = cli.run(home, *command, input="pw\n")
    lines = _refused(result, str(home / "server.db"))
    assert lines[0] == f"Error: no server database at {home / 'server.db'}"
    assert result.stdout == ""
    assert not (home / "server.db").exists()
    assert sorted(p.name for p in home.iterdir()) == []

    other = tmp_path / "elsewhere" / "server.db"
    given = cli.run(home, *command, "--database-url", f"sqlite:///{other}", input="pw\n")
    _refused(given, f"no server database at {other}")
    from_env = cli.run(home, *command, input="pw\n", THREADLINE_DATABASE_URL=f"sqlite:///{other}")
    _refused(from_env, f"no server database at {other}")
    assert not other.parent.exists()


def test_a_sqlite_file_without_threadline_tables_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    before = path.read_bytes()
    result = cli.run(tmp_path / "home", "user", "list", "--database-url", f"sqlite:///{path}")
    lines = _refused(result, str(path))
    assert lines[0] == f"Error: the database {path} holds no Threadline tables"
    assert path.read_bytes() == before
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database\n" * 100)
    bad = cli.run(tmp_path / "home", "user", "list", "--database-url", f"sqlite:///{not_sqlite}")
    assert bad.returncode == 1 and bad.stderr.startswith(
        f"Error: cannot read the database {not_sqlite}"
    )
    assert not_sqlite.read_text() == "not a database\n" * 100


def test_a_fresh_database_is_refused_and_left_empty(tmp_path: Path, server_db_url: str) -> None:
    result = cli.run(tmp_path / "home", "token", "list", "--database-url", server_db_url)
    if server_db_url.startswith("sqlite"):
        _refused(result, f"no server database at {tmp_path / 'server.db'}")
        assert not (tmp_path / "server.db").exists()
        return
    lines = _refused(result, "holds no Threadline tables")
    assert lines[0].startswith("Error: the database postgresql://")
    import psycopg

    base = server_db_url.partition("?")[0]
    schema = server_db_url.rsplit("search_path%3D", 1)[-1]
    with psycopg.connect(base) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert schema.startswith("t_") and found == (0,), "nothing was created"


def test_a_database_set_up_by_serve_is_used(tmp_path: Path, server_db_url: str) -> None:
    with ServerProcess(tmp_path / "server", server_db_url):
        pass
    listing = cli.run(tmp_path / "home", "user", "list", "--database-url", server_db_url)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[:2] for line in listing.stdout.splitlines()[1:]] == [["admin", "yes"]]


def test_the_password_of_a_database_url_is_not_shown(tmp_path: Path) -> None:
    url = "postgresql://admin:hunter2secret@127.0.0.1:9/nothing"
    result = cli.run(tmp_path / "home", "user", "list", "--database-url", url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Error: cannot connect to the database postgresql://admin:***@" in result.stderr
