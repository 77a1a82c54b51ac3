"""Saves over the real app: idempotent creation, conflicts, references to blobs and threads,
listing and paging, deletion with the blobs nobody else uses, limits, and change cursors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.handoff_server.conftest import (
    BLOBS,
    SAVES,
    created_save,
    error_code,
    post_save,
    save_body,
    sha,
    upload,
)
from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream
from threadline.services import handoff
from threadline.services.auth import authenticate
from threadline.storage.database import Database


def session_thread(client: AsgiClient, who: Account, session: str = "s1") -> str:
    """A pushed session thread of ``who``; its id."""
    body = push_body(
        stream(
            str(uuid.uuid4()),
            [entry(1, raw="{}")],
            key=f"claude-code:{session}",
            kind="claude-code",
        )
    )
    answer = client.post("/api/v1/sync/push", json=body, headers=who.headers)
    assert answer.status_code == 200, answer.text
    thread_id: str = answer.json()["streams"][0]["thread_id"]
    return thread_id


def cursor_of(client: AsgiClient, who: Account) -> int:
    value: int = client.get("/api/v1/sync/status", headers=who.headers).json()["cursor"]
    return value


def test_create_and_read_a_save(client: AsgiClient, alice: Account) -> None:
    patch, untracked = upload(client, alice, b"diff --git a/x b/x\n"), upload(client, alice, b"tar")
    thread_id = session_thread(client, alice)
    body = save_body(
        thread_id=thread_id,
        blobs={"bundle": None, "patch": patch, "untracked": untracked},
        files=[
            {"path": "api/orders.py", "status": "M", "mode": "100644"},
            {"path": "bin/run", "status": "A", "mode": 33261, "old_path": None},
            {"path": "gone.txt", "status": "D", "mode": None},
        ],
    )
    save = created_save(client, alice, body)
    sent = {k: v for k, v in body.items() if k not in ("blobs", "created")}
    assert {k: save[k] for k in sent} == sent
    assert save["blobs"] == {"bundle": None, "patch": patch, "untracked": untracked}
    assert save["created"].startswith("2026-11-21T10:00:00")
    assert save["device"] == "desk" and save["received_at"]
    assert client.get(f"{SAVES}/{body['save_id']}", headers=alice.headers).json() == save
    upper = body["save_id"].upper()
    assert client.get(f"{SAVES}/{upper}", headers=alice.headers).json() == save


def test_the_device_defaults_to_the_tokens_device(client: AsgiClient, alice: Account) -> None:
    login = client.post(
        "/api/v1/auth/login",
        json={
            "username": "alice",
            "password": alice.password,
            "device_id": str(uuid.uuid4()),
            "device_name": "laptop",
        },
    )
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    answer = client.post(SAVES, json=save_body(device_name=""), headers=headers)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["device_name"], answer.json()["device"]) == ("", "laptop")


def test_sending_a_save_again_is_a_no_op(client: AsgiClient, alice: Account) -> None:
    body = save_body()
    first = created_save(client, alice, body)
    cursor = cursor_of(client, alice)
    again = post_save(client, alice, body)
    assert again.status_code == 200 and again.json() == first
    same_instant = post_save(client, alice, {**body, "created": "2026-11-21T12:00:00+02:00"})
    assert same_instant.status_code == 200 and same_instant.json() == first
    assert cursor_of(client, alice) == cursor, "nothing changed"


def test_the_same_save_id_with_other_content_is_a_conflict(
    client: AsgiClient, alice: Account
) -> None:
    body = save_body()
    first = created_save(client, alice, body)
    changes: list[dict[str, Any]] = [
        {"message": "something else"},
        {"commit": "a" * 40},
        {"files": []},
        {"created": "2026-11-21T10:00:01Z"},
        {"detached": True},
    ]
    for change in changes:
        answer = post_save(client, alice, {**body, **change})
        assert error_code(answer, 409) == "save_conflict", change
        assert answer.json()["error"]["detail"]["save_id"] == body["save_id"]
    assert client.get(f"{SAVES}/{body['save_id']}", headers=alice.headers).json() == first


def test_a_blob_not_uploaded_is_named(client: AsgiClient, alice: Account) -> None:
    patch = upload(client, alice, b"patch")
    bundle = sha(b"a bundle never sent")
    body = save_body(blobs={"bundle": bundle, "patch": patch, "untracked": None})
    answer = post_save(client, alice, body)
    assert error_code(answer, 422) == "missing_blob"
    assert bundle in answer.json()["error"]["message"]
    assert answer.json()["error"]["detail"]["missing"] == [{"role": "bundle", "sha256": bundle}]
    assert client.get(f"{SAVES}/{body['save_id']}", headers=alice.headers).status_code == 404
    upload(client, alice, b"a bundle never sent")
    assert post_save(client, alice, body).status_code == 201, "upload, then send again"


def test_the_thread_must_be_one_of_the_callers(
    client: AsgiClient, alice: Account, bob: Account
) -> None:
    bobs = session_thread(client, bob, "bob-session")
    for thread_id in (bobs, "no-such-thread"):
        answer = post_save(client, alice, save_body(thread_id=thread_id))
        assert error_code(answer, 422) == "unknown_thread"
    mine = session_thread(client, alice)
    client.delete(f"/api/v1/threads/{mine}", headers=alice.headers)
    answer = post_save(client, alice, save_body(thread_id=mine))
    assert error_code(answer, 422) == "unknown_thread", "a deleted thread cannot be saved"


def test_a_malformed_save_is_refused(client: AsgiClient, alice: Account) -> None:
    for change in (
        {"commit": "abc123"},
        {"commit": "A" * 40},
        {"agent": "cursor"},
        {"line_count": -1},
        {"line_count": "5"},
        {"detached": "yes"},
        {"created": 1732183200},
        {"created": "2026-11-21T10:00:00"},
        {"save_id": "not-a-uuid"},
        {"blobs": {"patch": "F" * 64}},
        {"blobs": {"tarball": None}},
        {"files": [{"path": "", "status": "M"}]},
        {"files": [{"path": "x", "status": "M", "note": "a\x00b"}]},
        {"message": "nul\x00"},
        {"surprise": 1},
        {"repo_root": "x" * 5000},
    ):
        answer = post_save(client, alice, save_body(**change))
        assert error_code(answer, 422) == "invalid_request", change
    assert client.get(SAVES, headers=alice.headers).json()["saves"] == []


def test_limits_of_a_save(make_client: Callable[..., AsgiClient], alice: Account) -> None:
    client = make_client(max_save_files=2, max_save_message_chars=10)
    file = {"path": "a", "status": "M", "mode": "100644"}
    assert post_save(client, alice, save_body(message="x" * 10, files=[file] * 2)).status_code == (
        201
    )
    for field, value, size in (
        ("message", "x" * 11, 11),
        ("files", [file] * 3, 3),
        ("excluded", ["a", "b", "c"], 3),
    ):
        answer = post_save(
            client, alice, save_body(**{"message": "m", "excluded": [], field: value})
        )
        assert error_code(answer, 413) == "save_too_large"
        assert answer.json()["error"]["detail"] == {
            "field": field,
            "limit": 10 if field == "message" else 2,
            "size": size,
        }
    limits = client.get("/api/v1/capabilities").json()["limits"]
    assert (limits["max_save_files"], limits["max_save_message_chars"]) == (2, 10)


def test_listing_newest_first_with_filters_and_pages(client: AsgiClient, alice: Account) -> None:
    thread_id = session_thread(client, alice)
    made = []
    for i in range(5):
        body = save_body(
            created=f"2026-11-21T10:00:0{i}Z",
            remote_key="github.com/acme/shop" if i % 2 == 0 else "github.com/acme/garden",
            thread_id=thread_id if i < 2 else None,
            session_id=f"session-{i % 3}",
        )
        made.append(created_save(client, alice, body)["save_id"])
    newest_first = made[::-1]

    def listed(**params: Any) -> list[str]:
        answer = client.get(SAVES, params=params, headers=alice.headers)
        assert answer.status_code == 200, answer.text
        return [s["save_id"] for s in answer.json()["saves"]]

    assert listed() == newest_first
    assert listed(remote_key="github.com/acme/shop") == [made[4], made[2], made[0]]
    assert listed(remote_key="github.com/acme/none") == []
    assert listed(thread_id=thread_id) == [made[1], made[0]]
    assert listed(session_id="session-1") == [made[4], made[1]]

    seen, cursor = [], None
    while True:
        page = client.get(
            SAVES,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=alice.headers,
        ).json()
        seen += [s["save_id"] for s in page["saves"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first

    bad = client.get(SAVES, params={"cursor": "not-a-cursor"}, headers=alice.headers)
    assert error_code(bad, 400) == "bad_cursor"
    assert error_code(client.get(SAVES, params={"limit": 0}, headers=alice.headers), 422)


def test_deleting_removes_only_the_blobs_nothing_else_uses(
    client: AsgiClient, alice: Account
) -> None:
    shared, own, other = (upload(client, alice, data) for data in (b"shared", b"own", b"other"))
    orphan = upload(client, alice, b"uploaded, never saved")
    first = created_save(
        client, alice, save_body(blobs={"bundle": shared, "patch": own, "untracked": None})
    )
    second = created_save(
        client, alice, save_body(blobs={"bundle": shared, "patch": other, "untracked": other})
    )

    def stored(name: str) -> bool:
        return client.head(f"{BLOBS}/{name}", headers=alice.headers).status_code == 200

    cursor = cursor_of(client, alice)
    answer = client.delete(f"{SAVES}/{first['save_id']}", headers=alice.headers)
    assert answer.status_code == 204 and answer.content == b""
    assert cursor_of(client, alice) == cursor + 1, "a deletion bumps the change cursor"
    assert client.get(f"{SAVES}/{first['save_id']}", headers=alice.headers).status_code == 404
    assert (stored(shared), stored(own), stored(other), stored(orphan)) == (True, False, True, True)
    assert client.get(f"{SAVES}/{second['save_id']}", headers=alice.headers).json() == second

    assert client.delete(f"{SAVES}/{second['save_id']}", headers=alice.headers).status_code == 204
    assert (stored(shared), stored(other)) == (False, False)
    again = client.delete(f"{SAVES}/{second['save_id']}", headers=alice.headers)
    assert error_code(again, 404) == "not_found"


def test_creating_bumps_the_change_cursor_and_reaches_live_pages(
    client: AsgiClient, alice: Account, db: Database
) -> None:
    thread_id = session_thread(client, alice)
    before = cursor_of(client, alice)
    save = created_save(client, alice, save_body(thread_id=thread_id))
    after = cursor_of(client, alice)
    assert after == before + 1
    user_id = authenticate(db, f"Bearer {alice.token}").user_id
    [change] = handoff.changed_saves(db, user_id, before, after)
    assert (change.id, change.thread_id, change.change) == (save["save_id"], thread_id, after)
    assert handoff.changed_saves(db, user_id, after, after) == []
    views, change_value = handoff.changed_views(db, user_id, before, thread_id=thread_id, limit=10)
    assert views is not None and [v.save.save_id for v in views] == [uuid.UUID(save["save_id"])]
    assert views[0].thread_title == "s1" and change_value == after
    assert handoff.changed_views(db, user_id, before, thread_id="other", limit=10)[0] == []


def test_another_users_saves_are_not_found(
    client: AsgiClient, alice: Account, bob: Account
) -> None:
    blob = upload(client, alice, b"alice's patch")
    body = save_body(blobs={"bundle": None, "patch": blob, "untracked": None})
    save = created_save(client, alice, body)
    save_id = body["save_id"]

    assert error_code(client.get(f"{SAVES}/{save_id}", headers=bob.headers), 404) == "not_found"
    assert error_code(client.delete(f"{SAVES}/{save_id}", headers=bob.headers), 404) == "not_found"
    assert client.get(SAVES, headers=bob.headers).json() == {"saves": [], "next_cursor": None}
    assert client.head(f"{BLOBS}/{blob}", headers=bob.headers).status_code == 404
    assert error_code(client.get(f"{BLOBS}/{blob}", headers=bob.headers), 404) == "not_found"
    # Alice's blob does not exist for Bob's saves, and her save id is free for his own.
    assert error_code(post_save(client, bob, body), 422) == "missing_blob"
    bobs = created_save(client, bob, save_body(save_id=save_id, message="bob's own"))
    assert bobs["message"] == "bob's own"
    assert client.get(f"{SAVES}/{save_id}", headers=alice.headers).json() == save
    assert client.delete(f"{SAVES}/{save_id}", headers=bob.headers).status_code == 204
    assert client.get(f"{SAVES}/{save_id}", headers=alice.headers).json() == save
    assert client.head(f"{BLOBS}/{blob}", headers=alice.headers).status_code == 200


def test_save_routes_check_their_input(client: AsgiClient, alice: Account) -> None:
    for method in ("GET", "DELETE"):
        answer = client.request(method, f"{SAVES}/not-a-uuid", headers=alice.headers)
        assert error_code(answer, 422) == "invalid_request"
        answer = client.request(method, f"{SAVES}/{uuid.uuid4()}")
        assert error_code(answer, 401) == "unauthorized"
    answer = client.post(SAVES, content=b"{not json", headers=alice.headers)
    assert error_code(answer, 400) == "invalid_json"
    assert error_code(client.get(SAVES), 401) == "unauthorized"
    assert error_code(client.post(SAVES, json=save_body()), 401) == "unauthorized"
