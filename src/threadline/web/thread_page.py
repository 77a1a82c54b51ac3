"""The thread page of the web UI: one thread's entries, like a chat, and its downloads.

Routes (all need a signed-in user; another user's thread is ``404``, exactly like a missing
one):

- ``GET /threads/{id}`` — the page: header (title, project, kind, agent, model, branch, token
  totals, first and last activity, parent session, subagent threads) and the first
  :data:`PAGE_SIZE` entries in display order (``ts``, then arrival). ``?around=<entry id>``
  starts the page a little before that entry instead (for ``#entry-<id>`` links into a long
  thread).
- ``GET /threads/{id}/entries?after=<cursor>`` / ``?before=<cursor>`` — the next (previous)
  page as ``_entry.html`` fragments (``<li>`` elements). The cursors come from the page's
  ``data-after`` / ``data-before`` attributes and from the ``Threadline-After`` /
  ``Threadline-Before`` headers of each fragment answer (empty: nothing more that way).
- ``GET /threads/{id}/entries/{entry id}/full`` — one entry as a fragment with nothing cut
  (texts and tool outputs are otherwise cut at :data:`render.MAX_SHOWN` characters).
- ``GET /threads/{id}/export.md`` — the thread as Markdown, tool calls and results included.
- ``GET /threads/{id}/transcript`` — the captured transcript file, byte for byte, as the API's
  ``/api/v1/threads/{id}/transcript`` gives it (``?generation=`` too), with cookie sign-in.

Live-update contract (for the page's live updates):

- The entries container is ``<ol id="entries" data-thread-id="…" data-change="N"
  data-after="…" data-before="…">``. ``N`` is the thread's change value when the page was
  rendered: every entry with ``change`` ≤ ``N`` is on the page or reachable by paging with
  ``after`` / ``before``.
- ``GET /threads/{id}/entries?since_change=N`` answers the ``_entry.html`` fragments of the
  entries whose ``change`` is greater than ``N``, in display order, with the header
  ``Threadline-Change: <M>`` — the value to pass next time. At most
  :data:`MAX_SINCE_CHANGE` entries come back; when there were more, the answer also has
  ``Threadline-Reload: 1`` (reload the page rather than append).
- Every fragment ``<li>`` has ``id="entry-<entry id>"``, ``data-sort="<ts>|<n>"`` (sorts as
  text in display order) and ``data-change``; a result shown inside its call's fold is an empty
  ``<li class="entry paired" data-paired-to="entry-<call entry id>">``. Fragments of
  ``since_change`` show each tool result on its own (its call is already on the page).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from threadline.errors import NotFound
from threadline.server import pages, transcripts
from threadline.server import threads as server_threads
from threadline.server.database import Database
from threadline.server.deps import app_state
from threadline.server.schema import entries, threads
from threadline.server.threads import live_thread, thread_row
from threadline.server.values import json_value
from threadline.web import render as views
from threadline.web.render import Child, Row, Window
from threadline.web.routes import router
from threadline.web.sessions import User, WebUser
from threadline.web.templating import env, render, secure_headers

#: Entries server-rendered per page (the first screen) and per fragment.
PAGE_SIZE = 100
#: Entries shown before the target of ``?around=``.
AROUND_BEFORE = 20
#: Most entries in one ``since_change`` answer.
MAX_SINCE_CHANGE = 500
#: Most child threads listed in the header.
MAX_CHILDREN = 500
#: Entries per read when exporting.
EXPORT_PAGE = 500

CHANGE_HEADER = "Threadline-Change"
AFTER_HEADER = "Threadline-After"
BEFORE_HEADER = "Threadline-Before"
RELOAD_HEADER = "Threadline-Reload"

_COLUMNS = sa.select(
    entries.c.pk,
    entries.c.entry_uuid,
    entries.c.ts,
    entries.c.role,
    entries.c.text,
    entries.c.parts,
    entries.c.meta,
    entries.c.change,
    entries.c.seq,
)

Generation = Annotated[int | None, Query(ge=1)]


def _row(r: Any) -> Row:
    parts = json_value(r.parts) if r.parts else None
    meta = json_value(r.meta) if r.meta else None
    return Row(
        pk=int(r.pk),
        id=str(r.entry_uuid),
        ts=str(r.ts),
        role=str(r.role),
        text=str(r.text or ""),
        parts=[p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else [],
        meta=meta if isinstance(meta, dict) else {},
        change=int(r.change),
        seq=int(r.seq),
    )


def _after(
    thread_id: str, key: tuple[str, int] | None, limit: int, *, inclusive: bool = False
) -> sa.Select[Any]:
    query = _COLUMNS.where(entries.c.thread_id == thread_id)
    if key is not None:
        ts, pk = key
        same = entries.c.pk >= pk if inclusive else entries.c.pk > pk
        query = query.where(sa.or_(entries.c.ts > ts, sa.and_(entries.c.ts == ts, same)))
    return query.order_by(entries.c.ts, entries.c.pk).limit(limit)


def _before(
    thread_id: str, key: tuple[str, int], limit: int, columns: sa.Select[Any] = _COLUMNS
) -> sa.Select[Any]:
    ts, pk = key
    return (
        columns.where(
            entries.c.thread_id == thread_id,
            sa.or_(entries.c.ts < ts, sa.and_(entries.c.ts == ts, entries.c.pk < pk)),
        )
        .order_by(entries.c.ts.desc(), entries.c.pk.desc())
        .limit(limit)
    )


def _key(row: Row) -> tuple[str, int]:
    return row.ts, row.pk


def _cursor(row: Row | None) -> str:
    return pages.encode(row.ts, row.pk) if row is not None else ""


def _decode(cursor: str) -> tuple[str, int]:
    ts, pk = pages.decode(cursor, str, int)
    return str(ts), int(pk)


class Page:
    """A page of entries read with its neighbours, and the cursors on either side."""

    def __init__(self, window: Window, has_before: bool, has_after: bool, change: int) -> None:
        self.window = window
        self.change = change
        page = window.page
        self.before = _cursor(page[0]) if page and has_before else ""
        self.after = _cursor(page[-1]) if page and has_after else ""


def _read_page(
    conn: sa.Connection,
    thread_id: str,
    *,
    start_after: tuple[str, int] | None = None,
    end_before: tuple[str, int] | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Row], list[Row], list[Row], bool, bool]:
    """``(before, page, after, more before, more after)``: the page of ``limit`` entries after
    ``start_after`` (or before ``end_before``), plus :data:`render.PAIR_WINDOW` neighbours on
    each side."""
    near = views.PAIR_WINDOW
    if end_before is not None:
        back = [_row(r) for r in conn.execute(_before(thread_id, end_before, limit + near + 1))]
        back.reverse()
        page = back[-limit:]
        earlier = back[:-limit][-near:] if len(back) > limit else []
        query = _after(thread_id, end_before, near, inclusive=True)
        later = [_row(r) for r in conn.execute(query)]
        return earlier, page, later, len(back) > limit, True
    rows = [_row(r) for r in conn.execute(_after(thread_id, start_after, limit + near + 1))]
    page, after = rows[:limit], rows[limit:]
    more_after = len(rows) > limit
    before: list[Row] = []
    more_before = False
    if start_after is not None and page:
        back = [_row(r) for r in conn.execute(_before(thread_id, _key(page[0]), near + 1))]
        back.reverse()
        more_before = bool(back)
        before = back[-near:]
    return before, page, after[:near], more_before, more_after


@dataclass(frozen=True, slots=True)
class ChildThread:
    """What the header shows of a child thread (a subagent's session)."""

    id: str
    name: str
    title: str | None
    meta: dict[str, Any]
    entry_count: int
    created_at: str


_CHILD_COLUMNS = sa.select(
    threads.c.id,
    threads.c.name,
    threads.c.title,
    threads.c.meta,
    threads.c.entry_count,
    threads.c.created_at,
)


def _children(conn: sa.Connection, user_id: int, key: str) -> list[ChildThread]:
    """The live threads of the user whose parent key is ``key``, by start (else creation)."""
    query = (
        _CHILD_COLUMNS.where(
            threads.c.user_id == user_id,
            threads.c.deleted_at.is_(None),
            threads.c.parent_key == key,
        )
        .order_by(threads.c.last_activity_at.desc(), threads.c.id.desc())
        .limit(MAX_CHILDREN)
    )
    found = []
    for r in conn.execute(query):
        meta = json_value(r.meta)
        found.append(
            ChildThread(
                id=r.id,
                name=r.name,
                title=r.title,
                meta=meta if isinstance(meta, dict) else {},
                entry_count=int(r.entry_count),
                created_at=r.created_at,
            )
        )
    # Stored timestamps sort as text in time order.
    return sorted(found, key=lambda t: (str(t.meta.get("started") or ""), t.created_at))


def _page_children(conn: sa.Connection, user_id: int, thread: Any, page: list[Row]) -> list[Child]:
    """The children to match to the page's tool calls: read only when one starts a
    subagent."""
    if not views.starts_subagents(page):
        return []
    return _child_links(_children(conn, user_id, thread.key))


def _child_links(children: list[ChildThread]) -> list[Child]:
    return [
        Child(
            id=t.id,
            title=t.title or t.name,
            agent_id=t.meta.get("agent_id") if isinstance(t.meta.get("agent_id"), str) else None,
            entry_count=t.entry_count,
        )
        for t in children
    ]


def _facts(thread: Any) -> list[tuple[str, str]]:
    meta = thread.meta or {}
    facts = [("Project", thread.project), ("Kind", thread.kind)]
    for label, key in (("Agent", "agent"), ("Model", "model"), ("Branch", "git_branch")):
        if isinstance(meta.get(key), str) and meta[key]:
            facts.append((label, meta[key]))
    if isinstance(meta.get("cwd"), str):
        facts.append(("Folder", meta["cwd"]))
    tokens = meta.get("tokens")
    if isinstance(tokens, dict) and any(isinstance(v, int) and v for v in tokens.values()):
        shown = ", ".join(
            f"{k.replace('_', ' ')} {v:,}" for k, v in tokens.items() if isinstance(v, int) and v
        )
        facts.append(("Tokens", shown))
    return facts


def _fragment(items: list[views.EntryView], thread_id: str, **headers: str) -> HTMLResponse:
    template = env.get_template("_entry.html")
    html = "".join(template.render(e=e, thread_id=thread_id) for e in items)
    response = HTMLResponse(html, headers={k: v for k, v in headers.items() if v is not None})
    secure_headers(response)
    return response


def _is_subagent(thread_row: Any) -> bool:
    return thread_row.parent_key is not None


@router.get("/threads/{thread_id}")
def thread_page(
    request: Request, thread_id: str, user: User, around: str | None = None
) -> Response:
    db = app_state(request).db
    with db.read() as conn:
        row = thread_row(conn, user.user_id, thread_id)
        start: tuple[str, int] | None = None
        if around:
            target = conn.execute(
                sa.select(entries.c.ts, entries.c.pk).where(
                    entries.c.thread_id == thread_id, entries.c.entry_uuid == around
                )
            ).first()
            if target is not None:
                keys = sa.select(entries.c.ts, entries.c.pk)
                query = _before(thread_id, (target.ts, target.pk), AROUND_BEFORE + 1, keys)
                back = conn.execute(query).all()
                if len(back) > AROUND_BEFORE:
                    start = (str(back[-1].ts), int(back[-1].pk))
        before, page, after, more_before, more_after = _read_page(
            conn, thread_id, start_after=start
        )
        children = _children(conn, user.user_id, row.key) if row.child_count else []
    thread = server_threads.thread_model(row)
    window = Window(before, page, after)
    items = views.build_views(window, _child_links(children), thread_is_subagent=_is_subagent(row))
    cursors = Page(window, more_before, more_after, int(row.change))
    meta = thread.meta or {}
    return render(
        request,
        "thread.html",
        thread=thread,
        title=thread.title or thread.name,
        facts=_facts(thread),
        started=meta.get("started") if isinstance(meta.get("started"), str) else None,
        last_activity=thread.last_activity_at.isoformat(),
        children=children,
        items=items,
        page=cursors,
        has_transcript=thread.kind in ("claude-code", "codex"),
    )


@router.get("/threads/{thread_id}/entries")
def entry_fragments(
    request: Request,
    thread_id: str,
    user: User,
    after: str | None = None,
    before: str | None = None,
    since_change: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    db = app_state(request).db
    if since_change is not None:
        return _since_change(db, user, thread_id, since_change)
    with db.read() as conn:
        row = live_thread(conn, user.user_id, thread_id)
        if before:
            parts = _read_page(conn, thread_id, end_before=_decode(before))
        else:
            parts = _read_page(conn, thread_id, start_after=_decode(after) if after else None)
        children = _page_children(conn, user.user_id, row, parts[1])
    window = Window(parts[0], parts[1], parts[2])
    items = views.build_views(window, children, thread_is_subagent=_is_subagent(row))
    cursors = Page(window, parts[3], parts[4], int(row.change))
    return _fragment(
        items,
        thread_id,
        **{
            AFTER_HEADER: cursors.after,
            BEFORE_HEADER: cursors.before,
            CHANGE_HEADER: str(cursors.change),
        },
    )


def _since_change(db: Database, user: WebUser, thread_id: str, since: int) -> Response:
    with db.read() as conn:
        row = live_thread(conn, user.user_id, thread_id)
        found = conn.execute(
            _COLUMNS.where(entries.c.thread_id == thread_id, entries.c.change > since)
            .order_by(entries.c.ts, entries.c.pk)
            .limit(MAX_SINCE_CHANGE + 1)
        ).all()
    rows = [_row(r) for r in found]
    headers = {CHANGE_HEADER: str(max(int(row.change), since))}
    if len(rows) > MAX_SINCE_CHANGE:
        rows = rows[:MAX_SINCE_CHANGE]
        headers[RELOAD_HEADER] = "1"
    items = views.build_views(
        Window([], rows, [], pair=False), thread_is_subagent=_is_subagent(row)
    )
    return _fragment(items, thread_id, **headers)


@router.get("/threads/{thread_id}/entries/{entry_id}/full")
def full_entry(request: Request, thread_id: str, entry_id: str, user: User) -> Response:
    db = app_state(request).db
    near = views.PAIR_WINDOW
    with db.read() as conn:
        row = live_thread(conn, user.user_id, thread_id)
        found = conn.execute(
            _COLUMNS.where(entries.c.thread_id == thread_id, entries.c.entry_uuid == entry_id)
        ).first()
        if found is None:
            raise NotFound(f"no entry {entry_id} in this thread")
        target = _row(found)
        after = [_row(r) for r in conn.execute(_after(thread_id, _key(target), near))]
        before = [_row(r) for r in conn.execute(_before(thread_id, _key(target), near))]
        children = _page_children(conn, user.user_id, row, [target])
    before.reverse()
    window = Window(before, [target], after, full=True)
    items = views.build_views(window, children, thread_is_subagent=_is_subagent(row))
    return _fragment(items, thread_id)


@router.get("/threads/{thread_id}/export.md")
def export_markdown(request: Request, thread_id: str, user: User) -> Response:
    db = app_state(request).db
    with db.read() as conn:
        thread = server_threads.thread_model(thread_row(conn, user.user_id, thread_id))
    facts = _facts(thread)
    facts.append(("Thread", thread.id))
    if thread.meta.get("started"):
        facts.append(("Started", str(thread.meta["started"])))
    facts.append(("Last activity", thread.last_activity_at.isoformat()))
    head = views.export_header(thread.title or thread.name, facts)

    def body() -> Iterator[bytes]:
        yield head.encode()
        key: tuple[str, int] | None = None
        while True:
            with db.read() as conn:
                live_thread(conn, user.user_id, thread_id)
                rows = [_row(r) for r in conn.execute(_after(thread_id, key, EXPORT_PAGE))]
            if not rows:
                return
            yield "".join(views.export_entry(r) for r in rows).encode()
            if len(rows) < EXPORT_PAGE:
                return
            key = _key(rows[-1])

    name = transcripts.filename(thread.meta, thread.id, ".md", name=thread.name)
    response = StreamingResponse(
        body(),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    secure_headers(response)
    return response


@router.get("/threads/{thread_id}/transcript")
def transcript_download(
    request: Request, thread_id: str, user: User, generation: Generation = None
) -> Response:
    response = transcripts.response(app_state(request).db, user.principal, thread_id, generation)
    secure_headers(response)
    return response
