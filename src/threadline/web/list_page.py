"""The threads list: ``GET /threads`` and its row fragments, ``GET /threads/rows``.

Filters (query parameters, the same on both routes, so a filtered list is a bookmarkable URL):

- ``project``: one project (exact); ``kind``: ``note``, ``claude-code`` or ``codex``;
- ``q``: text in the title or name (case-insensitive substring); the first page also shows,
  above the list, the :data:`CONTENT_HITS` entries whose content matches it best (the search
  of ``/search``, within the same project, kind, scope and dates), each linking to its entry,
  and a link to all of them on the search page;
- ``since`` / ``until``: dates ``YYYY-MM-DD`` (UTC days, both included) bounding the last
  activity;
- ``subagents=1``: subagent sessions too (by default only top-level threads are listed);
- ``scope``: the threads of one scope, ``TYPE:ID`` (``pr:123``; one per project), and
  ``scope_type``: those whose scope has that type (``pr``).

An empty value is no filter; an unknown ``kind``, a malformed date or scope is ``400``. ``until`` on
the last day a date can hold (``9999-12-31``) bounds nothing.

``GET /threads`` is the page: the first :data:`PAGE_SIZE` matching threads, most recent
activity first, or the page after ``cursor`` (an opaque keyset cursor, the API's own), and a
"Load more" link to the next page that keeps the filters. The table body is
``<tbody id="thread-rows" data-change="N" data-filters="QUERY">``: ``N`` is the user's change
cursor when the page was read (every change with a value ≤ N is in the page) and ``QUERY`` the
filters as a query string (without ``cursor``).

``GET /threads/rows`` answers ``text/html`` made of ``_thread_row.html`` rows only, each
``<tr id="thread-ID" data-change="C">`` where ``C`` is the thread's change value:

- with ``since_change=N`` (live updates): the threads matching the filters whose change value
  is above ``N``, most recent activity first. A thread deleted since ``N`` comes as an empty
  ``<tr id="thread-ID" data-change="C" data-deleted hidden>``, to be removed. The header
  ``Threadline-Change`` is the value to pass as ``since_change`` next time (nothing is
  skipped; a row may come twice, replace rows by id). At most :data:`LIVE_LIMIT` rows come;
  when more changed, the body is empty and ``Threadline-Reload: 1`` says to reload the page.
  A thread that changed so that it no longer matches the filters is not sent.
- otherwise (infinite scroll): the page after ``cursor``, as ``GET /threads`` would list it;
  ``Threadline-Next-Cursor`` is the cursor of the page after it, empty at the end.

Both need a signed-in session (else a redirect to the sign-in page) and only ever show the
signed-in user's threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline import protocol as p
from threadline.errors import ApiError, BadRequest
from threadline.services import changes, inputs
from threadline.services.context import app_state
from threadline.services.search import SearchParams, search
from threadline.services.threads import ThreadFilter, ThreadSummary, list_summaries
from threadline.web.hits import Shown, shown
from threadline.web.sessions import User
from threadline.web.templating import env, render, secure_headers

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
#: Entries matching the text filter shown above the list (the search page has them all).
CONTENT_HITS = 5
LIVE_LIMIT = 200
#: A session whose last activity is this recent is marked live.
LIVE_WITHIN = timedelta(minutes=2)
KIND_LABELS = {"note": "Note", "claude-code": "Claude Code", "codex": "Codex"}
KIND_LABELS["ask"] = "Ask"
MAX_QUERY_CHARS = 200
#: Longest text taken from a session's meta (model, branch, agent) for a row.
MAX_META_CHARS = 200


@dataclass(frozen=True)
class Filters:
    project: str | None = None
    kind: str | None = None
    q: str | None = None
    since: date | None = None
    until: date | None = None
    subagents: bool = False
    scope: str | None = None
    scope_type: str | None = None

    @classmethod
    def parse(cls, request: Request) -> Filters:
        args = request.query_params
        kind = args.get("kind") or None
        if kind is not None and kind not in KIND_LABELS:
            raise BadRequest(f"kind must be one of {', '.join(KIND_LABELS)}, not {kind[:50]!r}")
        return cls(
            project=(args.get("project") or "")[: p.MAX_NAME_CHARS] or None,
            kind=kind,
            q=(args.get("q") or "").strip()[:MAX_QUERY_CHARS] or None,
            since=inputs.iso_date(args.get("since"), "since"),
            until=inputs.iso_date(args.get("until"), "until"),
            subagents=args.get("subagents") in ("1", "on", "true"),
            scope=_scope_arg(args.get("scope"), "scope"),
            scope_type=_scope_arg(args.get("scope_type"), "scope_type"),
        )

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (including subagents is not narrowing)."""
        return any(
            (self.project, self.kind, self.q, self.since, self.until, self.scope, self.scope_type)
        )

    def query(self, **extra: str) -> str:
        """These filters (and ``extra``) as a URL query string, without empty values."""
        values = {
            "project": self.project,
            "kind": self.kind,
            "q": self.q,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "subagents": "1" if self.subagents else None,
            "scope": self.scope,
            "scope_type": self.scope_type,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})

    def where(self) -> ThreadFilter:
        """These filters as the services take them."""
        return ThreadFilter(
            project=self.project,
            kind=self.kind,
            q=self.q,
            top_level=None if self.subagents else True,
            active_since=self.since,
            active_until=self.until,
            scope=p.parse_scope(self.scope) if self.scope else None,
            scope_type=self.scope_type,
        )


