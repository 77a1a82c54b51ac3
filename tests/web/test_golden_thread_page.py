"""The HTML of a thread page, pinned: a hand-written Claude Code session (``tests/golden/data``:
a prompt, thinking, Markdown with code, a tool call and its result, a subagent) is read by the
real tailer, pushed over ``POST /api/v1/sync/push`` and rendered by ``GET /threads/{id}``; the
page must match ``tests/golden/thread_page.html`` once the run-to-run values are replaced.

The subagent's own page is pinned as well (``thread_page_subagent.html``). Only HTTP goes to
the app. Placeholders are those of :mod:`tests.helpers.golden`, plus the CSRF token
(``<csrf>``), the change cursor (``<change>``), the text of ``<time>`` elements, which is
relative to now (``<relative>``; their ``datetime`` and ``title`` stay), and the version in
asset URLs (``?v=<version>``).
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from tests.helpers.asgi import AsgiClient
from tests.helpers.golden import DATA, Placeholders, check_golden
from tests.web.conftest import PASSWORD
from threadline import protocol as p
from threadline.store import db as local_db
from threadline.store import notes
from threadline.watch.tail import Tailer

SESSION = "5e551000-0000-4000-8000-00000000c0de"
VOLATILE = [
    (re.compile(r'(name="csrf" value=")[^"]+(")'), r"\1<csrf>\2"),
    (re.compile(r'(data-change=")\d+(")'), r"\1<change>\2"),
    (re.compile(r"(<time [^>]*>)[^<]*(</time>)"), r"\1<relative>\2"),
    (re.compile(r'(\?v=)[^"]+(")'), r"\1<version>\2"),
]


def push_transcripts(client: AsgiClient, folder: Path, local: Path) -> dict[str, str]:
    """Read every transcript under ``folder`` as the daemon does and push it as alice; return
    the headers of alice's new device token."""
    login = client.post(
        "/api/v1/auth/login",
        json={
            "username": "alice",
            "password": PASSWORD,
            "device_id": str(uuid.uuid4()),
            "device_name": "laptop",
        },
    )
    assert login.status_code == 201, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    conn = local_db.connect(local)
    try:
        tailer = Tailer(conn)
        for path in sorted(folder.rglob("*.jsonl")):
            tailer.ingest(path)
        batch = notes.pending_batch(conn, p.MAX_BATCH_ENTRIES, 48 * 1024 * 1024)
        body = {"device_id": local_db.device_id(conn), "streams": [s.body for s in batch]}
    finally:
        conn.close()
    answer = client.post("/api/v1/sync/push", json=body, headers=headers)
    assert answer.status_code == 200, answer.text[:500]
    return headers


def thread_id(client: AsgiClient, headers: dict[str, str], key: str) -> str:
    answer = client.get("/api/v1/threads", params={"limit": 500}, headers=headers)
    assert answer.status_code == 200, answer.text[:500]
    [found] = [t["id"] for t in answer.json()["threads"] if t["key"] == key]
    return str(found)


def test_thread_page_html(alice: AsgiClient, tmp_path: Path) -> None:
    client = alice
    transcripts = tmp_path / "transcripts"
    shutil.copytree(DATA, transcripts)
    headers = push_transcripts(client, transcripts, tmp_path / "local.db")
    session = thread_id(client, headers, f"claude-code:{SESSION}")
    subagent = thread_id(client, headers, f"claude-code:{SESSION}/agent-a1b2c3d")
    names = Placeholders()
    names.literal(str(transcripts), "<transcripts>")
    check_golden("thread_page.html", normalized(client, f"/threads/{session}", names))
    check_golden("thread_page_subagent.html", normalized(client, f"/threads/{subagent}", names))


def normalized(client: AsgiClient, url: str, names: Placeholders) -> str:
    """The page at ``url`` with its run-to-run values replaced."""
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    assert "text/html" in page.headers["content-type"]
    html = page.text
    for pattern, replacement in VOLATILE:
        html = pattern.sub(replacement, html)
    return names.text(html)
