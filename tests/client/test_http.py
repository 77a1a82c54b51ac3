"""The stdlib HTTP client of the push hot path, against crafted answers on a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from threadline.client.http import request
from threadline.errors import ServerUnreachable


@pytest.fixture
def server() -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """A one-shot-per-connection server that answers with the next canned response
    (``SLOW``: none, until the test is over)."""
    answers: list[bytes] = []
    received: list[bytes] = []
    over = threading.Event()
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(x.split(b":")[1])
                    for x in head.split(b"\r\n")
                    if x.lower().startswith(b"content-length")
                ]
                while length and len(body) < length[0]:
                    body += conn.recv(65536)
                received.append(head + b"\r\n\r\n" + body)
                answer = answers.pop(0)
                if answer == b"SLOW":
                    over.wait(30)
                    continue
                for piece in (answer[:7], answer[7:]):  # split writes, like a real server
                    conn.sendall(piece)
                    # The scenario: the answer arrives in two reads. The pause makes the first
                    # piece leave alone; nothing is awaited.
                    time.sleep(0.01)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", answers, received
    over.set()
    sock.close()


def test_content_length_answer_and_request_shape(
    server: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, answers, received = server
    answers.append(b'HTTP/1.1 201 Created\r\nContent-Length: 7\r\nX-A: b\r\n\r\n{"a":1}')
    resp = request("POST", url + "/p?x=1", headers={"X-T": "1"}, body=b"hello", timeout=5)
    assert (resp.status, resp.body, resp.headers["x-a"]) == (201, b'{"a":1}', "b")
    sent = received[0]
    assert sent.startswith(b"POST /p?x=1 HTTP/1.1\r\n")
    assert b"Content-Length: 5\r\n" in sent and sent.endswith(b"\r\n\r\nhello")


def test_chunked_and_read_to_close(server: tuple[str, list[bytes], list[bytes]]) -> None:
    url, answers, _ = server
    answers.append(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    )
    answers.append(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
    assert request("GET", url, timeout=5).body == b"abcde"
    assert request("GET", url, timeout=5).body == b"until close"


def test_refused_and_timeout_are_unreachable(server: tuple[str, list[bytes], list[bytes]]) -> None:
    url, answers, _ = server
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    with pytest.raises(ServerUnreachable, match="cannot connect"):
        request("GET", f"http://127.0.0.1:{port}/", timeout=2)
    answers.append(b"SLOW")  # it never answers: only the client's timeout ends the request
    with pytest.raises(ServerUnreachable, match="timed out"):
        request("GET", url, timeout=0.3)
    with pytest.raises(ServerUnreachable, match="not a valid http"):
        request("GET", "ftp://example/", timeout=1)


def test_errors_never_show_what_may_be_a_secret() -> None:
    """A password pasted where the URL goes, or a ``user:password@`` part, is never echoed."""
    with pytest.raises(ServerUnreachable) as bad:
        request("GET", "s3cret-password/api/v1/me", timeout=1.0)
    assert "s3cret" not in bad.value.message
    assert "http://" in bad.value.message
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ServerUnreachable) as refused:
        request("GET", f"http://alice:hunter22@127.0.0.1:{port}/healthz", timeout=1.0)
    assert "hunter22" not in refused.value.message
    assert f"127.0.0.1:{port}" in refused.value.message


def test_host_header_has_no_user_part(server: tuple[str, list[bytes], list[bytes]]) -> None:
    url, answers, received = server
    answers.append(b"HTTP/1.1 204 No Content\r\n\r\n")
    authority = url.split("//", 1)[1].split("/", 1)[0]
    request("GET", url.replace("//", "//bob:pw@", 1) + "/x")
    assert f"Host: {authority}\r\n".encode() in received[0]
    assert b"pw" not in received[0]


def test_an_error_page_of_another_server_is_not_quoted() -> None:
    """A URL pointing at another web server answers with its HTML: the error says what the
    status was and where to look, on one line, without the page's markup."""
    from threadline.client.api import _decode
    from threadline.client.http import Response
    from threadline.errors import ServerRefused

    page = b"<!DOCTYPE html>\n<html>\n<head><title>404 Not Found</title></head>\n</html>\n"
    with pytest.raises(ServerRefused) as refused:
        _decode(Response(404, {"content-type": "text/html"}, page))
    assert refused.value.message == "the server answered HTTP 404"
    assert "Threadline server" in refused.value.hint
    with pytest.raises(ServerRefused) as plain:
        _decode(Response(502, {}, b"Bad gateway:\n  upstream down\n"))
    assert plain.value.message == "the server answered HTTP 502: Bad gateway: upstream down"