def _scope_arg(value: str | None, name: str) -> str | None:
    """A ``scope`` (``TYPE:ID``) or ``scope_type`` (``TYPE``) filter: ``None`` when empty,
    ``400`` naming the rule when malformed."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        p.parse_scope(value) if name == "scope" else p.parse_scope_type(value)
    except ValueError as exc:
        raise BadRequest(
            f"{name}: {exc}", hint="Write a scope as TYPE:ID, e.g. pr:123 or file:docs/spec.md."
        ) from None
    return value


@dataclass(frozen=True)
class Row:
    """What one row of the list shows."""

    id: str
    title: str
    project: str
    kind: str
    kind_label: str
    entries: int
    activity: str
    live: bool
    agent: str | None
    model: str | None
    branch: str | None
    children: int
    change: int
    deleted: bool = False
    scope: str | None = None

    @property
    def is_session(self) -> bool:
        return self.kind not in ("note", "ask")


def make_row(thread: ThreadSummary, now: datetime | None = None) -> Row:
    """What the list shows of ``thread``."""
    meta = thread.meta
    session = thread.kind not in ("note", "ask")
    live = session and (now or datetime.now(UTC)) - thread.active_at <= LIVE_WITHIN
    return Row(
        id=thread.id,
        title=thread.title or _meta_text(meta, "title") or thread.name,
        project=thread.project,
        kind=thread.kind,
        kind_label=KIND_LABELS.get(thread.kind, thread.kind),
        entries=thread.entry_count,
        activity=thread.last_activity_at,
        live=live,
        agent=_meta_text(meta, "agent") if session else None,
        model=_meta_text(meta, "model") if session else None,
        branch=_meta_text(meta, "git_branch") if session else None,
        children=thread.child_count,
        change=thread.change,
        deleted=thread.deleted,
        scope=thread.scope,
    )


def _meta_text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value[:MAX_META_CHARS] if isinstance(value, str) and value else None


def _rows(found: list[ThreadSummary]) -> list[Row]:
    now = datetime.now(UTC)
    return [make_row(thread, now) for thread in found]


# --- routes ----------------------------------------------------------------------------------


@router.get("/threads")
def threads_page(request: Request, user: User) -> Response:
    filters = Filters.parse(request)
    cursor = request.query_params.get("cursor") or None
    db = app_state(request).db
    found, next_cursor, change = list_summaries(
        db, user.user_id, filters.where(), limit=PAGE_SIZE, cursor=cursor
    )
    rows = _rows(found)
    projects = changes.project_counts(db, user.user_id, change)
    if filters.project and filters.project not in {name for name, _, _ in projects}:
        projects.append((filters.project, 0, 0))
    hits, more, error = (
        _content_hits(request, user, filters) if cursor is None else ([], False, None)
    )
    return render(
        request,
        "threads.html",
        content_hits=hits,
        content_more=more,
        content_error=error,
        rows=rows,
        filters=filters,
        kinds=KIND_LABELS,
        projects=[
            (name, all_ if filters.subagents else top) for name, top, all_ in projects if name
        ],
        has_threads=bool(projects) and any(all_ for _, _, all_ in projects),
        change=change,
        paged=cursor is not None,
        next_url=f"/threads?{filters.query(cursor=next_cursor)}" if next_cursor else None,
        content_query=urlencode({k: v for k, v in _content_filters(filters).items() if v}),
    )


def _content_filters(filters: Filters) -> dict[str, str | None]:
    """The list's filters that the search of the entries' content takes, as query values."""
    return {
        "q": filters.q,
        "project": filters.project,
        "kind": filters.kind,
        "scope": filters.scope,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
    }


def _content_hits(
    request: Request, user: User, filters: Filters
) -> tuple[list[Shown], bool, str | None]:
    """The best :data:`CONTENT_HITS` entries matching the text filter ``q`` (the search's
    own ranking, within the list's project, kind, scope and dates: ``since`` and ``until``
    bound the entries' times), whether more match, and what the search could not take."""
    if not filters.q:
        return [], False, None
    params = SearchParams(
        query=filters.q,
        project=filters.project,
        kind=filters.kind,
        scope=filters.scope,
        since=filters.since,
        until=filters.until,
        limit=CONTENT_HITS,
    )
    try:
        page = search(app_state(request).db, user.principal, params)
    except ApiError as exc:
        return [], False, exc.message
    return shown(page.results), page.next_cursor is not None, None


@router.get("/threads/rows")
def thread_rows(request: Request, user: User) -> Response:
    filters = Filters.parse(request)
    db = app_state(request).db
    headers: dict[str, str] = {}
    since = request.query_params.get("since_change")
    if since is not None:
        since_change = inputs.change_cursor(since)
        live, change = changes.changed_summaries(
            db, user.user_id, filters.where(), since_change, LIVE_LIMIT
        )
        rows = _rows(live or [])
        headers["Threadline-Change"] = str(change)
        if live is None:
            headers["Threadline-Reload"] = "1"
    else:
        cursor = request.query_params.get("cursor") or None
        found, next_cursor, _ = list_summaries(
            db, user.user_id, filters.where(), limit=PAGE_SIZE, cursor=cursor
        )
        rows = _rows(found)
        headers["Threadline-Next-Cursor"] = next_cursor or ""
    template = env.get_template("_thread_row.html")
    html = "".join(template.render(row=row) for row in rows)
    response = HTMLResponse(html, headers=headers)
    secure_headers(response)
    return response
