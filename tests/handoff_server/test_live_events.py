"""A save created through the API is on the user's ``/events`` stream at once (and on no other
user's), against a real ``threadline serve`` on both databases."""

from __future__ import annotations

import httpx

from tests.browser.site import EventReader, Notes, account, signed_in
from tests.handoff_server.conftest import SAVES, save_body
from tests.helpers.server import ServerProcess


def test_a_save_is_an_event(server: ServerProcess) -> None:
    alice, bob = account(server, "alice"), account(server, "bob")
    marker = Notes(server, bob, name="marker")
    with (
        signed_in(server, "alice") as alice_web,
        signed_in(server, "bob") as bob_web,
        EventReader(alice_web) as events,
        EventReader(bob_web) as bob_events,
    ):
        body = save_body(message="on the way home")
        answer = httpx.post(f"{server.url}{SAVES}", json=body, headers=alice.headers)
        assert answer.status_code == 201, answer.text
        event = events.next()
        assert event is not None and event.name == "change"
        assert event.data["threads"] == []
        [save] = event.data["saves"]
        assert save == {"id": body["save_id"], "thread_id": None, "change": int(str(event.id))}

        again = httpx.post(f"{server.url}{SAVES}", json=body, headers=alice.headers)
        assert again.status_code == 200
        deleted = httpx.delete(f"{server.url}{SAVES}/{body['save_id']}", headers=alice.headers)
        assert deleted.status_code == 204
        marker.push("bob's marker")
        first = bob_events.next()
        assert first is not None and "saves" not in first.data, "alice's save is not bob's"
        assert events.next(timeout=1.0) is None, "sending it again and deleting it add nothing"
