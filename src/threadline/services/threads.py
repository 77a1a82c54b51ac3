"""Threads over plain HTTP: list, create, read, rename and delete (leaving a tombstone).

Only the caller's live threads exist here: another user's thread and a deleted one are both
``404`` (never ``403``). Listing is most recent activity first with keyset pagination, so pages
stay correct while entries arrive. Deleting keeps the thread row as a tombstone (for the push
rules), drops its entries and stamps its streams, so ``sync/status`` reports them deleted.

A thread stores only its ``parent_key``; ``parent_id`` and ``child_count`` are resolved when it
is read (the live thread of the same user with that key, and the live threads naming this
thread's key), so a subagent pushed before its session links up as soon as the session
arrives.

A thread may carry a scope (``scope_type`` and ``scope_id``, written ``type:id`` on the wire):
what it is about. A user has at most one live thread per project and scope, whatever its kind
(a partial unique index says so too), so creating one is a get-or-create
(:func:`get_or_create_scoped`); deleting it frees the scope. A thread's scope is set when it
is created and never changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import Conflict, NotFound, ValidationFailed
from threadline.protocol.models import (
    StreamInfo,
    Thread,
    ThreadCreate,
    ThreadDetail,
    ThreadPage,
    ThreadPatch,
)
from threadline.services import pages
from threadline.services.auth import Principal
from threadline.services.inputs import day_after
from threadline.services.streams import check_meta_size
from threadline.storage.changes import ChangeCursor, current_value
from threadline.storage.database import Database
from threadline.storage.schema import devices, entries, streams, threads
from threadline.storage.values import json_text, json_value, now_text, ts_parse, ts_text

_parent = threads.alias("parent")
_child = threads.alias("child")
#: The live thread of the same user whose key is this thread's parent key.
_PARENT_ID = (
    sa.select(_parent.c.id)
    .where(
        _parent.c.user_id == threads.c.user_id,
        _parent.c.key == threads.c.parent_key,
        _parent.c.deleted_at.is_(None),
    )
    .limit(1)
    .scalar_subquery()
    .label("parent_id")
)
#: The live threads of the same user whose parent key is this thread's key.
CHILD_COUNT = (
    sa.select(sa.func.count())
    .select_from(_child)
    .where(
        _child.c.user_id == threads.c.user_id,
        _child.c.parent_key == threads.c.key,
        _child.c.deleted_at.is_(None),
    )
    .scalar_subquery()
    .label("child_count")
)
_THREAD_QUERY = sa.select(threads, _PARENT_ID, CHILD_COUNT)
#: What a listing shows of a thread (its ``change`` and ``deleted_at`` included).
SUMMARY_QUERY = sa.select(threads, CHILD_COUNT)


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """A thread as a listing shows it: with its child count, change value and tombstone flag
    (a deleted thread is listed only by the live updates, to be removed)."""

    id: str
    key: str
    kind: str
    name: str
    title: str | None
    project: str
    meta: dict[str, Any]
    entry_count: int
    created_at: str
    last_activity_at: str
    parent_key: str | None
    child_count: int
    change: int
    deleted: bool
    scope: str | None = None

    @property
    def active_at(self) -> datetime:
        """The last activity as an aware datetime."""
        return ts_parse(self.last_activity_at)


def summary(row: Any) -> ThreadSummary:
    """The one mapping of a thread row read with ``child_count`` to a :class:`ThreadSummary`."""
    meta = json_value(row.meta)
    return ThreadSummary(
        id=row.id,
        key=row.key,
        kind=row.kind,
        name=row.name,
        title=row.title,
        project=row.project,
        meta=meta if isinstance(meta, dict) else {},
        entry_count=int(row.entry_count),
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        parent_key=row.parent_key,
        child_count=int(row.child_count),
        change=int(row.change),
        deleted=row.deleted_at is not None,
        scope=scope_text(row),
    )


@dataclass(frozen=True)
class ThreadFilter:
    """What narrows a listing; ``None`` (or empty) is no filter.

    ``project`` and ``kind`` match exactly, ``q`` is a case-insensitive substring of the title
    or name, ``top_level`` keeps threads without (``True``) or with (``False``) a parent key,
    ``active_since`` / ``active_until`` bound the last activity by UTC day, both days
    included (the last day a date can hold bounds nothing), ``scope`` (type and id) matches
    the scope exactly and ``scope_type`` its type (see :func:`parse_scope`).
    """

    project: str | None = None
    kind: str | None = None
    q: str | None = None
    top_level: bool | None = None
    active_since: date | None = None
    active_until: date | None = None
    scope: tuple[str, str] | None = None
    scope_type: str | None = None

    def apply(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """``query`` (over ``threads``) narrowed to this filter."""
        ceiling = day_after(self.active_until) if self.active_until else None
        return thread_filters(
            query,
            project=self.project,
            kind=self.kind,
            q=self.q,
            top_level=self.top_level,
            active_from=_day_start(self.active_since) if self.active_since else None,
            active_before=_day_start(ceiling) if ceiling else None,
            scope=self.scope,
            scope_type=self.scope_type,
        )


def _day_start(day: date) -> str:
    return ts_text(datetime.combine(day, time(), UTC))


def list_summaries(
    db: Database, user_id: int, where: ThreadFilter, *, limit: int, cursor: str | None
) -> tuple[list[ThreadSummary], str | None, int]:
    """One page of the user's live threads matching ``where``, most recent activity first (the
    page after ``cursor``), the cursor of the next page (``None`` at the end), and the user's
    change cursor as it was before the page was read (every change up to it is in the page)."""
    query = where.apply(
        SUMMARY_QUERY.where(threads.c.user_id == user_id, threads.c.deleted_at.is_(None))
    )
    with db.read() as conn:
        change = current_value(conn, user_id)
        found, next_cursor = keyset_page(conn, query, limit, cursor)
    return [summary(r) for r in found], next_cursor, change


def children(conn: sa.Connection, user_id: int, key: str, limit: int) -> list[ThreadSummary]:
    """Up to ``limit`` live threads of the user whose parent key is ``key`` (the most recently
    active), by start (``meta.started``), else creation."""
    query = (
        SUMMARY_QUERY.where(
            threads.c.user_id == user_id,
            threads.c.deleted_at.is_(None),
            threads.c.parent_key == key,
        )
        .order_by(threads.c.last_activity_at.desc(), threads.c.id.desc())
        .limit(limit)
    )
    found = [summary(r) for r in conn.execute(query)]
    # Stored timestamps sort as text in time order.
    return sorted(found, key=lambda t: (str(t.meta.get("started") or ""), t.created_at))


def list_threads(
    db: Database,
    who: Principal,
    *,
    project: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    parent_id: str | None = None,
    top_level: bool | None = None,
    limit: int = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    scope: tuple[str, str] | None = None,
    scope_type: str | None = None,
) -> ThreadPage:
    """``parent_id``: only the children of that thread; ``top_level``: only threads without
    (``True``) or with (``False``) a parent key; ``scope``: only threads of that scope (type
    and id, checked by :func:`parse_scope`); ``scope_type``: only threads whose scope has that
    type."""
    query = thread_filters(
        _THREAD_QUERY.where(threads.c.user_id == who.user_id, threads.c.deleted_at.is_(None)),
        project=project,
        kind=kind,
        q=q,
        top_level=top_level,
        scope=scope,
        scope_type=scope_type,
    )
    with db.read() as conn:
        if parent_id is not None:
            key = live_thread(conn, who.user_id, parent_id).key
            query = query.where(threads.c.parent_key == key)
        rows, next_cursor = keyset_page(conn, query, limit, cursor)
    return ThreadPage(threads=[thread_model(r) for r in rows], next_cursor=next_cursor)


def thread_filters(
    query: sa.Select[Any],
    *,
    project: str | None,
    kind: str | None,
    q: str | None,
    top_level: bool | None,
    active_from: str | None = None,
    active_before: str | None = None,
    scope: tuple[str, str] | None = None,
    scope_type: str | None = None,
) -> sa.Select[Any]:
    """``query`` (over ``threads``) narrowed to ``project`` and ``kind`` (exact), ``q`` (a
    case-insensitive substring of the title or name), ``top_level`` (``True``: threads without
    a parent key, ``False``: with one), a last activity from ``active_from`` (included) up
    to ``active_before`` (excluded), both stored timestamps, ``scope`` (its type and id) and
    ``scope_type`` (exact); ``None`` or empty is no filter."""
    if scope is not None:
        query = query.where(threads.c.scope_type == scope[0], threads.c.scope_id == scope[1])
    if scope_type is not None:
        query = query.where(threads.c.scope_type == scope_type)
    if top_level is not None:
        parent_key = threads.c.parent_key
        query = query.where(parent_key.is_(None) if top_level else parent_key.is_not(None))
    if project is not None:
        query = query.where(threads.c.project == project)
    if kind is not None:
        query = query.where(threads.c.kind == kind)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                threads.c.title.ilike(pattern, escape="\\"),
                threads.c.name.ilike(pattern, escape="\\"),
            )
        )
    if active_from is not None:
        query = query.where(threads.c.last_activity_at >= active_from)
    if active_before is not None:
        query = query.where(threads.c.last_activity_at < active_before)
    return query


def keyset_page(
    conn: sa.Connection, query: sa.Select[Any], limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """The rows of ``query`` (over ``threads``) most recent activity first, ``limit`` of them
    after ``cursor`` (keyset pagination), and the cursor of the next page (``None`` at the
    end)."""
    if cursor is not None:
        activity, thread_id = pages.decode(cursor, str, str)
        query = query.where(
            sa.or_(
                threads.c.last_activity_at < activity,
                sa.and_(threads.c.last_activity_at == activity, threads.c.id < thread_id),
            )
        )
    query = query.order_by(threads.c.last_activity_at.desc(), threads.c.id.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pages.encode(rows[-1].last_activity_at, rows[-1].id) if more else None
    return list(rows), next_cursor


def get_thread(db: Database, who: Principal, thread_id: str) -> ThreadDetail:
    """The thread with its streams, by generation and then creation."""
    query = (
        sa.select(
            streams.c.stream_uuid,
            streams.c.generation,
            streams.c.source,
            streams.c.tail,
            devices.c.device_uuid,
        )
        .outerjoin(devices, devices.c.id == streams.c.device_id)
        .where(streams.c.thread_id == thread_id)
        .order_by(streams.c.generation, streams.c.pk)
    )
    with db.read() as conn:
        row = thread_row(conn, who.user_id, thread_id)
        stream_rows = conn.execute(query).all()
    infos = [
        StreamInfo(
            stream_id=uuid.UUID(s.stream_uuid),
            generation=s.generation,
            source=s.source,
            tail=s.tail,
            device_id=uuid.UUID(s.device_uuid) if s.device_uuid else None,
        )
        for s in stream_rows
    ]
    return ThreadDetail(**dict(thread_model(row)), streams=infos)


def read_thread(db: Database, who: Principal, thread_id: str) -> Thread:
    """The caller's live thread (without its streams)."""
    with db.read() as conn:
        return thread_model(thread_row(conn, who.user_id, thread_id))


