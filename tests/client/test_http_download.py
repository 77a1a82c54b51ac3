"""Downloads into a file: the body goes to the sink piece by piece, gzip-decoded, whatever
the framing; error answers are kept as bodies; a full disk is the disk's error."""

from __future__ import annotations

import errno
import gzip
import io

import pytest

from tests.client.test_http import server  # noqa: F401 (the fixture)
from threadline.client.http import request
from threadline.errors import ServerUnreachable

Server = tuple[str, list[bytes], list[bytes]]
BODY = b'{"a": 1}\n' * 5000 + "é\n".encode()


def _chunked(data: bytes, size: int = 1000) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_the_body_goes_into_the_sink(server: Server, framing: str, gzipped: bool) -> None:  # noqa: F811
    url, answers, received = server
    wire = gzip.compress(BODY) if gzipped else BODY
    head = b"HTTP/1.1 200 OK\r\nX-Total: 7\r\n"
    if gzipped:
        head += b"Content-Encoding: gzip\r\n"
    if framing == "length":
        answers.append(head + b"Content-Length: %d\r\n\r\n" % len(wire) + wire)
    elif framing == "chunked":
        answers.append(head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(wire))
    else:
        answers.append(head + b"\r\n" + wire)
    sink = io.BytesIO()
    answer = request("GET", url + "/t", headers={"Accept-Encoding": "gzip"}, sink=sink, timeout=5)
    assert (answer.status, answer.body, answer.headers["x-total"]) == (200, b"", "7")
    assert sink.getvalue() == BODY
    assert answer.wire_bytes == len(wire)
    assert b"Accept-Encoding: gzip\r\n" in received[0]


def test_an_error_answer_is_kept_not_written(server: Server) -> None:  # noqa: F811
    url, answers, _ = server
    answers.append(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
    sink = io.BytesIO()
    answer = request("GET", url, sink=sink, timeout=5)
    assert (answer.status, answer.body, sink.getvalue()) == (404, b"{}", b"")


@pytest.mark.parametrize(
    "body",
    [gzip.compress(BODY)[:-9], gzip.compress(BODY) + b"junk", b"not gzip at all"],
    ids=["truncated", "trailing", "garbage"],
)
def test_a_gzip_body_that_does_not_decode_is_an_unreachable_server(
    server: Server,  # noqa: F811
    body: bytes,
) -> None:
    url, answers, _ = server
    answers.append(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    with pytest.raises(ServerUnreachable, match="gzip"):
        request("GET", url, sink=io.BytesIO(), timeout=5)


def test_an_answer_cut_short_is_an_unreachable_server(server: Server) -> None:  # noqa: F811
    url, answers, _ = server
    answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    with pytest.raises(ServerUnreachable, match="closed before the end"):
        request("GET", url, sink=io.BytesIO(), timeout=5)


class FullDisk(io.BytesIO):
    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_the_disks_error_not_the_servers(server: Server) -> None:  # noqa: F811
    url, answers, _ = server
    answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    with pytest.raises(OSError, match="No space left") as caught:
        request("GET", url, sink=FullDisk(), timeout=5)
    assert not isinstance(caught.value, ServerUnreachable)
