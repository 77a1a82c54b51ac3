"""The thread page in process, on both backends: real Claude Code and Codex transcripts read
by the real tailer into a local store and pushed through the sync API, then browsed."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import sign_in
from threadline import protocol as p
from threadline.services import accounts
from threadline.storage.database import Database
from threadline.store import db as local_db
from threadline.store import notes
from threadline.watch.tail import Tailer
from threadline.web import thread_page

CLAUDE_TOOLS = "claude/spotter/tool_heavy.jsonl"
CLAUDE_SUBAGENT = "claude/spotter/subagent.jsonl"
CLAUDE_INLINE = "claude/claude-code-viewer/fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl"
CODEX = (
    "codex/agentcmd/sessions/2025/09/24/"
    "rollout-2025-09-24T19-22-20-01997e76-d124-7592-9cac-2ec05abbca08.jsonl"
)
CHILD_SESSION = "6c2214d7-b87e-4432-8e41-22ba294ea584"
CHILD = f"claude/spotter/{CHILD_SESSION}/subagents/agent-afc096d.jsonl"
LI_ID = re.compile(r'<li class="entry[^"]*" id="entry-([0-9a-f-]{36})"')
LI_TAG = re.compile(r'<li class="entry[^"]*" id="entry-([0-9a-f-]{36})"[^>]*>')
PAIRED_TO = re.compile(r' data-paired-to="entry-([0-9a-f-]{36})"')


class Pusher:
    """Reads transcript files with the real tailer into a local store, and pushes what is
    pending to the app as the sync engine does (one device, a token of ``user``)."""

    def __init__(self, db: Database, client: AsgiClient, tmp: Path, user: str) -> None:
        self.conn = local_db.connect(tmp / f"local-{user}.db")
        self.tailer = Tailer(self.conn)
        self.client = client
        self.tmp = tmp
        token = accounts.create_token(db, user, "tests")
        self.headers = {"Authorization": f"Bearer {token.secret}"}

    def ingest(self, source: Path, name: str | None = None) -> Path:
        """Copy ``source`` to ``transcripts/<name>`` and read it with the tailer."""
        target = self.tmp / "transcripts" / (name or source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        self.tailer.ingest(target)
        return target

    def push(self) -> None:
        device = local_db.device_id(self.conn)
        batch = notes.pending_batch(self.conn, p.MAX_BATCH_ENTRIES, 48 * 1024 * 1024)
        body = {"device_id": device, "streams": [s.body for s in batch]}
        answer = self.client.post("/api/v1/sync/push", json=body, headers=self.headers)
        assert answer.status_code == 200, answer.text[:500]

    def thread_id(self, path: Path) -> str:
        """The thread of the transcript file at ``path`` (as ingested)."""
        for thread in self.api("/api/v1/threads?limit=500")["threads"]:
            if thread["meta"].get("source") == str(path):
                return str(thread["id"])
        raise AssertionError(f"no thread of {path}")

    def api(self, path: str) -> Any:
        answer = self.client.get(path, headers=self.headers)
        assert answer.status_code == 200, answer.text[:300]
        return answer.json()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def pusher(
    db: Database, browser: Callable[[], AsgiClient], users: list[str], tmp_path: Path
) -> Any:
    made = Pusher(db, browser(), tmp_path, "alice")
    yield made
    made.close()


def ids_in(html: str) -> list[str]:
    return LI_ID.findall(html)


def all_entry_ids(pusher: Pusher, thread_id: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = f"?limit=500&cursor={cursor}" if cursor else "?limit=500"
        page = pusher.api(f"/api/v1/threads/{thread_id}/entries{query}")
        ids += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def attribute(html: str, name: str) -> str:
    match = re.search(rf'<ol id="entries"[^>]* {name}="([^"]*)"', html)
    assert match, html[:300]
    return match.group(1)


def check_page(answer: Any) -> str:
    assert answer.status_code == 200, answer.text[:2000]
    assert "text/html" in answer.headers["content-type"]
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    html: str = answer.text
    assert not re.search(r"<[^>]*\sstyle=", html) and "<script>" not in html
    return html


def test_claude_session_page(alice: AsgiClient, pusher: Pusher, fixtures: Path) -> None:
    path = pusher.ingest(fixtures / CLAUDE_TOOLS)
    pusher.push()
    thread_id = pusher.thread_id(path)
    html = check_page(alice.get(f"/threads/{thread_id}"))
    assert f'<ol id="entries" class="entries" data-thread-id="{thread_id}" data-change="' in html
    assert '<input type="checkbox" id="show-sys"' in html and "Show system lines" in html
    assert 'class="entry role-system sys"' in html, "system lines are marked (hidden by CSS)"
    # Tool calls are folded with a one-line summary, results inside the fold.
    assert '<details class="tool"' in html and "<details open" not in html
    assert (
        '<span class="tool-name">Bash</span> <code class="tool-sum">mix phx.server</code>' in html
    )
    assert (
        '<span class="tool-name">Read</span>' in html and '<div class="label">Result</div>' in html
    )
    assert '<details class="thinking">' in html
    # Every entry has its anchor and a link to it, but a result shown inside its call: that one
    # leaves an empty anchor that points at the call's entry, which is on the page with its link.
    ids = ids_in(html)
    assert ids and len(ids) == len(set(ids))
    tags = {m.group(1): m.group(0) for m in LI_TAG.finditer(html)}
    assert list(tags) == ids
    paired = 0
    for entry_id in ids:
        target = PAIRED_TO.search(tags[entry_id])
        if target is None:
            assert "paired" not in tags[entry_id], tags[entry_id]
            assert f'href="#entry-{entry_id}"' in html, f"no link to entry {entry_id}"
            continue
        paired += 1
        assert tags[entry_id].startswith('<li class="entry paired" '), tags[entry_id]
        call = target.group(1)
        assert call != entry_id and call in tags, f"{entry_id} points at {call}, not on the page"
        assert PAIRED_TO.search(tags[call]) is None, "the call's entry is not a paired one"
        assert f'href="#entry-{call}"' in html, f"no link to entry {call}"
    assert paired, "results shown in their call leave an anchor"
    assert 'href="/static/thread.js' not in html and 'src="/static/thread.js' in html
    assert all_entry_ids(pusher, thread_id)[: len(ids)] == ids, "display order as the API's"
    meta = pusher.api(f"/api/v1/threads/{thread_id}")["meta"]
    assert meta["model"] in html and "Tokens" in html and meta["git_branch"] in html


def test_codex_session_page(alice: AsgiClient, pusher: Pusher, fixtures: Path) -> None:
    path = pusher.ingest(fixtures / CODEX)
    pusher.push()
    thread_id = pusher.thread_id(path)
    html = check_page(alice.get(f"/threads/{thread_id}"))
    assert '<span class="tool-name">shell</span>' in html
    ids = ids_in(html)
    assert len(ids) == thread_page.PAGE_SIZE
    after = attribute(html, "data-after")
    seen = list(ids)
    patched = '<span class="dl d-add">' in html
    while after:
        more = alice.get(f"/threads/{thread_id}/entries?after={after}")
        fragment = check_page(more)
        assert "<html" not in fragment and fragment.lstrip().startswith("<li")
        seen += ids_in(fragment)
        patched = patched or ('<pre class="diff">' in fragment and "d-add" in fragment)
        after = more.headers[thread_page.AFTER_HEADER]
    assert seen == all_entry_ids(pusher, thread_id), "every entry exactly once, in order"
    assert patched, "apply_patch is shown as a diff"


def test_large_thread_pages_around_and_before(
    alice: AsgiClient, pusher: Pusher, fixtures: Path
) -> None:
    path = pusher.ingest(fixtures / CLAUDE_INLINE)
    pusher.push()
    thread_id = pusher.thread_id(path)
    every = all_entry_ids(pusher, thread_id)
    assert len(every) > 3 * thread_page.PAGE_SIZE
    first = check_page(alice.get(f"/threads/{thread_id}"))
    assert attribute(first, "data-before") == "" and attribute(first, "data-after")
    assert len(first) < 1_500_000
    start = 250 - thread_page.AROUND_BEFORE
    around = check_page(alice.get(f"/threads/{thread_id}?around={every[250]}"))
    # Sidechain lines are nested under their Task call, so compare sets within a page.
    assert set(ids_in(around)) == set(every[start : start + thread_page.PAGE_SIZE])
    before = attribute(around, "data-before")
    earlier = alice.get(f"/threads/{thread_id}/entries?before={before}")
    assert set(ids_in(check_page(earlier))) == set(every[start - thread_page.PAGE_SIZE : start])
    assert earlier.headers[thread_page.AFTER_HEADER] and earlier.headers[thread_page.BEFORE_HEADER]
    assert alice.get(f"/threads/{thread_id}?around=nope").status_code == 200
    bad = alice.get(f"/threads/{thread_id}/entries?after=garbage")
    assert bad.status_code == 400


def test_inline_sidechains_nest_under_their_task_call(
    alice: AsgiClient, pusher: Pusher, fixtures: Path
) -> None:
    path = pusher.ingest(fixtures / CLAUDE_INLINE)
    pusher.push()
    thread_id = pusher.thread_id(path)
    html = check_page(alice.get(f"/threads/{thread_id}"))
    after = attribute(html, "data-after")
    while after:
        more = alice.get(f"/threads/{thread_id}/entries?after={after}")
        html += more.text
        after = more.headers[thread_page.AFTER_HEADER]
    assert '<span class="tool-name">Task</span>' in html
    assert '<details class="sidechain">' in html and '<ol class="nested">' in html
    assert "user · subagent" in html or "assistant · subagent" in html


def test_subagent_threads_link_both_ways(
    alice: AsgiClient, pusher: Pusher, fixtures: Path, tmp_path: Path
) -> None:
    child_path = pusher.ingest(fixtures / CHILD, f"{CHILD_SESSION}/subagents/agent-afc096d.jsonl")
    first = json.loads((fixtures / CHILD).read_text().splitlines()[0])
    prompt = first["message"]["content"]
    parent = tmp_path / f"{CHILD_SESSION}.jsonl"
    base = {
        "sessionId": CHILD_SESSION,
        "cwd": first["cwd"],
        "version": "2.1.38",
        "gitBranch": first["gitBranch"],
        "isSidechain": False,
        "userType": "external",
    }
    lines = [
        {**base, "type": "user", "uuid": "u1", "parentUuid": None,
         "timestamp": "2026-02-10T22:15:30.000Z",
         "message": {"role": "user", "content": "Look around the project"}},
        {**base, "type": "assistant", "uuid": "a1", "parentUuid": "u1",
         "timestamp": "2026-02-10T22:15:35.000Z",
         "message": {"role": "assistant", "model": "claude-opus-4-6", "id": "msg_1",
                     "content": [{"type": "tool_use", "id": "toolu_1", "name": "Task",
                                  "input": {"description": "Explore the project",
                                            "subagent_type": "Explore", "prompt": prompt}}]}},
        {**base, "type": "user", "uuid": "u2", "parentUuid": "a1",
         "timestamp": "2026-02-10T22:20:00.000Z",
         "message": {"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Found it."}]},
         "toolUseResult": {"status": "completed", "agentId": "afc096d"}},
    ]  # fmt: skip
    parent.write_text("".join(json.dumps(line) + "\n" for line in lines))
    parent_path = pusher.ingest(parent)
    pusher.push()
    parent_id, child_id = pusher.thread_id(parent_path), pusher.thread_id(child_path)
    html = check_page(alice.get(f"/threads/{parent_id}"))
    assert f'<a class="child-link" href="/threads/{child_id}">' in html
    assert "Subagent threads (1)" in html
    child = check_page(alice.get(f"/threads/{child_id}"))
    assert f'<a href="/threads/{parent_id}">← parent session</a>' in child


def test_since_change_fragments(alice: AsgiClient, pusher: Pusher, fixtures: Path) -> None:
    path = pusher.ingest(fixtures / CLAUDE_TOOLS)
    pusher.push()
    thread_id = pusher.thread_id(path)
    html = check_page(alice.get(f"/threads/{thread_id}"))
    change = int(attribute(html, "data-change"))
    nothing = alice.get(f"/threads/{thread_id}/entries?since_change={change}")
    assert nothing.status_code == 200 and nothing.text.strip() == ""
    assert nothing.headers[thread_page.CHANGE_HEADER] == str(change)
    posted = pusher.client.post(
        f"/api/v1/threads/{thread_id}/entries",
        json={"role": "user", "text": "a **late** note", "ts": "2030-01-01T00:00:00Z"},
        headers=pusher.headers,
    )
    assert posted.status_code == 201
    news = alice.get(f"/threads/{thread_id}/entries?since_change={change}")
    assert ids_in(check_page(news)) == [posted.json()["id"]]
    assert "<strong>late</strong>" in news.text
    newer = int(news.headers[thread_page.CHANGE_HEADER])
    assert newer > change
    again = alice.get(f"/threads/{thread_id}/entries?since_change={newer}")
    assert again.text.strip() == ""


def test_long_text_is_cut_with_show_full_and_hostile_text_is_inert(
    alice: AsgiClient, pusher: Pusher, fixtures: Path
) -> None:
    path = pusher.ingest(fixtures / CLAUDE_TOOLS)
    pusher.push()
    thread_id = pusher.thread_id(path)
    long = "word " * 10_000 + "THE-END"
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"
    for text in (long, hostile):
        answer = pusher.client.post(
            f"/api/v1/threads/{thread_id}/entries",
            json={"role": "assistant", "text": text, "ts": "2000-01-01T00:00:00Z",
                  "parts": [{"type": "text", "text": text}]},
            headers=pusher.headers,
        )  # fmt: skip
        assert answer.status_code == 201
    html = check_page(alice.get(f"/threads/{thread_id}"))
    assert "THE-END" not in html and 'class="show-full"' in html
    assert "<img" not in html and 'href="javascript' not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    link = re.search(r'class="show-full" href="([^"]+)"', html)
    assert link
    full = check_page(alice.get(link.group(1)))
    assert "THE-END" in full and 'class="show-full"' not in full
    assert alice.get(f"/threads/{thread_id}/entries/nope/full").status_code == 404


def test_downloads(alice: AsgiClient, pusher: Pusher, fixtures: Path) -> None:
    path = pusher.ingest(fixtures / CLAUDE_TOOLS)
    pusher.push()
    thread_id = pusher.thread_id(path)
    transcript = alice.get(f"/threads/{thread_id}/transcript")
    assert transcript.status_code == 200
    assert transcript.content == (fixtures / CLAUDE_TOOLS).read_bytes()
    assert transcript.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in transcript.headers["content-disposition"]
    export = alice.get(f"/threads/{thread_id}/export.md")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/markdown")
    text = export.text
    title = pusher.api(f"/api/v1/threads/{thread_id}")["title"]
    assert text.startswith(f"# {title}\n")
    assert "**Tool call: Bash** — mix phx.server" in text and "**Tool result**" in text
    assert text.count("### ") > 10 and "file-history-snapshot" not in text


def test_other_users_and_signed_out_visitors(
    browser: Callable[[], AsgiClient], alice: AsgiClient, pusher: Pusher, fixtures: Path
) -> None:
    path = pusher.ingest(fixtures / CLAUDE_TOOLS)
    pusher.push()
    thread_id = pusher.thread_id(path)
    entry_id = all_entry_ids(pusher, thread_id)[0]
    bob = browser()
    sign_in(bob, "bob")
    stranger = browser()
    for suffix in ("", "/entries", "/entries?since_change=0", f"/entries/{entry_id}/full",
                   "/export.md", "/transcript"):  # fmt: skip
        url = f"/threads/{thread_id}{suffix}"
        mine = alice.get(url)
        assert mine.status_code == 200, url
        theirs = bob.get(url)
        missing = bob.get(f"/threads/00000000-0000-4000-8000-000000000000{suffix}")
        assert theirs.status_code == missing.status_code == 404, url
        assert theirs.text.replace(thread_id, "X") == missing.text.replace(
            "00000000-0000-4000-8000-000000000000", "X"
        ), "never leaks existence"
        away = stranger.get(url)
        assert away.status_code == 303 and away.headers["location"].startswith("/login?next=")
