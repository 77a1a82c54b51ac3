"""``GET /api/v1/sync/status``: the server's tail per stream, optionally only what changed;
and :func:`database_health`, what ``/healthz`` reports.

The user's cursor is read before the streams, so a write committing in between shows up in
this answer or in the next ``since`` query, never in neither.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from threadline.errors import Unavailable
from threadline.protocol.models import StatusResponse, StreamStatus
from threadline.services.auth import Principal
from threadline.services.inputs import bad_cursor
from threadline.storage.changes import current_value
from threadline.storage.database import Database
from threadline.storage.schema import devices, streams, threads


def status(
    db: Database,
    who: Principal,
    since: int | None = None,
    stream_ids: list[uuid.UUID] | None = None,
    device_id: uuid.UUID | None = None,
) -> StatusResponse:
    with db.read() as conn:
        cursor = current_value(conn, who.user_id)
        if since is not None and not 0 <= since <= cursor:
            raise bad_cursor("change cursor")
        query = _query(who.user_id, since, stream_ids, device_id)
        rows = conn.execute(query).all()
    return StatusResponse(
        cursor=cursor,
        streams=[
            StreamStatus(
                stream_id=uuid.UUID(row.stream_uuid),
                thread_id=row.thread_id,
                tail=row.tail,
                deleted=row.deleted_at is not None,
                change=row.change,
            )
            for row in rows
        ],
    )


def _query(
    user_id: int,
    since: int | None,
    stream_ids: list[uuid.UUID] | None,
    device_id: uuid.UUID | None,
) -> sa.Select[tuple[str, str, int, int, str | None]]:
    query = (
        sa.select(
            streams.c.stream_uuid,
            streams.c.thread_id,
            streams.c.tail,
            streams.c.change,
            threads.c.deleted_at,
        )
        .join(threads, threads.c.id == streams.c.thread_id)
        .where(streams.c.user_id == user_id)
        .order_by(streams.c.change, streams.c.pk)
    )
    if since is not None:
        query = query.where(streams.c.change > since)
    if stream_ids:
        query = query.where(streams.c.stream_uuid.in_([str(s) for s in stream_ids]))
    if device_id is not None:
        query = query.join(devices, devices.c.id == streams.c.device_id).where(
            devices.c.device_uuid == str(device_id)
        )
    return query


def database_health(db: Database) -> str:
    """The database's dialect if it answers a query; :class:`Unavailable` (``503``) if not."""
    try:
        db.ping()
    except sa.exc.SQLAlchemyError:
        raise Unavailable("the database does not answer") from None
    return db.dialect
