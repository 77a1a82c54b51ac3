"""Browser tests: Debian's Chromium driven by Playwright against a real ``threadline serve``.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``apt-get
install chromium``). Without it the tests are skipped with a message, and fail under
``CI=true``. One server (SQLite) serves the whole module; each test gets a fresh browser
context (its own cookies). Screenshots go to ``test-artifacts/screenshots/`` at the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.site import Notes, account
from tests.helpers.server import Account, ServerProcess
from tests.helpers.web import PASSWORD

CHROMIUM = Path(os.environ.get("THREADLINE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

# Playwright must never fetch browsers of its own, whatever the caller's environment.
os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"

# Without Playwright the `playwright` fixture skips every test of this folder (fails under
# CI=true), so no test module may import it at the top: they get ``expect`` from here.
try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
    from playwright.sync_api import expect as expect
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]
    expect = None  # type: ignore[assignment]


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}: browser tests must run")
    pytest.skip(message)


# Module scope, not session: while Playwright runs, the main thread has a running asyncio loop,
# which the in-process ASGI tests of other folders cannot share.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    manager = sync_playwright()
    driver = manager.start()
    yield driver
    manager.__exit__(None, None, None)


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Site:
    """The running server and what is on it."""

    server: ServerProcess
    alice: Account
    bob: Account
    shop: Notes
    garden: Notes
    tools: Notes
    long: Notes

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser-site")
    with ServerProcess(folder / "home", f"sqlite:///{folder / 'server.db'}") as server:
        alice, bob = account(server, "alice"), account(server, "bob")
        shop = Notes(server, alice, name="main", project="acme/shop")
        shop.push("Chose **optimistic locking** for orders; see `models.py`.")
        garden = Notes(server, alice, name="plans", project="acme/garden")
        garden.push("Tomatoes go in the south bed.")
        tools = Notes(server, alice, name="tools", project="acme/shop")
        tools.push_entries(
            [
                {
                    "seq": 1,
                    "id": "00000000-0000-4000-8000-0000000000c1",
                    "ts": "2026-11-21T10:00:00.000000Z",
                    "role": "assistant",
                    "text": "Listing the folder.",
                    "parts": [
                        {"type": "text", "text": "Listing the folder."},
                        {
                            "type": "tool_call",
                            "name": "Bash",
                            "id": "toolu_1",
                            "input": {"command": "ls -la src/unfold-me"},
                        },
                    ],
                },
                {
                    "seq": 2,
                    "id": "00000000-0000-4000-8000-0000000000c2",
                    "ts": "2026-11-21T10:00:01.000000Z",
                    "role": "user",
                    "text": "",
                    "parts": [
                        {"type": "tool_result", "tool_call_id": "toolu_1", "output": "total 0"}
                    ],
                },
            ]
        )
        tools.seq = 2
        long = Notes(server, alice, name="long", project="acme/long")
        long.push(*[f"Entry number {i}: " + "words " * 40 for i in range(80)])
        yield Site(server, alice, bob, shop, garden, tools, long)


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport={"width": 1200, "height": 900})
    yield ctx
    ctx.close()


def sign_in(page: Page, site: Site, user: str = "alice", password: str | None = None) -> None:
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password or PASSWORD)
    page.click("button[type=submit]")


@pytest.fixture
def page(context: BrowserContext, site: Site) -> Page:
    """A page signed in as alice, on the threads list."""
    page = context.new_page()
    sign_in(page, site)
    page.wait_for_url("**/threads")
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
