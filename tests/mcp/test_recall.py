"""``search`` and ``ask`` through ``threadline mcp``: the signed-in user's history only, scoped
to the folder's project by default, with citations that point at the entries."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.server import ServerProcess
from tests.mcp.conftest import add_note_thread, data, make_agent, text
from threadline.mcpserver.render import NOTICE

DECISIONS = [
    "We dropped the Redis cache: it served stale prices after every deploy.",
    "The rate-limit bug came from one token bucket shared by every tenant.",
    "Fixed the flaky test_checkout with `pytest -p no:randomly` and a frozen clock.",
]


def test_search_finds_the_users_entries_in_the_folders_project(
    tmp_path: Path, server: ServerProcess
) -> None:
    """On both databases."""
    alice = make_agent(tmp_path, server, "alice")
    shop = add_note_thread(alice, "decisions", DECISIONS)
    add_note_thread(alice, "elsewhere", ["Redis is fine for the session store"], project="blog")
    bob = make_agent(tmp_path, server, "bob")
    with alice.session() as mcp:
        found = mcp.call("search", {"query": "rate-limit"})
        here = data(mcp.call("search", {"query": "Redis"}))
        everywhere = data(mcp.call("search", {"query": "Redis", "all_projects": True}))
        elsewhere = data(mcp.call("search", {"query": "Redis", "project": "blog"}))
    page = data(found)
    (hit,) = page["results"]
    rate_limit = alice.api().all_entries(shop)[1]
    assert (hit["thread_id"], hit["entry_id"]) == (shop, rate_limit["id"])
    assert hit["url"].startswith(f"{server.url}/threads/{shop}?around={rate_limit['id']}")
    assert page["project"] == "shop" and page["notice"] == NOTICE
    shown = text(found)
    assert NOTICE in shown and f"entry {rate_limit['id']}" in shown
    assert "\n    > " in shown and "token bucket" in shown
    assert [h["project"] for h in here["results"]] == ["shop"]
    assert sorted(h["project"] for h in everywhere["results"]) == ["blog", "shop"]
    assert [h["project"] for h in elsewhere["results"]] == ["blog"]
    with bob.session() as mcp:
        theirs = data(mcp.call("search", {"query": "Redis", "all_projects": True}))
    assert theirs["results"] == []


def test_ask_answers_with_citations_and_says_when_nothing_is_stored(
    tmp_path: Path, shared_server: ServerProcess
) -> None:
    alice = make_agent(tmp_path, shared_server, "alice")
    shop = add_note_thread(alice, "decisions", DECISIONS)
    redis = alice.api().all_entries(shop)[0]["id"]
    bob = make_agent(tmp_path, shared_server, "bob")
    with alice.session() as mcp:
        asked = mcp.call("ask", {"question": "Why did we drop the Redis cache?"})
        answer = data(asked)
        follow = data(
            mcp.call("ask", {"question": "What about Redis?", "thread": answer["thread_id"]})
        )
        nothing = mcp.call("ask", {"question": "Which GPU does the render farm use?"})
    assert answer["no_match"] is False
    assert redis in [c["entry_id"] for c in answer["citations"]]
    assert all(c["url"].startswith(shared_server.url + "/threads/") for c in answer["citations"])
    shown = text(asked)
    assert NOTICE in shown and "[1] entry " in shown and "stale prices" in shown
    assert f"Conversation thread {answer['thread_id']}" in shown
    assert follow["thread_id"] == answer["thread_id"]
    assert data(nothing)["no_match"] is True and data(nothing)["citations"] == []
    assert "nothing in the history answers it" in text(nothing)
    assert "all_projects=true asks the history of every project." in text(nothing)
    with bob.session() as mcp:
        theirs = data(mcp.call("ask", {"question": "Why did we drop the Redis cache?"}))
    assert theirs["no_match"] is True and theirs["citations"] == []


def test_search_and_list_threads_page_on_with_the_cursor_they_give(
    tmp_path: Path, shared_server: ServerProcess
) -> None:
    agent = make_agent(tmp_path, shared_server, "pager")
    for name in ("one", "two", "three"):
        add_note_thread(agent, name, [f"The retry budget of {name} is spent"])
    with agent.session() as mcp:
        first = mcp.call("search", {"query": "budget", "limit": 2})
        cursor = data(first)["next_cursor"]
        assert cursor and f"pass cursor={json.dumps(cursor)} for more" in text(first)
        second = mcp.call("search", {"query": "budget", "limit": 2, "cursor": cursor})
        listed = mcp.call("list_threads", {"limit": 2})
        more = data(listed)["next_cursor"]
        assert more and f"pass cursor={json.dumps(more)} for more" in text(listed)
        rest = mcp.call("list_threads", {"limit": 2, "cursor": more})
        bad = mcp.call("search", {"query": "budget", "cursor": "not-a-cursor"})
        bad_list = mcp.call("list_threads", {"cursor": cursor})  # a search's, not a list's
    hits = [h["entry_id"] for h in data(first)["results"] + data(second)["results"]]
    assert len(hits) == len(set(hits)) == 3
    assert data(second)["next_cursor"] is None and "for more" not in text(second)
    names = [t["name"] for t in data(listed)["threads"] + data(rest)["threads"]]
    assert sorted(names) == ["one", "three", "two"]
    assert data(rest)["next_cursor"] is None and "for more" not in text(rest)
    for refused in (bad, bad_list):
        assert refused.is_error
        assert "cursor was not given by this server" in text(refused)
        assert "\nHint: " in text(refused)


def test_read_thread_shows_what_a_search_matched_deep_in_a_long_tool_output(
    tmp_path: Path, shared_server: ServerProcess
) -> None:
    """A hit inside a long tool result: find= shows the excerpt around it at the default size,
    and max_chars governs tool output too."""
    agent = make_agent(tmp_path, shared_server, "digger")
    thread_id = add_note_thread(agent, "crawl", ["Fetched the landing page"])
    output = "<a href='/pricing'>pricing</a>\n" * 180 + "<a href='/?utm_source=mail'>x</a>\n"
    entry = {  # as captured: the output is the entry's searchable text
        "role": "tool",
        "text": output,
        "ts": "2026-11-21T10:00:05Z",
        "parts": [
            {"type": "tool_call", "name": "WebFetch", "id": "t1", "input": {"url": "shop.test"}},
            {"type": "tool_result", "tool_call_id": "t1", "output": output},
        ],
    }
    agent.api().call("POST", f"/api/v1/threads/{thread_id}/entries", entry)
    with agent.session() as mcp:
        (hit,) = data(mcp.call("search", {"query": "utm_source"}))["results"]
        around = {"thread_id": thread_id, "around": hit["entry_id"]}
        plain = data(mcp.call("read_thread", around))
        found = mcp.call("read_thread", {**around, "find": "utm_source"})
        wide = data(mcp.call("read_thread", {**around, "max_chars": 20_000}))
    (shown,) = [e["text"] for e in plain["entries"] if e["id"] == hit["entry_id"]]
    assert "utm_source" not in shown and '[tool call WebFetch] {"url": "shop.test"}' in shown
    (excerpt,) = [e["text"] for e in data(found)["entries"] if e["id"] == hit["entry_id"]]
    assert "utm_source=mail" in excerpt and len(excerpt) < 2_200
    assert excerpt.startswith('[tool call WebFetch] {"url": "shop.test"}\n[tool result] [cut: ')
    assert "characters before] …" in excerpt
    assert "> [tool result] [cut: " in text(found) and "utm_source=mail" in text(found)
    (whole,) = [e["text"] for e in wide["entries"] if e["id"] == hit["entry_id"]]
    assert whole.endswith("<a href='/?utm_source=mail'>x</a>\n") and "[cut" not in whole
