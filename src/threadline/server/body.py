"""The ASGI layer in front of every route: protocol header, body limits, decompression, 500s.

Guarantees, for every request and response:

- every response carries ``Threadline-Protocol: 1``; a request announcing a version that is not
  an integer ≥ 1 in ASCII digits is ``400 unsupported_protocol``;
- a NUL (``%00``) anywhere in the path or the query string is ``400 bad_request`` for every
  route, before any of them runs: no database can be asked about it (PostgreSQL text cannot
  hold NUL). API paths get the JSON error shape, web pages a short HTML page;
- a request body is read to at most ``max_batch_bytes`` (``413 batch_too_large`` beyond), then
  decompressed as a stream into a buffer capped at ``max_batch_bytes`` as well, so a small
  compressed bomb cannot grow past the limit in memory. A route with a limit of its own
  (:class:`BodyLimit`: a blob upload) is held to that one instead, with its own code; its
  compressed body may exceed it by the few bytes compression adds to incompressible data
  (:attr:`BodyLimit.encoded`). ``zstd`` and ``gzip`` are understood
  (``identity`` is no encoding); anything else is ``415``, a broken stream — or bytes after
  the one gzip member or zstd frame — ``400 bad_encoding``. Routes then see the plain body,
  without ``Content-Encoding``;
- an unexpected exception is logged and answered in the one error shape: ``503 unavailable``
  when it says the database cannot answer or write (:func:`~threadline.server.errors.unavailable`),
  else ``500 internal_error`` (the failed transaction was rolled back, so nothing was stored);
- every ``503`` answer carries ``Retry-After``.
"""

from __future__ import annotations

import io
import json
import logging
import re
import zlib
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from threadline import protocol as p
from threadline.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedEncoding
from threadline.server.errors import (
    RETRY_AFTER_SECONDS,
    error_page,
    is_api_path,
    payload,
    unavailable,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("threadline.server")

_HEADER = p.VERSION_HEADER.lower().encode()
_VERSION = str(p.PROTOCOL_VERSION).encode()
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_CHUNK = 1 << 20
#: A protocol version: ASCII digits only (``str.isdigit`` also takes ``²``), and few of them.
_VERSION_TEXT = re.compile(r"[0-9]{1,9}")
#: Digits of a Content-Length worth reading (more is over any limit).
_MAX_LENGTH_DIGITS = 18
_RETRY_AFTER = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())


@dataclass(frozen=True)
class BodyLimit:
    """The body limit of the ``method`` requests whose path starts with ``prefix``: ``limit``
    bytes once decoded, answered with ``413 code`` beyond."""

    method: str
    prefix: str
    limit: int
    code: str

    @property
    def encoded(self) -> int:
        """The most a compressed body may hold: what zstd or gzip may add to ``limit``
        incompressible bytes (well under 1/128 of them, plus headers)."""
        return self.limit + self.limit // 128 + 1024


