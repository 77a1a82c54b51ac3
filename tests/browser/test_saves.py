"""Hand-off saves in a real browser: a save created through the API appears, without a reload,
on an open ``/saves`` page and on the open thread page of its session; its copy button puts the
resume command on the clipboard; what the save says is shown as text, never as markup."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

# Playwright comes through conftest, which skips these tests without it (fails under CI=true).
from tests.browser.conftest import Site, expect, screenshot
from tests.handoff_server.conftest import SAVES, save_body

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="document.title=1">halfway through <b>checkout</b>'


def session_thread(site: Site) -> str:
    """A Claude Code session thread of alice's, pushed over the API; its id."""
    session = str(uuid.uuid4())
    body = {
        "device_id": "2f6e0000-0000-4000-8000-0000000000b1",
        "streams": [
            {
                "stream_id": str(uuid.uuid4()),
                "thread": {
                    "key": f"claude-code:{session}",
                    "kind": "claude-code",
                    "name": session,
                    "project": "acme/shop",
                    "title": "Refactor the checkout",
                },
                "entries": [
                    {
                        "seq": 1,
                        "id": str(uuid.uuid4()),
                        "ts": "2026-11-21T10:00:00.000000Z",
                        "role": "user",
                        "text": "Refactor the checkout",
                        "raw": '{"type":"user"}',
                    }
                ],
            }
        ],
    }
    answer = httpx.post(f"{site.url}/api/v1/sync/push", json=body, headers=site.alice.headers)
    assert answer.status_code == 200, answer.text
    thread_id: str = answer.json()["streams"][0]["thread_id"]
    return thread_id


def save(site: Site, **fields: Any) -> str:
    body = save_body(**fields)
    answer = httpx.post(f"{site.url}{SAVES}", json=body, headers=site.alice.headers)
    assert answer.status_code == 201, answer.text
    save_id: str = body["save_id"]
    return save_id


def live(page: Page) -> None:
    page.wait_for_selector("html[data-live='on']", state="attached", timeout=5000)


def test_a_new_save_appears_live_and_its_command_copies(
    context: BrowserContext, page: Page, site: Site
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    thread_id = session_thread(site)

    page.goto(f"{site.url}/saves")
    live(page)
    thread_page = context.new_page()
    thread_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    thread_page.goto(f"{site.url}/threads/{thread_id}")
    live(thread_page)
    expect(thread_page.locator("section.saves-section")).to_be_hidden()

    save_id = save(site, thread_id=thread_id, message=HOSTILE, created="2099-01-01T00:00:00Z")
    item = page.locator(f"li#save-{save_id}")
    expect(item).to_be_visible()
    expect(item.locator(".save-message")).to_have_text(HOSTILE)
    expect(item.locator(".save-message b")).to_have_count(0)
    expect(item.locator(".resume-command")).to_have_text(f"threadline resume {save_id}")
    expect(item.locator(".save-session a")).to_have_text("Refactor the checkout")
    expect(page.locator("#saves-empty")).to_be_hidden()

    on_thread = thread_page.locator(f"li#save-{save_id}")
    expect(on_thread).to_be_visible()
    expect(thread_page.locator("section.saves-section")).to_be_visible()
    expect(on_thread.locator(".save-branch")).to_have_text("feature/checkout")

    other = save(site, message="another session's save", created="2099-01-02T00:00:00Z")
    expect(page.locator("ul#save-list > li").first).to_have_id(f"save-{other}")
    expect(page.locator("ul#save-list > li").nth(1)).to_have_id(f"save-{save_id}")
    for tab in (page, thread_page):
        assert tab.evaluate("performance.getEntriesByType('navigation').length") == 1, "no reload"
        assert tab.evaluate("document.title") != "1", "the message's markup never ran"
    expect(thread_page.locator("ul#save-list > li")).to_have_count(1)

    button = item.locator("button[data-copy]")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"threadline resume {save_id}"
    screenshot(page, "saves.png")
    screenshot(thread_page, "thread-saves.png")
    assert errors == [], errors
