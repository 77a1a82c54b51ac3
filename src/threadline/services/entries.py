"""A thread's entries: the API's chronological listing, the ``curl`` append, and the windows
the thread page reads.

Listing is by ``ts`` and then arrival (the row key), with keyset pagination. An entry posted
over HTTP goes to the server's own stream for that thread and device (its id derived from the
two, so it is stable), with the next ``seq`` assigned inside the write transaction; posting
the same entry ``id`` again returns the stored entry.

The thread page reads :class:`EntryRow` values (``raw`` never loaded) in :class:`EntryWindow`
pages: a page plus a few neighbours on each side (read only, so results pair with calls
across the page's edges), with the keyset cursors of the pages before and after it. Every read
checks the caller's access to the thread first, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import Conflict, NotFound, PayloadTooLarge
from threadline.protocol.models import Entry, EntryCreate, EntryPage, Thread
from threadline.services import pages
from threadline.services.auth import Principal
from threadline.services.streams import insert_stream
from threadline.services.threads import (
    ThreadSummary,
    children,
    live_thread,
    thread_model,
    thread_row,
)
from threadline.storage.changes import ChangeCursor
from threadline.storage.database import Database
from threadline.storage.schema import devices, entries, streams, threads
from threadline.storage.values import entry_hash, json_text, json_value, now_text, ts_parse, ts_text

#: Namespace of the server-written streams' ids.
SERVER_STREAMS = uuid.UUID("6f1c2a52-8f0e-4d4c-9d7a-3b5f0f1e2c11")

_ENTRY_QUERY = (
    sa.select(entries, streams.c.stream_uuid, devices.c.device_uuid)
    .join(streams, streams.c.pk == entries.c.stream_pk)
    .outerjoin(devices, devices.c.id == entries.c.device_id)
)


def list_entries(
    db: Database,
    who: Principal,
    thread_id: str,
    *,
    limit: int = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    raw: bool = False,
    around: str | None = None,
    before: int = 0,
) -> EntryPage:
    """A page of the thread's entries in display order: from the first, after ``cursor``, or
    — with ``around`` (an entry id) and no cursor — starting ``before`` entries ahead of that
    entry, so a search hit is read with what led to it (``404`` if the thread has no such
    entry)."""
    query = _ENTRY_QUERY.where(entries.c.thread_id == thread_id)
    if cursor is not None:
        ts, pk = pages.decode(cursor, str, int)
        query = query.where(
            sa.or_(entries.c.ts > ts, sa.and_(entries.c.ts == ts, entries.c.pk > pk))
        )
    query = query.order_by(entries.c.ts, entries.c.pk).limit(limit + 1)
    with db.read() as conn:
        live_thread(conn, who.user_id, thread_id)
        if around is not None and cursor is None:
            ts, pk = _first_around(conn, thread_id, around, before)
            query = query.where(
                sa.or_(entries.c.ts > ts, sa.and_(entries.c.ts == ts, entries.c.pk >= pk))
            )
        rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pages.encode(rows[-1].ts, rows[-1].pk) if more else None
    return EntryPage(entries=[entry_model(r, raw=raw) for r in rows], next_cursor=next_cursor)


def _first_around(
    conn: sa.Connection, thread_id: str, entry_id: str, before: int
) -> tuple[str, int]:
    """The place of the entry ``before`` entries ahead of ``entry_id`` (or of the thread's
    first entry, when there are fewer)."""
    target = conn.execute(
        sa.select(entries.c.ts, entries.c.pk).where(
            entries.c.thread_id == thread_id, entries.c.entry_uuid == entry_id
        )
    ).first()
    if target is None:
        raise NotFound(f"no entry {entry_id} in this thread")
    keys = sa.select(entries.c.ts, entries.c.pk)
    back = conn.execute(_before(thread_id, (target.ts, target.pk), before, keys)).all()
    first = back[-1] if back else target
    return str(first.ts), int(first.pk)


def post_entry(
    db: Database, who: Principal, thread_id: str, body: EntryCreate, max_entry_bytes: int
) -> tuple[Entry, bool]:
    """Append one entry; return it and whether it is new (``False``: its id was stored)."""
    size = p.entry_size(body.text, None, body.parts, body.meta)
    if size > max_entry_bytes:
        raise PayloadTooLarge(
            f"the entry is {size} bytes; the limit is {max_entry_bytes}",
            code=p.CODE_ENTRY_TOO_LARGE,
            detail={"limit": max_entry_bytes, "size": size},
        )
    return db.run_write(lambda conn: _Append(conn, who, thread_id, body).run())


class _Append:
    def __init__(self, conn: sa.Connection, who: Principal, thread_id: str, body: EntryCreate):
        self.conn, self.who, self.thread_id, self.body = conn, who, thread_id, body
        self.entry_uuid = str(body.id or uuid.uuid4())

    def run(self) -> tuple[Entry, bool]:
        change = ChangeCursor(self.conn, self.who.user_id)
        thread = live_thread(self.conn, self.who.user_id, self.thread_id)
        existing = self._existing()
        if existing is not None:
            return existing, False
        stream_pk, seq = self._next_position(change.next)
        ts = ts_text(self.body.ts or datetime.now(UTC))
        pk = self._insert(stream_pk, seq, ts, change.next)
        self.conn.execute(
            threads.update()
            .where(threads.c.id == self.thread_id)
            .values(
                entry_count=threads.c.entry_count + 1,
                last_activity_at=max(thread.last_activity_at, ts),
                updated_at=now_text(),
                change=change.next,
            )
        )
        change.finish()
        row = self.conn.execute(_ENTRY_QUERY.where(entries.c.pk == pk)).one()
        return entry_model(row, raw=True), True

    def _existing(self) -> Entry | None:
        row = self.conn.execute(
            _ENTRY_QUERY.where(
                entries.c.user_id == self.who.user_id, entries.c.entry_uuid == self.entry_uuid
            )
        ).first()
        if row is None:
            return None
        if row.thread_id != self.thread_id:
            raise Conflict(
                f"entry id {self.entry_uuid} is already stored in another thread",
                code=p.CODE_ENTRY_CONFLICT,
                detail={"stream_id": row.stream_uuid, "seq": row.seq, "tail": None},
            )
        return entry_model(row, raw=True)

    def _next_position(self, stamp: int) -> tuple[int, int]:
        """The server stream of this thread and device, with its tail advanced by one."""
        writer = self.who.device_pk if self.who.device_pk is not None else f"t{self.who.token_id}"
        stream_uuid = str(uuid.uuid5(SERVER_STREAMS, f"{self.thread_id}/{writer}"))
        row = self.conn.execute(
            sa.select(streams.c.pk, streams.c.tail).where(
                streams.c.user_id == self.who.user_id, streams.c.stream_uuid == stream_uuid
            )
        ).first()
        if row is None:
            pk = insert_stream(
                self.conn,
                user_id=self.who.user_id,
                stream_uuid=stream_uuid,
                thread_id=self.thread_id,
                device_pk=self.who.device_pk,
                tail=1,
                change=stamp,
            )
            return pk, 1
        self.conn.execute(
            streams.update().where(streams.c.pk == row.pk).values(tail=row.tail + 1, change=stamp)
        )
        return int(row.pk), int(row.tail) + 1

    def _insert(self, stream_pk: int, seq: int, ts: str, stamp: int) -> int:
        body = self.body
        parts, meta = json_text(body.parts), json_text(body.meta)
        digest = entry_hash(self.entry_uuid, ts, body.role, body.text, parts, meta, None)
        pk = self.conn.execute(
            entries.insert()
            .values(
                user_id=self.who.user_id,
                thread_id=self.thread_id,
                stream_pk=stream_pk,
                seq=seq,
                entry_uuid=self.entry_uuid,
                ts=ts,
                role=body.role,
                text=body.text,
                parts=parts,
                meta=meta,
                raw=None,
                hash=digest,
                device_id=self.who.device_pk,
                received_at=now_text(),
                change=stamp,
            )
            .returning(entries.c.pk)
        ).scalar_one()
        return int(pk)


def entry_model(row: Any, *, raw: bool) -> Entry:
    return Entry(
        id=uuid.UUID(row.entry_uuid),
        thread_id=row.thread_id,
        stream_id=uuid.UUID(row.stream_uuid),
        seq=row.seq,
        ts=ts_parse(row.ts),
        role=row.role,
        text=row.text,
        parts=json_value(row.parts),
        meta=json_value(row.meta),
        raw=row.raw if raw else None,
        device_id=uuid.UUID(row.device_uuid) if row.device_uuid else None,
        received_at=ts_parse(row.received_at),
    )


# --- the thread page's windows ---------------------------------------------------------------


@dataclass(slots=True)
class EntryRow:
    """A stored entry, as the thread page reads it (``raw`` never loaded)."""

    pk: int
    id: str
    ts: str
    role: str
    text: str
    parts: list[dict[str, Any]]
    meta: dict[str, Any]
    change: int
    seq: int

    @property
    def key(self) -> tuple[str, int]:
        """Its place in display order (``ts``, then arrival)."""
        return self.ts, self.pk

    @property
    def cursor(self) -> str:
        return pages.encode(self.ts, self.pk)


def entry_row(r: Any) -> EntryRow:
    """The one mapping of a row of :data:`_ROW_COLUMNS` to an :class:`EntryRow`."""
    parts = json_value(r.parts) if r.parts else None
    meta = json_value(r.meta) if r.meta else None
    return EntryRow(
        pk=int(r.pk),
        id=str(r.entry_uuid),
        ts=str(r.ts),
        role=str(r.role),
        text=str(r.text or ""),
        parts=[p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else [],
        meta=meta if isinstance(meta, dict) else {},
        change=int(r.change),
        seq=int(r.seq),
    )


@dataclass
class EntryWindow:
    """A page of entries with ``near`` neighbours read on each side, whether there is more
    before and after the page, and the thread it was read from."""

    before: list[EntryRow]
    page: list[EntryRow]
    after: list[EntryRow]
    more_before: bool
    more_after: bool
    #: The thread's change value when read: every entry with a change up to it is on the page
    #: or reachable by paging.
    change: int
    thread_is_subagent: bool
    #: The thread's live children, when asked for (see ``want_children``).
    children: list[ThreadSummary]

    @property
    def before_cursor(self) -> str:
        """The cursor of the page before this one; empty when there is none."""
        return self.page[0].cursor if self.page and self.more_before else ""

    @property
    def after_cursor(self) -> str:
        """The cursor of the page after this one; empty when there is none."""
        return self.page[-1].cursor if self.page and self.more_after else ""


#: Decides from a page's entries whether its thread's children are read with it.
WantChildren = Callable[[list[EntryRow]], bool]

_ROW_COLUMNS = sa.select(
    entries.c.pk,
    entries.c.entry_uuid,
    entries.c.ts,
    entries.c.role,
    entries.c.text,
    entries.c.parts,
    entries.c.meta,
    entries.c.change,
    entries.c.seq,
)


def _after(
    thread_id: str, key: tuple[str, int] | None, limit: int, *, inclusive: bool = False
) -> sa.Select[Any]:
    query = _ROW_COLUMNS.where(entries.c.thread_id == thread_id)
    if key is not None:
        ts, pk = key
        same = entries.c.pk >= pk if inclusive else entries.c.pk > pk
        query = query.where(sa.or_(entries.c.ts > ts, sa.and_(entries.c.ts == ts, same)))
    return query.order_by(entries.c.ts, entries.c.pk).limit(limit)


def _before(
    thread_id: str, key: tuple[str, int], limit: int, columns: sa.Select[Any] = _ROW_COLUMNS
) -> sa.Select[Any]:
    ts, pk = key
    return (
        columns.where(
            entries.c.thread_id == thread_id,
            sa.or_(entries.c.ts < ts, sa.and_(entries.c.ts == ts, entries.c.pk < pk)),
        )
        .order_by(entries.c.ts.desc(), entries.c.pk.desc())
        .limit(limit)
    )


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[EntryRow]:
    return [entry_row(r) for r in conn.execute(query)]


def _decode(cursor: str) -> tuple[str, int]:
    ts, pk = pages.decode(cursor, str, int)
    return str(ts), int(pk)


@dataclass(frozen=True)
class _Read:
    """What one window read needs besides the connection."""

    thread_id: str
    limit: int
    near: int


def _window_rows(
    conn: sa.Connection,
    read: _Read,
    *,
    start_after: tuple[str, int] | None = None,
    end_before: tuple[str, int] | None = None,
) -> tuple[list[EntryRow], list[EntryRow], list[EntryRow], bool, bool]:
    """``(before, page, after, more before, more after)``: the page of ``limit`` entries after
    ``start_after`` (or before ``end_before``), plus ``near`` neighbours on each side."""
    thread_id, limit, near = read.thread_id, read.limit, read.near
    if end_before is not None:
        back = _rows(conn, _before(thread_id, end_before, limit + near + 1))
        back.reverse()
        page = back[-limit:]
        earlier = back[:-limit][-near:] if len(back) > limit else []
        later = _rows(conn, _after(thread_id, end_before, near, inclusive=True))
        return earlier, page, later, len(back) > limit, True
    rows = _rows(conn, _after(thread_id, start_after, limit + near + 1))
    page, after = rows[:limit], rows[limit:]
    more_after = len(rows) > limit
    before: list[EntryRow] = []
    more_before = False
    if start_after is not None and page:
        back = _rows(conn, _before(thread_id, page[0].key, near + 1))
        back.reverse()
        more_before = bool(back)
        before = back[-near:]
    return before, page, after[:near], more_before, more_after


def _start_around(
    conn: sa.Connection, thread_id: str, entry_id: str, before: int
) -> tuple[str, int] | None:
    """Where a page starts to show ``before`` entries ahead of ``entry_id`` (``None``: from
    the first entry, also when there is no such entry)."""
    target = conn.execute(
        sa.select(entries.c.ts, entries.c.pk).where(
            entries.c.thread_id == thread_id, entries.c.entry_uuid == entry_id
        )
    ).first()
    if target is None:
        return None
    keys = sa.select(entries.c.ts, entries.c.pk)
    back = conn.execute(_before(thread_id, (target.ts, target.pk), before + 1, keys)).all()
    if len(back) <= before:
        return None
    return str(back[-1].ts), int(back[-1].pk)


def thread_page(
    db: Database,
    user_id: int,
    thread_id: str,
    *,
    around: str | None,
    around_before: int,
    limit: int,
    near: int,
    max_children: int,
) -> tuple[Thread, EntryWindow]:
    """The user's thread and its first page of entries — or the page that shows
    ``around_before`` entries ahead of the entry ``around`` — with its children (up to
    ``max_children``), all in one read."""
    read = _Read(thread_id, limit, near)
    with db.read() as conn:
        row = thread_row(conn, user_id, thread_id)
        start = _start_around(conn, thread_id, around, around_before) if around else None
        parts = _window_rows(conn, read, start_after=start)
        kids = children(conn, user_id, row.key, max_children) if row.child_count else []
    window = EntryWindow(*parts, int(row.change), row.parent_key is not None, kids)
    return thread_model(row), window


def entry_window(
    db: Database,
    user_id: int,
    thread_id: str,
    *,
    after: str | None,
    before: str | None,
    limit: int,
    near: int,
    want_children: WantChildren,
    max_children: int,
) -> EntryWindow:
    """The page of the user's thread after the cursor ``after`` (or before ``before``; the
    first page without either), with the thread's children if ``want_children(page)``."""
    read = _Read(thread_id, limit, near)
    end_before = _decode(before) if before else None
    start_after = _decode(after) if after and not before else None
    with db.read() as conn:
        row = live_thread(conn, user_id, thread_id)
        parts = _window_rows(conn, read, start_after=start_after, end_before=end_before)
        kids = children(conn, user_id, row.key, max_children) if want_children(parts[1]) else []
    return EntryWindow(*parts, int(row.change), row.parent_key is not None, kids)


