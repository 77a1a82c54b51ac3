"""A small HTTP/1.1 client on :mod:`socket`, for the ``push`` hot path.

:mod:`http.client` pulls in the :mod:`email` package, ≈20 ms of imports on every ``push``;
this module costs ≈5 ms and does just what the protocol needs: one request per connection
(``Connection: close``), a body with ``Content-Length``, an answer with ``Content-Length``,
``chunked`` transfer or read-to-close, an overall deadline, and TLS (``ssl`` is imported only
for ``https`` URLs).

A download can go straight into a file (``sink``): a successful answer's body is written
there piece by piece, gzip-decoded when the server compressed it, so memory stays bounded
whatever its size; the deadline then counts from the last bytes received instead.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from threadline.errors import BadServerUrl, ServerUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time (the push hot path)
    from typing import Protocol

    class Sink(Protocol):
        """Where a download's body goes: anything with ``write(bytes)``."""

        def write(self, data: bytes, /) -> object: ...


MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024


class Response:
    __slots__ = ("body", "headers", "status", "wire_bytes")

    def __init__(
        self, status: int, headers: dict[str, str], body: bytes, wire_bytes: int = 0
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        #: Body bytes as they came over the wire (compressed, if they were), for a download.
        self.wire_bytes = wire_bytes


class _Reader:
    """Buffered reads from a socket that respect one deadline (with ``idle``, a deadline
    that moves on whenever bytes arrive)."""

    def __init__(self, sock: socket.socket, deadline: float, idle: float | None = None) -> None:
        self.sock = sock
        self.deadline = deadline
        self.idle = idle
        self.buf = b""

    def _fill(self) -> bool:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        self.buf += chunk
        if chunk and self.idle is not None:
            self.deadline = time.monotonic() + self.idle
        return bool(chunk)

    def take(self, most: int) -> bytes:
        """Up to ``most`` bytes, at least one (reading if none is buffered); b"" at the end."""
        if not self.buf and not self._fill():
            return b""
        data, self.buf = self.buf[:most], self.buf[most:]
        return data

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
    sink: Sink | None = None,
) -> Response:
    """Send one request and read the whole answer before ``timeout`` seconds have passed.

    With ``sink``, the body of a ``2xx`` answer is written there instead of kept (gzip-decoded
    if it came compressed), and ``timeout`` bounds each wait for more bytes rather than the
    whole answer. Raises :class:`ServerUnreachable` when no answer could be had (refused, timed
    out, reset, a compressed body that does not decode).
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # "http://[::1", a port past 65535 …
        parts, port = urlsplit(""), 0
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the value: it may be a secret typed in the wrong place.
        raise BadServerUrl("the server URL is not a valid http:// or https:// URL")
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
        reader = _Reader(sock, deadline, timeout if sink is not None else None)
        return _read_response(reader, method, sink)
    except _SinkFailed as exc:  # the local file, not the server: its own error
        raise exc.error from None
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


def _read_response(reader: _Reader, method: str, sink: Sink | None = None) -> Response:
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
    if sink is not None and 200 <= code < 300:
        return Response(code, headers, b"", _copy_body(reader, headers, sink))
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


def _copy_body(reader: _Reader, headers: dict[str, str], sink: Sink) -> int:
    """Write the answer's body into ``sink`` piece by piece (decoded if gzipped); the bytes
    that came over the wire."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise ValueError(f"the answer is encoded as {encoding!r}")
    out = _Gunzip(sink) if encoding == "gzip" else sink
    received = 0

    def copy(n: int | None) -> None:
        nonlocal received
        while n is None or n > 0:
            piece = reader.take(65536 if n is None else min(n, 65536))
            if not piece:
                if n is None:
                    return
                raise ConnectionError("connection closed before the end of the answer")
            try:
                out.write(piece)
            except OSError as exc:
                raise _SinkFailed(exc) from exc
            received += len(piece)
            if n is not None:
                n -= len(piece)

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while size := int(reader.until(b"\r\n", 1024).split(b";", 1)[0], 16):
            copy(size)
            reader.exactly(2)
        reader.until(b"\r\n", MAX_HEADER_BYTES)  # end of (empty) trailers
    elif "content-length" in headers:
        copy(int(headers["content-length"]))
    else:
        copy(None)
    if isinstance(out, _Gunzip):
        try:
            out.close()
        except OSError as exc:
            raise _SinkFailed(exc) from exc
    return received


class _SinkFailed(Exception):
    """Writing into the sink failed (a full disk): raised as that ``OSError``, not as an
    unreachable server."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Gunzip:
    """A writable that gunzips what it is given into another one."""

    def __init__(self, target: Sink) -> None:
        import zlib

        self.zlib = zlib
        self.target = target
        self.inflate = zlib.decompressobj(31)

    def write(self, data: bytes) -> None:
        try:
            self.target.write(self.inflate.decompress(data))
        except self.zlib.error as exc:
            raise ValueError(f"the gzip body does not decode: {exc}") from None

    def close(self) -> None:
        self.target.write(self.inflate.flush())
        if not self.inflate.eof or self.inflate.unused_data:
            raise ValueError("the gzip body is truncated or followed by other bytes")
