"""The sync protocol on the wire, pinned: the real ``threadline push`` and ``threadline import``
talk to a real server through a recording proxy, and every request and answer — JSON bodies,
the headers the protocol defines, statuses — must match ``tests/golden/push.json`` once the
run-to-run values are replaced (see :mod:`tests.helpers.golden`).

A change to this file's golden is a change to the protocol: old clients and servers must still
understand each other (docs/protocol.md).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import cli
from tests.helpers.golden import DATA, Placeholders, check_golden_json
from tests.helpers.proxy import Recorded, RecordingProxy
from tests.helpers.server import ServerProcess

#: The headers of the protocol (docs/protocol.md, Headers) — the rest is the HTTP stack's.
REQUEST_HEADERS = ("accept", "content-encoding", "content-type", "threadline-protocol")
RESPONSE_HEADERS = ("content-encoding", "content-type", "threadline-protocol")


def exchange(recorded: Recorded, names: Placeholders) -> dict[str, Any]:
    """One request and its answer, as the golden file holds it."""
    answer = recorded.response
    assert answer is not None, f"{recorded.method} {recorded.path}: no answer was relayed"
    headers = recorded.headers
    return {
        "request": {
            "method": recorded.method,
            "path": names.text(recorded.path),
            "headers": {k: headers[k] for k in REQUEST_HEADERS if k in headers},
            "json": names.json(recorded.json()) if recorded.body else None,
        },
        "response": {
            "status": answer.status,
            "headers": {k: answer.headers[k] for k in RESPONSE_HEADERS if k in answer.headers},
            "json": names.json(answer.json()),
        },
    }


def test_push_import_and_status_on_the_wire(
    make_client: Callable[[str], Path], server: ServerProcess, tmp_path: Path
) -> None:
    home = make_client("laptop")
    transcripts = tmp_path / "transcripts"
    shutil.copytree(DATA, transcripts)
    names = Placeholders()
    names.literal(str(transcripts), "<transcripts>")
    proxy = RecordingProxy("127.0.0.1", server.port)
    via_proxy = {"THREADLINE_SERVER_URL": proxy.url}
    steps = [
        ("push", "-p", "shop", "-t", "main", "Chose optimistic locking"),  # creates the thread
        ("push", "-p", "shop", "-t", "main", "--role", "user", "Why?\nTwo lines."),
        ("import", str(transcripts)),  # a session with a subagent: two transcript streams
    ]
    try:
        for step in steps:
            result = cli.run(home, *step, env=via_proxy)
            assert result.returncode == 0, result.stderr
        exchanges = [exchange(r, names) for r in proxy.requests]
    finally:
        proxy.close()
    creds = json.loads((home / "credentials.json").read_text())
    status = httpx.get(
        f"{server.url}/api/v1/sync/status",
        headers={"Authorization": f"Bearer {creds['token']}", "Threadline-Protocol": "1"},
    )
    assert status.status_code == 200, status.text
    check_golden_json(
        "push.json",
        {
            "exchanges": exchanges,
            "sync_status": names.json(status.json()),
        },
    )
