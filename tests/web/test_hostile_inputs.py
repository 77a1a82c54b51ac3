"""Inputs an audit sent to the web UI that reached the database or the parser and answered
500: each must be a 4xx (or, for a date at the end of the calendar, simply no bound), on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.requests import Request

from tests.helpers.asgi import AsgiClient
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_list_page import Api, row_ids
from threadline.services import accounts
from threadline.storage.database import Database
from threadline.web import live

HUGE = "99999999999999999999"
NESTED = base64.urlsafe_b64encode(("[" * 3000 + "]" * 3000).encode()).decode().rstrip("=")


def cursor_of(value: Any) -> str:
    data = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def api(browser: Callable[[], AsgiClient], db: Database, users: list[str]) -> Api:
    return Api(browser(), db, "alice")


@pytest.fixture
def thread_id(api: Api) -> str:
    return api.thread("hostile", datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def assert_refused(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.text[:500]


@pytest.mark.parametrize(
    "url", ["/threads/%00", "/threads?q=%00", "/threads/rows?project=%00", "/account?x=%00"]
)
def test_nul_in_a_page_address_is_400(alice: AsgiClient, url: str) -> None:
    """Refused before any page runs (``server/body.py``), as an HTML page."""
    response = alice.get(url)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/threads", "/threads/rows"])
@pytest.mark.parametrize(
    "cursor",
    [NESTED, cursor_of(["2026-03-01T12:00:00.000000Z\x00", "x"]), cursor_of([int(HUGE), "x"])],
    ids=["nested", "nul", "huge"],
)
def test_bad_list_cursors_are_400(alice: AsgiClient, path: str, cursor: str) -> None:
    assert_refused(alice.get(path, params={"cursor": cursor}))


@pytest.mark.parametrize("direction", ["after", "before"])
@pytest.mark.parametrize(
    "cursor",
    [NESTED, cursor_of(["2026-03-01T12:00:00.000000Z", int(HUGE)]), cursor_of(["\x00", 1])],
    ids=["nested", "huge", "nul"],
)
def test_bad_entry_cursors_are_400(
    alice: AsgiClient, thread_id: str, direction: str, cursor: str
) -> None:
    assert_refused(alice.get(f"/threads/{thread_id}/entries", params={direction: cursor}))


@pytest.mark.parametrize("since", [HUGE, str(2**63), "²", "-1", "1.5", " "])
def test_bad_change_cursors_are_400(alice: AsgiClient, thread_id: str, since: str) -> None:
    assert_refused(alice.get("/threads/rows", params={"since_change": since}))
    assert_refused(alice.get(f"/threads/{thread_id}/entries", params={"since_change": since}))


def test_a_change_cursor_at_the_top_of_the_range_is_answered(
    alice: AsgiClient, thread_id: str
) -> None:
    top = str(2**63 - 1)
    rows = alice.get("/threads/rows", params={"since_change": top})
    assert rows.status_code == 200 and rows.headers["Threadline-Change"] == top
    entries = alice.get(f"/threads/{thread_id}/entries", params={"since_change": top})
    assert entries.status_code == 200 and entries.headers["Threadline-Change"] == top


def test_until_the_last_day_of_the_calendar_bounds_nothing(
    alice: AsgiClient, thread_id: str
) -> None:
    page = alice.get("/threads", params={"until": "9999-12-31"})
    assert page.status_code == 200, page.text[:500]
    assert row_ids(page.text) == [thread_id]
    rows = alice.get("/threads/rows", params={"until": "9999-12-31", "since_change": "0"})
    assert rows.status_code == 200 and row_ids(rows.text) == [thread_id]
    later = alice.get("/threads", params={"since": "9999-12-31"})
    assert later.status_code == 200 and row_ids(later.text) == []
    earliest = alice.get("/threads", params={"since": "0001-01-01", "until": "0001-01-01"})
    assert earliest.status_code == 200 and row_ids(earliest.text) == []


def test_a_transcript_generation_beyond_64_bits_is_refused(
    alice: AsgiClient, thread_id: str
) -> None:
    response = alice.get(f"/threads/{thread_id}/transcript", params={"generation": HUGE})
    assert response.status_code == 422, response.text[:500]


def test_revoking_a_token_id_beyond_64_bits_is_404(alice: AsgiClient) -> None:
    csrf = csrf_of(alice.get("/account"))
    for token_id in (HUGE, str(2**63)):
        response = alice.post(f"/account/tokens/{token_id}/revoke", data={"csrf": csrf})
        assert_refused(response, 404)


def test_a_token_name_with_a_nul_is_refused_and_not_stored(alice: AsgiClient, db: Database) -> None:
    csrf = csrf_of(alice.get("/account"))
    response = alice.post("/account/tokens", data={"csrf": csrf, "name": "lap\x00top"})
    assert_refused(response)
    assert "NUL" in response.text
    assert [t.name for t in accounts.list_tokens(db, "alice")] == []


def test_a_sign_in_name_with_a_nul_is_refused(
    browser: Callable[[], AsgiClient], users: list[str]
) -> None:
    client = browser()
    response = sign_in(client, "ali\x00ce")
    assert_refused(response)
    assert "NUL" in response.text
    assert client.get("/threads", follow_redirects=False).status_code == 303


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/events", "headers": raw})


@pytest.mark.parametrize("value", ["²", "١٢", HUGE, "-3", "", " "])
def test_event_stream_start_ignores_what_is_not_an_ascii_number(value: str) -> None:
    assert live.start_after(request_with({"Last-Event-ID": value}), None) is None
    assert live.start_after(request_with({}), value) is None


def test_event_stream_start_takes_ascii_digits() -> None:
    assert live.start_after(request_with({"Last-Event-ID": " 12 "}), "3") == 12
    assert live.start_after(request_with({"Last-Event-ID": "²"}), "3") == 3
    assert live.start_after(request_with({}), str(2**63 - 1)) == 2**63 - 1


def test_event_stream_with_a_superscript_since_opens(
    alice: AsgiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/events?since=²`` and ``Last-Event-ID: ²`` open the stream (from now) instead of
    failing; the stream is ended by the server's shutdown signal after its first lines."""
    monkeypatch.setattr(live, "shutting_down", lambda: True)
    # A browser's header bytes are read as Latin-1: b"\xb2" is "²".
    headers = {"Last-Event-ID": "²".encode("latin-1")}
    response = alice.get("/events", params={"since": "²"}, headers=headers)
    assert response.status_code == 200, response.text[:500]
    assert response.text.startswith("retry: ")
