"""Hand-off saves in the web UI: ``GET /saves``, its live fragments ``GET /saves/rows``, and the
saves of a session on its thread page (:func:`session_saves`).

Each save shows its message, device, branch (or "detached HEAD"), short commit, creation time
and the command that resumes it (``threadline resume <save id>``) with a copy button; on
``/saves`` also its repository (a link that filters by it) and a link to the session's thread.

Filters (query parameters, the same on both routes): ``repo`` — one repository (the save's
``remote_key``, exact); ``thread`` — one session thread's saves. ``GET /saves`` lists the first
:data:`PAGE_SIZE` matching saves, newest first, or the page after ``cursor``, with a "Load more"
link that keeps the filters.

Live-update contract (``static/live.js``): the list is ``<ul id="save-list"
data-change="N" data-live-query="QUERY">`` (on a later page, without ``data-change``: it does
not update), where ``N`` is the user's change cursor when the page was read and ``QUERY`` the
filters as a query string. ``GET /saves/rows?since_change=N&QUERY`` answers the ``_save.html``
items (``<li id="save-ID" data-change="C" data-sort="CREATED|ID">``) of the matching saves
created since ``N``, newest first, with ``Threadline-Change`` (the value to pass next time); at
most :data:`LIVE_LIMIT`, else an empty body and ``Threadline-Reload: 1``. A save deleted since
the page was read stays on it until the next reload.

Everything shown is escaped by the templates; the routes call :mod:`threadline.services.handoff`
only, with the signed-in user's id (another user's saves are never listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline import protocol as p
from threadline.errors import BadRequest
from threadline.services import handoff, inputs
from threadline.services.context import app_state
from threadline.services.handoff import SaveView
from threadline.web.sessions import User
from threadline.web.templating import env, render, secure_headers

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LIVE_LIMIT = 200
#: The newest saves a session's thread page shows (the others are on ``/saves?thread=``).
THREAD_PAGE_SAVES = 20
SHORT_COMMIT = 12
#: Longest filter value taken from an address.
MAX_FILTER_CHARS = p.MAX_KEY_CHARS


@dataclass(frozen=True)
class SaveItem:
    """What one save shows."""

    id: str
    message: str
    device: str
    branch: str | None
    commit: str
    short_commit: str
    remote_key: str
    created: str
    sort: str
    thread_id: str | None
    thread_title: str | None
    session_id: str
    agent: str
    change: int

    @property
    def command(self) -> str:
        """The command that resumes this save on another machine."""
        return f"threadline resume {self.id}"


def save_item(view: SaveView) -> SaveItem:
    save = view.save
    created = save.created.astimezone(UTC).isoformat(timespec="microseconds")
    return SaveItem(
        id=str(save.save_id),
        message=save.message,
        device=save.device,
        branch=save.branch,
        commit=save.commit,
        short_commit=save.commit[:SHORT_COMMIT],
        remote_key=save.remote_key,
        created=created,
        sort=f"{created}|{save.save_id}",
        thread_id=save.thread_id,
        thread_title=view.thread_title,
        session_id=save.session_id,
        agent=save.agent,
        change=view.change,
    )


@dataclass(frozen=True)
class SaveFilters:
    repo: str | None = None
    thread: str | None = None

    @classmethod
    def parse(cls, request: Request) -> SaveFilters:
        args = request.query_params
        return cls(
            repo=(args.get("repo") or "")[:MAX_FILTER_CHARS] or None,
            thread=(args.get("thread") or "")[:MAX_FILTER_CHARS] or None,
        )

    @property
    def active(self) -> bool:
        return bool(self.repo or self.thread)

    def query(self, **extra: str) -> str:
        values = {"repo": self.repo, "thread": self.thread, **extra}
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class SessionSaves:
    """The saves section of a session's thread page."""

    items: list[SaveItem]
    change: int
    more: bool


def session_saves(request: Request, user_id: int, thread_id: str) -> SessionSaves:
    """The newest saves of the session thread ``thread_id``, for its page."""
    views, next_cursor, change = handoff.recent_saves(
        app_state(request).db, user_id, thread_id=thread_id, limit=THREAD_PAGE_SAVES
    )
    return SessionSaves([save_item(v) for v in views], change, next_cursor is not None)


@router.get("/saves")
def saves_page(request: Request, user: User) -> Response:
    filters = SaveFilters.parse(request)
    cursor = request.query_params.get("cursor") or None
    views, next_cursor, change = handoff.recent_saves(
        app_state(request).db,
        user.user_id,
        thread_id=filters.thread,
        remote_key=filters.repo,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    return render(
        request,
        "saves.html",
        items=[save_item(v) for v in views],
        filters=filters,
        change=change,
        paged=cursor is not None,
        next_url=f"/saves?{filters.query(cursor=next_cursor)}" if next_cursor else None,
        show_thread=True,
    )


@router.get("/saves/rows")
def save_rows(request: Request, user: User) -> Response:
    filters = SaveFilters.parse(request)
    since = request.query_params.get("since_change")
    if since is None:
        raise BadRequest(
            "since_change is required",
            hint="Pass the list's data-change value, e.g. /saves/rows?since_change=12.",
        )
    views, change = handoff.changed_views(
        app_state(request).db,
        user.user_id,
        inputs.change_cursor(since),
        thread_id=filters.thread,
        remote_key=filters.repo,
        limit=LIVE_LIMIT,
    )
    headers = {"Threadline-Change": str(change)}
    if views is None:
        headers["Threadline-Reload"] = "1"
    template = env.get_template("_save.html")
    show_thread = filters.thread is None
    html = "".join(template.render(s=save_item(v), show_thread=show_thread) for v in views or [])
    response = HTMLResponse(html, headers=headers)
    secure_headers(response)
    return response
