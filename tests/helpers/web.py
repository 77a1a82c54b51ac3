"""What the web UI tests share, in process (``tests/web``) and against a real server
(``tests/browser``): the test users' password and the CSRF token of a form."""

from __future__ import annotations

import re

import httpx

#: The password the web and browser tests give their users.
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str | httpx.Response) -> str:
    """The CSRF token of the (first) form on ``page``; fails the test when there is none."""
    html = page if isinstance(page, str) else page.text
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)
