"""A real ``threadline serve`` with users, and what a test does to it from outside: sign in with
a cookie jar, push entries with a bearer token over the REST API, read ``/events``.

Used by the browser tests and by ``tests/web/test_live.py`` (server-sent events need a socket).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.helpers.server import Account, ServerProcess, create_user_and_token
from tests.helpers.web import PASSWORD, csrf_of

DEVICE_ID = "2f6e0000-0000-4000-8000-0000000000b1"
#: The comment that opens every ``/events`` stream, after ``retry:``: the stream is live.
LIVE_SINCE = ": live since "


def account(server: ServerProcess, user: str) -> Account:
    """``user`` with :data:`PASSWORD` and a fresh bearer token, on the server's database."""
    return create_user_and_token(server.database_url, user, PASSWORD)


@contextmanager
def signed_in(server: ServerProcess, user: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP client with a browser session of ``user`` (its cookies in the jar)."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": user, "password": password, "csrf": csrf_of(page.text)},
        )
        assert answer.status_code == 303, answer.text[:500]
        yield client


@dataclass
class Notes:
    """A note thread written over ``POST /api/v1/sync/push`` with one stream, seq by seq."""

    server: ServerProcess
    who: Account
    name: str = "main"
    project: str = "shop"
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    thread_id: str = ""

    def push(self, *texts: str, role: str = "assistant") -> list[str]:
        """Push entries; return their ids (and remember the thread's id)."""
        entries: list[dict[str, Any]] = []
        for text in texts:
            self.seq += 1
            entries.append(
                {
                    "seq": self.seq,
                    "id": str(uuid.uuid4()),
                    "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "role": role,
                    "text": text,
                }
            )
        self.push_entries(entries)
        return [e["id"] for e in entries]

    def push_entries(self, entries: list[dict[str, Any]]) -> None:
        thread = {
            "key": f"note:{self.project}:{self.name}",
            "kind": "note",
            "name": self.name,
            "project": self.project,
        }
        body = {
            "device_id": DEVICE_ID,
            "streams": [{"stream_id": self.stream_id, "thread": thread, "entries": entries}],
        }
        answer = httpx.post(
            f"{self.server.url}/api/v1/sync/push", json=body, headers=self.who.headers, timeout=60
        )
        assert answer.status_code == 200, answer.text[:500]
        if not self.thread_id:
            found = httpx.get(
                f"{self.server.url}/api/v1/threads",
                params={"project": self.project},
                headers=self.who.headers,
            ).json()["threads"]
            self.thread_id = next(t["id"] for t in found if t["name"] == self.name)


@dataclass
class Event:
    id: str | None
    name: str
    data: Any
    at: float


def read_events(lines: Iterator[str]) -> Iterator[Event]:
    """Parse a ``text/event-stream`` into events (comments and ``retry:`` are skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                data = json.loads(fields["data"])
                name = fields.get("event", "message")
                yield Event(fields.get("id"), name, data, time.monotonic())
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value


class StreamEnded(AssertionError):
    """The server ended an event stream, which it never does while it serves it."""


class EventReader:
    """``GET /events`` read on a background thread; :meth:`next` waits for the next event.

    The answer must have a status in ``expect`` (200, an open stream, unless the caller says
    otherwise); only a 200 answer is read. A read error or the end of the stream is raised by
    :meth:`next` (at that call and every later one), never taken for "no event".

    An open stream is returned only once it is live: the server's first bytes,
    ``retry: …`` and ``: live since N``, have arrived (``since`` is that N), so every change
    made after the constructor returns is sent on it.
    """

    def __init__(
        self,
        client: httpx.Client,
        headers: dict[str, str] | None = None,
        url: str = "/events",
        *,
        expect: Collection[int] = (200,),
    ) -> None:
        import queue
        import threading

        self._queue: queue.Queue[Event | BaseException | None] = queue.Queue()
        self._failure: BaseException | None = None
        self._live = threading.Event()
        self.since: int | None = None
        self._context = client.stream(
            "GET", url, headers=headers or {}, timeout=httpx.Timeout(10, read=None)
        )
        self.response = self._context.__enter__()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        status = self.response.status_code
        if status not in expect:
            body = self.response.read().decode(errors="replace") if status != 200 else ""
            self._context.__exit__(None, None, None)
            raise AssertionError(f"GET {url}: status {status}, expected {sorted(expect)}: {body}")
        if status == 200:
            self._thread.start()
            self._wait_live(url)
        else:
            self._failure = AssertionError(f"GET {url} answered {status}: there is no stream")

    def _wait_live(self, url: str, timeout: float = 10.0) -> None:
        """Block until the stream's ``: live since N`` line has been read."""
        self._live.wait(timeout)
        if self.since is None:
            self.close()
            problem = "" if self._queue.empty() else f": {self._queue.get()!r}"
            raise AssertionError(f"GET {url}: no ': live since N' line within {timeout} s{problem}")

    def _lines(self) -> Iterator[str]:
        """The stream's lines, noting the ``: live since N`` line that says it is live."""
        for line in self.response.iter_lines():
            if self.since is None and line.startswith(LIVE_SINCE):
                self.since = int(line.removeprefix(LIVE_SINCE))
                self._live.set()
            yield line

    def _pump(self) -> None:
        try:
            for item in read_events(self._lines()):
                self._queue.put(item)
            self._queue.put(None)
        except Exception as exc:  # handed to next(); after close() nobody asks any more
            self._queue.put(exc)
        finally:
            self._live.set()  # a stream that ended before it was live wakes the constructor

    def next(self, timeout: float = 5.0) -> Event | None:
        """The next event, or ``None`` if none comes within ``timeout``.

        Raises the read's error if reading failed, :class:`StreamEnded` if the stream ended.
        """
        import queue

        if self._failure is not None:
            raise self._failure
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, Event):
            return item
        if item is None:
            self._failure = StreamEnded(f"the server ended the event stream {self.response.url}")
        else:
            self._failure = item
        raise self._failure

    def close(self) -> None:
        """Hang up: shut the socket down first, which wakes the reading thread at once."""
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._context.__exit__(None, None, None)
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
