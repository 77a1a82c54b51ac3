"""The web UI in a real browser: sign-in, the list's filters, a thread with folds, anchors and
live entries, hostile entries that must run nothing, another user's thread, the account page,
phone width, and screenshots in light and dark."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest

# Playwright is imported by conftest, whose `playwright` fixture skips these tests without it
# (and fails them under CI=true): importing it here would break collection instead.
from tests.browser.conftest import Site, expect, screenshot, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Dialog, Page

pytestmark = pytest.mark.browser

NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def watch_console(page: Page) -> list[str]:
    """Console errors of ``page`` from now on (a CSP violation is one)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def open_thread(page: Page, site: Site, thread_id: str, anchor: str = "") -> None:
    page.goto(f"{site.url}/threads/{thread_id}{anchor}")
    expect(page.locator("ol#entries li[id^='entry-']").first).to_be_visible()


def wait_live(page: Page) -> None:
    """Until the page's event stream is open (live.js marks <html data-live="on">)."""
    page.wait_for_selector("html[data-live='on']", state="attached", timeout=5000)


def test_sign_in_and_a_wrong_password(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    sign_in(page, site, password="not the password")
    expect(page.locator("p.error[role=alert]")).to_have_text("Wrong user name or password.")
    assert "/login" in page.url
    sign_in(page, site)
    page.wait_for_url("**/threads")
    expect(page.locator("header .who")).to_have_text("alice")
    expect(page.locator("tbody#thread-rows")).to_contain_text("plans")


def test_filter_by_project(page: Page, site: Site) -> None:
    page.select_option("select[name=project]", "acme/garden")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"project=acme%2Fgarden"))
    rows = page.locator("tbody#thread-rows tr[id^='thread-']")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("plans")
    expect(page.locator("select[name=project]")).to_have_value("acme/garden")


def test_open_a_thread_and_a_pushed_entry_appears_live(page: Page, site: Site) -> None:
    errors = watch_console(page)
    page.locator(f"tbody#thread-rows tr#thread-{site.shop.thread_id} a").first.click()
    page.wait_for_url(f"**/threads/{site.shop.thread_id}")
    expect(page.locator("ol#entries")).to_contain_text("optimistic locking")
    wait_live(page)
    [entry_id] = site.shop.push("Pushed while the page was open")
    # README, "Live": new entries appear "within a second"; twice that for a loaded machine.
    page.wait_for_selector(f"li#entry-{entry_id}", timeout=2000)
    expect(page.locator(f"li#entry-{entry_id}")).to_contain_text("Pushed while the page")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1, "no reload"
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_the_list_takes_new_rows_live(page: Page, site: Site) -> None:
    wait_live(page)
    fresh = type(site.shop)(site.server, site.alice, name="fresh-live", project="acme/shop")
    fresh.push("a new thread")
    row = page.locator("tbody#thread-rows tr[id^='thread-']").first
    expect(row).to_contain_text("fresh-live", timeout=2000)


def test_unfold_a_tool_call(page: Page, site: Site) -> None:
    open_thread(page, site, site.tools.thread_id)
    fold = page.locator("details.tool").first
    expect(fold).not_to_have_attribute("open", "")
    expect(fold.locator("summary")).to_contain_text("Bash")
    fold.locator("summary").click()
    expect(fold).to_have_attribute("open", "")
    expect(fold).to_contain_text("ls -la src/unfold-me")
    expect(fold).to_contain_text("total 0")


def test_follow_an_entry_link(page: Page, site: Site) -> None:
    listed = httpx.get(
        f"{site.url}/api/v1/threads/{site.long.thread_id}/entries",
        params={"limit": 500},
        headers=site.alice.headers,
    ).json()["entries"]
    target = listed[60]["id"]
    open_thread(page, site, site.long.thread_id, f"#entry-{target}")
    entry = page.locator(f"li#entry-{target}")
    expect(entry).to_be_in_viewport()
    highlighted = entry.evaluate("e => e.matches(':target') || e.classList.contains('targeted')")
    assert highlighted
    expect(entry).to_contain_text("Entry number 60")


HOSTILE = (
    "<script>window.__pwned = 1; alert('script')</script>\n\n"
    "<img src=x onerror=\"window.__pwned = 2; alert('img')\">\n\n"
    "[x](javascript:window.__pwned=3;alert('link')) and "
    "[y](JaVaScRiPt:alert('case'))"
)


