"""The ASGI layer in front of every route: protocol header, body limits, decompression, 500s.

Guarantees, for every request and response:

- every response carries ``Threadline-Protocol: 1``; a request announcing a version that is not
  an integer ≥ 1 is ``400 unsupported_protocol``;
- a request body is read to at most ``max_batch_bytes`` (``413 batch_too_large`` beyond), then
  decompressed as a stream into a buffer capped at ``max_batch_bytes`` as well, so a small
  compressed bomb cannot grow past the limit in memory. ``zstd`` and ``gzip`` are understood
  (``identity`` is no encoding); anything else is ``415``, a broken stream ``400 bad_encoding``.
  Routes then see the plain body, without ``Content-Encoding``;
- an unexpected exception is logged and answered ``500 internal_error`` in the one error shape
  (the failed transaction was rolled back, so nothing was stored).
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from threadline import protocol as p
from threadline.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedEncoding
from threadline.server.errors import payload

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


class ProtocolMiddleware:
    def __init__(self, app: ASGIApp, max_batch_bytes: int) -> None:
        self.app = app
        self.limit = max_batch_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_header(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (_HEADER, _VERSION)]
            await send(message)

        try:
            scope, receive = await self._prepare(scope, receive)
            await self.app(scope, receive, send_with_header)
        except ApiError as exc:
            if started:
                raise
            await _send_error(send_with_header, exc.status, exc.code, exc.message, exc.detail)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _send_error(send_with_header, 500, "internal_error", "internal server error", {})

    async def _prepare(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        headers = _headers(scope)
        _check_protocol(headers.get(_HEADER))
        if scope.get("method") not in _BODY_METHODS:
            return scope, receive
        encoding = _encoding(headers.get(b"content-encoding"))
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            raise _too_large(self.limit)
        body = await _read(receive, self.limit)
        body = decompress(body, encoding, self.limit)
        return _rewritten(scope, len(body)), _replay(body, receive)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded from ``encoding``, never holding more than ``limit`` output bytes."""
    if encoding is None or not body:
        return body
    try:
        if encoding == "zstd":
            return _unzstd(body, limit)
        return _gunzip(body, limit)
    except (zlib.error, EOFError, ValueError) as exc:
        raise _bad_encoding(encoding, str(exc)) from None


def _unzstd(body: bytes, limit: int) -> bytes:
    import zstandard

    source = io.BytesIO(body)
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    out = bytearray()
    try:
        while chunk := reader.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise _too_large(limit)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None
    return bytes(out)


def _gunzip(body: bytes, limit: int) -> bytes:
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    data = body
    while data and not stream.eof:
        out += stream.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise _too_large(limit)
        data = stream.unconsumed_tail
    if not stream.eof:
        raise ValueError("the gzip stream is truncated")
    return bytes(out)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _check_protocol(value: bytes | None) -> None:
    if value is None:
        return
    text = value.decode("latin-1").strip()
    if not (text.isdigit() and int(text) >= 1):
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


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
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


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is over the limit of {limit} bytes",
        code=p.CODE_BATCH_TOO_LARGE,
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
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