def create_thread(db: Database, who: Principal, body: ThreadCreate) -> Thread:
    """:func:`create_or_get` without saying whether the thread is new."""
    return create_or_get(db, who, body)[0]


def create_or_get(db: Database, who: Principal, body: ThreadCreate) -> tuple[Thread, bool]:
    """``POST /threads``: the new thread and ``True`` — or, for a ``scope`` that already has
    a live thread in the project, that thread and ``False``.

    Without a scope the key defaults to the note key of project and name, and a key that has
    a live thread is ``409 thread_exists``; with one, see :func:`get_or_create_scoped`."""
    check_meta_size(json_text(body.meta))
    if body.scope is not None:
        scope_type, scope_id = parse_scope(body.scope)

        def scoped(conn: sa.Connection) -> tuple[Thread, bool]:
            return get_or_create_scoped(
                conn,
                who.user_id,
                project=body.project,
                kind=body.kind,
                name=body.name,
                scope_type=scope_type,
                scope_id=scope_id,
                title=body.title,
                meta=body.meta,
                key=body.key,
            )

        return db.run_write(scoped)
    key = body.key or p.note_thread_key(body.project, body.name)

    def work(conn: sa.Connection) -> tuple[Thread, bool]:
        change = ChangeCursor(conn, who.user_id)
        _check_key_free(conn, who.user_id, key)
        thread_id = _insert(
            conn,
            who.user_id,
            change,
            key=key,
            kind=body.kind,
            name=body.name,
            project=body.project,
            title=body.title,
            meta=body.meta,
            scope=None,
        )
        change.finish()
        return thread_model(thread_row(conn, who.user_id, thread_id)), True

    return db.run_write(work)


