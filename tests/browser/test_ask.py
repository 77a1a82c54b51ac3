"""The Ask page in a real browser: a question answered into the page as it streams, citations
that open their entries, hostile text in the history shown as text, another user's history
never shown, and the conversation continued."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Site, expect, sign_in
from tests.browser.site import Notes

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser

HOSTILE = (
    'Zebra crossing notes: <img src=x onerror="window.__pwned = 1">'
    "<script>window.__pwned = 2</script>"
)


def ask(page: Page, site: Site, question: str, project: str = "") -> None:
    page.goto(f"{site.url}/ask")
    page.fill("#ask-question", question)
    page.select_option("#ask-project", project)
    page.click("#ask-submit")


def test_an_answer_streams_in_and_its_citations_open_the_entries(page: Page, site: Site) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.click("header nav a[href='/ask']")
    page.wait_for_url("**/ask")
    ask(page, site, "Why did we choose optimistic locking for orders?", "acme/shop")
    expect(page.locator("#answer-text")).to_contain_text("optimistic locking")
    link = page.locator("#citations li a").first
    expect(link).to_be_visible()
    expect(page.locator("#ask-conversation")).to_be_visible()
    when = page.locator("#citations li time").first
    expect(when).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    assert (when.get_attribute("datetime") or "").endswith("Z")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/threads/{site.shop.thread_id}?around=")
    link.click()
    page.wait_for_url(re.compile(rf"/threads/{site.shop.thread_id}\?around="))
    entry_id = href.split("#entry-")[1]
    expect(page.locator(f"#entry-{entry_id}")).to_contain_text("optimistic locking")
    assert errors == []


def test_a_follow_up_continues_the_conversation(page: Page, site: Site) -> None:
    ask(page, site, "Why did we choose optimistic locking for orders?", "acme/shop")
    expect(page.locator("#ask-conversation")).to_be_visible()
    thread = page.locator("#ask-thread").input_value()
    assert thread
    page.fill("#ask-question", "and models.py?")
    page.click("#ask-submit")
    expect(page.locator("#citations li")).not_to_have_count(0)
    assert page.locator("#ask-thread").input_value() == thread
    page.goto(f"{site.url}/threads/{thread}")
    expect(page.locator("ol#entries li.role-user")).to_have_count(2)


def test_hostile_text_in_the_history_stays_text(page: Page, site: Site) -> None:
    Notes(site.server, site.alice, name="hostile", project="acme/zoo").push(HOSTILE)
    ask(page, site, "zebra crossing notes", "")
    text = page.locator("#answer-text")
    expect(text).to_contain_text("<img src=x onerror=")
    assert text.locator("img, script").count() == 0
    assert page.locator("#citations li .snippet img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_another_user_gets_nothing(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    sign_in(page, site, "bob")
    page.wait_for_url("**/threads")
    ask(page, site, "Why did we choose optimistic locking for orders?")
    expect(page.locator("#answer-text")).to_have_text(
        "Nothing relevant was found in the history of any project, so there is no answer to give."
    )
    expect(page.locator("#citations")).to_be_hidden()
