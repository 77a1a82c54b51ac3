"""The client side of protocol v1: one method per route, JSON in and out.

Errors come back as :class:`~threadline.errors.ServerRefused` (the server's code, message and
detail) or :class:`~threadline.errors.ServerUnreachable`. Bodies over a few kB are compressed:
gzip from the standard library by default, zstd when the caller allows heavier imports.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from threadline import __version__
from threadline import protocol as p
from threadline.client.http import Response, request
from threadline.errors import NotLoggedIn, ServerRefused

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from threadline.client.http import Sink
    from threadline.config import Config
    from threadline.protocol.sse import Event

COMPRESS_OVER = 1024
#: A transcript download may go on as long as bytes keep coming; this bounds each wait.
DOWNLOAD_IDLE_TIMEOUT = 60.0


class TranscriptPart:
    """What a transcript download answered besides the bytes it wrote: the stream served, its
    generation, the whole file's line count, and the body's size on the wire."""

    __slots__ = ("generation", "lines_total", "stream_id", "wire_bytes")

    def __init__(self, stream_id: str, generation: int, lines_total: int, wire_bytes: int) -> None:
        self.stream_id = stream_id
        self.generation = generation
        self.lines_total = lines_total
        self.wire_bytes = wire_bytes


class Api:
    def __init__(
        self,
        base_url: str | None,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        zstd: bool = False,
    ) -> None:
        if not base_url:
            raise NotLoggedIn("no server is configured")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.zstd = zstd

    @classmethod
    def from_config(cls, cfg: Config, *, timeout: float = 10.0) -> Api:
        """A client of the configured server with this device's token, sending zstd bodies;
        :class:`~threadline.errors.NotLoggedIn` if either is missing."""
        if not cfg.server_url:
            raise NotLoggedIn("no server is configured")
        if not cfg.token:
            raise NotLoggedIn(f"no token for {cfg.server_url}")
        return cls(cfg.server_url, cfg.token, timeout=timeout, zstd=True)

    # --- plumbing ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        auth: bool = True,
        timeout: float | None = None,
    ) -> Any:
        return _decode(self._send(method, path, body, query=query, auth=auth, timeout=timeout))

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        auth: bool = True,
        timeout: float | None = None,
        sink: Sink | None = None,
        accept: str = "application/json",
    ) -> Response:
        headers = {
            p.VERSION_HEADER: str(p.PROTOCOL_VERSION),
            "Accept": accept,
            "User-Agent": f"threadline/{__version__}",
        }
        if sink is not None:
            headers["Accept-Encoding"] = "gzip"
        if auth:
            if not self.token:
                raise NotLoggedIn("no token is configured")
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            data = self._compress(data, headers)
        url = self.base_url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        return request(
            method, url, headers=headers, body=data, timeout=timeout or self.timeout, sink=sink
        )

    def _compress(self, data: bytes, headers: dict[str, str]) -> bytes:
        if len(data) < COMPRESS_OVER:
            return data
        if self.zstd:
            import zstandard

            headers["Content-Encoding"] = "zstd"
            return bytes(zstandard.ZstdCompressor(level=3).compress(data))
        import zlib

        headers["Content-Encoding"] = "gzip"
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        return compressor.compress(data) + compressor.flush()

    # --- routes --------------------------------------------------------------------------

    def healthz(self, timeout: float | None = None) -> Any:
        return self.call("GET", "/healthz", auth=False, timeout=timeout)

    def capabilities(self) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/capabilities", auth=False)

    def login(self, username: str, password: str, device_id: str, device_name: str) -> Any:
        body = {"username": username, "password": password}
        body.update(device_id=device_id, device_name=device_name)
        return self.call("POST", f"{p.API_PREFIX}/auth/login", body, auth=False)

    def revoke_own_token(self) -> None:
        self.call("DELETE", f"{p.API_PREFIX}/auth/token")

    def me(self, timeout: float | None = None) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/me", timeout=timeout)

    def push(
        self, device_id: str, streams: list[dict[str, Any]], timeout: float | None = None
    ) -> Any:
        body = {"device_id": device_id, "streams": streams}
        return self.call("POST", f"{p.API_PREFIX}/sync/push", body, timeout=timeout)

    def status(self, stream_ids: list[str] | None = None, since: int | None = None) -> Any:
        query = {"stream_id": stream_ids or None, "since": since}
        return self.call("GET", f"{p.API_PREFIX}/sync/status", query=query)

    def threads(self, **filters: Any) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/threads", query=filters)

    def create_thread(self, body: dict[str, Any]) -> Any:
        return self.call("POST", f"{p.API_PREFIX}/threads", body)

    def create_or_get_thread(self, body: dict[str, Any]) -> tuple[Any, bool]:
        """``POST /threads``: the thread and whether it is new (``201``) — a ``scope`` that
        had a live thread answers it with ``200``."""
        response = self._send("POST", f"{p.API_PREFIX}/threads", body)
        return _decode(response), response.status == 201

    def entries(self, thread_id: str, **query: Any) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/threads/{quote(thread_id)}/entries", query=query)

    def thread(self, thread_id: str) -> Any:
        """``ThreadDetail``: the thread with its streams."""
        return self.call("GET", f"{p.API_PREFIX}/threads/{quote(thread_id)}")

    def download_transcript(
        self,
        thread_id: str,
        sink: Sink,
        *,
        stream: str | None = None,
        generation: int | None = None,
        from_line: int = 0,
        to_line: int | None = None,
        timeout: float = DOWNLOAD_IDLE_TIMEOUT,
    ) -> TranscriptPart:
        """Write a thread's transcript file — or its lines ``from_line + 1 … to_line`` — into
        ``sink`` as it arrives (gzip on the wire, never all of it in memory). ``timeout`` bounds
        each wait for more bytes. An error answer raises before anything is written."""
        query: dict[str, Any] = {"stream": stream, "generation": generation}
        query.update(from_line=from_line or None, to_line=to_line)
        path = f"{p.API_PREFIX}/threads/{quote(thread_id)}/transcript"
        answer = self._send(
            "GET", path, query=query, timeout=timeout, sink=sink, accept="application/x-ndjson"
        )
        if not 200 <= answer.status < 300:
            _decode(answer)
        head = answer.headers
        try:
            return TranscriptPart(
                head["threadline-stream-id"],
                int(head["threadline-generation"]),
                int(head["threadline-lines-total"]),
                answer.wire_bytes,
            )
        except (KeyError, ValueError):
            raise ServerRefused(
                answer.status,
                "http_error",
                "the transcript answer lacks its Threadline-Stream-Id, Threadline-Generation "
                "or Threadline-Lines-Total header",
                hint="The server may be older than this client: upgrade it.",
            ) from None

    def transcript_digest(
        self,
        thread_id: str,
        *,
        stream: str | None = None,
        from_line: int = 0,
        to_line: int | None = None,
    ) -> Any:
        """``TranscriptDigest``: the SHA-256 of the lines ``from_line + 1 … to_line``."""
        query = {"stream": stream, "from_line": from_line or None, "to_line": to_line}
        path = f"{p.API_PREFIX}/threads/{quote(thread_id)}/transcript/digest"
        return self.call("GET", path, query=query)

    def search(self, q: str, **filters: Any) -> Any:
        """``GET /api/v1/search``: ``filters`` are its parameters (``project``, ``kind``,
        ``agent``, ``thread``, ``role``, ``scope``, ``since``, ``until``, ``limit``,
        ``cursor``); ``None`` values are left out."""
        return self.call("GET", f"{p.API_PREFIX}/search", query={"q": q, **filters})

    def ask(self, body: dict[str, Any], timeout: float | None = None) -> Any:
        """``POST /ask``: the whole answer at once."""
        return self.call("POST", f"{p.API_PREFIX}/ask", body, timeout=timeout)

    def ask_stream(
        self, body: dict[str, Any], on_event: Callable[[Event], object], *, idle: float
    ) -> None:
        """``POST /ask`` as a stream: ``on_event`` gets each of its events (``delta``,
        ``done``, ``error``) as it arrives; at most ``idle`` seconds are waited for each
        piece. An error answer (before the stream) raises as :meth:`call` does."""
        events = _EventSink(on_event)
        answer = self._send(
            "POST", f"{p.API_PREFIX}/ask", body, timeout=idle, sink=events,
            accept="text/event-stream",
        )  # fmt: skip
        if not 200 <= answer.status < 300:
            _decode(answer)
        events.close()

    def all_threads(self, **filters: Any) -> list[dict[str, Any]]:
        return self._all("threads", lambda cursor: self.threads(**filters, cursor=cursor))

    def all_entries(self, thread_id: str) -> list[dict[str, Any]]:
        return self._all(
            "entries", lambda cursor: self.entries(thread_id, cursor=cursor, limit=p.MAX_PAGE_SIZE)
        )

    # --- hand-off: blobs and saves -------------------------------------------------------

    def has_blob(self, sha256: str) -> bool:
        """Whether the server holds the blob ``sha256`` (of this user)."""
        response = self._bytes("HEAD", f"{p.API_PREFIX}/blobs/{sha256}", ok=(200, 404))
        return response.status == 200

    def put_blob(self, sha256: str, data: bytes) -> bool:
        """Upload a blob (compressed on the wire); ``True`` if it was new."""
        response = self._bytes("PUT", f"{p.API_PREFIX}/blobs/{sha256}", data)
        return response.status == 201

    def get_blob(self, sha256: str) -> bytes:
        response = self._bytes("GET", f"{p.API_PREFIX}/blobs/{sha256}")
        if response.headers.get("content-encoding", "").lower() == "zstd":
            import zstandard

            return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(response.body))
        return response.body

    def create_save(self, body: dict[str, Any]) -> Any:
        return self.call("POST", f"{p.API_PREFIX}/saves", body)

    def saves(self, **query: Any) -> Any:
        """One page of saves, newest first (``remote_key``, ``session_id``, ``limit``,
        ``cursor``)."""
        return self.call("GET", f"{p.API_PREFIX}/saves", query=query)

    def all_saves(self, **filters: Any) -> list[dict[str, Any]]:
        return self._all(
            "saves", lambda cursor: self.saves(**filters, cursor=cursor, limit=p.MAX_PAGE_SIZE)
        )

    def get_save(self, save_id: str) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/saves/{quote(save_id)}")

    def delete_save(self, save_id: str) -> None:
        self.call("DELETE", f"{p.API_PREFIX}/saves/{quote(save_id)}")

    def _bytes(
        self, method: str, path: str, data: bytes | None = None, *, ok: tuple[int, ...] = ()
    ) -> Response:
        """A request whose body and answer are bytes, not JSON; an error status not in
        ``ok`` raises as :meth:`call` does."""
        headers = {
            p.VERSION_HEADER: str(p.PROTOCOL_VERSION),
            "User-Agent": f"threadline/{__version__}",
            "Authorization": f"Bearer {self.token}",
        }
        if self.zstd:
            headers["Accept-Encoding"] = "zstd"
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
            data = self._compress(data, headers)
        response = request(
            method, self.base_url + path, headers=headers, body=data, timeout=self.timeout
        )
        if response.status >= 400 and response.status not in ok:
            _decode(response)  # raises ServerRefused with the server's error
        return response

    @staticmethod
    def _all(field: str, fetch: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = fetch(cursor)
            items.extend(page[field])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


class _EventSink:
    """A download sink that hands each complete server-sent event to ``on_event``."""

    def __init__(self, on_event: Callable[[Event], object]) -> None:
        from threadline.protocol import sse

        self.sse = sse
        self.on_event = on_event
        self.pending = b""

    def write(self, data: bytes) -> None:
        *complete, self.pending = (self.pending + data).split(b"\n\n")
        for block in complete:
            self._hand(block)

    def close(self) -> None:
        if self.pending.strip():
            self._hand(self.pending)
        self.pending = b""

    def _hand(self, block: bytes) -> None:
        lines = block.decode("utf-8", "replace").split("\n")
        for event in self.sse.events(lines):
            self.on_event(event)


def _decode(response: Response) -> Any:
    try:
        data = json.loads(response.body) if response.body else None
    except ValueError:
        data = None
    if 200 <= response.status < 300:
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        detail = error.get("detail") if isinstance(error.get("detail"), dict) else {}
        hint = detail.get("hint") if isinstance(detail, dict) else None
        raise ServerRefused(
            response.status,
            str(error.get("code", "error")),
            str(error.get("message", f"HTTP {response.status}")),
            detail,
            hint=hint if isinstance(hint, str) else None,
        )
    text = " ".join(response.body[:200].decode("utf-8", "replace").split())
    if text.startswith("<"):  # a page of another server: its markup says nothing here
        text = ""
    raise ServerRefused(
        response.status,
        "http_error",
        f"the server answered HTTP {response.status}" + (f": {text}" if text else ""),
        hint="Check that the server URL points at a Threadline server.",
    )
