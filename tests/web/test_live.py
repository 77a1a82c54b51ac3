"""``GET /events`` against a real ``threadline serve`` (server-sent events need a socket).

An :class:`EventReader` is returned once its stream is live (its ``: live since N`` line has
arrived), so a change made after that is on the stream without any waiting. That nothing else
arrives is shown by a marker: a later change whose event must come next, alone.
"""

from __future__ import annotations

import time

import httpx

from tests.browser.site import EventReader, Notes, account, signed_in
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_for
from threadline.web.live import MAX_STREAMS_PER_USER

#: README, "Live": new entries appear "within a second". The bound is twice that, so a loaded
#: machine does not fail the test; a change the stream missed would not arrive at all.
LIVE_WITHIN = 2.0


def test_a_pushed_entry_is_an_event_within_a_second(module_server: ServerProcess) -> None:
    server = module_server
    alice = account(server, "alice")
    notes = Notes(server, alice)
    notes.push("first")
    with signed_in(server, "alice") as client, EventReader(client) as events:
        assert events.response.headers["content-type"].startswith("text/event-stream")
        pushed_at = time.monotonic()
        notes.push("second")
        event = events.next(timeout=LIVE_WITHIN + 1)
        assert event is not None and event.name == "change"
        assert event.at - pushed_at < LIVE_WITHIN, f"{event.at - pushed_at:.2f} s"
        [thread] = event.data["threads"]
        assert thread["id"] == notes.thread_id
        assert thread["entry_count"] == 2
        assert event.id == str(thread["change"])
        assert set(thread) == {"id", "change", "entry_count", "last_activity_at", "deleted"}
        assert thread["deleted"] is False


def only_threads(events: EventReader) -> set[str]:
    """The threads of the next event."""
    event = events.next()
    assert event is not None, "no event"
    return {t["id"] for t in event.data["threads"]}


def test_resuming_gets_what_happened_meanwhile_and_nothing_twice(
    module_server: ServerProcess,
) -> None:
    server = module_server
    carol = account(server, "carol")
    main, other = Notes(server, carol), Notes(server, carol, name="other")
    marker = Notes(server, carol, name="marker")
    with signed_in(server, "carol") as client:
        with EventReader(client) as events:
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
            marker.push("nothing more happened before this")
            assert only_threads(events) == {marker.thread_id}
        assert seen == {main.thread_id: 3, other.thread_id: 1}
        # ``?since=`` does the same for a first connection; without it a stream starts now.
        with EventReader(client, url=f"/events?since={first.id}") as events:
            assert only_threads(events) == {*seen, marker.thread_id}
        with EventReader(client) as events:
            marker.push("the first change after the stream began")
            assert only_threads(events) == {marker.thread_id}


def test_another_users_changes_never_appear(module_server: ServerProcess) -> None:
    server = module_server
    dave, bob = account(server, "dave"), account(server, "bob")
    dave_notes, bob_notes = Notes(server, dave), Notes(server, bob)
    with signed_in(server, "dave") as client, EventReader(client) as events:
        bob_notes.push("bob's secret")
        dave_notes.push("dave's note")  # bob's change, if sent, would come first or with it
        event = events.next()
        assert event is not None
        assert [t["id"] for t in event.data["threads"]] == [dave_notes.thread_id]
    with signed_in(server, "dave") as client, EventReader(client, {"Last-Event-ID": "0"}) as ev:
        event = ev.next()
        assert event is not None
        assert [t["id"] for t in event.data["threads"]] == [dave_notes.thread_id]


def test_signed_out_is_sent_to_sign_in_and_streams_are_bounded(
    module_server: ServerProcess,
) -> None:
    server = module_server
    account(server, "erin")
    with httpx.Client(base_url=server.url) as anonymous:
        answer = anonymous.get("/events")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    with signed_in(server, "erin") as client:
        readers = [EventReader(client) for _ in range(MAX_STREAMS_PER_USER)]
        try:
            assert all(r.response.status_code == 200 for r in readers)
            refused = client.get("/events")
            assert refused.status_code == 429
            assert "too many live pages" in refused.text
        finally:
            for reader in readers:
                reader.close()

        def slot_free() -> bool:  # the server notices the closed streams within a poll
            with EventReader(client, expect=(200, 429)) as reader:
                if reader.response.status_code == 200:
                    return True
                assert "too many live pages" in reader.response.read().decode()
                return False

        wait_for(slot_free, 5, 0.2, what="the closed streams' slots to be given back")


def test_sigterm_is_not_held_up_by_open_streams(server: ServerProcess) -> None:
    account(server, "alice")
    with signed_in(server, "alice") as client, EventReader(client) as events:
        assert events.response.status_code == 200
        assert server.stop(timeout=10) == 0
    assert not any("Traceback" in line for line in server.output), "".join(server.output)
