"""Search in a real browser: type a query on the threads list, see the entries that match above
it, go to the content search, follow a hit into its thread, and land on that entry, marked and
in view — unfolded when it is a tool call's result or thinking, with or without the script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import Site, expect, screenshot, sign_in
from tests.browser.site import Notes

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser


def test_search_and_follow_a_hit_to_its_entry(page: Page, site: Site) -> None:
    page.fill("input[name=q]", "number 57")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"/threads\?"))
    # The list's text filter finds the entry's content at once, above the list.
    listed = page.locator("ol#content-hits li.hit")
    expect(listed).to_have_count(1)
    expect(listed.first.locator("mark")).to_have_text(["number", "57"])
    page.locator("a#search-content").click()
    page.wait_for_url(re.compile(r"/search\?q=number\+57"))
    hits = page.locator("ol#hits li.hit")
    expect(hits).to_have_count(1)
    expect(hits.first.locator("mark")).to_have_text(["number", "57"])
    screenshot(page, "search.png")
    hits.first.locator("a.hit-title").click()
    page.wait_for_url(re.compile(r"/threads/[^?]+\?around=[0-9a-f-]+#entry-[0-9a-f-]+$"))
    entry_id = page.url.rsplit("#entry-", 1)[1]
    entry = page.locator(f"li#entry-{entry_id}")
    expect(entry).to_contain_text("Entry number 57")
    expect(entry).to_have_class(re.compile(r"\btargeted\b"))
    expect(entry).to_be_in_viewport()


def test_the_search_page_filters_by_project(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/search?q=optimistic")
    expect(page.locator("ol#hits li.hit")).to_have_count(1)
    page.select_option("select[name=project]", "acme/garden")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"project=acme%2Fgarden"))
    expect(page.locator("ol#hits li.empty")).to_have_text("No entry matches.")


CALL = "00000000-0000-4000-8000-0000000000f1"
RESULT = "00000000-0000-4000-8000-0000000000f2"
THINKING = "00000000-0000-4000-8000-0000000000f3"


def folded_thread(site: Site) -> str:
    """A thread (once per site) with a tool call whose result says "supabase" and a reply
    whose thinking says "marzipan", after enough entries that neither is in the first screen."""
    notes = Notes(site.server, site.alice, name="folds", project="acme/folds")
    entries: list[dict[str, Any]] = [
        {"role": "assistant", "text": f"Filler {i}: " + "words " * 60} for i in range(30)
    ]
    output = "FATAL: supabase pooler refused the connection on port 6543"
    thinking = "The marzipan cache wants a warm start before the deploy."
    entries += [
        {"id": CALL, "role": "assistant", "text": "Checking the database.", "parts": [
            {"type": "text", "text": "Checking the database."},
            {"type": "tool_call", "name": "Bash", "id": "toolu_fold",
             "input": {"command": "psql \"$DATABASE_URL\" -c 'select 1'"}},
        ]},
        {"id": RESULT, "role": "user", "text": output, "parts": [
            {"type": "tool_result", "tool_call_id": "toolu_fold", "output": output},
        ]},
        {"id": THINKING, "role": "assistant", "text": f"{thinking}\nWarming it first.", "parts": [
            {"type": "thinking", "text": thinking},
            {"type": "text", "text": "Warming it first."},
        ]},
    ]  # fmt: skip
    entries += [{"role": "assistant", "text": f"Later {i}: " + "words " * 60} for i in range(10)]
    for seq, entry in enumerate(entries, start=1):
        entry.setdefault("id", f"00000000-0000-4000-8000-{0xF000 + seq:012x}")
        entry |= {"seq": seq, "ts": f"2026-11-22T10:{seq // 60:02d}:{seq % 60:02d}.000000Z"}
    notes.push_entries(entries)
    return notes.thread_id


@pytest.fixture(scope="module")
def folded(site: Site) -> str:
    return folded_thread(site)


@pytest.fixture
def no_script(chromium: Browser) -> Iterator[BrowserContext]:
    """A browser context that runs no JavaScript."""
    ctx = chromium.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=False)
    yield ctx
    ctx.close()


def follow_the_hit(page: Page, site: Site, query: str) -> None:
    page.goto(f"{site.url}/search?q={query}&project=acme%2Ffolds")
    hits = page.locator("ol#hits li.hit")
    expect(hits).to_have_count(1)
    hits.first.locator("a.hit-title").click()
    page.wait_for_url(re.compile(r"/threads/[^?]+\?around=[0-9a-f-]+#entry-[0-9a-f-]+$"))


def test_a_hit_in_a_tool_result_opens_its_call(page: Page, site: Site, folded: str) -> None:
    follow_the_hit(page, site, "supabase")
    call = page.locator(f"li#entry-{CALL}")
    fold = call.locator("details.tool")
    expect(fold).to_have_attribute("open", "")
    expect(call).to_have_class(re.compile(r"\btargeted\b"))
    output = fold.locator(".result.targeted pre.output")
    expect(output).to_contain_text("supabase pooler refused")
    expect(output).to_be_visible()
    expect(output).to_be_in_viewport()
    # Following a link by its hash alone opens the folds too (the script's part).
    thinking = page.locator(f"li#entry-{THINKING} details.thinking")
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = false; })")
    page.evaluate(f"location.hash = '#entry-{THINKING}'")
    expect(thinking).to_have_attribute("open", "")
    expect(thinking.locator(".md")).to_be_in_viewport()
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = false; })")
    page.evaluate(f"location.hash = '#entry-{RESULT}'")
    expect(fold).to_have_attribute("open", "")
    expect(output).to_be_in_viewport()
    screenshot(page, "search-hit-in-a-tool-result.png")


def test_a_hit_in_thinking_opens_it(page: Page, site: Site, folded: str) -> None:
    follow_the_hit(page, site, "marzipan")
    entry = page.locator(f"li#entry-{THINKING}")
    expect(entry).to_have_class(re.compile(r"\btargeted\b"))
    thinking = entry.locator("details.thinking")
    expect(thinking).to_have_attribute("open", "")
    expect(thinking.locator(".md")).to_contain_text("marzipan cache")
    expect(thinking.locator(".md")).to_be_in_viewport()


def test_folds_open_without_javascript(no_script: BrowserContext, site: Site, folded: str) -> None:
    page = no_script.new_page()
    sign_in(page, site)
    page.wait_for_url("**/threads")
    page.goto(f"{site.url}/threads/{folded}?around={RESULT}#entry-{RESULT}")
    output = page.locator(f"li#entry-{CALL} details.tool[open] .result.targeted pre.output")
    expect(output).to_be_visible()
    page.goto(f"{site.url}/threads/{folded}?around={THINKING}#entry-{THINKING}")
    expect(page.locator(f"li#entry-{THINKING} details.thinking[open] .md")).to_be_visible()
    page.goto(f"{site.url}/threads/{folded}")
    expect(page.locator("details[open]")).to_have_count(0)
