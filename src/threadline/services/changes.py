"""What changed for a user, as live pages ask: the change cursor, the threads changed in a
range of it (``/events``), the list rows changed since a value, and the project counts.

The cursor (:mod:`threadline.storage.changes`) is a per-user counter bumped in the transaction
of every change, and a value is committed only after every change below it; so reading the
cursor first and then what changed up to it never skips a row that committed late.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa

from threadline.services.threads import SUMMARY_QUERY, ThreadFilter, ThreadSummary, summary
from threadline.storage.changes import current_value
from threadline.storage.database import Database
from threadline.storage.schema import threads


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """What an event says of one changed thread."""

    id: str
    change: int
    entry_count: int
    last_activity_at: str
    deleted: bool


def read_cursor(db: Database, user_id: int) -> int:
    """The user's change cursor: every change with a value up to it has committed."""
    with db.read() as conn:
        return current_value(conn, user_id)


_CHANGED = (
    sa.select(
        threads.c.id,
        threads.c.change,
        threads.c.entry_count,
        threads.c.last_activity_at,
        threads.c.deleted_at,
    )
    .where(
        threads.c.user_id == sa.bindparam("user_id"),
        threads.c.change > sa.bindparam("after"),
        threads.c.change <= sa.bindparam("upto"),
    )
    .order_by(threads.c.change, threads.c.id)
)


def changed_threads(db: Database, user_id: int, after: int, upto: int) -> list[ThreadChange]:
    """The user's threads whose change is in ``(after, upto]``, oldest change first."""
    with db.read() as conn:
        rows = conn.execute(_CHANGED, {"user_id": user_id, "after": after, "upto": upto}).all()
    return [
        ThreadChange(
            id=row.id,
            change=int(row.change),
            entry_count=int(row.entry_count),
            last_activity_at=row.last_activity_at,
            deleted=row.deleted_at is not None,
        )
        for row in rows
    ]


def changed_summaries(
    db: Database, user_id: int, where: ThreadFilter, since_change: int, limit: int
) -> tuple[list[ThreadSummary] | None, int]:
    """The user's threads matching ``where`` changed after ``since_change`` (deleted ones
    included), most recent activity first — or ``None`` when more than ``limit`` changed — and
    the change value to ask from next time."""
    query = where.apply(
        SUMMARY_QUERY.where(threads.c.user_id == user_id, threads.c.change > since_change)
    )
    query = query.order_by(threads.c.last_activity_at.desc(), threads.c.id.desc())
    with db.read() as conn:
        # The cursor first: whatever commits after it is sent again next time, never skipped.
        change = max(current_value(conn, user_id), since_change)
        found = conn.execute(query.limit(limit + 1)).all()
    if len(found) > limit:
        return None, change
    rows = [summary(r) for r in found]
    return rows, max([change, *(r.change for r in rows)])


#: Project counts by user and change cursor value, per database: a count can only change with
#: the user's cursor, so while nothing changes (paging, filtering) the scan is not repeated.
_counts_cache: weakref.WeakKeyDictionary[
    Database, OrderedDict[tuple[int, int], list[tuple[str, int, int]]]
] = weakref.WeakKeyDictionary()
_counts_lock = threading.Lock()
COUNTS_CACHED = 256


def project_counts(db: Database, user_id: int, change: int) -> list[tuple[str, int, int]]:
    """``(project, top-level threads, all threads)`` of the user's live threads, by name, as
    of the user's change cursor ``change`` (read before calling)."""
    key = (user_id, change)
    with _counts_lock:
        cached = _counts_cache.setdefault(db, OrderedDict()).get(key)
    if cached is not None:
        return list(cached)
    counts = _project_counts(db, user_id)
    with _counts_lock:
        entries = _counts_cache.setdefault(db, OrderedDict())
        entries[key] = counts
        while len(entries) > COUNTS_CACHED:
            entries.popitem(last=False)
    return list(counts)


def _project_counts(db: Database, user_id: int) -> list[tuple[str, int, int]]:
    top_level = sa.func.sum(sa.case((threads.c.parent_key.is_(None), 1), else_=0))
    query = (
        sa.select(threads.c.project, top_level, sa.func.count())
        .where(threads.c.user_id == user_id, threads.c.deleted_at.is_(None))
        .group_by(threads.c.project)
        .order_by(threads.c.project)
    )
    with db.read() as conn:
        return [(r[0], int(r[1] or 0), int(r[2])) for r in conn.execute(query)]
