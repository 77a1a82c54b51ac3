"""Hostile input at the HTTP edge: the protocol header, NUL in addresses, wire types, integer
bounds and compressed bodies — each a clear 4xx, never a 500, on every backend."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
import zstandard

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream
from tests.server.test_http import assert_error

BIG = 2**63  # one past what a BIGINT holds
STREAM = "5c0f0000-0000-4000-8000-000000000001"


def push(client: AsgiClient, account: Account, body: Any, **kwargs: Any) -> Any:
    return client.post("/api/v1/sync/push", json=body, headers=account.headers, **kwargs)


def errors_at(response: Any) -> list[list[Any]]:
    info = assert_error(response, 422, "invalid_request")
    return [error["loc"] for error in info["detail"]["errors"]]


# --- Threadline-Protocol ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "1²", "١", "𝟙", "9" * 5000, " ", "+1", "0x1"])
@pytest.mark.parametrize("path", ["/api/v1/threads", "/"])
def test_protocol_header_takes_only_ascii_digits(client: AsgiClient, path: str, value: str) -> None:
    try:
        header = value.encode("latin-1")  # "²" is one byte, 0xB2, that str.isdigit() takes
    except UnicodeEncodeError:
        header = value.encode()
    response = client.get(path, headers={"Threadline-Protocol": header})
    info = assert_error(response, 400, "unsupported_protocol")
    assert info["detail"]["supported"] == [1]


def test_content_length_of_many_digits_is_over_the_limit(client: AsgiClient) -> None:
    response = client.post(
        "/api/v1/auth/login", content=b"{}", headers={"content-length": "9" * 5000}
    )
    assert_error(response, 413, "batch_too_large")


# --- NUL in the path or the query string -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/threads?q=%00",
        "/api/v1/threads?project=a%00b",
        "/api/v1/threads/%00",
        "/api/v1/threads/%00/entries",
        "/api/v1/sync/status?device_id=%00",
        "/api/v1/nope%00",
        "/healthz?x=%00",
    ],
)
def test_nul_in_an_api_address_is_400(client: AsgiClient, alice: Account, url: str) -> None:
    info = assert_error(client.get(url, headers=alice.headers), 400, "bad_request")
    assert "NUL" in info["message"]


@pytest.mark.parametrize("url", ["/threads/%00", "/threads?q=%00", "/login?next=%00", "/%00"])
def test_nul_in_a_web_address_is_a_plain_400_page(client: AsgiClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "NUL" in response.text and "<script" not in response.text


def test_nul_in_a_post_address_is_refused_before_the_body(
    client: AsgiClient, alice: Account
) -> None:
    response = client.post("/api/v1/threads/%00/entries", json={"text": "x"}, headers=alice.headers)
    assert_error(response, 400, "bad_request")


# --- strict wire types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"seq": "1"}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": 1.0}, "seq"),
        ({"seq": BIG}, "seq"),
        ({"seq": 10**30}, "seq"),
        ({"ts": 0}, "ts"),
        ({"ts": 1700000000}, "ts"),
        ({"ts": "1700000000"}, "ts"),
        ({"ts": True}, "ts"),
        ({"text": 5}, "text"),
        ({"meta": {"a\x00": 1}}, "meta"),
        ({"meta": {"a": "x\x00y"}}, "meta"),
        ({"meta": {"a": [{"b": ["\x00"]}]}}, "meta"),
        ({"parts": [{"type": "text", "text": "\x00"}]}, "parts"),
        ({"parts": [{"\x00": "x"}]}, "parts"),
    ],
)
def test_push_entry_fields_are_strict(
    client: AsgiClient, alice: Account, fields: dict[str, Any], field: str
) -> None:
    body = push_body(stream(STREAM, [{**entry(1), **fields}]))
    locations = errors_at(push(client, alice, body))
    assert ["body", "streams", 0, "entries", 0, field] in [loc[:6] for loc in locations]


@pytest.mark.parametrize("generation", [BIG, 10**40, "2", True, 0])
def test_push_generation_is_a_bigint(client: AsgiClient, alice: Account, generation: Any) -> None:
    body = push_body(stream(STREAM, [entry(1)]))
    body["streams"][0]["generation"] = generation
    locations = errors_at(push(client, alice, body))
    assert ["body", "streams", 0, "generation"] in [loc[:4] for loc in locations]


def test_thread_meta_with_nul_is_refused(client: AsgiClient, alice: Account) -> None:
    body = push_body(stream(STREAM, [entry(1)], meta={"k": {"x\x00": "v"}}))
    locations = errors_at(push(client, alice, body))
    assert ["body", "streams", 0, "thread", "meta"] in [loc[:5] for loc in locations]
    created = client.post(
        "/api/v1/threads", json={"name": "n", "meta": {"a": "\x00"}}, headers=alice.headers
    )
    assert ["body", "meta"] in errors_at(created)


def test_the_largest_bigint_and_escaped_text_are_accepted(
    client: AsgiClient, alice: Account
) -> None:
    """The bounds are exactly a BIGINT's, and a literal backslash-u0000 text is no NUL."""
    meta = {"note": "\\u0000 is how JSON writes NUL"}
    body = push_body(stream(STREAM, [entry(1, meta=meta, ts="2026-11-21T10:00:00+02:00")]))
    body["streams"][0]["generation"] = BIG - 1
    response = push(client, alice, body)
    assert response.status_code == 200, response.text
    thread_id = response.json()["streams"][0]["thread_id"]
    entries = client.get(f"/api/v1/threads/{thread_id}/entries", headers=alice.headers).json()
    assert entries["entries"][0]["meta"] == meta
    gap = push_body(stream(STREAM, [entry(BIG - 1)]))
    gap["streams"][0]["generation"] = BIG - 1
    assert_error(push(client, alice, gap), 409, "seq_gap")


