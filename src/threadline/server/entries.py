"""A thread's entries over plain HTTP: the chronological listing and the ``curl`` append.

Listing is by ``ts`` and then arrival (the row key), with keyset pagination. An entry posted
over HTTP goes to the server's own stream for that thread and device (its id derived from the
two, so it is stable), with the next ``seq`` assigned inside the write transaction; posting
the same entry ``id`` again returns the stored entry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import Conflict, PayloadTooLarge
from threadline.protocol.models import Entry, EntryCreate, EntryPage
from threadline.server import pages
from threadline.server.auth import Principal
from threadline.server.changes import ChangeCursor
from threadline.server.database import Database
from threadline.server.push import insert_stream
from threadline.server.schema import devices, entries, streams, threads
from threadline.server.threads import live_thread
from threadline.server.values import entry_hash, json_text, json_value, now_text, ts_parse, ts_text

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
) -> EntryPage:
    query = _ENTRY_QUERY.where(entries.c.thread_id == thread_id)
    if cursor is not None:
        ts, pk = pages.decode(cursor, str, int)
        query = query.where(
            sa.or_(entries.c.ts > ts, sa.and_(entries.c.ts == ts, entries.c.pk > pk))
        )
    query = query.order_by(entries.c.ts, entries.c.pk).limit(limit + 1)
    with db.read() as conn:
        live_thread(conn, who.user_id, thread_id)
        rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pages.encode(rows[-1].ts, rows[-1].pk) if more else None
    return EntryPage(entries=[entry_model(r, raw=raw) for r in rows], next_cursor=next_cursor)


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
                self.who.user_id,
                stream_uuid,
                self.thread_id,
                self.who.device_pk,
                1,
                stamp,
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
