"""Copy buttons in a real browser: on the code blocks of entries that live updates add, and on
each entry; and fragments loaded later join the page without duplicates (the shared helpers
of ``common.js``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

# Playwright comes through conftest, which skips these tests without it (fails under CI=true).
from tests.browser.conftest import Site, expect

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser

CODE = "print('copied from a live entry')"
LIVE = f"A live entry with code:\n\n```python\n{CODE}\n```\n"


def test_a_live_entry_gets_copy_buttons(context: BrowserContext, page: Page, site: Site) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    notes = type(site.shop)(site.server, site.alice, name="live-copy", project="acme/copy")
    notes.push(f"Rendered with the page:\n\n```python\n{CODE}\n```\n")
    page.goto(f"{site.url}/threads/{notes.thread_id}")
    expect(page.locator("ol#entries pre.code > button.copy-code")).to_have_count(1)
    page.wait_for_selector("html[data-live='on']", state="attached", timeout=5000)

    [entry_id] = notes.push(LIVE)
    entry = page.locator(f"li#entry-{entry_id}")
    expect(entry).to_contain_text("A live entry with code")
    button = entry.locator("pre.code > button.copy-code")
    expect(button).to_have_count(1)
    expect(page.locator("ol#entries pre.code > button.copy-code")).to_have_count(2)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1, "no reload"

    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == CODE
    expect(button).to_have_text("Copy", timeout=3000)

    whole = entry.locator("button[data-copy-entry]")
    whole.click()
    expect(whole).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "A live entry with code" in copied and CODE in copied
    assert errors == [], errors


def test_earlier_entries_load_once(page: Page, site: Site) -> None:
    listed = httpx.get(
        f"{site.url}/api/v1/threads/{site.long.thread_id}/entries",
        params={"limit": 500},
        headers=site.alice.headers,
    ).json()["entries"]
    target = listed[60]["id"]
    page.goto(f"{site.url}/threads/{site.long.thread_id}?around={target}")
    shown = page.locator("ol#entries > li[id^='entry-']")
    expect(shown.first).to_be_visible()
    before = shown.count()
    assert before < len(listed)
    page.click("#load-before")
    expect(page.locator("#load-before")).to_be_hidden()
    expect(shown).to_have_count(len(listed))
    ids = shown.evaluate_all("items => items.map(item => item.id)")
    assert len(set(ids)) == len(ids) == len(listed)
    expect(page.locator(f"li#entry-{listed[0]['id']}")).to_contain_text("Entry number 0")


def test_show_full_replaces_the_entry_with_copy_buttons(page: Page, site: Site) -> None:
    notes = type(site.shop)(site.server, site.alice, name="show-full", project="acme/copy")
    [entry_id] = notes.push("word " * 4500 + "\n\n```python\nprint('the end')\n```\n")
    page.goto(f"{site.url}/threads/{notes.thread_id}")
    entry = page.locator(f"li#entry-{entry_id}")
    expect(entry).not_to_contain_text("print('the end')")
    entry.locator("a.show-full").click()
    expect(entry).to_contain_text("print('the end')")
    expect(entry.locator("a.show-full")).to_have_count(0)
    expect(entry.locator("pre.code > button.copy-code")).to_have_count(1)
    expect(page.locator(f"li#entry-{entry_id}")).to_have_count(1)
