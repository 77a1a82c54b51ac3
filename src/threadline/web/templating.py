"""Server-rendered pages: one Jinja2 environment with autoescaping on everywhere.

Everything a user or an agent wrote reaches the page through Jinja's escaping, or through the
Markdown renderer, which escapes raw HTML and drops unsafe link schemes. ``Content-Security-
Policy`` forbids inline scripts, so even a missed escape could not run code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from threadline import __version__
from threadline.web.sessions import current_user

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

#: Scripts and styles come from this server only; no inline script runs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def relative(ts: str | None, now: datetime | None = None) -> str:
    """``2026-11-21T10:00:00Z`` → ``5 min ago``."""
    if not ts:
        return "–"
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return ts


def exact(ts: str | None) -> str:
    """The time as UTC, to the second: shown on hover."""
    if not ts:
        return ""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


env.filters["relative"] = relative
env.filters["exact"] = exact
env.globals["version"] = __version__


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the signed-in user and CSRF token available as ``user``."""
    context.setdefault("user", current_user(request))
    html = env.get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status)
    secure_headers(response)
    return response


def secure_headers(response: Any) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
