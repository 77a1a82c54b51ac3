"""Text the server can never take (a NUL, which PostgreSQL cannot store) neither enters the
outbox nor, if it is there already, holds up the rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.e2e.test_push_sync import push, server_entries
from tests.helpers import cli


def test_push_refuses_a_nul_and_stores_nothing(make_client: Callable[[str], Path]) -> None:
    home = make_client("laptop")
    result = cli.run(home, "push", "-", input="before\x00after")
    assert result.returncode == 1
    assert "Error: the message contains a NUL character" in result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(cli.run(home, "sync", "status", "--json").stdout)["pending"] == 0


def test_a_stream_the_server_refuses_is_blocked_and_the_others_go_on(
    make_client: Callable[[str], Path],
) -> None:
    home = make_client("laptop")
    assert push(home, "-t", "bad", "first", "--no-sync").returncode == 0
    # An entry that slipped into the store before text was checked there.
    with sqlite3.connect(home / "local.db") as conn:
        conn.execute("UPDATE entries SET text = 'a' || char(0) || 'b'")
    assert push(home, "-t", "good", "fine", "--no-sync").returncode == 0
    result = cli.run(home, "sync")
    assert result.returncode == 1  # the refused entry is still pending, and said so
    assert "Blocked: invalid_request" in result.stderr
    assert [e["text"] for e in server_entries(home, "good")] == ["fine"]
    assert server_entries(home, "bad") == []
    status = json.loads(cli.run(home, "sync", "status", "--json").stdout)
    assert status["pending"] == 0  # nothing deliverable is left
    assert [(b["name"], b["pending"]) for b in status["blocked"]] == [("bad", 1)]
