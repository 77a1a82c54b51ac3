"""Pushes of one user that wait for that user's writer are written together, in one
transaction; each is still answered after its own commit, and one push's error is its alone.

The user's writer is held busy by a transaction of the test that locks the user's change
cursor (SQLite: the write lock; PostgreSQL: the cursor row), so the pushes queue behind it
for certain; the commits are counted on the engine.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.helpers.server import ServerProcess, create_user_and_token
from tests.server.test_concurrency import principal
from threadline import protocol as p
from threadline.errors import Conflict
from threadline.protocol.models import PushRequest, PushResponse
from threadline.services import push
from threadline.services.auth import Principal
from threadline.storage.changes import ChangeCursor
from threadline.storage.database import Database, open_database

PUSHES = 8
PER_PUSH = 5


def word(i: int) -> str:
    """A word only push ``i`` holds, to find its entries through the search index."""
    return f"groupword{chr(ord('a') + i)}"


def body(i: int, first_seq: int = 1) -> dict[str, Any]:
    """Push ``i``: :data:`PER_PUSH` entries on a stream and thread of its own."""
    stream_id = uuid.UUID(int=0x5C0F0000_0000_4000_8000_000000000000 + i)
    entries = [
        {
            "seq": seq,
            "id": str(uuid.uuid4()),
            "ts": "2026-11-21T10:00:00Z",
            "role": "assistant",
            "text": f"entry {seq} of push {i} says {word(i)}",
        }
        for seq in range(first_seq, first_seq + PER_PUSH)
    ]
    thread = {"key": f"note:groups:{i}", "kind": "note", "name": f"groups-{i}", "project": "g"}
    return {
        "device_id": str(uuid.UUID(int=i + 1)),
        "streams": [{"stream_id": str(stream_id), "thread": thread, "entries": entries}],
    }


@contextmanager
def commits(db: Database) -> Iterator[list[int]]:
    """The number of commits on ``db``'s engine during the block (in ``[0]``)."""
    counted = [0]

    def count(_conn: sa.Connection) -> None:
        counted[0] += 1

    event.listen(db.engine, "commit", count)
    try:
        yield counted
    finally:
        event.remove(db.engine, "commit", count)


def queued(db: Database, user_id: int) -> int:
    """How many of ``user_id``'s pushes wait for the one being written."""
    groups = push._groups(db)
    with groups._lock:
        return len(groups._queues.get(user_id, ()))


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def found(db: Database, term: str) -> int:
    """Entries the search index finds for ``term`` (FTS5 or the ``tsvector`` column)."""
    if db.dialect == "sqlite":
        sql = "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH :term"
    else:
        sql = "SELECT count(*) FROM entries WHERE search_doc @@ to_tsquery('simple', :term)"
    with db.read() as conn:
        return int(conn.execute(sa.text(sql), {"term": term}).scalar_one())


def push_while_writer_busy(
    db: Database, who: Principal, requests: list[PushRequest]
) -> tuple[list[PushResponse | BaseException], int]:
    """Hold ``who``'s writer busy, start ``requests`` each from a thread of its own, release
    it once all but the first (which is the next writer) are queued behind. Returns each
    push's answer or error, and the number of commits meanwhile."""
    outcomes: list[PushResponse | BaseException | None] = [None] * len(requests)

    def run(i: int) -> None:
        try:
            outcomes[i] = push.push(db, who, requests[i], push.PushLimits())
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    with commits(db) as counted:
        with db.write() as conn:
            ChangeCursor(conn, who.user_id)  # locks the user's cursor row
            threads[0].start()
            wait_until(lambda: queued(db, who.user_id) == 0 and push._groups(db)._queues != {})
            for thread in threads[1:]:
                thread.start()
            wait_until(lambda: queued(db, who.user_id) == len(requests) - 1)
        for thread in threads:
            thread.join(60)
        commits_meanwhile = counted[0] - 1  # the test's own transaction
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None], commits_meanwhile


def test_waiting_pushes_of_one_user_are_written_in_one_transaction(db: Database) -> None:
    who = principal(db)
    requests = [PushRequest.model_validate(body(i)) for i in range(PUSHES)]
    outcomes, committed = push_while_writer_busy(db, who, requests)
    # the first push alone (it was writing when the others came), then the 7 others together
    assert committed == 2
    answers = [outcome for outcome in outcomes if isinstance(outcome, PushResponse)]
    assert len(answers) == PUSHES
    for answer, request in zip(answers, requests, strict=True):
        [result] = answer.streams
        assert result.stream_id == request.streams[0].stream_id
        assert (result.tail, result.stored, result.status) == (PER_PUSH, PER_PUSH, "ok")
    # each push has its own cursor, in the order written, as if written alone
    cursors = [answer.cursor for answer in answers]
    assert len(set(cursors)) == PUSHES and cursors[1:] == sorted(cursors[1:])
    # the index is current for every entry of the group
    for i in range(PUSHES):
        assert found(db, word(i)) == PER_PUSH


