"""The thread page of the web UI: one thread's entries, like a chat, and its downloads.

Routes (all need a signed-in user; another user's thread is ``404``, exactly like a missing
one):

- ``GET /threads/{id}`` — the page: header (title, project, kind, agent, model, branch, token
  totals, first and last activity, parent session, subagent threads) and the first
  :data:`PAGE_SIZE` entries in display order (``ts``, then arrival). ``?around=<entry id>``
  starts the page a little before that entry instead (for ``#entry-<id>`` links into a long
  thread), marks it and unfolds what holds it (its thinking and tool calls, or the call its
  result is shown in: :func:`render.open_target`), so it shows without a click or a script.
- ``GET /threads/{id}/entries?after=<cursor>`` / ``?before=<cursor>`` — the next (previous)
  page as ``_entry.html`` fragments (``<li>`` elements). The cursors come from the page's
  ``data-after`` / ``data-before`` attributes and from the ``Threadline-After`` /
  ``Threadline-Before`` headers of each fragment answer (empty: nothing more that way).
- ``GET /threads/{id}/entries/{entry id}/full`` — one entry as a fragment with nothing cut
  (texts and tool outputs are otherwise cut at :data:`render.MAX_SHOWN` characters).
- ``GET /threads/{id}/export.md`` — the thread as Markdown, tool calls and results included.
- ``GET /threads/{id}/transcript`` — the captured transcript file, byte for byte, as the API's
  ``/api/v1/threads/{id}/transcript`` gives it (``?generation=`` too), with cookie sign-in.

A session's page also lists its newest hand-off saves, each with the command that resumes it
(:mod:`saves_page`), updated live like the entries.

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
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from threadline.protocol.models import Thread
from threadline.services import entries, inputs, threads, transcripts
from threadline.services.context import app_state
from threadline.services.entries import EntryWindow
from threadline.services.threads import ThreadSummary
from threadline.web import render as views
from threadline.web import saves_page
from threadline.web.render import Child, Window
from threadline.web.sessions import User
from threadline.web.templating import env, render, secure_headers

router = APIRouter(include_in_schema=False)

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

Generation = Annotated[int | None, Query(ge=1, le=inputs.MAX_INT)]


class Page:
    """The cursors and change value the page's entries container carries."""

    def __init__(self, window: EntryWindow) -> None:
        self.change = window.change
        self.before = window.before_cursor
        self.after = window.after_cursor


def _view_window(window: EntryWindow, *, full: bool = False, pair: bool = True) -> Window:
    return Window(window.before, window.page, window.after, full=full, pair=pair)


def _items(window: EntryWindow, **options: bool) -> list[views.EntryView]:
    return views.build_views(
        _view_window(window, **options),
        _child_links(window.children),
        thread_is_subagent=window.thread_is_subagent,
    )


def _child_links(children: list[ThreadSummary]) -> list[Child]:
    return [
        Child(
            id=t.id,
            title=t.title or t.name,
            agent_id=t.meta.get("agent_id") if isinstance(t.meta.get("agent_id"), str) else None,
            entry_count=t.entry_count,
        )
        for t in children
    ]


def _facts(thread: Thread) -> list[tuple[str, str]]:
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


@router.get("/threads/{thread_id}")
def thread_page(
    request: Request, thread_id: str, user: User, around: str | None = None
) -> Response:
    thread, window = entries.thread_page(
        app_state(request).db,
        user.user_id,
        thread_id,
        around=around,
        around_before=AROUND_BEFORE,
        limit=PAGE_SIZE,
        near=views.PAIR_WINDOW,
        max_children=MAX_CHILDREN,
    )
    items = _items(window)
    if around:
        views.open_target(items, around)
    meta = thread.meta or {}
    session = thread.kind in ("claude-code", "codex")
    saved = session and thread.parent_key is None  # a subagent is saved with its session
    return render(
        request,
        "thread.html",
        thread=thread,
        title=thread.title or thread.name,
        facts=_facts(thread),
        started=meta.get("started") if isinstance(meta.get("started"), str) else None,
        last_activity=thread.last_activity_at.isoformat(),
        children=window.children,
        items=items,
        page=Page(window),
        has_transcript=session,
        saves=saves_page.session_saves(request, user.user_id, thread.id) if saved else None,
    )


@router.get("/threads/{thread_id}/entries")
def entry_fragments(
    request: Request,
    thread_id: str,
    user: User,
    after: str | None = None,
    before: str | None = None,
    since_change: str | None = None,
) -> Response:
    db = app_state(request).db
    if since_change is not None:
        since = inputs.change_cursor(since_change)
        changed, change, more = entries.changed_entries(
            db, user.user_id, thread_id, since, MAX_SINCE_CHANGE
        )
        headers = {CHANGE_HEADER: str(change)}
        if more:
            headers[RELOAD_HEADER] = "1"
        return _fragment(_items(changed, pair=False), thread_id, **headers)
    window = entries.entry_window(
        db,
        user.user_id,
        thread_id,
        after=after,
        before=before,
        limit=PAGE_SIZE,
        near=views.PAIR_WINDOW,
        want_children=views.starts_subagents,
        max_children=MAX_CHILDREN,
    )
    cursors = Page(window)
    return _fragment(
        _items(window),
        thread_id,
        **{
            AFTER_HEADER: cursors.after,
            BEFORE_HEADER: cursors.before,
            CHANGE_HEADER: str(cursors.change),
        },
    )


@router.get("/threads/{thread_id}/entries/{entry_id}/full")
def full_entry(request: Request, thread_id: str, entry_id: str, user: User) -> Response:
    window = entries.full_entry(
        app_state(request).db,
        user.user_id,
        thread_id,
        entry_id,
        near=views.PAIR_WINDOW,
        want_children=views.starts_subagents,
        max_children=MAX_CHILDREN,
    )
    return _fragment(_items(window, full=True), thread_id)


@router.get("/threads/{thread_id}/export.md")
def export_markdown(request: Request, thread_id: str, user: User) -> Response:
    db = app_state(request).db
    thread = threads.read_thread(db, user.principal, thread_id)
    facts = _facts(thread)
    facts.append(("Thread", thread.id))
    if thread.meta.get("started"):
        facts.append(("Started", str(thread.meta["started"])))
    facts.append(("Last activity", thread.last_activity_at.isoformat()))
    head = views.export_header(thread.title or thread.name, facts)

    def body() -> Iterator[bytes]:
        yield head.encode()
        for rows in entries.export_pages(db, user.user_id, thread_id, EXPORT_PAGE):
            yield "".join(views.export_entry(r) for r in rows).encode()

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
    part = transcripts.Part(generation)
    found = transcripts.download(app_state(request).db, user.principal, thread_id, part)
    response = StreamingResponse(found.body, media_type=found.media_type, headers=found.headers)
    secure_headers(response)
    return response