def get_or_create_scoped(
    conn: sa.Connection,
    user_id: int,
    *,
    project: str,
    kind: str,
    name: str,
    scope_type: str,
    scope_id: str,
    title: str | None = None,
    meta: dict[str, Any] | None = None,
    key: str | None = None,
    change: ChangeCursor | None = None,
) -> tuple[Thread, bool]:
    """The user's live thread of ``scope_type:scope_id`` in ``project`` and ``False`` — or, if
    there is none, a new one made of the arguments and ``True``. Runs inside the caller's
    write transaction (``conn``, from :meth:`Database.run_write`).

    - The existing thread is returned whatever its kind, name, title or key: a project has
      one live thread per scope. Nothing of it is updated.
    - A new thread's key is ``key``, by default :func:`threadline.protocol.scope_thread_key`
      of project and scope — the key every client derives, so a push from any device binds
      to it. A key that already has a live thread (say one moved to another project) is
      ``409 thread_exists``.
    - ``change``: the transaction's :class:`ChangeCursor` when the caller took it already
      (it must be taken first: on PostgreSQL it serializes the user's writes, which is what
      makes two concurrent calls agree); the caller then finishes it. Without it, one is
      taken and finished here.
    - The scope must pass :func:`parse_scope` (``422`` otherwise) and ``meta`` fit
      :data:`~threadline.protocol.MAX_THREAD_META_BYTES` (``413``); ``name``, ``project``
      and ``title`` are trusted to be valid as :class:`ThreadCreate` checks them.

    A concurrent creator that slipped past the cursor lock would hit the unique index; the
    ``IntegrityError`` makes :meth:`Database.run_write` run the transaction again, which then
    finds the thread.
    """
    parse_scope(f"{scope_type}:{scope_id}")
    check_meta_size(json_text(meta))
    own = change is None
    cursor = ChangeCursor(conn, user_id) if change is None else change
    found = live_scoped_id(conn, user_id, project, scope_type, scope_id)
    created = found is None
    if found is None:
        key = key or p.scope_thread_key(project, scope_type, scope_id)
        _check_key_free(conn, user_id, key)
        found = _insert(
            conn,
            user_id,
            cursor,
            key=key,
            kind=kind,
            name=name,
            project=project,
            title=title,
            meta=meta,
            scope=(scope_type, scope_id),
        )
    if own:
        cursor.finish()
    return thread_model(thread_row(conn, user_id, found)), created


