"""The threads list: ``GET /threads`` and its row fragments, ``GET /threads/rows``.

Filters (query parameters, the same on both routes, so a filtered list is a bookmarkable URL):

- ``project``: one project (exact); ``kind``: ``note``, ``claude-code`` or ``codex``;
- ``q``: text in the title or name (case-insensitive substring);
- ``since`` / ``until``: dates ``YYYY-MM-DD`` (UTC days, both included) bounding the last
  activity;
- ``subagents=1``: subagent sessions too (by default only top-level threads are listed).

An empty value is no filter; an unknown ``kind`` or a malformed date is ``400``.

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

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from threadline import protocol as p
from threadline.errors import BadRequest
from threadline.server import pages
from threadline.server import threads as server_threads
from threadline.server.changes import current_value
from threadline.server.database import Database
from threadline.server.deps import app_state
from threadline.server.schema import threads
from threadline.server.values import json_value, ts_parse, ts_text
from threadline.web.routes import router
from threadline.web.sessions import User, WebUser
from threadline.web.templating import env, render, secure_headers

PAGE_SIZE = 100
LIVE_LIMIT = 200
#: A session whose last activity is this recent is marked live.
LIVE_WITHIN = timedelta(minutes=2)
KIND_LABELS = {"note": "Note", "claude-code": "Claude Code", "codex": "Codex"}
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
            since=_date(args.get("since"), "since"),
            until=_date(args.get("until"), "until"),
            subagents=args.get("subagents") in ("1", "on", "true"),
        )

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (including subagents is not narrowing)."""
        return any((self.project, self.kind, self.q, self.since, self.until))

    def query(self, **extra: str) -> str:
        """These filters (and ``extra``) as a URL query string, without empty values."""
        values = {
            "project": self.project,
            "kind": self.kind,
            "q": self.q,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "subagents": "1" if self.subagents else None,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def floor(self) -> str | None:
        """The earliest last activity included (``since``'s first instant), as stored."""
        return _day_start(self.since) if self.since else None

    @property
    def ceiling(self) -> str | None:
        """The first last activity excluded (the day after ``until``), as stored."""
        return _day_start(self.until + timedelta(days=1)) if self.until else None


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-11-21, not {value[:50]!r}") from None


def _day_start(day: date) -> str:
    return ts_text(datetime.combine(day, time(), UTC))


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

    @property
    def is_session(self) -> bool:
        return self.kind != "note"


def make_row(
    *,
    thread_id: str,
    kind: str,
    name: str,
    title: str | None,
    project: str,
    meta: Any,
    entries: int,
    activity: str,
    children: int,
    change: int,
    deleted: bool = False,
    now: datetime | None = None,
) -> Row:
    meta = meta if isinstance(meta, dict) else {}
    when = ts_parse(activity)
    session = kind != "note"
    return Row(
        id=thread_id,
        title=title or _meta_text(meta, "title") or name,
        project=project,
        kind=kind,
        kind_label=KIND_LABELS.get(kind, kind),
        entries=entries,
        activity=activity,
        live=session and (now or datetime.now(UTC)) - when <= LIVE_WITHIN,
        agent=_meta_text(meta, "agent") if session else None,
        model=_meta_text(meta, "model") if session else None,
        branch=_meta_text(meta, "git_branch") if session else None,
        children=children,
        change=change,
        deleted=deleted,
    )


def _meta_text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value[:MAX_META_CHARS] if isinstance(value, str) and value else None


def _row_of(r: Any, now: datetime) -> Row:
    """The row of a thread read with its ``child_count``."""
    return make_row(
        thread_id=r.id,
        kind=r.kind,
        name=r.name,
        title=r.title,
        project=r.project,
        meta=json_value(r.meta),
        entries=int(r.entry_count),
        activity=r.last_activity_at,
        children=int(r.child_count),
        change=int(r.change),
        deleted=r.deleted_at is not None,
        now=now,
    )


# --- queries ---------------------------------------------------------------------------------


#: Project counts by user and change cursor value, per database: a count can only change with
#: the user's cursor, so while nothing changes (paging, filtering) the scan is not repeated.
_counts_cache: weakref.WeakKeyDictionary[
    Database, OrderedDict[tuple[int, int], list[tuple[str, int, int]]]
] = weakref.WeakKeyDictionary()
_counts_lock = threading.Lock()
COUNTS_CACHED = 256


def project_counts(db: Database, user_id: int, change: int) -> list[tuple[str, int, int]]:
    """``(project, top-level threads, all threads)`` of the user's live threads, by name, as
    of the user's change cursor ``change`` (read before calling)."""
    key = (user_id, change)
    with _counts_lock:
        cached = _counts_cache.setdefault(db, OrderedDict()).get(key)
    if cached is not None:
        return list(cached)
    counts = _project_counts(db, user_id)
    with _counts_lock:
        entries = _counts_cache.setdefault(db, OrderedDict())
        entries[key] = counts
        while len(entries) > COUNTS_CACHED:
            entries.popitem(last=False)
    return list(counts)


def _project_counts(db: Database, user_id: int) -> list[tuple[str, int, int]]:
    top_level = sa.func.sum(sa.case((threads.c.parent_key.is_(None), 1), else_=0))
    query = (
        sa.select(threads.c.project, top_level, sa.func.count())
        .where(threads.c.user_id == user_id, threads.c.deleted_at.is_(None))
        .group_by(threads.c.project)
        .order_by(threads.c.project)
    )
    with db.read() as conn:
        return [(r[0], int(r[1] or 0), int(r[2])) for r in conn.execute(query)]


#: What a row shows of a thread (its ``change`` and ``deleted_at`` included).
_ROWS = sa.select(threads, server_threads.CHILD_COUNT)


def _filtered(query: sa.Select[Any], filters: Filters) -> sa.Select[Any]:
    return server_threads.thread_filters(
        query,
        project=filters.project,
        kind=filters.kind,
        q=filters.q,
        top_level=None if filters.subagents else True,
        active_from=filters.floor,
        active_before=filters.ceiling,
    )


def list_page(
    db: Database, user: WebUser, filters: Filters, cursor: str | None
) -> tuple[list[Row], str | None, int]:
    """One page of rows, the cursor of the next page (or ``None``), and the user's change
    cursor as it was before the page was read."""
    query = _filtered(
        _ROWS.where(threads.c.user_id == user.user_id, threads.c.deleted_at.is_(None)), filters
    )
    with db.read() as conn:
        # The cursor first: every change up to it is in the page.
        change = current_value(conn, user.user_id)
        found, next_cursor = server_threads.keyset_page(conn, query, PAGE_SIZE, cursor)
    now = datetime.now(UTC)
    return [_row_of(r, now) for r in found], next_cursor, change


def changed_rows(
    db: Database, user: WebUser, filters: Filters, since_change: int
) -> tuple[list[Row] | None, int]:
    """Rows of the threads matching ``filters`` changed after ``since_change`` (deleted ones
    included), most recent first — or ``None`` when more than :data:`LIVE_LIMIT` changed —
    and the change cursor to ask from next time."""
    query = _filtered(
        _ROWS.where(threads.c.user_id == user.user_id, threads.c.change > since_change), filters
    )
    query = query.order_by(threads.c.last_activity_at.desc(), threads.c.id.desc())
    with db.read() as conn:
        # The cursor first: whatever commits after it is sent again next time, never skipped.
        change = max(current_value(conn, user.user_id), since_change)
        found = conn.execute(query.limit(LIVE_LIMIT + 1)).all()
    if len(found) > LIVE_LIMIT:
        return None, change
    now = datetime.now(UTC)
    rows = [_row_of(r, now) for r in found]
    return rows, max([change, *(r.change for r in rows)])


# --- routes ----------------------------------------------------------------------------------


@router.get("/threads")
def threads_page(request: Request, user: User) -> Response:
    filters = Filters.parse(request)
    cursor = request.query_params.get("cursor") or None
    db = app_state(request).db
    rows, next_cursor, change = list_page(db, user, filters, cursor)
    projects = project_counts(db, user.user_id, change)
    if filters.project and filters.project not in {name for name, _, _ in projects}:
        projects.append((filters.project, 0, 0))
    return render(
        request,
        "threads.html",
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
    )


@router.get("/threads/rows")
def thread_rows(request: Request, user: User) -> Response:
    filters = Filters.parse(request)
    db = app_state(request).db
    headers: dict[str, str] = {}
    since = request.query_params.get("since_change")
    if since is not None:
        try:
            since_change = int(since)
        except ValueError:
            raise pages.bad_cursor("change cursor") from None
        if since_change < 0:
            raise pages.bad_cursor("change cursor")
        live, change = changed_rows(db, user, filters, since_change)
        rows = live or []
        headers["Threadline-Change"] = str(change)
        if live is None:
            headers["Threadline-Reload"] = "1"
    else:
        cursor = request.query_params.get("cursor") or None
        rows, next_cursor, _ = list_page(db, user, filters, cursor)
        headers["Threadline-Next-Cursor"] = next_cursor or ""
    template = env.get_template("_thread_row.html")
    html = "".join(template.render(row=row) for row in rows)
    response = HTMLResponse(html, headers=headers)
    secure_headers(response)
    return response


def _routes_first(*paths: str) -> None:
    """Put these routes before every other one on the router: ``/threads/rows`` must be tried
    before a pattern such as ``/threads/{thread_id}``, whichever page module was imported
    first."""
    mine = [r for r in router.routes if getattr(r, "path", None) in paths]
    for route in mine:
        router.routes.remove(route)
    router.routes[0:0] = mine


_routes_first("/threads", "/threads/rows")
