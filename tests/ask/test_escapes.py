"""Terminal escape sequences in the history are never shown, nor sent to a terminal: a real
Claude Code session whose test runs printed vitest's coloured report (``ESC[31m`` …), and a
note holding a window-title and a clipboard-writing sequence, read back through search
snippets, ask's quotes, ``threadline thread show`` and the web reader — on a real server, per
backend. The stored entries and ``--json`` keep the bytes as captured."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ask.conftest import Site, history_site
from tests.conftest import BACKENDS, FIXTURES
from tests.helpers.web import PASSWORD, csrf_of

#: A Claude Code session whose tool results hold vitest's ANSI colours.
COLOURED = FIXTURES / "claude/agentcmd/full-session-four.jsonl"
SESSION = "2d984148-cddb-4605-aac1-13e720fe613c"
PROJECT = "acme/escapes"
#: What a shown text must never hold: ESC, or the remains of a colour sequence.
LEFTOVER = re.compile(r"\x1b|\[\d{1,3}(?:;\d{1,3})*m")
NOTE = (
    "escapeword build \x1b]0;pwned title\x07finished \x1b[31mred\x1b[0m "
    "\x1b]52;c;cm0gLXJmIH4=\x07now\rredrawn"
)


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    for site in history_site(request.param, tmp_path_factory.mktemp("escapes"), paths=(COLOURED,)):
        pushed = site.cli(site.alice, "push", "--project", PROJECT, "--thread", "esc", NOTE)
        assert pushed.returncode == 0, pushed.stderr
        yield site


def _threads(site: Site, **params: Any) -> list[dict[str, Any]]:
    return list(site.get(site.alice, "/api/v1/threads", **params)["threads"])


def _session(site: Site) -> dict[str, Any]:
    found = [t for t in _threads(site, limit=100) if t["name"] == SESSION]
    assert len(found) == 1
    return found[0]


def test_the_entries_keep_the_bytes(site: Site) -> None:
    entries = site.entries(site.alice, _session(site)["id"])
    assert any("\\u001b[31m" in json.dumps(e) for e in entries)
    shown = site.cli(site.alice, "thread", "show", "-p", PROJECT, "esc", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["entries"][0]["text"] == NOTE


def test_search_snippets(site: Site) -> None:
    hits = site.get(site.alice, "/api/v1/search", q="Failed Tests", all_projects="true")["results"]
    assert hits, "the coloured report is found"
    assert any("Failed Tests" in h["snippet"] for h in hits)
    for hit in hits:
        assert not LEFTOVER.search(hit["snippet"]), hit["snippet"]
    note = site.get(site.alice, "/api/v1/search", q="escapeword", all_projects="true")["results"]
    assert [h["snippet"] for h in note] == ["escapeword build finished red now redrawn"]


def test_asks_quotes(site: Site) -> None:
    answer = httpx.post(
        f"{site.url}/api/v1/ask",
        json={"question": "Which NavUser test failed?", "all_projects": True},
        headers=site.alice.headers,
        timeout=60,
    ).json()
    assert not answer["no_match"]
    assert "failed" in answer["answer"].lower()
    assert not LEFTOVER.search(answer["answer"]), answer["answer"]
    for citation in answer["citations"]:
        assert not LEFTOVER.search(citation["snippet"]), citation["snippet"]


def test_thread_show_prints_no_escape(site: Site) -> None:
    session = _session(site)
    shown = site.cli(site.alice, "thread", "show", "-p", session["project"], session["id"])
    assert shown.returncode == 0, shown.stderr
    assert "Failed Tests 1" in shown.stdout
    assert not LEFTOVER.search(shown.stdout)
    note = site.cli(site.alice, "thread", "show", "-p", PROJECT, "esc")
    assert note.returncode == 0, note.stderr
    assert "escapeword build finished red now\nredrawn" in note.stdout
    assert "pwned" not in note.stdout and "cm0g" not in note.stdout
    assert "\x1b" not in note.stdout and "\x07" not in note.stdout and "\r" not in note.stdout


def test_thread_show_takes_any_thread_thread_list_shows(site: Site) -> None:
    """A session's thread by its id or by its name (its session id), in its project; by id
    from any project; an unknown name is still an error."""
    session = _session(site)
    by_name = site.cli(site.alice, "thread", "show", "-p", session["project"], SESSION)
    by_id = site.cli(site.alice, "thread", "show", "-p", "elsewhere", session["id"])
    assert by_name.returncode == 0 and by_id.returncode == 0, by_name.stderr + by_id.stderr
    assert by_name.stdout == by_id.stdout
    assert "Glob pattern: " in by_name.stdout, "tool calls are shown as key: value"
    missing = site.cli(site.alice, "thread", "show", "-p", session["project"], "no-such")
    assert missing.returncode == 1 and "no thread" in missing.stderr
    other = site.cli(site.bob, "thread", "show", "-p", session["project"], session["id"])
    assert other.returncode == 1 and "no thread" in other.stderr


def test_the_web_reader(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        login = client.get("/login")
        signed = client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf": csrf_of(login)}
        )
        assert signed.status_code == 303
        session = _session(site)["id"]
        found = site.get(site.alice, "/api/v1/search", q="Failed Tests", all_projects="true")
        hit = next(h for h in found["results"] if h["thread_id"] == session)
        page = client.get(hit["url"])
        export = client.get(f"/threads/{session}/export.md")
    assert page.status_code == 200 and export.status_code == 200
    assert "Failed Tests 1" in page.text
    assert not LEFTOVER.search(page.text)
    assert "Failed Tests 1" in export.text
    assert not LEFTOVER.search(export.text)