def full_entry(
    db: Database,
    user_id: int,
    thread_id: str,
    entry_id: str,
    *,
    near: int,
    want_children: WantChildren,
    max_children: int,
) -> EntryWindow:
    """The one entry ``entry_id`` of the user's thread as a page, with ``near`` neighbours."""
    with db.read() as conn:
        row = live_thread(conn, user_id, thread_id)
        found = conn.execute(
            _ROW_COLUMNS.where(entries.c.thread_id == thread_id, entries.c.entry_uuid == entry_id)
        ).first()
        if found is None:
            raise NotFound(f"no entry {entry_id} in this thread")
        target = entry_row(found)
        after = _rows(conn, _after(thread_id, target.key, near))
        before = _rows(conn, _before(thread_id, target.key, near))
        kids = children(conn, user_id, row.key, max_children) if want_children([target]) else []
    before.reverse()
    return EntryWindow(
        before, [target], after, False, False, int(row.change), row.parent_key is not None, kids
    )


def changed_entries(
    db: Database, user_id: int, thread_id: str, since_change: int, limit: int
) -> tuple[EntryWindow, int, bool]:
    """The entries of the user's thread changed after ``since_change``, in display order (at
    most ``limit``), the change value to ask from next time, and whether more changed."""
    with db.read() as conn:
        row = live_thread(conn, user_id, thread_id)
        found = _rows(
            conn,
            _ROW_COLUMNS.where(entries.c.thread_id == thread_id, entries.c.change > since_change)
            .order_by(entries.c.ts, entries.c.pk)
            .limit(limit + 1),
        )
    more = len(found) > limit
    window = EntryWindow(
        [], found[:limit], [], False, False, int(row.change), row.parent_key is not None, []
    )
    return window, max(int(row.change), since_change), more


