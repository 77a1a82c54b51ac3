"""The Ask page in a real browser: a question answered into the page as it streams, citations
(and the answer's markers of them) that open their entries, hostile text in the history shown
as text, another user's history never shown, the conversation continued with its earlier turns
in view, Ctrl+Enter, and the status shown while the answer is awaited."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import Site, expect, sign_in
from tests.browser.site import Notes

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

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


def test_the_answers_markers_link_to_their_citations(page: Page, site: Site) -> None:
    ask(page, site, "Why did we choose optimistic locking for orders?", "acme/shop")
    cite = page.locator("#answer-text a.cite")
    expect(cite).to_have_count(1)
    expect(cite).to_have_text("[1]")
    listed = page.locator("#citations li[value='1'] a").get_attribute("href")
    assert listed and cite.get_attribute("href") == listed
    expect(page.locator("#answer-text")).to_contain_text("optimistic locking")
    cite.click()
    page.wait_for_url(re.compile(rf"/threads/{site.shop.thread_id}\?around="))


def test_ctrl_enter_asks_and_the_wait_is_shown(page: Page, site: Site) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/ask/stream", hold)
    page.goto(f"{site.url}/ask")
    status = page.locator("#answer-status")
    expect(status).to_be_hidden()
    page.fill("#ask-question", "Why did we choose optimistic locking for orders?")
    page.locator("#ask-question").press("Control+Enter")
    expect(status).to_be_visible()
    expect(status).to_have_text("Searching the history…")
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1 and held[0].request.method == "POST"
    held[0].continue_()
    expect(page.locator("#answer-text a.cite")).to_have_count(1)
    expect(status).to_be_hidden()
    expect(page.locator("#answer")).not_to_have_attribute("aria-busy", "true")
    page.unroute("**/ask/stream")
    # Cmd+Enter too; a failure clears the wait as well.
    page.route("**/ask/stream", lambda route: route.fulfill(status=500, body="no"))
    page.fill("#ask-question", "and models.py?")
    page.locator("#ask-question").press("Meta+Enter")
    expect(page.locator("#answer-error")).to_have_text("The server answered HTTP 500; try again.")
    expect(status).to_be_hidden()
    expect(page.locator("#answer")).not_to_have_attribute("aria-busy", "true")
    page.unroute("**/ask/stream")


def _fulfilled(answer: dict[str, Any]) -> Callable[[Route], None]:
    return lambda route: route.fulfill(**answer)


def test_a_failed_model_says_why_and_the_next_question_continues(page: Page, site: Site) -> None:
    kept = "0b7a1c5e-0000-4000-8000-00000000c0de"
    said = "the language model at http://127.0.0.1:9/v1 did not answer in time"
    error: dict[str, Any] = {
        "code": "model_unavailable",
        "message": said,
        "detail": {"thread_id": kept, "hint": "Check that the model server runs."},
    }
    answers = [
        # before the answer started: the API's error body
        {"status": 503, "content_type": "application/json", "body": json.dumps({"error": error})},
        # after it started: an error event
        {"status": 200, "content_type": "text/event-stream",
         "body": 'event: delta\ndata: {"text": "Part"}\n\n'
                 f"event: error\ndata: {json.dumps({'error': error})}\n\n"},
    ]  # fmt: skip
    for answer in answers:
        page.route("**/ask/stream", _fulfilled(answer))
        page.goto(f"{site.url}/ask")
        page.fill("#ask-question", "Why did we choose optimistic locking for orders?")
        page.click("#ask-submit")
        expect(page.locator("#answer-error")).to_have_text(
            said + " Check that the model server runs."
        )
        expect(page.locator("#ask-thread")).to_have_value(kept)
        page.unroute("**/ask/stream")


def test_earlier_turns_stay_in_view(page: Page, site: Site) -> None:
    first = "Why did we choose optimistic locking for orders?"
    ask(page, site, first, "acme/shop")
    expect(page.locator("#answer-text a.cite")).to_have_count(1)
    turns = page.locator("#turn-list li.turn")
    expect(page.locator("#turns")).to_be_hidden()
    page.fill("#ask-question", "and models.py?")
    page.click("#ask-submit")
    expect(page.locator("#answer-text a.cite")).to_have_count(1)
    # The first answer moved up to the earlier turns, its marker and citations still links.
    expect(page.locator("#turns")).to_be_visible()
    expect(turns).to_have_count(1)
    expect(turns.first.locator(".turn-question")).to_have_text(first)
    expect(turns.first.locator(".answer-text a.cite")).to_have_text("[1]")
    expect(turns.first.locator("ol.citations li a")).to_have_count(1)
    thread = page.locator("#ask-thread").input_value()
    # Opened again, the page shows both turns; a third question adds the second one.
    page.goto(f"{site.url}/ask?thread={thread}")
    expect(page.locator("#ask-conversation")).to_be_visible()
    expect(turns).to_have_count(2)
    expect(turns.nth(1).locator(".turn-question")).to_have_text("and models.py?")
    expect(turns.nth(0).locator(".answer-text a.cite")).to_have_text("[1]")
    page.fill("#ask-question", "What about orders?")
    page.click("#ask-submit")
    expect(page.locator("#answer-text a.cite")).to_have_count(1)
    expect(turns).to_have_count(2)
    page.fill("#ask-question", "And models.py again?")
    page.click("#ask-submit")
    expect(turns).to_have_count(3)
    expect(turns.nth(2).locator(".turn-question")).to_have_text("What about orders?")
    # A new conversation starts without them.
    page.click("#ask-new")
    expect(page.locator("#turns")).to_be_hidden()
    expect(turns).to_have_count(0)
    assert page.locator("#ask-thread").input_value() == ""


def test_an_unknown_thread_is_not_continued(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ask?thread={site.shop.thread_id}&project=acme%2Fshop")
    expect(page.locator("#ask-conversation")).to_be_hidden()
    assert page.locator("#ask-thread").input_value() == ""
