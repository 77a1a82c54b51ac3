"""The Ask page in process, on both backends, without its script: a thread id that is not one
of the user's conversations ignored."""

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
        assert thread not in page
    # One of alice's own is continued, the project given or not.
    for project in ("", "shop"):
        page = ok(alice.get("/ask", params={"thread": mine, "project": project}))
        assert thread_of(page) == mine
        assert 'id="ask-conversation" class="muted small">Continuing' in page
        assert '<option value="shop" selected>' in page
