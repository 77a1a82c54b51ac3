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
    from collections.abc import Iterator
    from typing import Any

    from threadline.config import Config
    from threadline.protocol.sse import Event

COMPRESS_OVER = 1024


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

    def _headers(self, accept: str = "application/json", *, auth: bool = True) -> dict[str, str]:
        headers = {
            p.VERSION_HEADER: str(p.PROTOCOL_VERSION),
            "Accept": accept,
            "User-Agent": f"threadline/{__version__}",
        }
        if auth:
            if not self.token:
                raise NotLoggedIn("no token is configured")
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

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
        headers = {
            p.VERSION_HEADER: str(p.PROTOCOL_VERSION),
            "Accept": "application/json",
            "User-Agent": f"threadline/{__version__}",
        }
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
        return _decode(
            request(method, url, headers=headers, body=data, timeout=timeout or self.timeout)
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

    def entries(self, thread_id: str, **query: Any) -> Any:
        return self.call("GET", f"{p.API_PREFIX}/threads/{quote(thread_id)}/entries", query=query)

    def ask(self, body: dict[str, Any], timeout: float | None = None) -> Any:
        """``POST /ask``: the whole answer at once."""
        return self.call("POST", f"{p.API_PREFIX}/ask", body, timeout=timeout)

    def ask_stream(self, body: dict[str, Any], *, idle: float) -> Iterator[Event]:
        """``POST /ask`` as a stream: its events (``delta``, ``done``, ``error``) as they
        arrive, waiting at most ``idle`` seconds for each piece."""
        from threadline.client.http import open_stream
        from threadline.protocol import sse

        headers = self._headers("text/event-stream")
        headers["Content-Type"] = "application/json"
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        data = self._compress(data, headers)
        url = f"{self.base_url}{p.API_PREFIX}/ask"
        with open_stream("POST", url, headers=headers, body=data, timeout=self.timeout,
                         idle=idle) as answer:  # fmt: skip
            if answer.status != 200 or "event-stream" not in answer.headers.get("content-type", ""):
                _decode(Response(answer.status, answer.headers, answer.read()))
                raise ServerRefused(answer.status, "http_error", "the answer was not a stream")
            yield from sse.events(sse.lines_of(answer.chunks()))

    def all_threads(self, **filters: Any) -> list[dict[str, Any]]:
        return self._all("threads", lambda cursor: self.threads(**filters, cursor=cursor))

    def all_entries(self, thread_id: str) -> list[dict[str, Any]]:
        return self._all(
            "entries", lambda cursor: self.entries(thread_id, cursor=cursor, limit=p.MAX_PAGE_SIZE)
        )

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
    text = response.body[:200].decode("utf-8", "replace").strip()
    raise ServerRefused(
        response.status,
        "http_error",
        f"the server answered HTTP {response.status}" + (f": {text}" if text else ""),
        hint="Check that the server URL points at a Threadline server.",
    )