class ProtocolMiddleware:
    def __init__(
        self, app: ASGIApp, max_batch_bytes: int, body_limits: Sequence[BodyLimit] = ()
    ) -> None:
        self.app = app
        self.limit = max_batch_bytes
        self.body_limits = tuple(body_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_header(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _with_headers(message)
            await send(message)

        try:
            _refuse_nul(scope)
        except BadRequest as exc:
            await _send_refusal(scope, send_with_header, exc)
            return
        try:
            scope, receive = await self._prepare(scope, receive)
            await self.app(scope, receive, send_with_header)
        except ApiError as exc:
            if started:
                raise
            await _send_error(send_with_header, exc.status, exc.code, exc.message, exc.detail)
        except Exception as exc:
            outage = unavailable(exc)
            if outage is None:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            else:
                log.warning(
                    "%s on %s %s: %r", outage.message, scope.get("method"), scope.get("path"), exc
                )
            if started:
                raise
            if outage is not None:
                await _send_refusal(scope, send_with_header, outage)
                return
            await _send_error(send_with_header, 500, "internal_error", "internal server error", {})

    async def _prepare(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        headers = _headers(scope)
        _check_protocol(headers.get(_HEADER))
        if scope.get("method") not in _BODY_METHODS:
            return scope, receive
        encoding = _encoding(headers.get(b"content-encoding"))
        limit, code, read_limit = self._limits(scope, encoding)
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and _declared_over(declared, read_limit):
            raise _too_large(limit, code)
        body = await _read(receive, read_limit, limit, code)
        body = decompress(body, encoding, limit, code)
        return _rewritten(scope, len(body)), _replay(body, receive)

    def _limits(self, scope: Scope, encoding: str | None) -> tuple[int, str, int]:
        """The decoded limit, its 413 code and the limit of the body as sent."""
        method, path = scope.get("method"), scope.get("path", "")
        for rule in self.body_limits:
            if rule.method == method and path.startswith(rule.prefix):
                return rule.limit, rule.code, rule.encoded if encoding else rule.limit
        return self.limit, p.CODE_BATCH_TOO_LARGE, self.limit


def decompress(
    body: bytes, encoding: str | None, limit: int, code: str = p.CODE_BATCH_TOO_LARGE
) -> bytes:
    """``body`` decoded from ``encoding``, never holding more than ``limit`` output bytes
    (``413 code`` beyond)."""
    if encoding is None or not body:
        return body
    try:
        if encoding == "zstd":
            return _unzstd(body, limit, code)
        return _gunzip(body, limit, code)
    except (zlib.error, EOFError, ValueError) as exc:
        raise _bad_encoding(encoding, str(exc)) from None


def _unzstd(body: bytes, limit: int, code: str) -> bytes:
    import zstandard

    try:
        end = zstd_frame_end(body)
        if end != len(body):
            raise ValueError(f"{len(body) - end} bytes follow the zstd frame; send one frame")
        source = io.BytesIO(body)
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=False)
        out = bytearray()
        while chunk := reader.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise _too_large(limit, code)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None
    return bytes(out)


def zstd_frame_end(body: bytes) -> int:
    """Where the zstd frame at the start of ``body`` ends: its header, its blocks (each with a
    3-byte header: last-block bit, type, size) and its optional 4-byte checksum."""
    import zstandard

    position = zstandard.frame_header_size(body)
    if len(body) < 5:
        raise ValueError("the zstd frame is truncated")
    checksum = 4 if body[4] & 0x04 else 0
    while True:
        if position + 3 > len(body):
            raise ValueError("the zstd frame is truncated")
        header = int.from_bytes(body[position : position + 3], "little")
        kind, size = (header >> 1) & 3, header >> 3
        position += 3 + (1 if kind == 1 else size)  # an RLE block holds one byte
        if header & 1:
            return position + checksum


def _gunzip(body: bytes, limit: int, code: str) -> bytes:
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    data = body
    while data and not stream.eof:
        out += stream.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise _too_large(limit, code)
        data = stream.unconsumed_tail
    if not stream.eof:
        raise ValueError("the gzip stream is truncated")
    if stream.unused_data or data:
        trailing = len(stream.unused_data) + len(data)
        raise ValueError(f"{trailing} bytes follow the gzip member; send one member")
    return bytes(out)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _declared_over(declared: bytes, limit: int) -> bool:
    return len(declared) > _MAX_LENGTH_DIGITS or int(declared) > limit


def _with_headers(message: Message) -> list[tuple[bytes, bytes]]:
    """The answer's headers plus ``Threadline-Protocol``, and ``Retry-After`` on a 503."""
    headers: list[tuple[bytes, bytes]] = [*message.get("headers", []), (_HEADER, _VERSION)]
    if message.get("status") == 503 and not any(k.lower() == b"retry-after" for k, _ in headers):
        headers.append(_RETRY_AFTER)
    return headers


def _refuse_nul(scope: Scope) -> None:
    """``400`` for a NUL in the path or in the query string (raw or percent-encoded)."""
    if "\x00" in scope.get("path", ""):
        where = "path"
    elif b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        where = "query string"
    else:
        return
    raise BadRequest(
        f"the {where} holds a NUL character (%00)",
        code="bad_request",
        detail={"where": where.split()[0]},
        hint="Remove the NUL (%00) from the address.",
    )


async def _send_refusal(scope: Scope, send: Send, exc: ApiError) -> None:
    """The error as JSON for the API; as a short HTML page for a web page."""
    if is_api_path(scope.get("path", "")):
        await _send_error(send, exc.status, exc.code, exc.message, exc.detail)
        return
    await _send(send, exc.status, b"text/html; charset=utf-8", error_page(exc))


def _check_protocol(value: bytes | None) -> None:
    if value is None:
        return
    text = value.decode("latin-1").strip()
    if not (_VERSION_TEXT.fullmatch(text) and int(text) >= 1):
        raise BadRequest(
            f"unsupported {p.VERSION_HEADER} {text!r}",
            code="unsupported_protocol",
            detail={"supported": [p.PROTOCOL_VERSION]},
        )


def _encoding(value: bytes | None) -> str | None:
    if value is None:
        return None
    name = value.decode("latin-1").strip().lower()
    if name in ("", "identity"):
        return None
    if name not in p.ENCODINGS:
        raise UnsupportedEncoding(
            f"Content-Encoding {name!r} is not supported",
            detail={"supported": list(p.ENCODINGS)},
        )
    return name


async def _read(receive: Receive, limit: int, reported: int, code: str) -> bytes:
    """The body, refused (``413 code`` with the limit ``reported``) past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(reported, code)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _rewritten(scope: Scope, length: int) -> Scope:
    skip = {b"content-encoding", b"content-length"}
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in skip]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _too_large(limit: int, code: str = p.CODE_BATCH_TOO_LARGE) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is over the limit of {limit} bytes",
        code=code,
        detail={"limit": limit},
    )


def _bad_encoding(encoding: str, reason: str) -> BadRequest:
    return BadRequest(
        f"the {encoding} body does not decompress: {reason}",
        code="bad_encoding",
        detail={"encoding": encoding},
    )


async def _send_error(send: Send, status: int, code: str, message: str, detail: Any) -> None:
    body = json.dumps(payload(code, message, detail)).encode()
    await _send(send, status, b"application/json", body)


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
