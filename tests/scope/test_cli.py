"""Scoped threads from the command line, against a real server on both databases: ``push
--scope`` is local-first and binds every machine to one thread, ``thread new --scope`` is a
get-or-create, ``thread list --scope`` / ``--scope-type`` filter, and a malformed scope is a
usage error that stores nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.cli import run
from tests.helpers.server import ServerProcess, create_user_and_token, login


def tl(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = run(home, *args)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def listed(home: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(tl(home, "thread", "list", "--json", *args).stdout)
    return rows


def test_push_with_a_scope_is_stored_locally_first_then_synced(
    tmp_path: Path, server: ServerProcess
) -> None:
    home = tmp_path / "laptop"
    first = tl(home, "push", "-p", "shop", "--scope", "pr:5", "--json", "reviewing #5")
    out = json.loads(first.stdout)
    assert (out["scope"], out["thread"], out["delivered"]) == ("pr:5", "pr:5", False)
    assert "queued" in first.stderr
    [row] = listed(home, "-p", "shop", "--scope", "pr:5")
    assert (row["scope"], row["pending"], row["id"]) == ("pr:5", 1, None)

    login(home, server)
    tl(home, "sync")
    [row] = listed(home, "-p", "shop", "--scope", "pr:5")
    assert (row["scope"], row["pending"], row["entry_count"]) == ("pr:5", 0, 1)
    assert row["id"] is not None
    made = json.loads(
        tl(home, "thread", "new", "other", "-p", "shop", "-s", "pr:5", "--json").stdout
    )
    assert (made["id"], made["created"], made["name"]) == (row["id"], False, "pr:5")


def test_two_machines_pushing_one_scope_share_one_thread(
    tmp_path: Path, server: ServerProcess
) -> None:
    laptop, desktop = tmp_path / "laptop", tmp_path / "desktop"
    login(laptop, server)
    login(desktop, server)
    tl(laptop, "push", "-p", "shop", "--scope", "issue:42", "from the laptop")
    tl(desktop, "push", "-p", "shop", "--scope=issue:42", "-t", "bug 42", "from the desktop")
    tl(laptop, "push", "-p", "blog", "--scope", "issue:42", "another project")
    [row] = listed(laptop, "-p", "shop", "--scope", "issue:42")
    assert (row["entry_count"], row["pending"], row["name"]) == (2, 0, "issue:42")
    shown = tl(desktop, "thread", "show", "-p", "shop", "--scope", "issue:42").stdout
    assert "from the laptop" in shown and "from the desktop" in shown
    everywhere = listed(desktop, "--all-projects", "--scope", "issue:42")
    assert sorted(r["project"] for r in everywhere) == ["blog", "shop"]


def test_thread_new_with_a_scope_gets_or_creates(tmp_path: Path, server: ServerProcess) -> None:
    home = tmp_path / "laptop"
    login(home, server)
    created = tl(home, "thread", "new", "review", "-p", "shop", "--scope", "pr:9").stdout
    assert created.startswith("Thread shop/review [pr:9] created locally and on the server (id ")
    thread_id = created.rsplit("(id ", 1)[1].rstrip(").\n")
    again = tl(home, "thread", "new", "second name", "-p", "shop", "--scope", "pr:9").stdout
    assert (
        again
        == f"Thread shop/review [pr:9] already exists locally and on the server (id {thread_id}).\n"
    )
    other = tl(home, "thread", "new", "review", "-p", "blog", "--scope", "pr:9", "--json")
    made = json.loads(other.stdout)
    assert made["created"] and made["id"] != thread_id
    # Made and still empty, it is a thread all the same.
    empty = json.loads(tl(home, "thread", "show", "-p", "shop", "-s", "pr:9", "--json").stdout)
    assert (empty["thread_id"], empty["name"], empty["entries"]) == (thread_id, "review", [])
    # The thread made by `thread new` is the one a push of the scope writes to.
    tl(home, "push", "-p", "shop", "--scope", "pr:9", "looks good")
    [row] = listed(home, "-p", "shop", "--scope", "pr:9")
    assert (row["id"], row["entry_count"], row["name"]) == (thread_id, 1, "review")


def test_thread_list_filters_by_scope_and_scope_type(tmp_path: Path, server: ServerProcess) -> None:
    home = tmp_path / "laptop"
    login(home, server)
    for scope in ("pr:1", "pr:2", "issue:1"):
        tl(home, "push", "-p", "shop", "--scope", scope, f"about {scope}")
    tl(home, "push", "-p", "shop", "a plain note")
    assert [r["scope"] for r in listed(home, "-p", "shop", "--scope", "pr:1")] == ["pr:1"]
    by_type = listed(home, "-p", "shop", "--scope-type", "pr")
    assert sorted(r["scope"] for r in by_type) == ["pr:1", "pr:2"]
    assert len(listed(home, "-p", "shop")) == 4
    table = tl(home, "thread", "list", "-p", "shop").stdout
    assert table.splitlines()[0].split() == [
        "PROJECT",
        "THREAD",
        "SCOPE",
        "KIND",
        "ENTRIES",
        "PENDING",
        "LAST",
        "ACTIVITY",
    ]
    assert "issue:1" in table
    none = tl(home, "thread", "list", "-p", "shop", "--scope", "pr:404").stdout
    assert none == "No thread of this scope.\n"


def test_another_users_scoped_thread_is_not_listed(tmp_path: Path, server: ServerProcess) -> None:
    admin_home, bob_home = tmp_path / "admin", tmp_path / "bob"
    login(admin_home, server)
    bob = create_user_and_token(server.database_url, "bob")
    tl(bob_home, "login", "--server", server.url, "--token", bob.token)
    tl(admin_home, "push", "-p", "shop", "--scope", "pr:1", "the admin's")
    assert listed(bob_home, "-p", "shop", "--scope", "pr:1") == []
    tl(bob_home, "push", "-p", "shop", "--scope", "pr:1", "bob's")
    [mine] = listed(admin_home, "-p", "shop", "--scope", "pr:1")
    [theirs] = listed(bob_home, "-p", "shop", "--scope", "pr:1")
    assert mine["id"] != theirs["id"]
    assert (mine["entry_count"], theirs["entry_count"]) == (1, 1)
    shown = tl(bob_home, "thread", "show", "-p", "shop", "--scope", "pr:1").stdout
    assert "bob's" in shown and "the admin's" not in shown


def test_a_malformed_scope_is_a_usage_error_that_stores_nothing(tmp_path: Path) -> None:
    home = tmp_path / "laptop"
    pushed = tl(home, "push", "-p", "shop", "--scope", "PR:1", "x", ok=False)
    assert pushed.returncode == 2
    assert "argument --scope: the scope type 'PR' must be 1–32 characters" in pushed.stderr
    control = tl(home, "push", "-p", "shop", "--scope", "pr:a\tb", "x", ok=False)
    assert control.returncode == 2 and "control character U+0009" in control.stderr
    made = tl(home, "thread", "new", "x", "-p", "shop", "--scope", "pr:", ok=False)
    assert made.returncode == 2 and "1–512 characters" in made.stderr
    by_type = tl(home, "thread", "list", "--scope-type", "Pull Request", ok=False)
    assert by_type.returncode == 2 and "lowercase letters" in by_type.stderr
    whole = tl(home, "thread", "list", "--scope-type", "pr:123", ok=False)
    assert whole.returncode == 2 and "'pr:123' is a whole scope" in whole.stderr
    shown = tl(home, "thread", "show", "-p", "shop", ok=False)
    assert shown.returncode == 2 and "--scope" in shown.stderr
    assert listed(home, "--all-projects") == []
