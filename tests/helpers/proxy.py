"""A recording HTTP proxy on loopback: it forwards each request to the real server unchanged
and keeps a copy of it and of the answer, decompressed, so a test can assert on exactly what
crossed the wire."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

import zstandard


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    wire_bytes: int
    #: The server's answer, filled in once it has been relayed in full.
    response: Answer | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    """A relayed response: status, headers (lower-case names) and the body, decoded."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def pushes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/api/v1/sync/push")]

    def pushed_entries(self) -> list[dict[str, Any]]:
        return [e for r in self.pushes() for s in r.json()["streams"] for e in s["entries"]]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            head, body = _read_request(client)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            recorded = Recorded(
                method, path, headers, _decode(headers, body), len(head) + len(body)
            )
            with self._lock:
                self.requests.append(recorded)
            # One request per upstream connection, so the answer ends when upstream closes.
            kept = [ln for ln in lines[1:] if not ln.lower().startswith("connection:")]
            out = "\r\n".join([lines[0], *kept, "Connection: close"]).encode("latin-1")
            answer = b""
            try:
                with socket.create_connection(self.upstream, timeout=30) as up:
                    up.sendall(out + b"\r\n\r\n" + body)
                    while chunk := up.recv(65536):
                        answer += chunk
                        client.sendall(chunk)
            except OSError:
                return
            with self._lock:
                recorded.response = _parse_answer(answer)


def _read_request(sock: socket.socket) -> tuple[bytes | None, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def _parse_answer(raw: bytes) -> Answer:
    """A whole HTTP/1.1 response as read until the server closed the connection."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    return Answer(status, headers, _decode(headers, body))


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return out


def _decode(headers: dict[str, str], body: bytes) -> bytes:
    encoding = headers.get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body
