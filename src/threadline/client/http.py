"""A small HTTP/1.1 client on :mod:`socket`, for the ``push`` hot path.

:mod:`http.client` pulls in the :mod:`email` package, ≈20 ms of imports on every ``push``;
this module costs ≈5 ms and does just what the protocol needs: one request per connection
(``Connection: close``), a body with ``Content-Length``, an answer with ``Content-Length``,
``chunked`` transfer or read-to-close, an overall deadline, and TLS (``ssl`` is imported only
for ``https`` URLs). :func:`open_stream` reads an answer's body as it arrives instead (the
streamed answers of ``ask``), with a deadline per piece.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from threadline.errors import ServerUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs milliseconds on the push hot path
    from collections.abc import Iterator

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Reader:
    """Buffered reads from a socket that respect one deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _fill(self) -> bool:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit or not self._fill():
                raise ConnectionError("malformed or truncated HTTP answer")
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("connection closed before the end of the answer")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self) -> bytes:
        while self._fill():
            if len(self.buf) > MAX_BODY_BYTES:
                raise ConnectionError("answer too large")
        data, self.buf = self.buf, b""
        return data


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """Send one request and read the whole answer before ``timeout`` seconds have passed.

    Raises :class:`ServerUnreachable` when no answer could be had (refused, timed out, reset).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the value: it may be a secret typed in the wrong place.
        raise ServerUnreachable(
            "the server URL is not an http:// or https:// URL",
            hint="`threadline config` shows the server_url in use and where it came from.",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = _host_port(parts.hostname, parts.port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    try:
        # An ASCII host as bytes skips the idna codec (≈1 ms of imports).
        name = parts.hostname
        host = name.encode("ascii") if name.isascii() else name
        sock = socket.create_connection((host, port), timeout=timeout)  # type: ignore[arg-type]
    except OSError as exc:
        raise ServerUnreachable(f"cannot connect to {where}: {_reason(exc)}") from exc
    try:
        if parts.scheme == "https":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(_head(method, target, where, headers or {}, body) + (body or b""))
        return _read_response(_Reader(sock, deadline), method)
    except (OSError, ValueError) as exc:
        raise ServerUnreachable(f"no answer from {where}: {_reason(exc)}") from exc
    finally:
        sock.close()


def _host_port(host: str, port: int | None) -> str:
    """The server as shown in messages: host and port, never a ``user:password@`` part."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _head(
    method: str, target: str, host: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_response(reader: _Reader, method: str) -> Response:
    head = reader.until(b"\r\n\r\n", MAX_HEADER_BYTES).decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    code = int(status)
    if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
        return Response(code, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(code, headers, _read_chunked(reader))
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY_BYTES:
            raise ValueError("answer too large")
        return Response(code, headers, reader.exactly(length))
    return Response(code, headers, reader.rest())


def _read_chunked(reader: _Reader) -> bytes:
    body = bytearray()
    while True:
        size = int(reader.until(b"\r\n", 1024).split(b";", 1)[0], 16)
        if size == 0:
            reader.until(b"\r\n", MAX_HEADER_BYTES)  # end of (empty) trailers
            return bytes(body)
        body += reader.exactly(size)
        reader.exactly(2)
        if len(body) > MAX_BODY_BYTES:
            raise ValueError("answer too large")


class Stream:
    """An answer whose body is read as it arrives: :meth:`chunks` yields its pieces (chunked
    transfer decoded), waiting at most ``idle`` seconds for each; :meth:`close` ends it."""

    def __init__(self, sock: socket.socket, reader: _Reader, idle: float, where: str) -> None:
        self._sock, self._reader, self._idle, self._where = sock, reader, idle, where
        head = reader.until(b"\r\n\r\n", MAX_HEADER_BYTES).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        self.headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._pieces()
        except (OSError, ValueError) as exc:
            raise ServerUnreachable(
                f"the answer from {self._where} broke off: {_reason(exc)}"
            ) from exc

    def read(self) -> bytes:
        """The whole (rest of the) body."""
        return b"".join(self.chunks())

    def _pieces(self) -> Iterator[bytes]:
        reader = self._reader
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                self._wait()
                size = int(reader.until(b"\r\n", 1024).split(b";", 1)[0], 16)
                if size == 0:
                    return
                self._wait()
                yield reader.exactly(size)
                reader.exactly(2)
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                self._wait()
                piece = reader.exactly(min(left, 65536))
                left -= len(piece)
                yield piece
        else:
            while True:
                self._wait()
                if reader.buf:
                    piece, reader.buf = reader.buf, b""
                    yield piece
                elif not reader._fill():
                    return

    def _wait(self) -> None:
        self._reader.deadline = time.monotonic() + self._idle

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stream(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    idle: float = 120.0,
) -> Stream:
    """Send one request and read the answer's head within ``timeout`` seconds; its body is
    then read as it arrives (:class:`Stream`). :class:`ServerUnreachable` when no answer."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerUnreachable(
            "the server URL is not an http:// or https:// URL",
            hint="`threadline config` shows the server_url in use and where it came from.",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = _host_port(parts.hostname, parts.port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    except OSError as exc:
        raise ServerUnreachable(f"cannot connect to {where}: {_reason(exc)}") from exc
    try:
        if parts.scheme == "https":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(_head(method, target, where, headers or {}, body) + (body or b""))
        return Stream(sock, _Reader(sock, time.monotonic() + timeout), idle, where)
    except (OSError, ValueError, IndexError) as exc:
        sock.close()
        raise ServerUnreachable(f"no answer from {where}: {_reason(exc)}") from exc
