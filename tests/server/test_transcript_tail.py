"""Part of a transcript: ``from_line`` / ``to_line`` send only the lines asked for, byte for
byte, with the whole file's line count in ``Threadline-Lines-Total``; ``stream`` picks one
device's copy of the file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.test_transcripts import (
    DEVICE_2,
    GEN_1,
    GEN_2,
    TRICKY,
    download,
    error_code,
    file_entries,
    pushed,
    session_stream,
    sid,
)
from threadline.services import transcripts


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


@pytest.mark.parametrize("from_line", range(len(_lines(TRICKY)) + 3))
def test_the_lines_after_the_first_n_are_the_files_own_bytes(
    make_client: Callable[..., AsgiClient],
    alice: Account,
    monkeypatch: pytest.MonkeyPatch,
    from_line: int,
) -> None:
    monkeypatch.setattr(transcripts, "PAGE_ROWS", 2)  # the tail starts inside a page
    monkeypatch.setattr(transcripts, "CHUNK_BYTES", 5)
    client = make_client()
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(TRICKY)))["streams"][0][
        "thread_id"
    ]
    response = download(client, alice, thread_id, from_line=from_line)
    assert response.status_code == 200, response.text
    assert response.content == b"".join(_lines(TRICKY)[from_line:])
    assert response.headers["Threadline-Lines-Total"] == str(len(_lines(TRICKY)))


def test_to_line_stops_the_answer_and_every_answer_says_the_total(
    client: AsgiClient, alice: Account
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(GEN_1)))["streams"][0][
        "thread_id"
    ]
    lines = _lines(GEN_1)
    whole = download(client, alice, thread_id)
    assert whole.content == GEN_1 and whole.headers["Threadline-Lines-Total"] == "5"
    assert download(client, alice, thread_id, to_line=2).content == b"".join(lines[:2])
    assert download(client, alice, thread_id, from_line=1, to_line=3).content == b"".join(
        lines[1:3]
    )
    for empty in ({"from_line": 3, "to_line": 3}, {"from_line": 4, "to_line": 2}, {"to_line": 0}):
        answer = download(client, alice, thread_id, **empty)
        assert answer.status_code == 200 and answer.content == b"", empty
        assert answer.headers["Threadline-Lines-Total"] == "5"
    assert download(client, alice, thread_id, to_line=99).content == GEN_1


@pytest.mark.parametrize(
    "params",
    [
        {"from_line": -1},
        {"from_line": "x"},
        {"from_line": "1.5"},
        {"from_line": 2**63},
        {"to_line": -2},
        {"stream": "not-a-uuid"},
    ],
)
def test_a_bad_line_number_or_stream_id_is_refused(
    client: AsgiClient, alice: Account, params: dict[str, object]
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(GEN_1)))["streams"][0][
        "thread_id"
    ]
    assert error_code(download(client, alice, thread_id, **params), 422) == "invalid_request"


def test_stream_picks_one_devices_copy_and_its_generation(
    client: AsgiClient, alice: Account
) -> None:
    short, long = b'{"a": 1}\n', b'{"a": 1}\n{"b": 2}\n'
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(short)))["streams"][0][
        "thread_id"
    ]
    pushed(client, alice, session_stream(sid(2), file_entries(long)), device_id=DEVICE_2)
    pushed(client, alice, session_stream(sid(3), file_entries(GEN_2), generation=2))
    assert download(client, alice, thread_id).headers["Threadline-Stream-Id"] == sid(3)

    mine = download(client, alice, thread_id, stream=sid(1))
    assert mine.status_code == 200 and mine.content == short
    assert mine.headers["Threadline-Stream-Id"] == sid(1)
    assert mine.headers["Threadline-Generation"] == "1"
    assert mine.headers["Threadline-Lines-Total"] == "1"
    other = download(client, alice, thread_id, stream=sid(2), from_line=1)
    assert other.content == b'{"b": 2}\n' and other.headers["Threadline-Lines-Total"] == "2"
    assert download(client, alice, thread_id, stream=sid(2), generation=1).content == long

    wrong_generation = download(client, alice, thread_id, stream=sid(2), generation=2)
    assert error_code(wrong_generation, 404) == "no_transcript"
    unknown = download(client, alice, thread_id, stream=sid(9))
    assert error_code(unknown, 404) == "no_transcript"
    assert unknown.json()["error"]["detail"]["generations"] == [1, 2]


def test_another_users_stream_is_not_found(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(GEN_1)))["streams"][0][
        "thread_id"
    ]
    bob = make_account("bob")
    answer = download(client, bob, thread_id, stream=sid(1), from_line=2)
    assert error_code(answer, 404) == "not_found"


def test_a_digest_hashes_exactly_what_the_download_would_send(
    client: AsgiClient, alice: Account
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(TRICKY)))["streams"][0][
        "thread_id"
    ]
    total = len(_lines(TRICKY))
    for params in ({}, {"to_line": 3}, {"from_line": 2, "to_line": 5}, {"from_line": 99}):
        sent = download(client, alice, thread_id, **params).content
        answer = client.get(
            f"/api/v1/threads/{thread_id}/transcript/digest", params=params, headers=alice.headers
        )
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["sha256"] == hashlib.sha256(sent).hexdigest(), params
        assert found["bytes"] == len(sent) and found["lines"] == len(_lines(sent))
        assert (found["stream_id"], found["generation"], found["lines_total"]) == (sid(1), 1, total)
        assert found["to_line"] == min(int(str(params.get("to_line", total))), total)
    bad = client.get(
        f"/api/v1/threads/{thread_id}/transcript/digest",
        params={"from_line": -1},
        headers=alice.headers,
    )
    assert error_code(bad, 422) == "invalid_request"
    other = client.get(
        f"/api/v1/threads/{thread_id}/transcript/digest",
        params={"stream": sid(7)},
        headers=alice.headers,
    )
    assert error_code(other, 404) == "no_transcript"