def test_entry_create_ts_must_be_text(client: AsgiClient, alice: Account) -> None:
    thread = client.post("/api/v1/threads", json={"name": "n"}, headers=alice.headers).json()
    url = f"/api/v1/threads/{thread['id']}/entries"
    response = client.post(url, json={"text": "x", "ts": 0}, headers=alice.headers)
    assert ["body", "ts"] in errors_at(response)
    response = client.post(url, json={"text": "x", "parts": [{"a": "\x00"}]}, headers=alice.headers)
    assert ["body", "parts"] in errors_at(response)


# --- compressed bodies -----------------------------------------------------------------------


def _encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "trailer", [b"x", b"\x00" * 10, gzip.compress(b'{"device_id": "x"}')], ids=repr
)
def test_bytes_after_the_gzip_member_are_refused(
    client: AsgiClient, alice: Account, trailer: bytes
) -> None:
    data = gzip.compress(_encoded(push_body(stream(STREAM, [entry(1)])))) + trailer
    headers = {**alice.headers, "content-encoding": "gzip", "content-type": "application/json"}
    response = client.post("/api/v1/sync/push", content=data, headers=headers)
    info = assert_error(response, 400, "bad_encoding")
    assert "gzip member" in info["message"]
    assert client.get("/api/v1/sync/status", headers=alice.headers).json()["streams"] == []


@pytest.mark.parametrize("checksum", [True, False])
@pytest.mark.parametrize("trailer", [b"x", "second frame"], ids=repr)
def test_bytes_after_the_zstd_frame_are_refused(
    client: AsgiClient, alice: Account, trailer: bytes | str, checksum: bool
) -> None:
    compressor = zstandard.ZstdCompressor(write_checksum=checksum)
    first = compressor.compress(_encoded(push_body(stream(STREAM, [entry(1)]))))
    extra = trailer if isinstance(trailer, bytes) else compressor.compress(b"{}")
    headers = {**alice.headers, "content-encoding": "zstd", "content-type": "application/json"}
    response = client.post("/api/v1/sync/push", content=first + extra, headers=headers)
    info = assert_error(response, 400, "bad_encoding")
    assert "zstd frame" in info["message"]
    response = client.post("/api/v1/sync/push", content=first, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("size", [0, 100, 200_000, 3_000_000])
def test_one_zstd_frame_of_any_shape_is_accepted(
    client: AsgiClient, alice: Account, size: int
) -> None:
    """Raw, RLE and compressed blocks, one or many, all walk to the frame's end."""
    text = ("a" * (size // 2)) + uuid.uuid4().hex * (size // 64)
    body = _encoded(push_body(stream(STREAM, [entry(1, text=text or "x")])))
    headers = {**alice.headers, "content-encoding": "zstd"}
    for level in (1, 19):
        data = zstandard.ZstdCompressor(level=level).compress(body)
        response = client.post("/api/v1/sync/push", content=data, headers=headers)
        assert response.status_code == 200, response.text


# --- the OpenAPI documents the errors --------------------------------------------------------


def test_openapi_documents_every_error_in_the_one_shape(client: AsgiClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(schema)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    statuses: dict[tuple[str, str], set[str]] = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {status for status in responses if status >= "400"}
            statuses[(method, path)] = errors
            for status in errors:
                assert responses[status]["content"]["application/json"]["schema"] == error
            assert "400" in errors
            bearer = "security" in operation or path.endswith("/auth/login")
            assert ("401" in errors) == bearer, (method, path)
            if method in ("post", "patch", "put", "delete"):
                assert {"413", "415"} <= errors, (method, path)
            if "{thread_id}" in path:
                assert "404" in errors, (method, path)
    api = "/api/v1"
    assert statuses[("get", f"{api}/capabilities")] == {"400"}
    assert statuses[("get", "/healthz")] == {"400", "503"}
    assert statuses[("post", f"{api}/auth/login")] == {
        "400",
        "401",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    assert {"404", "409", "422", "503"} <= statuses[("post", f"{api}/sync/push")]
    assert "409" in statuses[("post", f"{api}/threads")]
    assert "409" in statuses[("post", f"{api}/threads/{{thread_id}}/entries")]
    assert "404" not in statuses[("get", f"{api}/me")]
    assert "429" not in statuses[("post", f"{api}/sync/push")]
    body = schema["components"]["schemas"]["ErrorBody"]
    assert body["properties"]["error"] == {"$ref": "#/components/schemas/ErrorInfo"}
    assert set(schema["components"]["schemas"]["ErrorInfo"]["required"]) == {
        "code",
        "message",
        "detail",
    }
