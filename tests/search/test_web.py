"""The search page and its links, signed in to the shared server with a cookie jar: hits with
escaped snippets and marked matches, paging, the threads list's way to it, the thread page
opened at a hit, errors, and users apart."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.helpers.server import ADMIN_PASSWORD
from tests.helpers.web import csrf_of
from tests.search.conftest import PROJECT, Indexed, push

HIT = re.compile(r'<li class="hit role-(\w+)" id="hit-([0-9a-f-]+)">')


@contextmanager
def browser(indexed: Indexed, user: str = "alice") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=indexed.url, timeout=30) as client:
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": user, "password": ADMIN_PASSWORD, "csrf": csrf_of(page.text)},
        )
        assert answer.status_code == 303, answer.text[:300]
        yield client


def test_hits_with_marked_snippets_linking_to_the_entry(indexed: Indexed) -> None:
    with browser(indexed) as client:
        page = client.get("/search", params={"q": "zanzibar", "project": PROJECT})
    assert page.status_code == 200
    hits = HIT.findall(page.text)
    assert hits[0][0] == "user" and len(hits) == 3
    assert "Why does the <mark>zanzibar</mark> cache miss so often?" in page.text
    thread = indexed.threads["zanzibar"]
    entry = hits[0][1]
    assert f'href="/threads/{thread}?around={entry}&amp;#entry-{entry}"' not in page.text
    assert f'href="/threads/{thread}?around={entry}#entry-{entry}"' in page.text


def test_snippets_are_escaped(indexed: Indexed) -> None:
    with browser(indexed) as client:
        page = client.get("/search", params={"q": "xsstoken"})
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; <mark>xsstoken</mark> &lt;b&gt;" in (
        page.text
    )
    assert "<script>alert" not in page.text


def test_paging_keeps_the_filters(indexed: Indexed) -> None:
    word = f"webpage{uuid.uuid4().hex[:8]}"
    entries = [
        {"seq": n, "id": str(uuid.uuid4()), "ts": f"2026-04-01T00:00:{n:02d}Z", "role": "user",
         "text": f"{word} {n}"}
        for n in range(1, 26)
    ]  # fmt: skip
    push(indexed.url, indexed.alice, word, entries)
    with browser(indexed) as client:
        first = client.get("/search", params={"q": word, "project": PROJECT})
        more = re.search(r'<a id="next-hits" href="([^"]+)"', first.text)
        assert more, first.text[-2000:]
        link = html.unescape(more.group(1))
        assert "project=acme%2Fdemo" in link and f"q={word}" in link
        second = client.get(link)
    ids = [e for _, e in HIT.findall(first.text)] + [e for _, e in HIT.findall(second.text)]
    assert len(ids) == len(set(ids)) == 25
    assert 'id="next-hits"' not in second.text


def test_a_query_with_nothing_to_find_says_so(indexed: Indexed) -> None:
    with browser(indexed) as client:
        empty = client.get("/search")
        odd = client.get("/search", params={"q": "->"})
        none = client.get("/search", params={"q": "nothingmatchesthis"})
    assert empty.status_code == 200 and '<ol class="hits"' not in empty.text
    assert odd.status_code == 422 and "nothing to search for" in odd.text
    assert none.status_code == 200 and "No entry matches." in none.text


def test_needs_a_session(indexed: Indexed) -> None:
    answer = httpx.get(f"{indexed.url}/search", params={"q": "zanzibar"})
    assert answer.status_code in (302, 303, 307) and "/login" in answer.headers["location"]


def test_the_threads_list_text_filter_searches_the_entries_content_too(indexed: Indexed) -> None:
    """A word only the entries hold (no title or name) still finds them from the threads
    list: its best matching entries show above the list, marked and escaped, each linking to
    its entry, with a link to them all on the search page, within the list's filters."""
    with browser(indexed) as client:
        page = client.get("/threads", params={"q": "zanzibar", "project": PROJECT})
        hostile = client.get("/threads", params={"q": "xsstoken"})
        odd = client.get("/threads", params={"q": "->"})
    assert page.status_code == 200
    section = page.text.split('id="content-hits"', 1)[1].split("</ol>", 1)[0]
    hits = HIT.findall(section)
    assert len(hits) == 3
    assert "Why does the <mark>zanzibar</mark> cache miss so often?" in section
    thread = indexed.threads["zanzibar"]
    assert f'href="/threads/{thread}?around={hits[0][1]}#entry-{hits[0][1]}"' in section
    assert 'href="/search?q=zanzibar&amp;project=acme%2Fdemo"' in page.text
    assert "<script>alert" not in hostile.text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; <mark>xsstoken</mark>" in hostile.text
    # A query the search cannot take is said in the section; the list itself still answers.
    assert odd.status_code == 200 and "nothing to search for" in odd.text


def test_the_threads_lists_content_hits_are_the_users_own(indexed: Indexed) -> None:
    with browser(indexed, "bob") as client:
        page = client.get("/threads", params={"q": "zanzibar"})
    section = page.text.split('id="content-hits-title"', 1)[1].split('class="titles-heading"')[0]
    assert len(HIT.findall(section)) == 1
    assert "bobsecret" in section and "cache miss" not in section


def test_the_thread_page_opens_at_a_hit(indexed: Indexed) -> None:
    hit = indexed.hits("pagingword number 2", project=PROJECT)[0]
    with browser(indexed) as client:
        page = client.get(hit["url"].split("#")[0])
    assert page.status_code == 200
    assert f'id="entry-{hit["entry_id"]}"' in page.text


def test_another_user_sees_only_their_own(indexed: Indexed) -> None:
    with browser(indexed, "bob") as client:
        page = client.get("/search", params={"q": "zanzibar"})
    assert [e for _, e in HIT.findall(page.text)].__len__() == 1
    assert "bobsecret" in page.text and "cache miss" not in page.text


def test_a_bad_filter_is_said_on_the_page_with_its_form(indexed: Indexed) -> None:
    with browser(indexed) as client:
        date = client.get("/search", params={"q": "zanzibar", "since": "2026-13-01"})
        cursor = client.get("/search", params={"q": "zanzibar", "cursor": "garbage"})
    assert date.status_code == 400
    assert "since must be a date like" in html.unescape(date.text)
    assert cursor.status_code == 400 and "cursor" in cursor.text
    for page in (date, cursor):
        # the search form is there, filled in, to fix the query
        assert '<form class="filters"' in page.text and 'value="zanzibar"' in page.text


def test_the_agent_and_thread_filters_narrow_the_hits(indexed: Indexed) -> None:
    meta = re.compile(r'<span class="hit-meta">[^·]*· ([^·<]+) ·')
    zanzibar = indexed.threads["zanzibar"]
    with browser(indexed) as client:
        codex = client.get("/search", params={"q": "the", "agent": "codex"})
        claude = client.get("/search", params={"q": "the", "agent": "claude-code"})
        one = client.get("/search", params={"q": "zanzibar", "thread": zanzibar})
        other = client.get("/search", params={"q": "zanzibar", "thread": indexed.threads["paging"]})
    assert codex.status_code == claude.status_code == 200
    assert {k.strip() for k in meta.findall(codex.text)} == {"Codex"}
    assert {k.strip() for k in meta.findall(claude.text)} == {"Claude Code"}
    assert 'name="agent"' in codex.text and '<option value="codex" selected>' in codex.text
    links = re.findall(r'class="hit-title" href="/threads/([0-9a-f-]+)\?', one.text)
    assert links and set(links) == {zanzibar}
    assert f'name="thread" value="{zanzibar}"' in one.text  # kept by the form
    assert HIT.findall(other.text) == []
