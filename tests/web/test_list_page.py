"""The threads list page (``GET /threads``) and its row fragments (``GET /threads/rows``):
order, filters, pagination, live updates, page states, escaping and isolation between users."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import sign_in
from threadline.services import accounts
from threadline.storage.database import Database

ROW = re.compile(r'<tr id="thread-([^"]+)" data-change="(\d+)"')
TITLE = re.compile(r'<a href="/threads/[^"]+">([^<]*)</a>')
LOAD_MORE = re.compile(r'<a id="load-more" href="([^"]+)"')
TBODY = re.compile(r'<tbody id="thread-rows" data-change="(\d+)" data-filters="([^"]*)">')
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Api:
    """Pushes threads for one user through the REST API, as a device would."""

    def __init__(self, client: AsgiClient, db: Database, user: str) -> None:
        self.client = client
        self.token = accounts.create_token(db, user, "tests").secret
        self.device = str(uuid.uuid4())

    def push(self, *streams: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post(
            "/api/v1/sync/push",
            json={"device_id": self.device, "streams": list(streams)},
            headers={"authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def thread(self, name: str, when: datetime = BASE, **fields: Any) -> str:
        """One thread with ``entries`` entries, the last at ``when``; returns its id."""
        return str(self.push(stream(name, when, **fields))["streams"][0]["thread_id"])

    def delete(self, thread_id: str) -> None:
        answer = self.client.delete(
            f"/api/v1/threads/{thread_id}", headers={"authorization": f"Bearer {self.token}"}
        )
        assert answer.status_code == 204, answer.text


def stream(
    name: str,
    when: datetime = BASE,
    *,
    project: str = "shop",
    kind: str = "note",
    title: str | None = None,
    meta: dict[str, Any] | None = None,
    parent_key: str | None = None,
    entries: int = 1,
    stream_id: str | None = None,
    first_seq: int = 1,
) -> dict[str, Any]:
    key = f"note:{project}:{name}" if kind == "note" else f"{kind}:{name}"
    ref: dict[str, Any] = {"key": key, "kind": kind, "name": name, "project": project}
    if title is not None:
        ref["title"] = title
    if meta is not None:
        ref["meta"] = meta
    if parent_key is not None:
        ref["parent_key"] = parent_key
    rows = [
        {
            "seq": first_seq + i,
            "id": str(uuid.uuid4()),
            "ts": (when - timedelta(seconds=entries - 1 - i)).isoformat(),
            "role": "assistant",
            "text": f"{name} entry {i}",
        }
        for i in range(entries)
    ]
    return {"stream_id": stream_id or str(uuid.uuid4()), "thread": ref, "entries": rows}


@pytest.fixture
def api(browser: Callable[[], AsgiClient], db: Database, users: list[str]) -> Api:
    return Api(browser(), db, "alice")


def ok(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:1000]
    return response.text


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in TITLE.findall(page)]


def row_ids(page: str) -> list[str]:
    return [thread_id for thread_id, _ in ROW.findall(page)]


# --- order and rows ----------------------------------------------------------------------------


def test_most_recent_activity_first(alice: AsgiClient, api: Api) -> None:
    for name, minutes in [("b", 5), ("a", 1), ("d", 30), ("c", 10)]:
        api.thread(name, BASE + timedelta(minutes=minutes))
    page = ok(alice.get("/threads"))
    assert titles(page) == ["d", "c", "b", "a"]
    assert "Load more" not in page
    # a new entry moves a thread to the top
    api.push(stream("a", BASE + timedelta(hours=1)))
    assert titles(ok(alice.get("/threads")))[0] == "a"


def test_a_row_shows_what_the_thread_is(alice: AsgiClient, api: Api) -> None:
    now = datetime.now(UTC)
    meta = {"agent": "claude-code", "model": "claude-opus-4", "git_branch": "fix/login",
            "session_id": "s1", "cwd": "/src/shop"}  # fmt: skip
    session = api.thread(
        "s1", now - timedelta(seconds=30), kind="claude-code", title="Fix the login form",
        meta=meta, entries=3,
    )  # fmt: skip
    api.thread("agent-a1", now, kind="claude-code", parent_key="claude-code:s1", meta=meta)
    api.thread("agent-a2", now, kind="claude-code", parent_key="claude-code:s1", meta=meta)
    old = api.thread("notes", BASE, title="Old notes")
    page = ok(alice.get("/threads"))
    assert row_ids(page) == [session, old], "subagents are not listed by default"
    row = page[page.index(f'id="thread-{session}"') :]
    row = row[: row.index("</tr>")]
    assert f'<a href="/threads/{session}">Fix the login form</a>' in row
    assert "live" in row and "is-live" in row
    assert "2 subagents" in row
    assert "claude-opus-4" in row and "fix/login" in row and "claude-code" in row
    assert '<td class="t-kind">Claude Code</td>' in row
    assert '<td class="t-num">3</td>' in row
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">', row)
    assert "just now" in row
    note = page[page.index(f'id="thread-{old}"') :]
    note = note[: note.index("</tr>")]
    assert "live" not in note and "subagent" not in note
    assert '<td class="t-kind">Note</td>' in note and "2026-03-01 12:00:00 UTC" in note


# --- filters -----------------------------------------------------------------------------------


@pytest.fixture
def mixed(api: Api) -> dict[str, str]:
    """Threads of two projects, three kinds, several days, one with a subagent."""
    day = timedelta(days=1)
    return {
        "shop-note": api.thread("deploy-plan", BASE, title="Deploy plan"),
        "shop-claude": api.thread(
            "s-shop", BASE - day, kind="claude-code", title="Refactor checkout"
        ),
        "blog-codex": api.thread(
            "s-blog", BASE - 2 * day, kind="codex", project="blog", title="Write 100% of posts"
        ),
        "blog-note": api.thread("ideas", BASE - 3 * day, project="blog", title="Ideas_list"),
        "sub": api.thread(
            "agent-x",
            BASE - day - timedelta(minutes=1),
            kind="claude-code",
            parent_key="claude-code:s-shop",
            title="Explore checkout",
        ),
    }


def listed(client: AsgiClient, query: str) -> list[str]:
    """The ids the page lists for ``query``, checked against the live fragment's."""
    page = ok(client.get(f"/threads?{query}"))
    rows = client.get(f"/threads/rows?since_change=0&{query}")
    assert row_ids(ok(rows)) == row_ids(page), f"the fragment and the page differ for {query}"
    return row_ids(page)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["shop-note", "shop-claude", "blog-codex", "blog-note"]),
        ("project=blog", ["blog-codex", "blog-note"]),
        ("project=nope", []),
        ("kind=note", ["shop-note", "blog-note"]),
        ("kind=claude-code", ["shop-claude"]),
        ("kind=codex", ["blog-codex"]),
        ("q=CHECKOUT", ["shop-claude"]),
        ("q=100%25", ["blog-codex"]),
        ("q=s_list", ["blog-note"]),
        ("q=Ide_s", []),
        ("q=s-bl", ["blog-codex"]),
        ("since=2026-02-27", ["shop-note", "shop-claude", "blog-codex"]),
        ("until=2026-02-28", ["shop-claude", "blog-codex", "blog-note"]),
        ("since=2026-02-27&until=2026-02-28", ["shop-claude", "blog-codex"]),
        ("since=2026-03-02", []),
        ("subagents=1", ["shop-note", "shop-claude", "sub", "blog-codex", "blog-note"]),
        ("subagents=1&q=checkout", ["shop-claude", "sub"]),
        ("project=shop&kind=claude-code&subagents=1", ["shop-claude", "sub"]),
        (
            "project=&kind=&q=&since=&until=",
            ["shop-note", "shop-claude", "blog-codex", "blog-note"],
        ),
    ],
)
def test_filters(alice: AsgiClient, mixed: dict[str, str], query: str, expected: list[str]) -> None:
    by_id = {v: k for k, v in mixed.items()}
    assert [by_id[i] for i in listed(alice, query)] == expected


