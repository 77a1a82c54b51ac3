"""The server killed with SIGKILL while 20 clients push in a loop, then restarted."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_push_sync import push, server_entries
from tests.helpers import cli
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_for

CLIENTS = 20
PUSHES = 8


@pytest.mark.slow
def test_sigkill_mid_push_loses_and_duplicates_nothing(
    make_client: Callable[[str], Path], server: ServerProcess
) -> None:
    homes = [make_client(f"c{i}") for i in range(CLIENTS)]
    outcomes: dict[int, list[tuple[str, bool]]] = {i: [] for i in range(CLIENTS)}
    errors: list[str] = []

    def client_loop(i: int) -> None:
        for n in range(PUSHES):
            text = f"client {i} entry {n}"
            result = push(homes[i], "-p", "crash", "-t", "crash", text, THREADLINE_PUSH_TIMEOUT="1")
            if result.returncode != 0:
                errors.append(result.stderr)
                continue
            outcomes[i].append((text, json.loads(result.stdout)["delivered"]))

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for w in workers:
        w.start()

    def count(delivered: bool) -> int:
        return sum(d == delivered for o in list(outcomes.values()) for _, d in list(o))

    # Kill once some pushes went through, then keep the server down until pushes are queued.
    wait_for(lambda: count(True) >= CLIENTS, 60, 0.05, what=f"{CLIENTS} delivered pushes")
    server.kill()
    queued = count(False)

    def outage_seen() -> bool:
        return count(False) > queued or not any(w.is_alive() for w in workers)

    wait_for(outage_seen, 60, 0.05, what="a push queued while the server is down")
    server.restart()
    for w in workers:
        w.join(120)
    assert not errors, errors[:3]

    acknowledged = {t for o in outcomes.values() for t, delivered in o if delivered}
    pushed = [t for o in outcomes.values() for t, _ in o]
    assert len(pushed) == CLIENTS * PUSHES
    assert acknowledged, "no push was acknowledged before the kill"
    stored = Counter(e["text"] for e in server_entries(homes[0], "crash"))
    missing = acknowledged - set(stored)
    assert not missing, f"acknowledged but not stored: {sorted(missing)[:5]}"

    for home in homes:
        result = cli.run(home, "sync")
        assert result.returncode == 0, result.stderr
    stored = Counter(e["text"] for e in server_entries(homes[0], "crash"))
    assert set(stored) == set(pushed)
    assert max(stored.values()) == 1, [t for t, n in stored.items() if n > 1][:5]
