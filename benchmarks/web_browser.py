"""The thread page in a real browser: time to the first entry of a 5,000-entry thread.

A fresh ``threadline serve`` on SQLite gets one note thread of 5,000 entries (a few hundred
characters of prose each, some with Markdown and code) through ``POST /api/v1/sync/push``.
Debian's Chromium (``/usr/bin/chromium``, headless, driven by Playwright; nothing downloaded)
signs in through the sign-in form, then loads ``/threads/{id}`` ``n`` times, each in a new tab
of the same browser context (the session cookie and the HTTP cache kept, as for a reader who
comes back). A sample is the time from the navigation's start (``performance.timeOrigin``) to
the first ``li`` in ``ol#entries`` being visible, measured inside the page by a script that
Playwright adds before the page's own: the sample is the first animation frame (frames run only
once the page may render, after its stylesheets) in which that element has a layout box. A
``MutationObserver`` also notes when the parser inserted it ("in DOM"). The table also shows
when the page's ``DOMContentLoaded`` and ``load`` ended.

Baselines, same browser and run: the sign-in page (a small server-rendered page: its form
visible, measured the same way) and a blank static file (``/static/app.css``: ``responseEnd``
of the navigation). Nothing here asserts a timing.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

from harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    Context,
    Server,
    api_login,
    database,
    note,
    percentile,
    ratio,
    table,
    text_of_size,
)
from threadline.client.api import Api

ENTRIES = 5000
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIRST_ENTRY = "ol#entries > li"
#: Runs before every page's own scripts: notes when the parser inserted the watched element
#: (``window.__seen``) and the first animation frame that has it laid out (``window.__shown``).
WATCH = """(() => {
  const selector = location.pathname === "/login" ? "form" : "FIRST_ENTRY";
  const observer = new MutationObserver(() => {
    if (document.querySelector(selector) !== null) {
      window.__seen = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, {childList: true, subtree: true});
  const frame = () => {
    const element = document.querySelector(selector);
    if (element !== null && element.getBoundingClientRect().height > 0) {
      window.__shown = performance.now();
    } else {
      requestAnimationFrame(frame);
    }
  };
  requestAnimationFrame(frame);
})();""".replace("FIRST_ENTRY", FIRST_ENTRY)
#: The marks above and the navigation's own, in ms from its start.
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0] || {};
  return {seen: window.__seen, shown: window.__shown, response_end: nav.responseEnd || 0,
          dom_content_loaded: nav.domContentLoadedEventEnd || 0, load: nav.loadEventEnd || 0};
}"""


def _seed(server: Server) -> str:
    """One thread of :data:`ENTRIES` entries; returns its id."""
    token, device_id = api_login(server, "bench-browser")
    api = Api(server.url, token, timeout=120)
    rng = random.Random(7)
    entries: list[dict[str, Any]] = []
    for seq in range(1, ENTRIES + 1):
        text = text_of_size(rng.randint(120, 600), rng)
        if seq % 10 == 0:
            text = f"**Decision {seq}**: {text}\n\n```python\nprint({seq})\n```"
        entries.append(
            {
                "seq": seq,
                "id": str(uuid.uuid4()),
                "ts": f"2026-11-{1 + seq // 3600:02d}T{seq // 60 % 24:02d}:{seq % 60:02d}:00Z",
                "role": "assistant" if seq % 2 else "user",
                "text": text,
            }
        )
    thread = {"key": "note:bench:big", "kind": "note", "name": "big", "project": "bench"}
    api.push(device_id, [{"stream_id": str(uuid.uuid4()), "thread": thread, "entries": entries}])
    found = api.threads(project="bench")["threads"]
    return str(found[0]["id"])


COLUMNS = ["measure", "n", "min_ms", "p50_ms", "p95_ms", "max_ms", "ratio_to_static"]


def _stats(name: str, values: list[float], base: float | None = None) -> list[Any]:
    p50 = percentile(values, 50)
    return [
        name,
        len(values),
        round(min(values), 1),
        round(p50, 1),
        round(percentile(values, 95), 1),
        round(max(values), 1),
        ratio(p50, base) if base else 1.0,
    ]


def run(ctx: Context) -> dict[str, Any]:
    if not CHROMIUM.exists():
        note(f"not run: no Chromium at {CHROMIUM} (apt-get install chromium)")
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    from playwright.sync_api import sync_playwright

    loads = 5 if ctx.quick else 10
    problems: list[str] = []
    samples: dict[str, list[float]] = {
        "first entry visible": [],
        "first entry in DOM": [],
        "DOMContentLoaded": [],
        "load": [],
        "sign-in form visible": [],
        "static file": [],
    }
    with (
        database("sqlite", ctx.workdir, None) as url,
        Server(ctx.home("browser-server"), url) as server,
    ):
        thread_id = _seed(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(WATCH)
                anonymous = browser.new_context(viewport={"width": 1280, "height": 900})
                anonymous.add_init_script(WATCH)
                page = context.new_page()
                page.goto(f"{server.url}/login")
                page.fill("input[name=username]", ADMIN_USER)
                page.fill("input[name=password]", ADMIN_PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url("**/threads")
                page.close()
                for i in range(loads + 1):  # the first load warms up and is not counted
                    tab = context.new_page()
                    tab.goto(f"{server.url}/threads/{thread_id}", wait_until="commit")
                    tab.wait_for_load_state("load", timeout=60_000)
                    tab.wait_for_function("() => window.__shown !== undefined", timeout=60_000)
                    marks = tab.evaluate(TIMINGS)
                    shown = tab.locator(FIRST_ENTRY).count()
                    tab.close()
                    if i == 0:
                        note(f"the page shows {shown} of {ENTRIES:,} entries at first")
                        continue
                    samples["first entry in DOM"].append(marks["seen"])
                    samples["first entry visible"].append(marks["shown"])
                    samples["DOMContentLoaded"].append(marks["dom_content_loaded"])
                    samples["load"].append(marks["load"])

                    tab = anonymous.new_page()  # signed in, /login would redirect
                    tab.goto(f"{server.url}/login", wait_until="load")
                    tab.wait_for_function("() => window.__shown !== undefined")
                    samples["sign-in form visible"].append(tab.evaluate(TIMINGS)["shown"])
                    tab.close()

                    tab = context.new_page()
                    tab.goto(f"{server.url}/static/app.css", wait_until="load")
                    samples["static file"].append(tab.evaluate(TIMINGS)["response_end"])
                    tab.close()
                context.close()
                anonymous.close()
            finally:
                browser.close()
        if server.trouble():
            problems.append(f"the server logged errors: {server.trouble()[0].strip()}")
    base = percentile(samples["static file"], 50)
    rows = [_stats(name, values, base) for name, values in samples.items()]
    table(
        f"web_browser — /threads/{{id}} of {ENTRIES:,} entries in Chromium, {loads} loads "
        "(ms from navigation start)",
        ["measure", "n", "min ms", "p50 ms", "p95 ms", "max ms", "× static file"],
        rows,
    )
    first = samples["first entry visible"]
    return {
        "entries": ENTRIES,
        "loads": loads,
        "first_entry_p50_ms": round(percentile(first, 50), 1),
        "first_entry_p95_ms": round(percentile(first, 95), 1),
        "rows": [dict(zip(COLUMNS, row, strict=True)) for row in rows],
        "problems": problems,
    }
