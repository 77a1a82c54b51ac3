"""``POST /api/v1/sync/push``: the append rules of docs/protocol.md, case by case."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import zstandard

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream

PUSH = "/api/v1/sync/push"
S1 = "5c0f0000-0000-4000-8000-000000000001"
DEVICE = b"2f6e0000-0000-4000-8000-000000000001"
S2 = "5c0f0000-0000-4000-8000-000000000002"


def push(client: AsgiClient, who: Account, body: Any, **headers: str) -> Any:
    return client.post(PUSH, json=body, headers={**who.headers, **headers})


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    info: dict[str, Any] = body["error"]
    return info


def test_empty_batch_answers_the_cursor(client: AsgiClient, alice: Account) -> None:
    response = push(client, alice, push_body())
    assert response.status_code == 200
    assert response.json() == {"cursor": 0, "streams": []}
    assert response.headers["Threadline-Protocol"] == "1"


def test_one_entry_creates_thread_and_stream(client: AsgiClient, alice: Account) -> None:
    response = push(client, alice, push_body(stream(S1, [entry(1, "hello")], title="Main")))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["cursor"] == 1
    [result] = answer["streams"]
    assert result["stream_id"] == S1
    assert (result["tail"], result["stored"], result["duplicates"]) == (1, 1, 0)
    assert result["status"] == "ok"
    thread = client.get(f"/api/v1/threads/{result['thread_id']}", headers=alice.headers).json()
    assert thread["key"] == "note:shop:main" and thread["title"] == "Main"
    assert thread["entry_count"] == 1


def test_identical_duplicates_are_no_ops(client: AsgiClient, alice: Account) -> None:
    entries = [entry(1), entry(2)]
    first = push(client, alice, push_body(stream(S1, entries))).json()
    again = push(client, alice, push_body(stream(S1, [*entries, entry(3)])))
    assert again.status_code == 200, again.text
    [result] = again.json()["streams"]
    assert (result["tail"], result["stored"], result["duplicates"]) == (3, 1, 2)
    assert again.json()["cursor"] == first["cursor"] + 1
    retry = push(client, alice, push_body(stream(S1, entries))).json()
    assert retry["cursor"] == again.json()["cursor"], "a pure retry changes nothing"
    assert retry["streams"][0]["duplicates"] == 2


@pytest.mark.parametrize(
    "change",
    [
        {"text": "different"},
        {"id": "0b7d0000-0000-4000-8000-00000000000f"},
        {"role": "user"},
        {"ts": "2030-01-01T00:00:00Z"},
        {"meta": {"k": 1}},
        {"raw": "{}"},
    ],
)
def test_differing_duplicate_is_entry_conflict(
    client: AsgiClient, alice: Account, change: dict[str, Any]
) -> None:
    first = entry(1)
    assert push(client, alice, push_body(stream(S1, [first, entry(2)]))).status_code == 200
    response = push(client, alice, push_body(stream(S1, [{**first, **change}])))
    assert response.status_code == 409
    info = error(response)
    assert info["code"] == "entry_conflict"
    assert info["detail"] == {"stream_id": S1, "seq": 1, "tail": 2}


def test_same_instant_in_another_offset_is_a_duplicate(client: AsgiClient, alice: Account) -> None:
    first = entry(1, ts="2026-11-21T10:00:00+00:00")
    push(client, alice, push_body(stream(S1, [first])))
    same = {**first, "ts": "2026-11-21T11:00:00+01:00"}
    response = push(client, alice, push_body(stream(S1, [same])))
    assert response.status_code == 200 and response.json()["streams"][0]["duplicates"] == 1


def test_entry_id_used_at_another_position_is_conflict(client: AsgiClient, alice: Account) -> None:
    first = entry(1)
    push(client, alice, push_body(stream(S1, [first])))
    moved = {**first, "seq": 1}
    response = push(client, alice, push_body(stream(S2, [moved], key="note:shop:other")))
    assert response.status_code == 409 and error(response)["code"] == "entry_conflict"
    assert error(response)["detail"]["stream_id"] == S2


def test_gap_is_seq_gap_with_tail_and_nothing_is_stored(client: AsgiClient, alice: Account) -> None:
    push(client, alice, push_body(stream(S1, [entry(1), entry(2)])))
    other = stream(S2, [entry(1)], key="note:shop:other")
    response = push(client, alice, push_body(other, stream(S1, [entry(3), entry(5)])))
    assert response.status_code == 409
    info = error(response)
    assert info["code"] == "seq_gap"
    assert info["detail"] == {"stream_id": S1, "tail": 2, "got": 5}
    status = client.get("/api/v1/sync/status", headers=alice.headers).json()
    assert [(s["stream_id"], s["tail"]) for s in status["streams"]] == [(S1, 2)], "all or nothing"


def test_new_stream_not_starting_at_one_is_a_gap(client: AsgiClient, alice: Account) -> None:
    response = push(client, alice, push_body(stream(S1, [entry(2)])))
    assert response.status_code == 409
    assert error(response)["detail"] == {"stream_id": S1, "tail": 0, "got": 2}


@pytest.mark.parametrize("seqs", [[1, 1], [2, 1], [1, 3, 2]])
def test_non_increasing_seq_is_422(client: AsgiClient, alice: Account, seqs: list[int]) -> None:
    response = push(client, alice, push_body(stream(S1, [entry(s) for s in seqs])))
    assert response.status_code == 422
    info = error(response)
    assert info["code"] == "invalid_request"
    [problem] = info["detail"]["errors"]
    assert problem["loc"][:4] == ["body", "streams", 0, "entries"]


def test_stream_listed_twice_is_422(client: AsgiClient, alice: Account) -> None:
    body = push_body(stream(S1, [entry(1)]), stream(S1, [entry(2)]))
    assert push(client, alice, body).status_code == 422


def test_oversize_entry_is_413_with_limit(
    make_client: Callable[..., AsgiClient], alice: Account
) -> None:
    client = make_client(max_entry_bytes=100)
    ok = entry(1, "x" * 40, raw="y" * 40, meta={"a": 1})  # 40 + 40 + len('{"a":1}') = 87
    assert push(client, alice, push_body(stream(S1, [ok]))).status_code == 200
    big = entry(2, "é" * 30, raw="y" * 40)  # 60 + 40 = 100 bytes: at the limit
    assert push(client, alice, push_body(stream(S1, [big]))).status_code == 200
    over = entry(3, "é" * 30, raw="y" * 40, parts=[])  # + "[]" = 102
    response = push(client, alice, push_body(stream(S1, [over])))
    assert response.status_code == 413
    info = error(response)
    assert info["code"] == "entry_too_large"
    assert info["detail"] == {"limit": 100, "size": 102, "stream_id": S1, "seq": 3}


def test_oversize_batch_is_413(make_client: Callable[..., AsgiClient], alice: Account) -> None:
    client = make_client(max_batch_bytes=2000)
    body = push_body(stream(S1, [entry(i, "x" * 300) for i in range(1, 8)]))
    response = push(client, alice, body)
    assert response.status_code == 413
    assert error(response)["code"] == "batch_too_large"
    assert error(response)["detail"]["limit"] == 2000


def test_too_many_entries_is_413(make_client: Callable[..., AsgiClient], alice: Account) -> None:
    client = make_client(max_batch_entries=3)
    response = push(client, alice, push_body(stream(S1, [entry(i) for i in range(1, 5)])))
    assert response.status_code == 413
    assert error(response) == {
        "code": "batch_too_large",
        "message": error(response)["message"],
        "detail": {"limit": 3},
    }


@pytest.mark.parametrize(
    ("raw_body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b"[]", 422, "invalid_request"),
        (b'{"device_id": "x", "streams": []}', 422, "invalid_request"),
        (b'{"device_id": "2f6e0000-0000-4000-8000-000000000001", "streams": 3}', 422, None),
        (
            b'{"device_id": "2f6e0000-0000-4000-8000-000000000001", "streams": [], "x": 1}',
            422,
            None,
        ),
    ],
)
def test_malformed_bodies(
    client: AsgiClient, alice: Account, raw_body: bytes, status: int, code: str | None
) -> None:
    response = client.post(PUSH, content=raw_body, headers=alice.headers)
    assert response.status_code == status, response.text
    info = error(response)
    assert info["code"] == (code or "invalid_request")
    if status == 422:
        assert all(set(e) == {"loc", "msg"} for e in info["detail"]["errors"])


def test_wrong_types_point_at_the_field(client: AsgiClient, alice: Account) -> None:
    body = push_body(stream(S1, [entry(1, role="robot"), {**entry(2), "seq": "two"}]))
    response = push(client, alice, body)
    assert response.status_code == 422
    locs = [e["loc"] for e in error(response)["detail"]["errors"]]
    assert ["body", "streams", 0, "entries", 0, "role"] in locs
    assert ["body", "streams", 0, "entries", 1, "seq"] in locs


def test_unknown_field_is_422(client: AsgiClient, alice: Account) -> None:
    body = push_body(stream(S1, [entry(1, colour="red")]))
    response = push(client, alice, body)
    assert response.status_code == 422
    assert error(response)["detail"]["errors"][0]["loc"][-1] == "colour"


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_compressed_bodies(client: AsgiClient, alice: Account, encoding: str) -> None:
    raw = json.dumps(push_body(stream(S1, [entry(1), entry(2)]))).encode()
    data = zstandard.ZstdCompressor().compress(raw) if encoding == "zstd" else gzip.compress(raw)
    headers = {**alice.headers, "Content-Encoding": encoding, "Content-Type": "application/json"}
    response = client.post(PUSH, content=data, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["streams"][0]["stored"] == 2


@pytest.mark.parametrize(
    ("encoding", "data", "status", "code"),
    [
        ("zstd", b"not zstd at all", 400, "bad_encoding"),
        ("gzip", b"not gzip at all", 400, "bad_encoding"),
        ("gzip", gzip.compress(b'{"device_id": "x"}')[:-6], 400, "bad_encoding"),
        ("br", b"{}", 415, "unsupported_encoding"),
        ("deflate", b"{}", 415, "unsupported_encoding"),
    ],
)
def test_bad_encodings(
    client: AsgiClient, alice: Account, encoding: str, data: bytes, status: int, code: str
) -> None:
    response = client.post(
        PUSH, content=data, headers={**alice.headers, "Content-Encoding": encoding}
    )
    assert response.status_code == status
    assert error(response)["code"] == code


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_compression_bomb_is_413_not_memory(
    make_client: Callable[..., AsgiClient], alice: Account, encoding: str
) -> None:
    client = make_client(max_batch_bytes=1 << 20)
    raw = b" " * (64 << 20)  # 64 MiB of spaces compresses to a few KiB
    data = zstandard.ZstdCompressor().compress(raw) if encoding == "zstd" else gzip.compress(raw)
    assert len(data) < 1 << 20
    response = client.post(
        PUSH, content=data, headers={**alice.headers, "Content-Encoding": encoding}
    )
    assert response.status_code == 413
    assert error(response)["detail"]["limit"] == 1 << 20


def test_meta_is_merged_and_a_sent_title_replaces(client: AsgiClient, alice: Account) -> None:
    first = push(client, alice, push_body(stream(S1, [entry(1)], meta={"a": 1, "b": 1}))).json()
    thread_id = first["streams"][0]["thread_id"]
    second = stream(S1, [entry(2)], title="First title", meta={"b": 2, "c": 3})
    push(client, alice, push_body(second))
    push(client, alice, push_body(stream(S1, [entry(3)], title="Second title")))
    push(client, alice, push_body(stream(S1, [entry(4)])))
    thread = client.get(f"/api/v1/threads/{thread_id}", headers=alice.headers).json()
    assert thread["title"] == "Second title", "a title that is not sent is kept"
    assert thread["meta"] == {"a": 1, "b": 2, "c": 3}
    assert thread["entry_count"] == 4


def test_two_streams_same_key_share_the_thread(client: AsgiClient, alice: Account) -> None:
    answer = push(client, alice, push_body(stream(S1, [entry(1)]), stream(S2, [entry(1)]))).json()
    assert answer["streams"][0]["thread_id"] == answer["streams"][1]["thread_id"]
    listing = client.get("/api/v1/threads", headers=alice.headers).json()
    assert len(listing["threads"]) == 1 and listing["threads"][0]["entry_count"] == 2


def test_push_needs_a_token(client: AsgiClient) -> None:
    response = client.post(PUSH, json=push_body())
    assert response.status_code == 401
    assert error(response)["code"] == "unauthorized"
    assert "hint" in error(response)["detail"]


def test_device_of_the_push_is_recorded(client: AsgiClient, alice: Account) -> None:
    device = str(uuid.uuid4())
    answer = push(client, alice, push_body(stream(S1, [entry(1)]), device_id=device)).json()
    thread_id = answer["streams"][0]["thread_id"]
    page = client.get(f"/api/v1/threads/{thread_id}/entries", headers=alice.headers).json()
    assert page["entries"][0]["device_id"] == device
    mine = client.get("/api/v1/sync/status", params={"device_id": device}, headers=alice.headers)
    assert [s["stream_id"] for s in mine.json()["streams"]] == [S1]
    other = client.get(
        "/api/v1/sync/status", params={"device_id": str(uuid.uuid4())}, headers=alice.headers
    )
    assert other.json()["streams"] == []
