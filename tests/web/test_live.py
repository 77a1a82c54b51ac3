"""``GET /events`` against a real ``threadline serve`` (server-sent events need a socket)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.site import EventReader, Notes, account, signed_in
from tests.helpers.server import ServerProcess
from threadline.web.live import MAX_STREAMS_PER_USER


@pytest.fixture
def server(tmp_path: Path, server_db_url: str) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "server-home", server_db_url).start()
    yield srv
    srv.stop()


def test_a_pushed_entry_is_an_event_within_a_second(server: ServerProcess) -> None:
    alice = account(server, "alice")
    notes = Notes(server, alice)
    notes.push("first")
    with signed_in(server, "alice") as client, EventReader(client) as events:
        assert events.response.headers["content-type"].startswith("text/event-stream")
        time.sleep(0.3)  # the stream is polling
        pushed_at = time.monotonic()
        notes.push("second")
        event = events.next(timeout=3)
        assert event is not None and event.name == "change"
        assert event.at - pushed_at < 1.0, f"{event.at - pushed_at:.2f} s"
        [thread] = event.data["threads"]
        assert thread["id"] == notes.thread_id
        assert thread["entry_count"] == 2
        assert event.id == str(thread["change"])
        assert set(thread) == {"id", "change", "entry_count", "last_activity_at", "deleted"}
        assert thread["deleted"] is False


def test_resuming_gets_what_happened_meanwhile_and_nothing_twice(server: ServerProcess) -> None:
    alice = account(server, "alice")
    main, other = Notes(server, alice), Notes(server, alice, name="other")
    with signed_in(server, "alice") as client:
        with EventReader(client) as events:
            time.sleep(0.3)
            main.push("one")
            first = events.next()
            assert first is not None and first.id is not None
        main.push("two")
        other.push("three")
        main.push("four")
        headers = {"Last-Event-ID": first.id}
        seen: dict[str, int] = {}
        with EventReader(client, headers) as events:
            while len(seen) < 2:
                event = events.next()
                assert event is not None, f"only {seen} arrived"
                for thread in event.data["threads"]:
                    assert thread["id"] not in seen, "sent twice"
                    assert thread["change"] > int(first.id)
                    seen[thread["id"]] = thread["entry_count"]
            assert events.next(timeout=0.8) is None, "nothing more happened"
        assert seen == {main.thread_id: 3, other.thread_id: 1}
        # ``?since=`` does the same for a first connection; without it a stream starts now.
        with EventReader(client, url=f"/events?since={first.id}") as events:
            event = events.next()
            assert event is not None
            assert {t["id"] for t in event.data["threads"]} == set(seen)
        with EventReader(client) as events:
            assert events.next(timeout=0.6) is None


def test_another_users_changes_never_appear(server: ServerProcess) -> None:
    alice, bob = account(server, "alice"), account(server, "bob")
    alice_notes, bob_notes = Notes(server, alice), Notes(server, bob)
    with signed_in(server, "alice") as client, EventReader(client) as events:
        time.sleep(0.3)
        bob_notes.push("bob's secret")
        assert events.next(timeout=1.0) is None
        alice_notes.push("alice's note")
        event = events.next()
        assert event is not None
        assert [t["id"] for t in event.data["threads"]] == [alice_notes.thread_id]
    with signed_in(server, "alice") as client, EventReader(client, {"Last-Event-ID": "0"}) as ev:
        event = ev.next()
        assert event is not None
        assert [t["id"] for t in event.data["threads"]] == [alice_notes.thread_id]


def test_signed_out_is_sent_to_sign_in_and_streams_are_bounded(server: ServerProcess) -> None:
    account(server, "alice")
    with httpx.Client(base_url=server.url) as anonymous:
        answer = anonymous.get("/events")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    with signed_in(server, "alice") as client:
        readers = [EventReader(client) for _ in range(MAX_STREAMS_PER_USER)]
        try:
            assert all(r.response.status_code == 200 for r in readers)
            refused = client.get("/events")
            assert refused.status_code == 429
            assert "too many live pages" in refused.text
        finally:
            for reader in readers:
                reader.close()
        deadline = time.monotonic() + 5
        while True:  # the server notices the closed streams within a poll
            with EventReader(client, expect=(200, 429)) as reader:
                if reader.response.status_code == 200:
                    break
                assert "too many live pages" in reader.response.read().decode()
            assert time.monotonic() < deadline, "slots were not given back"
            time.sleep(0.2)


def test_sigterm_is_not_held_up_by_open_streams(server: ServerProcess) -> None:
    account(server, "alice")
    with signed_in(server, "alice") as client, EventReader(client) as events:
        assert events.response.status_code == 200
        assert server.stop(timeout=10) == 0
    assert not any("Traceback" in line for line in server.output), "".join(server.output)
