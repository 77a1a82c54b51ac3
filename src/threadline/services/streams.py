"""Streams and thread meta as every writer stores them: a push, an HTTP append, a new thread.

A stream is the unit of sync: one writer, a dense ``seq`` from 1, its ``tail`` the last one
stored. :func:`insert_stream` adds one inside the caller's write transaction;
:func:`check_meta_size` holds a thread's meta to :data:`~threadline.protocol.MAX_THREAD_META_BYTES`
wherever it is set or merged.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import PayloadTooLarge
from threadline.storage.schema import streams


def insert_stream(
    conn: sa.Connection,
    *,
    user_id: int,
    stream_uuid: str,
    thread_id: str,
    device_pk: int | None,
    tail: int,
    change: int,
    generation: int = 1,
    source: str | None = None,
) -> int:
    """Store a new stream of ``thread_id``; return its row id."""
    values = {"user_id": user_id, "stream_uuid": stream_uuid, "thread_id": thread_id}
    values.update(device_id=device_pk, tail=tail, change=change)
    values.update(generation=generation, source=source)
    pk = conn.execute(streams.insert().values(**values).returning(streams.c.pk)).scalar_one()
    return int(pk)


def check_meta_size(meta: str | None, *, stream_id: str | None = None, index: int = 0) -> None:
    """A thread's ``meta`` (canonical JSON) must stay within :data:`p.MAX_THREAD_META_BYTES`;
    ``stream_id`` and ``index`` name the stream of a push that sent it."""
    size = 0 if meta is None else len(meta.encode())
    if size <= p.MAX_THREAD_META_BYTES:
        return
    detail: dict[str, Any] = {"limit": p.MAX_THREAD_META_BYTES, "size": size}
    where = "thread meta"
    if stream_id is not None:
        detail["stream_id"] = stream_id
        where = f"thread meta of stream {stream_id} (streams[{index}])"
    raise PayloadTooLarge(
        f"{where} is {size} bytes of compact JSON; the limit is {p.MAX_THREAD_META_BYTES}",
        code="meta_too_large",
        detail=detail,
    )
