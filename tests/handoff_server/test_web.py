"""The saves in the web UI, in process: the ``/saves`` page and its live fragments, and the
saves section of a session's thread page — escaped, filtered, paged, and only the user's own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from tests.handoff_server.conftest import created_save, save_body
from tests.handoff_server.test_saves import session_thread
from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.web.conftest import sign_in
from threadline.web import saves_page

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def page_of(make_client: Callable[..., AsgiClient]) -> Callable[[Account], AsgiClient]:
    """``page_of(alice)``: a browser signed in as ``alice``."""

    def make(who: Account) -> AsgiClient:
        browser = make_client()
        answer = sign_in(browser, who.user, who.password)
        assert answer.status_code == 303, answer.text
        return browser

    return make


def items(html: str) -> list[str]:
    """The save ids listed on a page or in a fragment, in order."""
    return re.findall(r'<li id="save-([0-9a-f-]{36})"', html)


def test_the_saves_page_lists_the_users_saves(
    client: AsgiClient,
    alice: Account,
    bob: Account,
    page_of: Callable[[Account], AsgiClient],
) -> None:
    thread_id = session_thread(client, alice, "fix-checkout")
    older = created_save(client, alice, save_body(created="2026-11-20T09:00:00Z", branch=None))
    newer = created_save(
        client,
        alice,
        save_body(thread_id=thread_id, message=HOSTILE, device_name="<desk>", branch="a&b"),
    )
    created_save(client, bob, save_body(message="bob's save"))
    html = page_of(alice).get("/saves").text

    assert items(html) == [newer["save_id"], older["save_id"]]
    assert '<a href="/saves" aria-current="page">Saves</a>' in html
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;desk&gt;" in html and "a&amp;b" in html and "detached HEAD" in html
    assert f"threadline resume {newer['save_id']}</code>" in html
    assert f'data-copy="resume-{newer["save_id"]}"' in html
    assert f'<a href="/threads/{thread_id}">fix-checkout</a>' in html
    assert newer["commit"][:12] in html
    assert "bob&#39;s save" not in html and "bob's save" not in html
    assert 'data-change="' in html and 'href="/saves?repo=github.com/acme/shop"' in html


def test_filters_paging_and_the_empty_page(
    client: AsgiClient,
    alice: Account,
    page_of: Callable[[Account], AsgiClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    browser = page_of(alice)
    assert "No saves yet" in browser.get("/saves").text
    made = [
        created_save(
            client,
            alice,
            save_body(
                created=f"2026-11-21T10:00:0{i}Z",
                remote_key="github.com/acme/garden" if i == 1 else "github.com/acme/shop",
            ),
        )["save_id"]
        for i in range(3)
    ]
    garden = browser.get("/saves", params={"repo": "github.com/acme/garden"}).text
    assert items(garden) == [made[1]] and "github.com/acme/garden</strong>" in garden
    assert "No save matches" in browser.get("/saves", params={"repo": "nope"}).text

    monkeypatch.setattr(saves_page, "PAGE_SIZE", 2)
    first = browser.get("/saves").text
    assert items(first) == [made[2], made[1]]
    link = re.search(r'id="load-more" href="([^"]+)"', first)
    assert link is not None
    second = browser.get(link.group(1).replace("&amp;", "&")).text
    assert items(second) == [made[0]]
    assert 'id="save-list" class="saves" data-change' not in second, "a later page stays put"
    assert browser.get("/saves", params={"cursor": "bogus"}).status_code == 400


def test_a_sessions_thread_page_shows_its_saves(
    client: AsgiClient, alice: Account, page_of: Callable[[Account], AsgiClient]
) -> None:
    browser = page_of(alice)
    thread_id = session_thread(client, alice, "mine")
    other_thread = session_thread(client, alice, "other")
    empty = browser.get(f"/threads/{thread_id}").text
    assert 'data-saves-holder aria-labelledby="saves-title" hidden' in empty
    assert 'id="save-list"' in empty, "there, hidden, for live updates"

    save = created_save(client, alice, save_body(thread_id=thread_id, message=HOSTILE))
    created_save(client, alice, save_body(thread_id=other_thread, message="elsewhere"))
    created_save(client, alice, save_body(message="no thread"))
    html = browser.get(f"/threads/{thread_id}").text
    assert items(html) == [save["save_id"]]
    assert 'data-saves-holder aria-labelledby="saves-title">' in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert f"threadline resume {save['save_id']}" in html
    assert 'class="save-repo"' not in html, "the thread page is the session already"

    note = client.post(
        "/api/v1/threads", json={"name": "n", "project": "p"}, headers=alice.headers
    ).json()
    assert 'id="save-list"' not in browser.get(f"/threads/{note['id']}").text


def test_live_fragments(
    client: AsgiClient, alice: Account, page_of: Callable[[Account], AsgiClient]
) -> None:
    browser = page_of(alice)
    thread_id = session_thread(client, alice)
    page = browser.get("/saves").text
    match = re.search(r'id="save-list" class="saves" data-change="(\d+)"', page)
    assert match is not None
    since = match.group(1)

    mine = created_save(client, alice, save_body(thread_id=thread_id))
    other = created_save(client, alice, save_body(created="2026-11-22T08:00:00Z"))
    rows = browser.get("/saves/rows", params={"since_change": since})
    assert rows.status_code == 200
    assert items(rows.text) == [other["save_id"], mine["save_id"]]
    change = int(rows.headers["Threadline-Change"])
    assert change > int(since)
    assert rows.text.count('class="save-repo"') == 2
    again = browser.get("/saves/rows", params={"since_change": change})
    assert items(again.text) == [] and again.headers["Threadline-Change"] == str(change)

    of_thread = browser.get("/saves/rows", params={"since_change": since, "thread": thread_id})
    assert items(of_thread.text) == [mine["save_id"]]
    assert 'class="save-repo"' not in of_thread.text

    assert browser.get("/saves/rows").status_code == 400
    assert browser.get("/saves/rows", params={"since_change": "x"}).status_code == 400

    monkey = browser.get("/saves/rows", params={"since_change": "0", "repo": str(uuid.uuid4())})
    assert items(monkey.text) == []


def test_saves_pages_need_a_sign_in(client: AsgiClient) -> None:
    for url in ("/saves", "/saves/rows?since_change=0"):
        answer = client.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
