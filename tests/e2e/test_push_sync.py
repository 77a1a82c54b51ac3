"""``threadline push`` and ``sync`` against a real server process, as subprocesses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import cli
from tests.helpers.proxy import RecordingProxy
from tests.helpers.server import ServerProcess, login
from threadline.client.api import Api

#: Pushes made while the server is down: a few, each queued behind the last (a sync sends up to
#: 1000 entries in one request, so more would only repeat the same path).
OFFLINE = 5


def api_for(home: Path, url: str | None = None) -> Api:
    creds = json.loads((home / "credentials.json").read_text())
    return Api(url or creds["server_url"], creds["token"])


def server_entries(home: Path, thread: str = "main") -> list[dict[str, Any]]:
    api = api_for(home)
    threads = [t for t in api.all_threads() if t["name"] == thread]
    assert len(threads) <= 1
    return api.all_entries(threads[0]["id"]) if threads else []


def push(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli.run(home, "push", "--json", *args, env=env)


def test_a_delivered_push_is_visible_through_the_api_at_once(
    make_client: Callable[[str], Path],
) -> None:
    home = make_client("laptop")
    result = push(home, "-t", "main", "Chose optimistic locking")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["delivered"] is True
    assert result.stderr == ""
    found = server_entries(home)  # "delivered" means stored: no waiting
    assert [e["text"] for e in found] == ["Chose optimistic locking"]
    assert found[0]["role"] == "assistant" and found[0]["seq"] == 1


def test_entries_queued_while_server_is_down_arrive_once_via_sync(
    make_client: Callable[[str], Path], server: ServerProcess
) -> None:
    home = make_client("laptop")
    server.stop()
    for i in range(OFFLINE):
        result = push(home, f"offline {i}", THREADLINE_PUSH_TIMEOUT="0.5")
        assert result.returncode == 0
        assert json.loads(result.stdout)["delivered"] is False
        assert result.stderr.count("\n") == 1
        assert f"entry queued ({i + 1} pending)" in result.stderr
        assert "cannot connect" in result.stderr
    status = cli.run(home, "sync", "status", "--json")
    info = json.loads(status.stdout)
    assert info["pending"] == OFFLINE and info["server_ok"] is False
    assert "cannot connect" in info["last_error"]

    server.restart()
    synced = cli.run(home, "sync")
    assert synced.returncode == 0, synced.stderr
    assert f"Delivered {OFFLINE} new entries" in synced.stdout and "0 pending" in synced.stdout
    texts = [e["text"] for e in server_entries(home)]
    assert texts == [f"offline {i}" for i in range(OFFLINE)]
    again = cli.run(home, "sync")
    assert "Delivered 0 new entries" in again.stdout
    assert len(server_entries(home)) == OFFLINE
    info = json.loads(cli.run(home, "sync", "status", "--json").stdout)
    assert (info["pending"], info["server_ok"], info["last_error"]) == (0, True, None)


def test_next_push_delivers_the_backlog(
    make_client: Callable[[str], Path], server: ServerProcess
) -> None:
    home = make_client("laptop")
    server.stop()
    for i in range(OFFLINE):
        assert push(home, f"queued {i}", THREADLINE_PUSH_TIMEOUT="0.3").returncode == 0
    server.restart()
    result = push(home, "the next one")
    assert json.loads(result.stdout)["delivered"] is True, result.stderr
    texts = [e["text"] for e in server_entries(home)]
    assert texts == [f"queued {i}" for i in range(OFFLINE)] + ["the next one"]
    assert [e["seq"] for e in server_entries(home)] == list(range(1, OFFLINE + 2))


def test_only_the_new_entry_crosses_the_wire(
    make_client: Callable[[str], Path], server: ServerProcess
) -> None:
    home = make_client("laptop")
    proxy = RecordingProxy("127.0.0.1", server.port)
    try:
        via_proxy = {"THREADLINE_SERVER_URL": proxy.url}
        for i in range(10):
            assert json.loads(push(home, f"e{i}", **via_proxy).stdout)["delivered"]
        assert len(server_entries(home)) == 10
        proxy.clear()
        assert json.loads(push(home, "eleventh", **via_proxy).stdout)["delivered"]
        sent = proxy.pushed_entries()
        assert [(e["seq"], e["text"]) for e in sent] == [(11, "eleventh")]
        assert len(proxy.pushes()) == 1
    finally:
        proxy.close()


def test_wrong_or_revoked_token_is_a_clear_error_and_keeps_entries(
    make_client: Callable[[str], Path], server: ServerProcess
) -> None:
    home = make_client("laptop")
    assert json.loads(push(home, "first").stdout)["delivered"]
    wrong = push(home, "with a wrong token", THREADLINE_TOKEN="tl_" + "x" * 43)
    assert wrong.returncode == 0
    assert "entry queued (1 pending)" in wrong.stderr
    sync = cli.run(home, "sync", THREADLINE_TOKEN="tl_" + "x" * 43)
    assert sync.returncode == 1
    assert "Error:" in sync.stderr and "Hint:" in sync.stderr and "login" in sync.stderr

    token = json.loads((home / "credentials.json").read_text())["token"]
    logout = cli.run(home, "logout")  # revokes the token on the server
    assert logout.returncode == 0 and "revoked on the server" in logout.stdout
    old = {"THREADLINE_SERVER_URL": server.url, "THREADLINE_TOKEN": token}
    revoked = push(home, "with a revoked token", **old)
    assert "entry queued (2 pending)" in revoked.stderr
    info = json.loads(cli.run(home, "sync", "status", "--json", **old).stdout)
    assert info["pending"] == 2 and info["server_ok"] is False

    login(home, server)
    assert cli.run(home, "sync").returncode == 0
    assert [e["text"] for e in server_entries(home)] == [
        "first",
        "with a wrong token",
        "with a revoked token",
    ]


def test_fifty_concurrent_pushes_land_once(make_client: Callable[[str], Path]) -> None:
    home = make_client("busy")
    env = cli.clean_env(home)
    procs = [
        subprocess.Popen(
            [cli.THREADLINE, "push", "-t", "busy", f"parallel {i}"],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(50)
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    assert cli.run(home, "sync").returncode == 0
    entries = server_entries(home, "busy")
    assert len(entries) == 50
    assert sorted(e["text"] for e in entries) == sorted(f"parallel {i}" for i in range(50))
    assert sorted(e["seq"] for e in entries) == list(range(1, 51))


def test_two_devices_share_a_thread(make_client: Callable[[str], Path]) -> None:
    laptop, desktop = make_client("laptop"), make_client("desktop")
    assert json.loads(push(laptop, "-p", "shop", "from the laptop").stdout)["delivered"]
    assert json.loads(push(desktop, "-p", "shop", "from the desktop").stdout)["delivered"]
    shown = cli.run(desktop, "thread", "show", "main", "-p", "shop", "--json")
    assert [e["text"] for e in json.loads(shown.stdout)["entries"]] == [
        "from the laptop",
        "from the desktop",
    ]
    listed = json.loads(cli.run(laptop, "thread", "list", "-p", "shop", "--json").stdout)
    assert [(t["name"], t["entry_count"]) for t in listed] == [("main", 2)]


def test_entry_over_the_server_limit_blocks_only_its_thread(
    tmp_path: Path, server_db_url: str
) -> None:
    srv = ServerProcess(tmp_path / "small", server_db_url, "--max-entry-bytes", "1000").start()
    try:
        home = tmp_path / "client"
        login(home, srv)
        big = push(home, "-t", "big", "x" * 2000)
        assert big.returncode == 0
        assert "entry_too_large" in big.stderr and "sync status" in big.stderr
        small = push(home, "-t", "small", "fits")
        assert json.loads(small.stdout)["delivered"] is True, small.stderr
        info = json.loads(cli.run(home, "sync", "status", "--json").stdout)
        assert info["pending"] == 0
        assert [(b["name"], b["pending"]) for b in info["blocked"]] == [("big", 1)]
        assert "1000" in info["blocked"][0]["blocked"], "the error names the limit"
        shown = cli.run(home, "thread", "show", "big", "--json")
        assert json.loads(shown.stdout)["entries"][0]["text"] == "x" * 2000, "nothing lost"
    finally:
        srv.stop()


def test_server_restored_from_a_backup_gets_the_missing_entries_again(tmp_path: Path) -> None:
    """The server lost its newest entries (restored from a backup): the client's next push
    meets a gap, resumes from the server's tail and delivers everything again, once."""
    db_file = tmp_path / "server.db"
    srv = ServerProcess(tmp_path / "srv", f"sqlite:///{db_file}").start()
    home = tmp_path / "client"
    try:
        login(home, srv)
        for text in ("a", "b"):
            assert json.loads(push(home, text).stdout)["delivered"]
        srv.stop()
        backup = db_file.read_bytes()
        assert not Path(f"{db_file}-wal").exists() or Path(f"{db_file}-wal").stat().st_size == 0
        srv.restart()
        for text in ("c", "d", "e"):
            assert json.loads(push(home, text).stdout)["delivered"]
        srv.stop()
        for suffix in ("-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        db_file.write_bytes(backup)
        srv.restart()
        assert [e["text"] for e in server_entries(home)] == ["a", "b"]
        result = push(home, "f")
        assert json.loads(result.stdout)["delivered"], result.stderr
        entries = server_entries(home)
        assert [(e["seq"], e["text"]) for e in entries] == list(enumerate("abcdef", start=1))
    finally:
        srv.stop()
