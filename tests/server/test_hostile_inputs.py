"""Inputs an audit sent to the JSON API that reached the database or the parser and answered
500: every one must be a 4xx naming what was wrong, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream
from tests.server.test_http import assert_error
from threadline.errors import TooManyRequests, Unauthorized, ValidationFailed
from threadline.services import accounts, pages
from threadline.services.auth import LoginLimiter, verify_login
from threadline.storage.database import Database

HUGE = 99999999999999999999
TWO_TO_63 = 2**63


def cursor_of(value: Any) -> str:
    """``value`` encoded the way the server encodes its cursors."""
    data = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


NESTED = "[" * 3000 + "]" * 3000


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def thread_id(client: AsgiClient, alice: Account) -> str:
    answer = client.post(
        "/api/v1/sync/push",
        json=push_body(stream(str(uuid.uuid4()), [entry(1), entry(2)])),
        headers=alice.headers,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["streams"][0]["thread_id"])


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(["2026-11-21T10:00:00.000000Z", HUGE]),
        cursor_of(["2026-11-21T10:00:00.000000Z", TWO_TO_63]),
        cursor_of(["2026-11-21T10:00:00.000000Z", -1]),
        cursor_of(["2026-11-21T10:00:00\x00", 1]),
        raw_cursor(NESTED),
    ],
    ids=["huge", "2**63", "negative", "nul", "nested"],
)
def test_bad_entry_cursors_are_400(
    client: AsgiClient, alice: Account, thread_id: str, cursor: str
) -> None:
    response = client.get(
        f"/api/v1/threads/{thread_id}/entries", params={"cursor": cursor}, headers=alice.headers
    )
    assert_error(response, 400, "bad_cursor")


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(["2026-11-21T10:00:00.000000Z\x00", "x"]),
        cursor_of([HUGE, "x"]),
        raw_cursor(NESTED),
        raw_cursor("[" * 6000),
    ],
    ids=["nul", "huge", "nested", "deep-unclosed"],
)
def test_bad_thread_cursors_are_400(client: AsgiClient, alice: Account, cursor: str) -> None:
    response = client.get("/api/v1/threads", params={"cursor": cursor}, headers=alice.headers)
    assert_error(response, 400, "bad_cursor")


def test_a_cursor_given_by_the_server_still_works(
    client: AsgiClient, alice: Account, thread_id: str
) -> None:
    first = client.get(
        f"/api/v1/threads/{thread_id}/entries", params={"limit": 1}, headers=alice.headers
    ).json()
    assert first["next_cursor"]
    rest = client.get(
        f"/api/v1/threads/{thread_id}/entries",
        params={"cursor": first["next_cursor"]},
        headers=alice.headers,
    )
    assert rest.status_code == 200 and len(rest.json()["entries"]) == 1


@pytest.mark.parametrize("since", [str(HUGE), str(TWO_TO_63)])
def test_status_since_beyond_64_bits_is_bad_cursor(
    client: AsgiClient, alice: Account, since: str
) -> None:
    response = client.get("/api/v1/sync/status", params={"since": since}, headers=alice.headers)
    assert_error(response, 400, "bad_cursor")


@pytest.mark.parametrize("generation", [str(HUGE), str(TWO_TO_63)])
def test_transcript_generation_beyond_64_bits_is_refused(
    client: AsgiClient, alice: Account, thread_id: str, generation: str
) -> None:
    response = client.get(
        f"/api/v1/threads/{thread_id}/transcript",
        params={"generation": generation},
        headers=alice.headers,
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("field", ["generation", "seq"])
def test_push_numbers_beyond_64_bits_are_refused(
    client: AsgiClient, alice: Account, field: str
) -> None:
    one = stream(str(uuid.uuid4()), [entry(1)])
    if field == "generation":
        one["generation"] = TWO_TO_63
    else:
        one["entries"] = [entry(TWO_TO_63)]
    response = client.post("/api/v1/sync/push", json=push_body(one), headers=alice.headers)
    assert response.status_code == 422, response.text
    status = client.get("/api/v1/sync/status", headers=alice.headers).json()
    assert status["streams"] == [], "nothing of a refused push is stored"


def test_login_with_a_nul_in_the_user_name_is_refused(client: AsgiClient, alice: Account) -> None:
    body = {
        "username": "ali\x00ce",
        "password": alice.password,
        "device_id": str(uuid.uuid4()),
        "device_name": "laptop",
    }
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code in (401, 422), response.text
    assert_error(response, response.status_code, response.json()["error"]["code"])


def test_a_sign_in_check_with_a_nul_in_the_name_is_a_failed_login(
    db: Database, alice: Account
) -> None:
    """Below the wire model too (the web's sign-in form reaches it directly): no query runs
    with the NUL (PostgreSQL would refuse it), and it counts as a failure."""
    limiter = LoginLimiter(max_failures=1)
    with pytest.raises(Unauthorized):
        verify_login(db, limiter, "ali\x00ce", alice.password, "10.0.0.1")
    with pytest.raises(TooManyRequests):
        verify_login(db, limiter, "ali\x00ce", alice.password, "10.0.0.1")


def test_login_with_a_nul_in_the_device_name_is_refused(client: AsgiClient, alice: Account) -> None:
    body = {
        "username": "alice",
        "password": alice.password,
        "device_id": str(uuid.uuid4()),
        "device_name": "lap\x00top",
    }
    assert_error(client.post("/api/v1/auth/login", json=body), 422, "invalid_request")


@pytest.mark.parametrize(
    "call",
    [
        lambda db: accounts.create_user(db, "bo\x00b", "pw"),
        lambda db: accounts.create_token(db, "alice", "lap\x00top"),
        lambda db: accounts.create_own_token(db, 1, "lap\x00top"),
    ],
    ids=["user", "token", "own-token"],
)
def test_names_with_a_nul_are_refused_by_the_services(
    db: Database, alice: Account, call: Callable[[Database], object]
) -> None:
    before = accounts.list_tokens(db)
    with pytest.raises(ValidationFailed, match=r"NUL|invalid user name"):
        call(db)
    assert accounts.list_tokens(db) == before
    assert all("\x00" not in u.name for u in accounts.list_users(db))


def test_token_ids_beyond_64_bits_are_not_found(db: Database, alice: Account) -> None:
    from threadline.errors import NotFound

    with pytest.raises(NotFound):
        accounts.revoke_token(db, HUGE)
    with pytest.raises(NotFound):
        accounts.revoke_own_token(db, 1, HUGE)


def test_pages_decode_refuses_what_no_query_can_take() -> None:
    assert pages.decode(pages.encode("a", 5), str, int) == ("a", 5)
    for bad in (cursor_of(["a", TWO_TO_63]), cursor_of(["a\x00", 1]), raw_cursor(NESTED)):
        with pytest.raises(Exception, match="not given by this server"):
            pages.decode(bad, str, int)
