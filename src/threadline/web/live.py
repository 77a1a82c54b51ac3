"""Live updates: ``GET /events``, server-sent events for the signed-in user.

Each event names the user's threads that changed since the last one, and the hand-off saves
created since then (the ``saves`` key is there only when there are some)::

    id: 412
    event: change
    data: {"threads": [{"id": "…", "change": 412, "entry_count": 7,
                        "last_activity_at": "…", "deleted": false}],
           "saves": [{"id": "…", "thread_id": "…", "change": 412}]}

- The ``id`` is the user's change cursor (``user_cursors``); an event lists every thread (and
  save) whose ``change`` is above the previous event's id and at most its own, so nothing is
  sent twice and nothing is skipped: a cursor value is committed only after every change below
  it.
- A stream starts at the cursor of the moment (nothing old is sent), or after the ``Last-Event-ID``
  header a reconnecting ``EventSource`` sends, or after ``?since=N``. A value above the current
  cursor (a restored database) counts as the current cursor; one that is not ASCII digits
  (``²`` is a digit to :meth:`str.isdigit`, not to ``int``) or does not fit 2⁶³ − 1 is ignored.
- Changes are found by reading the user's cursor row every :data:`POLL_SECONDS` — one indexed
  read, so it works across server processes and replicas sharing a PostgreSQL database. A
  comment line goes out every :data:`KEEPALIVE_SECONDS` so proxies keep the connection open.
- A stream ends when the client goes away, and when the server shuts down (uvicorn waits for
  open responses before exiting, so a stream must not outlive a SIGTERM).
- At most :data:`MAX_STREAMS_PER_USER` streams per user and server process; beyond that the
  answer is ``429``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict

import anyio
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from threadline.errors import TooManyRequests
from threadline.services import changes, handoff, inputs
from threadline.services.changes import ThreadChange
from threadline.services.context import app_state
from threadline.services.handoff import SaveChange
from threadline.web.sessions import User

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
MAX_STREAMS_PER_USER = 20
#: How long a browser waits before reconnecting a broken stream (the ``retry:`` field).
RETRY_MS = 2000

_open: Counter[int] = Counter()
_open_lock = threading.Lock()


def event(cursor: int, changed: list[ThreadChange], saved: Sequence[SaveChange] = ()) -> bytes:
    body: dict[str, object] = {"threads": [asdict(c) for c in changed]}
    if saved:
        body["saves"] = [asdict(c) for c in saved]
    data = json.dumps(body, separators=(",", ":"))
    return f"id: {cursor}\nevent: change\ndata: {data}\n\n".encode()


def start_after(request: Request, since: str | None) -> int | None:
    """Where a stream resumes: ``Last-Event-ID`` first, then ``?since=``; ``None`` for now."""
    for value in (request.headers.get("last-event-id"), since):
        number = inputs.ascii_int(value)
        if number is not None:
            return number
    return None


def shutting_down() -> bool:
    """Whether the uvicorn server of this process has been told to exit.

    uvicorn handles SIGTERM and SIGINT with a bound method of its ``Server`` while it runs;
    its ``should_exit`` turns true at the signal. Elsewhere (tests in process) it is never true.
    """
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return bool(getattr(server, "should_exit", False))


class EventStream(StreamingResponse):
    """A streaming response that gives back its slot in the per-user count however it ends."""

    def __init__(self, content: AsyncIterator[bytes], user_id: int) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.user_id = user_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            _give_slot(self.user_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


def _take_slot(user_id: int) -> None:
    with _open_lock:
        if _open[user_id] >= MAX_STREAMS_PER_USER:
            raise TooManyRequests(
                f"too many live pages open ({MAX_STREAMS_PER_USER} at most per user)",
                hint="Close some Threadline tabs; the others keep updating.",
            )
        _open[user_id] += 1


def _give_slot(user_id: int) -> None:
    with _open_lock:
        _open[user_id] -= 1
        if _open[user_id] <= 0:
            del _open[user_id]


@router.get("/events")
async def events(request: Request, user: User, since: str | None = None) -> StreamingResponse:
    db = app_state(request).db
    user_id = user.user_id
    wanted = start_after(request, since)
    _take_slot(user_id)
    try:
        now = await anyio.to_thread.run_sync(changes.read_cursor, db, user_id)
    except BaseException:
        _give_slot(user_id)
        raise
    last = now if wanted is None else min(wanted, now)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal last
        yield f"retry: {RETRY_MS}\n: live since {last}\n\n".encode()
        quiet_since = time.monotonic()
        first = True
        while True:
            if not first:
                await anyio.sleep(POLL_SECONDS)
            first = False
            if shutting_down() or await request.is_disconnected():
                return
            cursor = await anyio.to_thread.run_sync(changes.read_cursor, db, user_id)
            if cursor > last:
                changed = await anyio.to_thread.run_sync(
                    changes.changed_threads, db, user_id, last, cursor
                )
                saved = await anyio.to_thread.run_sync(
                    handoff.changed_saves, db, user_id, last, cursor
                )
                last = cursor
                if changed or saved:
                    quiet_since = time.monotonic()
                    yield event(cursor, changed, saved)
                    continue
            if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"

    return EventStream(stream(), user_id)