def live_scoped_id(
    conn: sa.Connection, user_id: int, project: str, scope_type: str, scope_id: str
) -> str | None:
    """The id of the user's live thread of that scope in ``project``, if there is one."""
    found: str | None = conn.execute(
        sa.select(threads.c.id).where(
            threads.c.user_id == user_id,
            threads.c.project == project,
            threads.c.scope_type == scope_type,
            threads.c.scope_id == scope_id,
            threads.c.deleted_at.is_(None),
        )
    ).scalar()
    return found


def parse_scope(text: str, where: str = "scope") -> tuple[str, str]:
    """``(type, id)`` of a scope ``TYPE:ID`` (:func:`threadline.protocol.parse_scope`), or
    ``422`` naming the rule it breaks; ``where`` names the input."""
    try:
        return p.parse_scope(text)
    except ValueError as exc:
        raise _invalid(where, str(exc)) from None


def parse_scope_type(text: str, where: str = "scope_type") -> str:
    """A scope type on its own (``pr``), or ``422`` naming the rule."""
    try:
        return p.parse_scope_type(text)
    except ValueError as exc:
        raise _invalid(where, str(exc)) from None


def _invalid(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{where}: {message}",
        hint="Write a scope as TYPE:ID, e.g. pr:123 or file:docs/spec.md.",
        detail={"errors": [{"loc": [where], "msg": message}]},
    )


def _check_key_free(conn: sa.Connection, user_id: int, key: str) -> None:
    existing = conn.execute(
        sa.select(threads.c.id).where(
            threads.c.user_id == user_id,
            threads.c.key == key,
            threads.c.deleted_at.is_(None),
        )
    ).scalar()
    if existing is not None:
        raise Conflict(
            f"a thread with key {key!r} already exists",
            code="thread_exists",
            detail={"thread_id": existing},
        )


def _insert(
    conn: sa.Connection,
    user_id: int,
    change: ChangeCursor,
    *,
    key: str,
    kind: str,
    name: str,
    project: str,
    title: str | None,
    meta: dict[str, Any] | None,
    scope: tuple[str, str] | None,
) -> str:
    """Store a new live thread; return its id."""
    thread_id, now = str(uuid.uuid4()), now_text()
    conn.execute(
        threads.insert().values(
            id=thread_id,
            user_id=user_id,
            key=key,
            kind=kind,
            name=name,
            project=project,
            title=title or None,
            meta=json_text(meta or {}),
            created_at=now,
            updated_at=now,
            last_activity_at=now,
            entry_count=0,
            deleted_at=None,
            change=change.next,
            scope_type=scope[0] if scope else None,
            scope_id=scope[1] if scope else None,
        )
    )
    return thread_id