def export_pages(
    db: Database, user_id: int, thread_id: str, page_size: int
) -> Iterator[list[EntryRow]]:
    """Every entry of the user's thread in display order, ``page_size`` at a time, each page
    read in its own short transaction (the thread's access checked again each time)."""
    key: tuple[str, int] | None = None
    while True:
        with db.read() as conn:
            live_thread(conn, user_id, thread_id)
            rows = _rows(conn, _after(thread_id, key, page_size))
        if not rows:
            return
        yield rows
        if len(rows) < page_size:
            return
        key = rows[-1].key


# --- for other services, inside their own transaction ----------------------------------------


def append_entry(conn: sa.Connection, who: Principal, thread_id: str, body: EntryCreate) -> Entry:
    """Append ``body`` to the caller's thread inside the caller's write transaction (as
    :func:`post_entry` does in its own); the stored entry (its id stored already: that one)."""
    return _Append(conn, who, thread_id, body).run()[0]


def neighbours(
    conn: sa.Connection, user_id: int, thread_id: str, entry_ids: list[str], near: int
) -> list[EntryRow]:
    """The entries ``entry_ids`` of the user's thread with ``near`` entries on each side of
    each, once each, in display order (ids not in the thread are skipped)."""
    return neighbours_of(conn, user_id, {thread_id: entry_ids}, near).get(thread_id, [])


