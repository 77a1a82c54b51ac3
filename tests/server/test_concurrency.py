"""Many writers at once, on SQLite and PostgreSQL: nothing lost, nothing doubled, no holes.

Writers call the push service directly from threads, which is what the server's worker threads
do; each one races the others for the next ``seq`` of one shared stream and retries after a
conflict, the way a client resumes from the tail.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import sqlalchemy as sa

from threadline.errors import Conflict
from threadline.protocol.models import PushRequest
from threadline.services import accounts, auth, push, status
from threadline.services.auth import Principal
from threadline.storage.database import Database
from threadline.storage.schema import entries

STREAM = uuid.UUID("5c0f0000-0000-4000-8000-0000000000aa")
WRITERS = 8
PER_WRITER = 15


def principal(db: Database, name: str = "alice") -> Principal:
    accounts.create_user(db, name, "pw")
    token = accounts.create_token(db, name)
    return auth.authenticate(db, f"Bearer {token.secret}")


def request(seq: int, text: str, stream_id: uuid.UUID = STREAM) -> PushRequest:
    ref = {"key": f"note:p:{stream_id}", "name": "shared"}
    item = {"seq": seq, "id": str(uuid.uuid4()), "ts": "2026-11-21T10:00:00Z", "role": "user"}
    return PushRequest.model_validate(
        {
            "device_id": str(uuid.uuid4()),
            "streams": [
                {"stream_id": str(stream_id), "thread": ref, "entries": [{**item, "text": text}]}
            ],
        }
    )


def writer(db: Database, who: Principal, name: str, conflicts: Counter[str]) -> None:
    stored = 0
    while stored < PER_WRITER:
        tails = status.status(db, who, stream_ids=[STREAM]).streams
        tail = tails[0].tail if tails else 0
        try:
            push.push(db, who, request(tail + 1, f"{name}-{stored}"), push.PushLimits())
        except Conflict as exc:
            conflicts[exc.code] += 1
            continue
        stored += 1


def test_racing_writers_land_densely_without_duplicates(db: Database) -> None:
    who = principal(db)
    conflicts: Counter[str] = Counter()
    threads = [
        threading.Thread(target=writer, args=(db, who, f"w{i}", conflicts)) for i in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    with db.read() as conn:
        rows = conn.execute(sa.select(entries.c.seq, entries.c.text).order_by(entries.c.seq)).all()
    total = WRITERS * PER_WRITER
    assert [row.seq for row in rows] == list(range(1, total + 1))
    assert len({row.text for row in rows}) == total
    assert set(conflicts) <= {"entry_conflict", "seq_gap"}
    [stream] = status.status(db, who).streams
    assert stream.tail == total


def test_parallel_streams_and_users_keep_their_own_cursors(db: Database) -> None:
    users = [principal(db, f"user{i}") for i in range(3)]
    errors: list[BaseException] = []

    def run(who: Principal) -> None:
        try:
            sid = uuid.uuid4()
            for seq in range(1, 21):
                push.push(db, who, request(seq, f"{who.user}-{seq}", sid), push.PushLimits())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in users for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for who in users:
        answer = status.status(db, who)
        assert answer.cursor == 3 * 20
        assert sorted(s.tail for s in answer.streams) == [20, 20, 20]
        assert sorted(s.change for s in answer.streams)[-1] == answer.cursor
