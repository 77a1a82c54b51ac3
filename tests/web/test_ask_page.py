"""The Ask page in process, on both backends, without its script: the answer's citation markers
as links, a conversation opened to continue it with its earlier turns shown (escaped, their
citations linked), and a thread id that is not one of the user's conversations ignored."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import csrf_of, sign_in
from threadline.services import accounts
from threadline.storage.database import Database
from threadline.web import ask
from threadline.web.ask import linked, site_path

QUESTION = "Why did we choose optimistic locking for orders?"
NOTE = "Chose **optimistic locking** for orders; see `models.py`."
HOSTILE = 'Zebra crossing notes: <img src=x onerror="alert(1)"><script>alert(2)</script>'
THREAD = re.compile(r'id="ask-thread" name="thread" value="([^"]*)"')
CITE = re.compile(r'<a class="cite" href="(/threads/[^"]+)">\[1\]</a>')


class Api:
    """alice's token: notes pushed as a device would, entries posted to a thread."""

    def __init__(self, client: AsgiClient, db: Database) -> None:
        self.client = client
        secret = accounts.create_token(db, "alice", "tests").secret
        self.headers = {"authorization": f"Bearer {secret}"}

    def note(self, text: str, name: str = "main", project: str = "shop") -> str:
        """A note thread ``name`` holding ``text``; its id."""
        thread = {"key": f"note:{project}:{name}", "kind": "note", "name": name, "project": project}
        entry = {
            "seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-01T12:00:00Z", "role": "assistant",
            "text": text,
        }  # fmt: skip
        stream = {"stream_id": str(uuid.uuid4()), "thread": thread, "entries": [entry]}
        body = {"device_id": str(uuid.uuid4()), "streams": [stream]}
        answer = self.client.post("/api/v1/sync/push", json=body, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["streams"][0]["thread_id"])

    def post(self, thread_id: str, role: str, text: str, meta: dict[str, object]) -> None:
        body = {"role": role, "text": text, "meta": meta}
        answer = self.client.post(
            f"/api/v1/threads/{thread_id}/entries", json=body, headers=self.headers
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture
def api(alice: AsgiClient, db: Database) -> Api:
    return Api(alice, db)


def ok(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:1000]
    return response.text


def ask_page(client: AsgiClient, question: str, thread: str = "", project: str = "") -> str:
    """The page ``POST /ask`` answers ``question`` with (the form of a browser without script)."""
    form = {"csrf": csrf_of(client.get("/ask")), "question": question, "project": project}
    return ok(client.post("/ask", data={**form, "thread": thread}))


def thread_of(page: str) -> str:
    found = THREAD.search(page)
    assert found, page[:500]
    return found.group(1)


def section(page: str, start: str) -> str:
    """The element of ``page`` that opens with ``start``, to the end of its section."""
    at = page.index(start)
    return page[at : page.index("</section>", at)]


def test_markers_of_known_citations_become_links() -> None:
    urls = {1: "/a", 3: "/c"}
    assert linked("A [1]. B [2, 3]; items[1] and [9].", urls) == [
        ("A ", None), ("[1]", "/a"), (". B ", None), ("[", None), ("2", None), (", ", None),
        ("3", "/c"), ("]", None), ("; items[1] and ", None), ("[9]", None), (".", None),
    ]  # fmt: skip
    assert linked("", urls) == [] and linked("no markers", {}) == [("no markers", None)]
    assert site_path("/threads/t?around=e#entry-e") == "/threads/t?around=e#entry-e"
    for bad in ("//evil.example/x", "/\\evil.example", "javascript:alert(1)", "https://x.y", ""):
        assert site_path(bad) == "#", bad


def test_the_answer_links_its_markers_without_script(alice: AsgiClient, api: Api) -> None:
    api.note(NOTE)
    page = ask_page(alice, QUESTION)
    answer = section(page, '<div id="answer-text"')
    [url] = CITE.findall(answer)
    assert f'<li value="1"><a href="{url}">' in page, "the marker links where its citation does"
    assert 'id="answer-status" class="muted" role="status" hidden>Searching the history…<' in page


def test_a_thread_that_is_not_a_conversation_of_the_user_is_ignored(
    browser: Callable[[], AsgiClient], alice: AsgiClient, api: Api
) -> None:
    notes = api.note(NOTE)
    mine = thread_of(ask_page(alice, QUESTION, project="shop"))
    bob = browser()
    sign_in(bob, "bob")
    cases = [
        (alice, "no-such-thread", ""),
        (alice, "no-such-thread", "shop"),
        (alice, notes, ""),
        (alice, notes, "shop"),
        (bob, mine, ""),
        (bob, mine, "shop"),
    ]
    for client, thread, project in cases:
        page = ok(client.get("/ask", params={"thread": thread, "project": project}))
        assert thread_of(page) == "", (thread, project)
        assert 'id="ask-conversation" class="muted small" hidden>' in page, (thread, project)
        assert 'id="turns" class="stack" aria-labelledby="turns-title" hidden>' in page
        assert thread not in page
    # One of alice's own is continued, the project given or not.
    for project in ("", "shop"):
        page = ok(alice.get("/ask", params={"thread": mine, "project": project}))
        assert thread_of(page) == mine
        assert 'id="ask-conversation" class="muted small">Continuing' in page
        assert '<option value="shop" selected>' in page


def test_a_continued_conversation_shows_its_earlier_turns(alice: AsgiClient, api: Api) -> None:
    api.note(NOTE)
    first = ask_page(alice, QUESTION)
    thread = thread_of(first)
    [url] = CITE.findall(section(first, '<div id="answer-text"'))
    page = ok(alice.get("/ask", params={"thread": thread}))
    turns = section(page, '<section id="turns"')
    assert " hidden" not in turns[: turns.index(">")]
    assert turns.count('<li class="turn card">') == 1
    assert f'<p class="turn-question">{QUESTION}</p>' in turns
    assert CITE.findall(turns) == [url], "the earlier answer's marker links to its citation"
    assert f'<ol class="citations">\n    <li value="1"><a href="{url}">main</a>' in turns
    assert "Only its latest" not in turns
    # A follow-up: the earlier turn above, the new answer below the form (not twice).
    follow = ask_page(alice, "and models.py?", thread)
    turns = section(follow, '<section id="turns"')
    assert turns.count('<li class="turn card">') == 1 and QUESTION in turns
    assert "and models.py?" not in turns
    assert CITE.findall(section(follow, '<div id="answer-text"'))


def test_earlier_turns_are_escaped_and_link_only_to_this_site(alice: AsgiClient, api: Api) -> None:
    api.note(HOSTILE, name="zoo", project="zoo")
    thread = thread_of(ask_page(alice, "zebra crossing notes"))
    # Turns written into the conversation over the API: whatever their meta, only paths of
    # this site are linked, and every text is escaped.
    api.post(thread, "user", "<b>asked</b>", {"ask": {"project": None, "all_projects": True}})
    cited = [
        {"n": 1, "url": "//evil.example/x", "thread_title": "<i>t</i>", "snippet": "<s>x</s>"},
        {"n": 2, "url": "javascript:alert(3)"},
        {"n": 3, "url": "/threads/fine"},
        "not a citation",
    ]
    answer = "Told [1], [2] and [3]: <img src=y onerror=alert(4)>"
    api.post(thread, "assistant", answer, {"ask": {"citations": cited, "no_match": False}})
    api.post(thread, "user", "A note, not a turn", {})
    page = ok(alice.get("/ask", params={"thread": thread}))
    turns = section(page, '<section id="turns"')
    assert turns.count('<li class="turn card">') == 2
    for raw in ("<img", "<script", "<b>", "<i>", "<s>", "//evil", "javascript:"):
        assert raw not in turns, raw
    assert "&lt;img src=x onerror=" in turns and "&lt;b&gt;asked&lt;/b&gt;" in turns
    assert "Told [1], [2] and " in turns, "a marker of a refused link stays text"
    assert '<a class="cite" href="/threads/fine">[3]</a>' in turns
    assert '<li value="1"><a href="#">&lt;i&gt;t&lt;/i&gt;</a>' in turns
    assert '<li value="2"><a href="#">' in turns and "&lt;s&gt;x&lt;/s&gt;" in turns
    assert "A note, not a turn" not in turns


def test_only_the_latest_turns_are_shown(alice: AsgiClient, api: Api) -> None:
    api.note(NOTE)
    thread = ""
    for i in range(ask.SHOWN_TURNS + 2):
        thread = thread_of(ask_page(alice, f"Question {i}: optimistic locking?", thread))
    page = ok(alice.get("/ask", params={"thread": thread}))
    turns = section(page, '<section id="turns"')
    asked = re.findall(r'<p class="turn-question">Question (\d+):', turns)
    assert asked == [str(i) for i in range(2, ask.SHOWN_TURNS + 2)]
    assert f'Only its latest questions are shown; <a href="/threads/{thread}">' in turns