def neighbours_of(
    conn: sa.Connection, user_id: int, wanted: dict[str, list[str]], near: int
) -> dict[str, list[EntryRow]]:
    """For each of the user's live threads in ``wanted`` (thread id → entry ids), its entries
    within ``near`` places of those, once each, in display order — in three statements however
    many there are (another user's thread, or a deleted one, gives nothing).

    Each target's neighbours are two short walks of the thread's ``(ts, pk)`` index (``near``
    entries back, ``near`` on), so the cost follows the targets, not the threads' lengths."""
    targets = [
        row
        for row in _targets(conn, user_id, [i for ids in wanted.values() for i in ids])
        if row.entry_uuid in wanted.get(str(row.thread_id), ())
    ]
    if not targets:
        return {}
    walks = _per_target(_WALKS, targets, {"back": near + 1, "near": near})
    keys = set(conn.execute(*walks).scalars())
    query = _ROW_COLUMNS.add_columns(entries.c.thread_id).where(entries.c.pk.in_(list(keys)))
    found: dict[str, list[EntryRow]] = {}
    for row in conn.execute(query.order_by(entries.c.ts, entries.c.pk)):
        found.setdefault(str(row.thread_id), []).append(entry_row(row))
    return found


def prompts_before(
    conn: sa.Connection, user_id: int, wanted: Sequence[str], back: int
) -> dict[str, list[EntryRow]]:
    """For each of the user's entries ``wanted`` (entry ids) in a live thread, the last
    ``back`` entries of role ``user`` before it in its thread, nearest first (the prompt of
    its turn is among them, however far back) — in three statements."""
    targets = _targets(conn, user_id, list(wanted))
    if not targets:
        return {}
    pairs = conn.execute(*_per_target(_PROMPTS, targets, {"back": back})).all()
    keys = {int(pair.pk) for pair in pairs}
    if not keys:
        return {}
    read = {
        int(row.pk): entry_row(row)
        for row in conn.execute(_ROW_COLUMNS.where(entries.c.pk.in_(list(keys))))
    }
    found: dict[str, list[EntryRow]] = {}
    for pair in pairs:
        target = targets[int(pair.i)]
        found.setdefault(str(target.entry_uuid), []).append(read[int(pair.pk)])
    for rows in found.values():
        rows.sort(key=lambda row: row.key, reverse=True)
    return found


