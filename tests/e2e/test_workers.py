"""``threadline serve --workers 2``: two processes on one port, one database, nothing lost."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from tests.e2e.test_push_sync import server_entries
from tests.helpers import cli
from tests.helpers.server import ServerProcess, login
from tests.helpers.wait import wait_for


def children(pid: int, count: int) -> set[int]:
    """The ``count`` child processes of ``pid``, waiting for them to be forked."""
    found: set[int] = set()

    def forked() -> bool:
        found.update(int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        return len(found) >= count

    wait_for(forked, 10, 0.05, what=f"{count} worker processes of {pid}")
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_two_workers_share_the_port_and_the_database(tmp_path: Path, server_db_url: str) -> None:
    server = ServerProcess(tmp_path / "srv", server_db_url, "--workers", "2").start()
    assert server.proc is not None
    parent = server.proc.pid
    try:
        workers = children(parent, 2)
        assert len(workers) == 2
        homes = [tmp_path / f"client-{i}" for i in range(4)]
        for home in homes:
            login(home, server)
        before = {pid: cpu_ticks(pid) for pid in workers}
        procs = [
            subprocess.Popen(
                [cli.THREADLINE, "push", "--json", "-p", "shared", "-t", "w", f"{i} {n}"],
                cwd=home,
                # Forty pushes at once on a loaded machine can take longer than the 2 s a
                # push waits by default, and then it is queued instead of delivered.
                env={**cli.clean_env(home), "THREADLINE_PUSH_TIMEOUT": "30"},
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, home in enumerate(homes)
            for n in range(10)
        ]
        outcomes = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
        assert all(o["delivered"] for o in outcomes)
        texts = sorted(e["text"] for e in server_entries(homes[0], "w"))
        assert texts == sorted(f"{i} {n}" for i in range(4) for n in range(10))
        # Both workers answered: each spent CPU on its share of the connections. The kernel
        # spreads them by address and port; a push costs a worker a few milliseconds, under a
        # clock tick, so 200 more short connections make each share measurable.
        for _ in range(200):
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=30) as response:
                assert response.status == 200
        assert all(cpu_ticks(pid) > before[pid] for pid in workers)
    finally:
        status = server.stop()
    assert status == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
