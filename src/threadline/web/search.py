"""The search page: ``GET /search?q=…``, the signed-in user's entries that match, with their
snippets and the matches marked.

Filters are query parameters, so a search is a bookmarkable URL: ``project``, ``kind``,
``agent``, ``role``, ``since`` and ``until`` (``YYYY-MM-DD``), ``thread`` and ``scope``, and
``cursor`` for the next page (the service's own). Each hit links to its entry in the thread page
(``/threads/{id}?around={entry}#entry-{entry}``), which opens the thread at that entry and marks it.

Nothing the entries hold reaches the page unescaped: a snippet is split into plain and matched
pieces (:mod:`threadline.web.hits`) and the template escapes each (the matched ones inside
``<mark>``). A query the
service cannot take (too long, nothing to search for, a bad date or cursor) is said on the page
above its form, with the service's status (422 or 400).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline import protocol as p
from threadline.errors import ApiError
from threadline.services import changes, inputs
from threadline.services.context import app_state
from threadline.services.search import SearchParams, search
from threadline.web.hits import ROLE_LABELS, shown
from threadline.web.list_page import KIND_LABELS
from threadline.web.sessions import User
from threadline.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
AGENT_LABELS = {"claude-code": "Claude Code", "codex": "Codex"}


def _value(request: Request, name: str, limit: int = p.MAX_NAME_CHARS) -> str | None:
    return (request.query_params.get(name) or "").strip()[:limit] or None


@router.get("/search")
def search_page(request: Request, user: User) -> Response:
    args = request.query_params
    q = (args.get("q") or "").strip()
    filters = {
        "project": _value(request, "project"),
        "kind": _value(request, "kind"),
        "agent": _value(request, "agent"),
        "role": _value(request, "role"),
        "since": _value(request, "since"),
        "until": _value(request, "until"),
        "scope": _value(request, "scope", 1000),
        "thread": _value(request, "thread", p.MAX_KEY_CHARS),
    }
    db = app_state(request).db
    projects = changes.project_counts(db, user.user_id, changes.read_cursor(db, user.user_id))
    context: dict[str, Any] = {
        "q": q,
        "filters": filters,
        "projects": [name for name, _, _ in projects if name],
        "kinds": KIND_LABELS,
        "agents": AGENT_LABELS,
        "roles": ROLE_LABELS,
        "hits": [],
        "error": None,
        "next_url": None,
        "paged": bool(args.get("cursor")),
    }
    if not q:
        return render(request, "search.html", **context)
    try:
        params = SearchParams(
            query=q,
            project=filters["project"],
            kind=filters["kind"],
            agent=filters["agent"],
            thread_id=filters["thread"],
            role=filters["role"],
            since=inputs.iso_date(filters["since"], "since"),
            until=inputs.iso_date(filters["until"], "until"),
            scope=filters["scope"],
            limit=PAGE_SIZE,
            cursor=args.get("cursor") or None,
        )
        page = search(db, user.principal, params)
    except ApiError as exc:
        context["error"] = exc.message
        return render(request, "search.html", status=exc.status, **context)
    context["hits"] = shown(page.results)
    if page.next_cursor:
        kept = {k: v for k, v in {"q": q, **filters}.items() if v}
        context["next_url"] = "/search?" + urlencode({**kept, "cursor": page.next_cursor})
    return render(request, "search.html", **context)