def patch_thread(db: Database, who: Principal, thread_id: str, body: ThreadPatch) -> Thread:
    """Rename, retitle, move or merge meta. The key (a note thread's identity) never changes
    — but for a scoped thread moved to another project, whose derived key
    (:func:`threadline.protocol.scope_thread_key`) names the new project from then on."""

    def work(conn: sa.Connection) -> Thread:
        change = ChangeCursor(conn, who.user_id)
        row = live_thread(conn, who.user_id, thread_id)
        values = _patch_values(row, body)
        if "project" in values and row.scope_type is not None:
            _check_scope_free(conn, who.user_id, values["project"], row)
            if row.key == p.scope_thread_key(row.project, row.scope_type, row.scope_id):
                # the key every device derives follows the thread: the old project's is
                # free for that project's next thread of the scope
                key = p.scope_thread_key(values["project"], row.scope_type, row.scope_id)
                _check_key_free(conn, who.user_id, key)
                values["key"] = key
        if values:
            values.update(updated_at=now_text(), change=change.next)
            conn.execute(threads.update().where(threads.c.id == thread_id).values(**values))
        change.finish()
        return thread_model(thread_row(conn, who.user_id, thread_id))

    return db.run_write(work)


def _check_scope_free(conn: sa.Connection, user_id: int, project: str, row: Any) -> None:
    """A scoped thread moves to ``project`` only if no live thread there has its scope."""
    taken = live_scoped_id(conn, user_id, project, row.scope_type, row.scope_id)
    if taken is not None:
        raise Conflict(
            f"project {project!r} already has a thread with scope {row.scope_type}:{row.scope_id}",
            code="thread_exists",
            detail={"thread_id": taken},
        )


def _patch_values(row: Any, body: ThreadPatch) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if body.name is not None and body.name != row.name:
        values["name"] = body.name
    if body.project is not None and body.project != row.project:
        values["project"] = body.project
    if body.title is not None and (body.title or None) != row.title:
        values["title"] = body.title or None
    if body.meta is not None:
        merged = json_text({**json_value(row.meta), **body.meta})
        if merged != row.meta:
            check_meta_size(merged)
            values["meta"] = merged
    return values


def delete_thread(db: Database, who: Principal, thread_id: str) -> None:
    def work(conn: sa.Connection) -> None:
        change = ChangeCursor(conn, who.user_id)
        live_thread(conn, who.user_id, thread_id)
        now, stamp = now_text(), change.next
        conn.execute(entries.delete().where(entries.c.thread_id == thread_id))
        conn.execute(
            threads.update()
            .where(threads.c.id == thread_id)
            .values(deleted_at=now, updated_at=now, entry_count=0, change=stamp)
        )
        conn.execute(streams.update().where(streams.c.thread_id == thread_id).values(change=stamp))
        change.finish()

    db.run_write(work)


def live_thread(conn: sa.Connection, user_id: int, thread_id: str) -> Any:
    """The caller's live thread row, or ``404`` (also for another user's or a deleted one)."""
    return _first_live(conn, _LIVE_QUERY, user_id, thread_id)


def thread_row(conn: sa.Connection, user_id: int, thread_id: str) -> Any:
    """:func:`live_thread` with its ``parent_id`` and ``child_count`` (what
    :func:`thread_model` needs)."""
    return _first_live(conn, _THREAD_QUERY, user_id, thread_id)


_LIVE_QUERY = sa.select(threads)


def _first_live(conn: sa.Connection, query: sa.Select[Any], user_id: int, thread_id: str) -> Any:
    row = conn.execute(
        query.where(
            threads.c.id == thread_id,
            threads.c.user_id == user_id,
            threads.c.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(f"no thread {thread_id}")
    return row


def thread_model(row: Any) -> Thread:
    return Thread(
        id=row.id,
        key=row.key,
        kind=row.kind,
        name=row.name,
        project=row.project,
        title=row.title,
        meta=json_value(row.meta) or {},
        created_at=ts_parse(row.created_at),
        updated_at=ts_parse(row.updated_at),
        last_activity_at=ts_parse(row.last_activity_at),
        entry_count=row.entry_count,
        parent_key=row.parent_key,
        parent_id=row.parent_id,
        child_count=row.child_count,
        scope=scope_text(row),
    )


def scope_text(row: Any) -> str | None:
    """The ``type:id`` of a thread row's scope, or ``None``."""
    if row.scope_type is None:
        return None
    return f"{row.scope_type}:{row.scope_id}"
