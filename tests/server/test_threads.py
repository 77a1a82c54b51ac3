"""Threads and entries over HTTP: CRUD, filters, pagination, tombstones, other users."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream

THREADS = "/api/v1/threads"
S1 = "5c0f0000-0000-4000-8000-000000000001"
S2 = "5c0f0000-0000-4000-8000-000000000002"


def create(client: AsgiClient, who: Account, **body: Any) -> dict[str, Any]:
    response = client.post(
        THREADS, json={"name": "main", "project": "shop", **body}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    thread: dict[str, Any] = response.json()
    return thread


def all_pages(client: AsgiClient, who: Account, url: str, key: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=query, headers=who.headers).json()
        items += page[key]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_create_get_patch(client: AsgiClient, alice: Account) -> None:
    thread = create(client, alice, title="T", meta={"a": 1})
    assert thread["key"] == "note:shop:main" and thread["entry_count"] == 0
    got = client.get(f"{THREADS}/{thread['id']}", headers=alice.headers).json()
    assert got == {**thread, "streams": []}
    assert (thread["parent_key"], thread["parent_id"], thread["child_count"]) == (None, None, 0)
    patch = {"name": "renamed", "title": "New", "meta": {"b": 2}}
    patched = client.patch(f"{THREADS}/{thread['id']}", json=patch, headers=alice.headers).json()
    assert patched["name"] == "renamed" and patched["title"] == "New"
    assert patched["key"] == "note:shop:main", "renaming keeps the key"
    assert patched["meta"] == {"a": 1, "b": 2}


def test_create_same_key_is_thread_exists(client: AsgiClient, alice: Account) -> None:
    first = create(client, alice)
    response = client.post(THREADS, json={"name": "main", "project": "shop"}, headers=alice.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "thread_exists"
    assert response.json()["error"]["detail"]["thread_id"] == first["id"]


def test_filters(client: AsgiClient, alice: Account) -> None:
    create(client, alice, name="alpha", project="shop", title="Fix the Checkout")
    create(client, alice, name="beta", project="shop", kind="codex", key="codex:1")
    create(client, alice, name="gamma_1", project="blog")

    def names(**params: Any) -> list[str]:
        return sorted(t["name"] for t in all_pages(client, alice, THREADS, "threads", **params))

    assert names() == ["alpha", "beta", "gamma_1"]
    assert names(project="shop") == ["alpha", "beta"]
    assert names(kind="codex") == ["beta"]
    assert names(q="checkout") == ["alpha"]
    assert names(q="GAMMA") == ["gamma_1"]
    assert names(q="a_1") == ["gamma_1"], "_ is matched literally"
    assert names(q="%") == []


@pytest.mark.parametrize(("count", "limit", "pages"), [(0, 3, 1), (3, 3, 1), (4, 3, 2), (7, 3, 3)])
def test_thread_pagination(
    client: AsgiClient, alice: Account, count: int, limit: int, pages: int
) -> None:
    for i in range(count):
        create(client, alice, name=f"t{i}")
    seen, cursor, fetched = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(THREADS, params=params, headers=alice.headers).json()
        fetched += 1
        seen += [t["name"] for t in page["threads"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert fetched == pages
    assert sorted(seen) == sorted(f"t{i}" for i in range(count)) and len(set(seen)) == count


def test_threads_are_most_recent_activity_first(client: AsgiClient, alice: Account) -> None:
    old = stream(S1, [entry(1, ts="2026-01-01T00:00:00Z")], key="note:shop:old")
    new = stream(S2, [entry(1, ts="2026-06-01T00:00:00Z")], key="note:shop:new")
    client.post("/api/v1/sync/push", json=push_body(old, new), headers=alice.headers)
    names = [t["name"] for t in client.get(THREADS, headers=alice.headers).json()["threads"]]
    assert names == ["new", "old"]


@pytest.mark.parametrize(
    ("count", "limit", "pages"), [(0, 5, 1), (5, 5, 1), (6, 5, 2), (1, 1, 1), (2, 1, 2)]
)
def test_entries_pagination(
    client: AsgiClient, alice: Account, count: int, limit: int, pages: int
) -> None:
    thread = create(client, alice)
    for i in range(count):
        body = {"text": f"e{i}", "ts": f"2026-11-21T10:00:{i:02d}Z"}
        client.post(f"{THREADS}/{thread['id']}/entries", json=body, headers=alice.headers)
    url = f"{THREADS}/{thread['id']}/entries"
    seen, cursor, fetched = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=alice.headers).json()
        fetched += 1
        seen += [e["text"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert fetched == pages
    assert seen == [f"e{i}" for i in range(count)]


def test_entries_are_chronological_then_by_arrival(client: AsgiClient, alice: Account) -> None:
    late = entry(1, "late", ts="2026-11-21T12:00:00Z", raw='{"line": 1}')
    early = entry(2, "early", ts="2026-11-21T09:00:00+00:00")
    same = entry(3, "same time, later arrival", ts="2026-11-21T13:00:00+01:00")
    answer = client.post(
        "/api/v1/sync/push", json=push_body(stream(S1, [late, early, same])), headers=alice.headers
    ).json()
    url = f"{THREADS}/{answer['streams'][0]['thread_id']}/entries"
    page = client.get(url, headers=alice.headers).json()
    assert [e["text"] for e in page["entries"]] == ["early", "late", "same time, later arrival"]
    assert all(e["raw"] is None for e in page["entries"])
    with_raw = client.get(url, params={"raw": "true"}, headers=alice.headers).json()
    assert with_raw["entries"][1]["raw"] == '{"line": 1}'
    assert with_raw["entries"][1]["stream_id"] == S1 and with_raw["entries"][1]["seq"] == 1


def test_entries_around_an_entry_start_before_it_and_page_on(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    thread = create(client, alice)
    url = f"{THREADS}/{thread['id']}/entries"
    ids = []
    for i in range(10):
        body = {"text": f"e{i}", "ts": f"2026-11-21T10:00:{i:02d}Z"}
        ids.append(client.post(url, json=body, headers=alice.headers).json()["id"])

    def texts(**params: Any) -> tuple[list[str], str | None]:
        response = client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        return [e["text"] for e in page["entries"]], page["next_cursor"]

    shown, cursor = texts(around=ids[5], before=2, limit=4)
    assert shown == ["e3", "e4", "e5", "e6"]
    assert texts(cursor=cursor, limit=4)[0] == ["e7", "e8", "e9"]
    assert texts(around=ids[1], before=5, limit=3)[0] == ["e0", "e1", "e2"]  # fewer ahead
    assert texts(around=ids[9], limit=5) == (["e9"], None)  # before defaults to 0
    missing = client.get(url, params={"around": str(uuid.uuid4())}, headers=alice.headers)
    assert missing.status_code == 404
    bob = make_account("bob")  # another user's thread stays hidden, with or without around
    other = client.get(url, params={"around": ids[5]}, headers=bob.headers)
    assert other.status_code == 404
    too_many = client.get(url, params={"around": ids[5], "before": -1}, headers=alice.headers)
    assert too_many.status_code == 422


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJhIiwxLDJd", "!!!", "eyJ4IjoxfQ"])
def test_bad_cursor_is_400(client: AsgiClient, alice: Account, cursor: str) -> None:
    thread = create(client, alice)
    for url in (THREADS, f"{THREADS}/{thread['id']}/entries"):
        response = client.get(url, params={"cursor": cursor}, headers=alice.headers)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "bad_cursor"


@pytest.mark.parametrize("limit", [0, 501, "x"])
def test_bad_limit_is_422(client: AsgiClient, alice: Account, limit: Any) -> None:
    response = client.get(THREADS, params={"limit": limit}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["error"]["detail"]["errors"][0]["loc"] == ["query", "limit"]


def test_post_entry_is_idempotent_with_an_id(client: AsgiClient, alice: Account) -> None:
    thread = create(client, alice)
    url = f"{THREADS}/{thread['id']}/entries"
    body = {"text": "deployed v2", "id": "0b7d0000-0000-4000-8000-000000000001"}
    first = client.post(url, json=body, headers=alice.headers)
    again = client.post(url, json=body, headers=alice.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["role"] == "user" and first.json()["seq"] == 1
    second = client.post(url, content=b'{"text": "no content type"}', headers=alice.headers)
    assert second.status_code == 201 and second.json()["seq"] == 2
    assert client.get(f"{THREADS}/{thread['id']}", headers=alice.headers).json()["entry_count"] == 2


def test_post_entry_over_the_limit_is_413(
    make_client: Callable[..., AsgiClient], alice: Account
) -> None:
    client = make_client(max_entry_bytes=10)
    thread = create(client, alice)
    response = client.post(
        f"{THREADS}/{thread['id']}/entries", json={"text": "x" * 11}, headers=alice.headers
    )
    assert response.status_code == 413
    assert response.json()["error"]["detail"]["limit"] == 10


def test_another_users_thread_is_404(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    bob = make_account("bob")
    thread = create(client, alice)
    url = f"{THREADS}/{thread['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"title": "mine"}),
        ("DELETE", url, None),
        ("GET", f"{url}/entries", None),
        ("POST", f"{url}/entries", {"text": "hi"}),
    ]:
        response = client.request(method, path, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(THREADS, headers=bob.headers).json()["threads"] == []
    assert client.get(url, headers=alice.headers).status_code == 200


def test_same_entry_ids_for_two_users_do_not_collide(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    bob = make_account("bob")
    body = push_body(stream(S1, [entry(1, id="0b7d0000-0000-4000-8000-000000000009")]))
    for who in (alice, bob):
        response = client.post("/api/v1/sync/push", json=body, headers=who.headers)
        assert response.status_code == 200 and response.json()["streams"][0]["stored"] == 1


def test_unknown_thread_is_404(client: AsgiClient, alice: Account) -> None:
    response = client.get(f"{THREADS}/not-a-thread", headers=alice.headers)
    assert response.status_code == 404


# --- tombstones ------------------------------------------------------------------------------


def test_delete_then_late_retry_is_a_no_op(client: AsgiClient, alice: Account) -> None:
    entries = [entry(1), entry(2)]
    pushed = client.post(
        "/api/v1/sync/push", json=push_body(stream(S1, entries)), headers=alice.headers
    )
    thread_id = pushed.json()["streams"][0]["thread_id"]
    assert client.delete(f"{THREADS}/{thread_id}", headers=alice.headers).status_code == 204
    assert client.get(f"{THREADS}/{thread_id}", headers=alice.headers).status_code == 404
    assert client.get(f"{THREADS}/{thread_id}/entries", headers=alice.headers).status_code == 404
    assert client.delete(f"{THREADS}/{thread_id}", headers=alice.headers).status_code == 404

    retry = push_body(stream(S1, [*entries, entry(3)]))
    response = client.post("/api/v1/sync/push", json=retry, headers=alice.headers)
    assert response.status_code == 200, response.text
    [result] = response.json()["streams"]
    assert result["status"] == "thread_deleted" and result["thread_id"] == thread_id
    assert (result["tail"], result["duplicates"]) == (3, 2)
    assert client.get(f"{THREADS}/{thread_id}", headers=alice.headers).status_code == 404
    assert client.get(THREADS, headers=alice.headers).json()["threads"] == []
    status = client.get("/api/v1/sync/status", headers=alice.headers).json()
    assert status["streams"][0]["deleted"] is True and status["streams"][0]["tail"] == 3


def test_new_stream_after_deletion_starts_a_new_thread(client: AsgiClient, alice: Account) -> None:
    old = client.post(
        "/api/v1/sync/push",
        json=push_body(stream(S1, [entry(1, ts="2026-01-01T00:00:00Z")])),
        headers=alice.headers,
    ).json()["streams"][0]["thread_id"]
    client.delete(f"{THREADS}/{old}", headers=alice.headers)

    stale = stream(S2, [entry(1, ts="2026-01-02T00:00:00Z")])  # written before the deletion
    answer = client.post("/api/v1/sync/push", json=push_body(stale), headers=alice.headers).json()
    assert answer["streams"][0]["thread_id"] == old
    assert answer["streams"][0]["status"] == "thread_deleted"

    fresh = stream("5c0f0000-0000-4000-8000-000000000003", [entry(1, ts="2099-01-01T00:00:00Z")])
    answer = client.post("/api/v1/sync/push", json=push_body(fresh), headers=alice.headers).json()
    [result] = answer["streams"]
    assert result["status"] == "ok" and result["thread_id"] != old
    listing = client.get(THREADS, headers=alice.headers).json()["threads"]
    assert [t["id"] for t in listing] == [result["thread_id"]]
    assert listing[0]["key"] == "note:shop:main" and listing[0]["entry_count"] == 1


def test_thread_can_be_created_again_after_deletion(client: AsgiClient, alice: Account) -> None:
    first = create(client, alice)
    client.delete(f"{THREADS}/{first['id']}", headers=alice.headers)
    second = create(client, alice)
    assert second["id"] != first["id"]
