"""Many creators of one scope at the same moment, through a real ``threadline serve`` on a real
socket, on SQLite and PostgreSQL: exactly one thread results, and every creator is answered
with it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from tests.helpers.server import ServerProcess, create_user_and_token
from threadline import protocol as p
from threadline.storage.database import open_database

CREATORS = 16


def _at_once(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``call(i)`` for i in 0 … count−1, each in its own thread, released together."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait(30)
        try:
            answers[i] = call(i)
        except BaseException as exc:  # collected and asserted below
            answers[i] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    for answer in answers:
        assert isinstance(answer, httpx.Response), answer
    return answers


def _threads_of_scope(database_url: str, scope_type: str, scope_id: str) -> list[Any]:
    db = open_database(database_url)
    try:
        with db.read() as conn:
            query = sa.text(
                "SELECT id, deleted_at, entry_count FROM threads "
                "WHERE scope_type = :t AND scope_id = :i"
            )
            return list(conn.execute(query, {"t": scope_type, "i": scope_id}))
    finally:
        db.dispose()


def test_concurrent_creators_of_one_scope_get_one_thread(server: ServerProcess) -> None:
    account = create_user_and_token(server.database_url)
    with httpx.Client(base_url=server.url, headers=account.headers, timeout=60) as client:

        def create(i: int) -> httpx.Response:
            body = {"name": f"creator {i}", "project": "shop", "scope": "pr:77"}
            return client.post("/api/v1/threads", json=body)

        answers = _at_once(CREATORS, create)
        assert sorted(a.status_code for a in answers) == [200] * (CREATORS - 1) + [201]
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1
        listed = client.get("/api/v1/threads", params={"scope": "pr:77"}).json()["threads"]
        assert [t["id"] for t in listed] == list(ids)
    assert [row.id for row in _threads_of_scope(server.database_url, "pr", "77")] == list(ids)


def test_concurrent_pushes_of_one_scope_from_many_devices_fill_one_thread(
    server: ServerProcess,
) -> None:
    account = create_user_and_token(server.database_url)
    with httpx.Client(base_url=server.url, headers=account.headers, timeout=60) as client:

        def push(i: int) -> httpx.Response:
            # Half the devices send the key every client derives, half a key of their own:
            # the scope alone must bring them together.
            key = p.scope_thread_key("shop", "issue", "42") if i % 2 else f"device-{i}:issue-42"
            ref = {"key": key, "name": f"device {i}", "project": "shop", "scope": "issue:42"}
            entry = {
                "seq": 1,
                "id": str(uuid.uuid4()),
                "ts": "2026-11-21T10:00:00Z",
                "role": "assistant",
                "text": f"note from device {i}",
            }
            stream = {"stream_id": str(uuid.uuid4()), "thread": ref, "entries": [entry]}
            body = {"device_id": str(uuid.uuid4()), "streams": [stream]}
            return client.post("/api/v1/sync/push", json=body)

        answers = _at_once(CREATORS, push)
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        ids = {a.json()["streams"][0]["thread_id"] for a in answers}
        assert len(ids) == 1
    [row] = _threads_of_scope(server.database_url, "issue", "42")
    assert (row.id, row.deleted_at, row.entry_count) == (ids.pop(), None, CREATORS)