def test_hostile_entries_show_as_text_and_run_nothing(page: Page, site: Site) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    notes = type(site.shop)(site.server, site.alice, name="hostile", project="acme/evil")
    notes.push("first, harmless")
    open_thread(page, site, notes.thread_id)
    wait_live(page)
    [live_id] = notes.push(HOSTILE)  # arrives through live.js
    page.wait_for_selector(f"li#entry-{live_id}", timeout=2000)
    [loaded_id] = notes.push(HOSTILE)
    page.reload()  # and rendered with the page
    page.wait_for_selector(f"li#entry-{loaded_id}")
    page.wait_for_selector(f"li#entry-{live_id}")
    for entry_id in (live_id, loaded_id):
        entry = page.locator(f"li#entry-{entry_id}")
        expect(entry).to_contain_text("<script>window.__pwned = 1;")
        expect(entry).to_contain_text("<img src=x onerror=")
        assert entry.locator("script, img, iframe, [onerror]").count() == 0
        for link in entry.locator("a").all():
            href = (link.get_attribute("href") or "").strip().lower()
            assert not href.startswith("javascript:"), href
        for text in ("x", "y"):
            links = entry.get_by_text(text, exact=True)
            if links.count():
                links.first.click()
    # Nothing happening has no event to wait on: a script the clicks could have started gets
    # a moment to run before the check that none did.
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []


def test_another_users_thread_is_not_found(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    sign_in(page, site, "bob")
    page.wait_for_url("**/threads")
    expect(page.locator("tbody#thread-rows")).not_to_contain_text("optimistic")
    answer = page.goto(f"{site.url}/threads/{site.shop.thread_id}")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text("optimistic locking")


def test_the_account_page_creates_and_revokes_a_token(
    context: BrowserContext, page: Page, site: Site
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page.click("header nav >> text=Account")
    page.wait_for_url("**/account")
    page.fill("input[name=name]", "browser laptop")
    page.click("button:has-text('Create token')")
    secret = page.locator("input#token-secret")
    expect(secret).to_have_value(re.compile(r"^tl_"))
    value = secret.input_value()
    page.click("button[data-copy='token-secret']")
    expect(page.locator("button[data-copy='token-secret']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == value
    me = httpx.get(f"{site.url}/api/v1/me", headers={"Authorization": f"Bearer {value}"})
    assert me.status_code == 200 and me.json()["user"] == "alice"

    page.goto(f"{site.url}/account")
    assert page.locator("input#token-secret").count() == 0, "shown once"
    row = page.locator("tr[id^='token-']", has_text="browser laptop")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text(value[:8])
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_url("**/account?done=revoked")
    expect(page.locator(".notice")).to_contain_text("revoked")
    expect(page.locator("tr[id^='token-']", has_text="browser laptop")).to_contain_text("revoked")
    me = httpx.get(f"{site.url}/api/v1/me", headers={"Authorization": f"Bearer {value}"})
    assert me.status_code == 401


def test_phone_width_has_no_horizontal_scrolling(chromium: Any, site: Site) -> None:
    context = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login")
        assert page.evaluate(NO_OVERFLOW), "sign-in page"
        sign_in(page, site)
        page.wait_for_url("**/threads")
        pages = {
            "threads": "/threads",
            "thread": f"/threads/{site.tools.thread_id}",
            "long thread": f"/threads/{site.long.thread_id}",
            "account": "/account",
        }
        for name, path in pages.items():
            page.goto(f"{site.url}{path}")
            page.wait_for_load_state("load")
            width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert page.evaluate(NO_OVERFLOW), f"{name} overflows: {width}"
        page.goto(f"{site.url}/account")
        screenshot(page, "account-375px.png")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(context: BrowserContext, site: Site, scheme: str) -> None:
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    sign_in(page, site)
    page.wait_for_url("**/threads")
    screenshot(page, f"threads-{scheme}.png")
    open_thread(page, site, site.tools.thread_id)
    page.locator("details.tool summary").first.click()
    screenshot(page, f"thread-{scheme}.png")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background


def test_keyboard_skip_link(page: Page) -> None:
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
