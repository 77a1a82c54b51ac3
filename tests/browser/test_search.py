"""Search in a real browser: type a query on the threads list, see the entries that match above
it, go to the content search, follow a hit into its thread, and land on that entry, marked and
in view."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Site, expect, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
