"""``GET /api/v1/search``: the caller's entries that match a query, best first, with snippets.

The query language, ranking and limits are those of :mod:`threadline.services.search` (see
``docs/protocol.md``); this route only reads the parameters and shapes the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from threadline import protocol as p
from threadline.protocol.models import SearchHit, SearchResults
from threadline.server.deps import Who, json_response
from threadline.services import search
from threadline.services.context import app_state

router = APIRouter(prefix=f"{p.API_PREFIX}/search", tags=["search"])

Limit = Annotated[int, Query(ge=1, le=p.MAX_SEARCH_LIMIT)]
SINCE = "From this UTC day, YYYY-MM-DD, or this instant (RFC 3339, with an offset)."
UNTIL = "Up to this UTC day, included, or this instant, included (RFC 3339, with an offset)."


class SearchAnswer(SearchResults):
    """A page of hits, and whether the ranking reached its cap."""

    capped: bool = Field(
        False,
        description=f"The {search.RANKED} most recent word matches were ranked: older ones "
        "may exist that were not (a word or a filter more reaches them).",
    )


@router.get("", response_model=SearchAnswer)
def search_entries(
    request: Request,
    who: Who,
    q: Annotated[str, Query(description="What to find (see docs/protocol.md).")],
    project: Annotated[str | None, Query(description="Only this project.")] = None,
    kind: Annotated[str | None, Query(description="Only threads of this kind.")] = None,
    agent: Annotated[str | None, Query(description="claude-code or codex sessions.")] = None,
    thread: Annotated[str | None, Query(description="Only this thread (its id).")] = None,
    role: Annotated[str | None, Query(description="Only entries of this role.")] = None,
    scope: Annotated[str | None, Query(description="Only threads with this TYPE:ID.")] = None,
    since: Annotated[str | None, Query(description=SINCE)] = None,
    until: Annotated[str | None, Query(description=UNTIL)] = None,
    limit: Limit = p.DEFAULT_SEARCH_LIMIT,
    cursor: str | None = None,
) -> Response:
    params = search.SearchParams(
        query=q,
        project=project,
        kind=kind,
        agent=agent,
        thread_id=thread,
        role=role,
        scope=scope,
        since=search.bound(since, "since"),
        until=search.bound(until, "until"),
        limit=limit,
        cursor=cursor,
    )
    page = search.search(app_state(request).db, who, params)
    return json_response(answer(page))


def answer(page: search.SearchPage) -> SearchAnswer:
    """The wire shape of a page of hits."""
    return SearchAnswer(
        query=page.query,
        results=[
            SearchHit(
                thread_id=hit.thread_id,
                entry_id=hit.entry_id,
                seq=hit.seq,
                ts=hit.ts,
                role=hit.role,
                snippet=hit.snippet,
                score=hit.score,
                url=hit.url,
                thread_title=hit.thread_title,
                thread_name=hit.thread_name,
                project=hit.project,
                kind=hit.kind,
                highlights=list(hit.highlights),
            )
            for hit in page.results
        ],
        next_cursor=page.next_cursor,
        capped=page.capped,
    )
