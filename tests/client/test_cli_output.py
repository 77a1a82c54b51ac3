"""What the client commands print, pinned line by line (no server configured)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import cli


def test_thread_list_and_show_without_a_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for thread, text in (("alpha", "first"), ("beta", "second"), ("alpha", "third")):
        assert cli.run(home, "push", "-p", "shop", "-t", thread, text).returncode == 0
    listed = cli.run(home, "thread", "list", "-p", "shop")
    assert listed.stdout.splitlines() == [
        "PROJECT  THREAD  KIND  ENTRIES  PENDING  LAST ACTIVITY",
        "shop     alpha   note  2        2        just now",
        "shop     beta    note  1        1        just now",
    ]
    assert listed.stderr == (
        "threadline: showing threads of this machine only: no server configured\n"
    )
    shown = cli.run(home, "thread", "show", "alpha", "-p", "shop").stdout.splitlines()
    assert [line[21:] for line in shown if line.startswith("[")] == [
        " assistant  (queued)",
        " assistant  (queued)",
    ]
    assert [line for line in shown if line and not line.startswith("[")] == ["first", "third"]
    missing = cli.run(home, "thread", "show", "nope", "-p", "shop")
    assert missing.returncode == 1 and "no thread shop/nope" in missing.stderr


def test_sync_status_without_a_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli.run(home, "push", "-t", "t", "x")
    lines = cli.run(home, "sync", "status").stdout.splitlines()
    assert lines[0] == "Server:          not configured (threadline login --server URL)"
    assert lines[1] == "Server answers:  unknown (no server is configured)"
    assert lines[4] == "Pending entries: 1"
    assert lines[5] == "Last success:    never"
    nothing = cli.run(home, "sync")
    assert nothing.returncode == 1
    assert nothing.stderr.splitlines() == [
        "Error: no server is configured",
        "Hint: Run `threadline login --server URL`, or set THREADLINE_SERVER_URL and "
        "THREADLINE_TOKEN.",
    ]
