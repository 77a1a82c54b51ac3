"""Racing writers on both databases: the same blob uploaded, the same save created and a save
deleted from several threads at once — exactly one of them stores (or deletes), the others see
what it did, and nothing fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tests.handoff_server.conftest import save_body, sha
from tests.helpers.server import Account
from threadline.errors import NotFound
from threadline.protocol.models import SaveCreate
from threadline.services import blobs, handoff
from threadline.services.auth import authenticate
from threadline.services.handoff import HandoffLimits
from threadline.storage.database import Database

T = TypeVar("T")
RACERS = 6


def race(work: Callable[[], T]) -> list[T | BaseException]:
    """``work`` run by :data:`RACERS` threads released together; each result or error."""
    start = threading.Barrier(RACERS)
    results: list[T | BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        try:
            outcome: T | BaseException = work()
        except BaseException as exc:  # collected and asserted by the caller
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_racing_uploads_saves_and_deletes(db: Database, alice: Account) -> None:
    who = authenticate(db, f"Bearer {alice.token}")
    data = b"the same patch from every racer\n" * 1000
    stored = race(lambda: blobs.put_blob(db, who, sha(data), data, 10**6))
    assert sorted(map(str, stored)) == ["False"] * (RACERS - 1) + ["True"]

    body = SaveCreate.model_validate(
        save_body(blobs={"bundle": None, "patch": sha(data), "untracked": None})
    )
    created: list[Any] = race(lambda: handoff.create_save(db, who, body, HandoffLimits()))
    assert all(not isinstance(c, BaseException) for c in created), created
    assert sorted(new for _, new in created) == [False] * (RACERS - 1) + [True]
    assert len({save.model_dump_json() for save, _ in created}) == 1

    deleted = race(lambda: handoff.delete_save(db, who, str(body.save_id)))
    assert [type(d) for d in deleted].count(NotFound) == RACERS - 1
    assert deleted.count(None) == 1
    assert handoff.list_saves(db, who).saves == []
