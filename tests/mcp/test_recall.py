"""``search`` and ``ask`` through ``threadline mcp``: the signed-in user's history only, scoped
to the folder's project by default, with citations that point at the entries."""

from __future__ import annotations

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
    with bob.session() as mcp:
        theirs = data(mcp.call("ask", {"question": "Why did we drop the Redis cache?"}))
    assert theirs["no_match"] is True and theirs["citations"] == []