def test_the_filter_bar_keeps_the_filters_and_counts_projects(
    alice: AsgiClient, mixed: dict[str, str]
) -> None:
    page = ok(alice.get("/threads?project=blog&kind=codex&q=posts&since=2026-02-01&subagents=1"))
    assert '<option value="blog" selected>blog (2)</option>' in page
    assert '<option value="shop">shop (3)</option>' in page, "subagents counted when shown"
    assert '<option value="codex" selected>Codex</option>' in page
    assert 'name="q" value="posts"' in page
    assert 'name="since" value="2026-02-01"' in page and 'name="until" value=""' in page
    assert 'name="subagents" value="1" checked' in page
    for field in ("f-q", "f-project", "f-kind", "f-since", "f-until", "f-subagents"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page
    assert '<form class="filters" method="get" action="/threads"' in page
    default = ok(alice.get("/threads"))
    assert '<option value="shop">shop (2)</option>' in default, "top-level threads by default"
    assert 'name="subagents" value="1">' in default


def test_bad_filters_are_refused(alice: AsgiClient, mixed: dict[str, str]) -> None:
    for query in ("kind=chat", "since=yesterday", "until=2026-13-01", "cursor=nonsense"):
        answer = alice.get(f"/threads?{query}")
        assert answer.status_code == 400, query
        assert "text/html" in answer.headers["content-type"]
    assert alice.get("/threads/rows?since_change=x").status_code == 400
    assert alice.get("/threads/rows?since_change=-1").status_code == 400


# --- pagination --------------------------------------------------------------------------------


def test_250_threads_come_in_three_pages(alice: AsgiClient, api: Api) -> None:
    # two threads share each instant, so the keyset's tie-break (the id) is exercised
    api.push(*[stream(f"t{i:03d}", BASE + timedelta(minutes=i // 2)) for i in range(250)])
    seen: list[str] = []
    url: str | None = "/threads"
    pages = 0
    while url is not None:
        page = ok(alice.get(url))
        pages += 1
        ids = row_ids(page)
        assert len(ids) == (100 if pages < 3 else 50)
        seen += titles(page)
        more = LOAD_MORE.search(page)
        url = html.unescape(more.group(1)) if more else None
    assert pages == 3
    assert len(seen) == 250 and len(set(seen)) == 250
    expected = sorted((f"t{i:03d}" for i in range(250)), key=lambda n: -(int(n[1:]) // 2))
    assert [int(t[1:]) // 2 for t in seen] == [int(t[1:]) // 2 for t in expected]
    assert "Back to the most recent threads" in page


def test_pages_keep_the_filters_and_the_fragment_pages_alike(alice: AsgiClient, api: Api) -> None:
    api.push(*[stream(f"a{i:03d}", BASE + timedelta(minutes=i), project="a") for i in range(150)])
    api.push(*[stream(f"b{i:03d}", BASE + timedelta(minutes=i), project="b") for i in range(30)])
    first = ok(alice.get("/threads?project=a&subagents=1"))
    more = LOAD_MORE.search(first)
    assert more
    link = urlsplit(html.unescape(more.group(1)))
    query = parse_qs(link.query)
    assert link.path == "/threads" and query["project"] == ["a"] and query["subagents"] == ["1"]
    second = ok(alice.get(html.unescape(more.group(1))))
    fragment = alice.get(f"/threads/rows?{link.query}")
    assert row_ids(ok(fragment)) == row_ids(second)
    assert fragment.headers["threadline-next-cursor"] == ""
    assert "<html" not in fragment.text and "<tbody" not in fragment.text
    names = titles(first) + titles(second)
    assert sorted(names) == [f"a{i:03d}" for i in range(150)]
    assert LOAD_MORE.search(second) is None
    # the first fragment page hands on a cursor that the page accepts too
    head = alice.get("/threads/rows?project=a")
    cursor = head.headers["threadline-next-cursor"]
    assert row_ids(ok(head)) == row_ids(first) and cursor == query["cursor"][0]


def test_since_stops_paging_where_the_range_ends(alice: AsgiClient, api: Api) -> None:
    api.push(*[stream(f"n{i:03d}", BASE - timedelta(hours=i)) for i in range(130)])
    page = ok(alice.get("/threads?since=2026-02-28"))  # 36 hours: n000 … n036
    assert len(row_ids(page)) == 37 and LOAD_MORE.search(page) is None
    page = ok(alice.get("/threads?until=2026-02-27"))  # older than 2026-02-28 00:00: n037 …
    assert titles(page)[0] == "n037" and len(row_ids(page)) == 93


# --- live updates ------------------------------------------------------------------------------


def test_the_fragment_sends_what_changed_since(alice: AsgiClient, api: Api) -> None:
    keep = api.thread("keep", BASE)
    sid = str(uuid.uuid4())
    api.push(stream("grow", BASE - timedelta(days=1), stream_id=sid))
    gone = api.thread("gone", BASE - timedelta(days=2))
    other = api.thread("other", BASE, project="elsewhere")
    page = ok(alice.get("/threads?project=shop"))
    tbody = TBODY.search(page)
    assert tbody and tbody.group(2) == "project=shop"
    change = int(tbody.group(1))
    assert {int(c) for _, c in ROW.findall(page)} <= set(range(1, change + 1))
    nothing = alice.get(f"/threads/rows?since_change={change}&project=shop")
    assert ok(nothing) == "" and nothing.headers["threadline-change"] == str(change)
    assert nothing.headers["content-type"].startswith("text/html")

    api.push(stream("grow", BASE + timedelta(hours=1), stream_id=sid, first_seq=2))
    new = api.thread("new", BASE + timedelta(minutes=5))
    api.thread("noise", BASE + timedelta(hours=2), project="elsewhere")
    api.delete(gone)
    changed = alice.get(f"/threads/rows?since_change={change}&project=shop")
    body = ok(changed)
    grow = row_ids(body)[0]
    assert titles(body) == ["grow", "new"]
    assert row_ids(body) == [grow, new, gone]
    assert f'<tr id="thread-{gone}" data-change="' in body and "data-deleted hidden></tr>" in body
    assert keep not in body and other not in body
    later = int(changed.headers["threadline-change"])
    assert later > change
    assert max(int(c) for _, c in ROW.findall(body)) <= later
    again = alice.get(f"/threads/rows?since_change={later}&project=shop")
    assert ok(again) == "" and again.headers["threadline-change"] == str(later)
    grow_row = body[body.index(f'id="thread-{grow}"') :]
    assert '<td class="t-num">2</td>' in grow_row[: grow_row.index("</tr>")]


def test_the_fragment_asks_for_a_reload_when_too_much_changed(alice: AsgiClient, api: Api) -> None:
    api.push(*[stream(f"x{i:03d}", BASE + timedelta(seconds=i)) for i in range(201)])
    answer = alice.get("/threads/rows?since_change=0")
    assert ok(answer) == "" and answer.headers["threadline-reload"] == "1"
    assert int(answer.headers["threadline-change"]) >= 1


# --- states ------------------------------------------------------------------------------------


def test_empty_and_no_match_states(alice: AsgiClient, api: Api) -> None:
    empty = ok(alice.get("/threads"))
    assert "No threads yet" in empty
    assert "threadline push" in empty and "threadline hooks install" in empty
    assert 'id="load-more"' not in empty
    # inside the table body, where a live update that brings the first row removes it
    tbody = empty[empty.index('<tbody id="thread-rows"') : empty.index("</tbody>")]
    assert '<tr class="empty" id="empty-state">' in tbody and "No threads yet" in tbody
    one = api.thread("one", BASE)
    assert '<option value="shop">shop (1)</option>' in ok(alice.get("/threads"))
    api.thread("two", BASE - timedelta(minutes=1), project="blog")
    api.delete(api.thread("three", BASE))
    page = ok(alice.get("/threads"))
    assert "shop (1)" in page and "blog (1)" in page, "counts follow every change"
    assert row_ids(page)[0] == one
    none = ok(alice.get("/threads?q=zzz&kind=codex"))
    assert "No thread matches these filters" in none and "No threads yet" not in none
    assert '<a href="/threads">Clear filters</a>' in none
    assert "No thread matches" not in ok(alice.get("/threads"))
    # Entries mention it, but no title: the list's empty state says only that.
    mentioned = ok(alice.get("/threads?q=entry"))
    assert 'id="content-hits"' in mentioned and "one <mark>entry</mark> 0" in mentioned
    assert "No thread’s title or name holds it." in mentioned
    assert "No thread matches" not in mentioned


def test_the_page_loads_only_its_own_files(alice: AsgiClient) -> None:
    page = ok(alice.get("/threads"))
    assert '<script src="/static/list.js' in page and "<script>" not in page
    assert "style=" not in page and "<style" not in page
    assert "script-src 'self'" in alice.get("/threads").headers["content-security-policy"]
    for path in ("/static/list.js", "/static/list.css"):
        assert alice.get(path).status_code == 200


# --- safety ------------------------------------------------------------------------------------

NASTY = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><b onmouseover=x>']


def test_everything_a_thread_holds_is_escaped(alice: AsgiClient, api: Api) -> None:
    for i, bad in enumerate(NASTY):
        meta = {"model": bad, "git_branch": bad, "agent": bad}
        api.thread(f"s{i}", BASE, kind="codex", title=bad, project=bad, meta=meta)
    api.thread(NASTY[1], BASE, project=NASTY[0])  # no title: the name is shown
    for url in ("/threads", "/threads?subagents=1&q=%3C", "/threads/rows?since_change=0"):
        page = ok(alice.get(url))
        for bad in NASTY:
            assert bad not in page, (url, bad)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>" not in ok(alice.get("/threads?q=<script>alert(1)</script>"))
    page = ok(alice.get("/threads?project=%3Cscript%3E"))
    assert "<script>" not in page and 'value="&lt;script&gt;" selected' in page


def test_another_users_threads_never_appear(
    browser: Callable[[], AsgiClient], db: Database, alice: AsgiClient, api: Api
) -> None:
    mine = api.thread("mine", BASE)
    bobs = Api(browser(), db, "bob")
    theirs = [
        bobs.thread("theirs", BASE + timedelta(hours=1), project="secret-project"),
        bobs.thread("theirs-session", BASE, kind="codex", project="shop"),
        bobs.thread("theirs-sub", BASE, kind="codex", parent_key="codex:theirs-session"),
    ]
    urls = [
        "/threads", "/threads?subagents=1", "/threads?project=secret-project",
        "/threads?project=shop&kind=codex", "/threads/rows?since_change=0&subagents=1",
        "/threads/rows?subagents=1",
    ]  # fmt: skip
    for url in urls:
        page = ok(alice.get(url))
        assert not any(t in page for t in theirs), url
        assert "secret-project</option>" not in page and "theirs" not in page
    assert row_ids(ok(alice.get("/threads"))) == [mine]
    assert "shop (1)" in ok(alice.get("/threads"))
    bob = browser()
    sign_in(bob, "bob")
    assert mine not in ok(bob.get("/threads?subagents=1"))


def test_signed_out_visitors_are_sent_to_sign_in(browser: Callable[[], AsgiClient]) -> None:
    client = browser()
    for url in ("/threads", "/threads?kind=note", "/threads/rows?since_change=0"):
        answer = client.get(url)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=/threads")