#: One target's last ``back`` entries of role ``user`` before it, nearest first.
_PROMPTS = (
    "SELECT * FROM (SELECT {i} AS i, pk FROM entries WHERE thread_id = :t{i} AND role = 'user' "
    "AND (ts < :ts{i} OR (ts = :ts{i} AND pk < :pk{i})) ORDER BY ts DESC, pk DESC LIMIT :back) "
    "p{i}"
)


#: One target's keys: itself and the ``near`` entries before it, and the ``near`` after it,
#: in its thread's display order (``ts``, then ``pk``): two short walks of the thread's index.
_WALKS = (
    "SELECT pk FROM (SELECT pk FROM entries WHERE thread_id = :t{i} AND (ts < :ts{i} OR "
    "(ts = :ts{i} AND pk <= :pk{i})) ORDER BY ts DESC, pk DESC LIMIT :back) b{i} "
    "UNION ALL SELECT pk FROM (SELECT pk FROM entries WHERE thread_id = :t{i} AND (ts > :ts{i} "
    "OR (ts = :ts{i} AND pk > :pk{i})) ORDER BY ts, pk LIMIT :near) a{i}"
)


def _targets(conn: sa.Connection, user_id: int, ids: list[str]) -> list[Any]:
    """The thread, id, time and key of each of the user's entries ``ids`` in a live thread."""
    return list(
        conn.execute(
            sa.select(entries.c.thread_id, entries.c.entry_uuid, entries.c.ts, entries.c.pk)
            .join(threads, threads.c.id == entries.c.thread_id)
            .where(
                entries.c.user_id == user_id,
                entries.c.entry_uuid.in_(ids),
                threads.c.user_id == user_id,
                threads.c.deleted_at.is_(None),
            )
        )
    )


def _per_target(
    template: str, targets: list[Any], params: dict[str, Any]
) -> tuple[sa.TextClause, dict[str, Any]]:
    """``template`` once per target (its thread, time and key as ``:t{i}``, ``:ts{i}``,
    ``:pk{i}``), joined by ``UNION ALL``, with ``params``: the statement (plain text: built per
    call, it would be compiled per call) and its parameters."""
    params = dict(params)
    for i, target in enumerate(targets):
        params.update({f"t{i}": target.thread_id, f"ts{i}": target.ts, f"pk{i}": target.pk})
    sql = " UNION ALL ".join(template.format(i=i) for i in range(len(targets)))
    return sa.text(sql), params