def test_one_bad_push_in_a_group_fails_alone(db: Database) -> None:
    who = principal(db)
    bad = 3
    requests = [
        PushRequest.model_validate(body(i, first_seq=5 if i == bad else 1)) for i in range(PUSHES)
    ]
    outcomes, committed = push_while_writer_busy(db, who, requests)
    error = outcomes[bad]
    assert isinstance(error, Conflict) and error.code == p.CODE_SEQ_GAP, error
    # the first alone; the group's transaction rolled back; then each of the 7 alone, the
    # bad one rolled back
    assert committed == 1 + (PUSHES - 2)
    for i, outcome in enumerate(outcomes):
        if i == bad:
            assert found(db, word(i)) == 0
            continue
        assert isinstance(outcome, PushResponse), outcome
        assert outcome.streams[0].tail == PER_PUSH
        assert found(db, word(i)) == PER_PUSH


def test_a_retried_push_in_the_same_group_stores_nothing_twice(db: Database) -> None:
    who = principal(db)
    first = body(0)
    requests = [PushRequest.model_validate(first) for _ in range(3)]
    requests.append(PushRequest.model_validate(body(1)))
    outcomes, committed = push_while_writer_busy(db, who, requests)
    assert committed == 2
    stored = [o.streams[0].stored for o in outcomes if isinstance(o, PushResponse)]
    duplicates = [o.streams[0].duplicates for o in outcomes if isinstance(o, PushResponse)]
    assert stored == [PER_PUSH, 0, 0, PER_PUSH]
    assert duplicates == [0, PER_PUSH, PER_PUSH, 0]
    assert found(db, word(0)) == PER_PUSH


@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_the_server_writes_waiting_pushes_together_postgres(server: ServerProcess) -> None:
    """Through ``threadline serve``: pushes that wait for their user's writer do not hold the
    server's few places for pushes being checked, so they are written together (one
    PostgreSQL transaction id for all their entries)."""
    token = create_user_and_token(server.database_url, "alice").token
    db = open_database(server.database_url)
    answers: list[httpx.Response | None] = [None] * PUSHES

    def send(i: int) -> None:
        answers[i] = httpx.post(
            f"{server.url}{p.API_PREFIX}/sync/push",
            json=body(i),
            headers={"Authorization": f"Bearer {token}", p.VERSION_HEADER: str(p.PROTOCOL_VERSION)},
            timeout=60,
        )

    try:
        with db.read() as conn:
            user_id = conn.execute(sa.text("SELECT id FROM users WHERE name = 'alice'")).scalar()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(PUSHES)]
        with db.write() as conn:
            conn.execute(
                sa.text("SELECT value FROM user_cursors WHERE user_id = :u FOR UPDATE"),
                {"u": user_id},
            )
            for thread in threads:
                thread.start()
            time.sleep(3)  # every push sent, checked and waiting for the lock or the writer
        for thread in threads:
            thread.join(60)
        for answer in answers:
            assert answer is not None and answer.status_code == 200, answer
            assert answer.json()["streams"][0]["tail"] == PER_PUSH
        with db.read() as conn:
            transactions = conn.execute(
                sa.text("SELECT count(DISTINCT xmin::text) FROM entries")
            ).scalar()
            stored = conn.execute(sa.text("SELECT count(*) FROM entries")).scalar()
    finally:
        db.dispose()
    assert stored == PUSHES * PER_PUSH
    # one writing (blocked on the lock) while the others waited, then the others together
    assert transactions == 2


def test_an_entry_id_taken_in_a_group_is_not_retried_as_a_race(db: Database) -> None:
    """Two pushes of a group send one entry id on two streams: the group's insert fails once
    (not again and again as a lost race would be), then each push alone: the first stores,
    the second is answered 409."""
    who = principal(db)
    bodies = [body(i) for i in range(3)]
    taken = bodies[1]["streams"][0]["entries"][0]["id"]
    bodies[2]["streams"][0]["entries"][0]["id"] = taken
    requests = [PushRequest.model_validate(b) for b in bodies]
    rollbacks = [0]

    def count(_conn: sa.Connection) -> None:
        rollbacks[0] += 1

    event.listen(db.engine, "rollback", count)
    try:
        outcomes, committed = push_while_writer_busy(db, who, requests)
    finally:
        event.remove(db.engine, "rollback", count)
    assert isinstance(outcomes[0], PushResponse) and isinstance(outcomes[1], PushResponse)
    error = outcomes[2]
    assert isinstance(error, Conflict) and error.code == p.CODE_ENTRY_CONFLICT, error
    assert committed == 2  # the first alone, then the second alone; the group rolled back
    # the group once, the third push alone twice (the insert, then the check of its ids)
    assert rollbacks[0] == 3
