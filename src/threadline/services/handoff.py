"""Hand-off saves: a session with its git state, stored so another machine can resume it.

A save is immutable. It names the session's thread and the line its transcript had reached, the
git state (remote, branch, HEAD, upstream), the device, a message, the save it was resumed
from, and up to three blobs (:mod:`blobs`): a git bundle, a binary patch and the untracked
files. The client mints its ``save_id``; ids are unique per user.

Guarantees:

- :func:`create_save` is idempotent on ``save_id``: the same content again answers the stored
  save (``created`` is ``False``), different content is ``409 save_conflict``. A referenced
  blob that was not uploaded is ``422 missing_blob`` naming it (upload it, then send the save
  again), a ``thread_id`` that is not one of the caller's live threads ``422 unknown_thread``;
  a message, ``files`` or ``excluded`` over its limit ``413 save_too_large``. Nothing is stored
  then.
- :func:`delete_save` deletes the save and, in the same transaction, every blob it referred to
  that no other save of the user refers to.
- Every query is filtered by the caller's user: another user's save is ``404``, exactly like a
  missing one.
- Creating and deleting a save bump the user's change cursor and stamp the save with it, so
  live pages learn of it (:func:`changed_saves`, :func:`changed_views`).
- Listings are newest first (``created``, then ``save_id``), with keyset cursors.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from threadline.protocol.models import Save, SaveBlobRefs, SaveCreate, SavePage
from threadline.services import blobs as blob_store
from threadline.services import pages
from threadline.services.auth import Principal
from threadline.services.threads import live_thread
from threadline.storage.changes import ChangeCursor, current_value
from threadline.storage.database import Database
from threadline.storage.schema import blobs, devices, save_blobs, saves, threads
from threadline.storage.values import json_text, json_value, now_text, ts_parse, ts_text


@dataclass(frozen=True)
class HandoffLimits:
    """The server's hand-off limits (``threadline serve`` flags and ``THREADLINE_*`` env)."""

    max_blob_bytes: int = p.MAX_BLOB_BYTES
    max_save_files: int = p.MAX_SAVE_FILES
    max_save_message_chars: int = p.MAX_SAVE_MESSAGE_CHARS


@dataclass(frozen=True, slots=True)
class SaveChange:
    """What a live event says of one created save."""

    id: str
    thread_id: str | None
    change: int


@dataclass(frozen=True)
class SaveView:
    """A save as the web shows it: with the title of its session's thread (``None`` when the
    thread is not one of the user's live threads) and its change value."""

    save: Save
    thread_title: str | None
    change: int


_thread = threads.alias("save_thread")
_BASE = (
    sa.select(
        saves,
        devices.c.name.label("token_device"),
        sa.func.coalesce(_thread.c.title, _thread.c.name).label("thread_title"),
    )
    .outerjoin(devices, devices.c.id == saves.c.device_id)
    .outerjoin(
        _thread,
        sa.and_(
            _thread.c.id == saves.c.thread_id,
            _thread.c.user_id == saves.c.user_id,
            _thread.c.deleted_at.is_(None),
        ),
    )
)
_NEWEST_FIRST = (saves.c.created.desc(), saves.c.save_id.desc())


# --- create --------------------------------------------------------------------------------


def create_save(
    db: Database, who: Principal, body: SaveCreate, limits: HandoffLimits
) -> tuple[Save, bool]:
    """Store ``body``; the stored save and whether it is new (``False``: it was there)."""
    check_limits(body, limits)
    save_id = str(body.save_id)
    digest = content_hash(body)
    refs = {role: getattr(body.blobs, role) for role in p.BLOB_ROLES}

    def work(conn: sa.Connection) -> tuple[Save, bool]:
        change = ChangeCursor(conn, who.user_id)
        existing = _row(conn, who.user_id, save_id)
        if existing is not None:
            if existing.hash != digest:
                raise Conflict(
                    f"save {save_id} is already stored with different content",
                    code=p.CODE_SAVE_CONFLICT,
                    detail={"save_id": save_id},
                    hint="A save never changes: mint a new save_id for a new save.",
                )
            return _models(conn, [existing])[0], False
        _check_thread(conn, who.user_id, body.thread_id)
        _check_blobs(conn, who.user_id, refs)
        pk = conn.execute(
            saves.insert().values(**_values(body, who, digest, change.next)).returning(saves.c.pk)
        ).scalar_one()
        rows = [
            {"save_pk": pk, "role": role, "user_id": who.user_id, "sha256": sha}
            for role, sha in refs.items()
            if sha is not None
        ]
        if rows:
            conn.execute(save_blobs.insert(), rows)
        change.finish()
        stored = _row(conn, who.user_id, save_id)
        return _models(conn, [stored])[0], True

    return db.run_write(work)


def check_limits(body: SaveCreate, limits: HandoffLimits) -> None:
    """``413 save_too_large`` for a message, ``files`` or ``excluded`` over its limit."""
    for field, size, limit in (
        ("message", len(body.message), limits.max_save_message_chars),
        ("files", len(body.files), limits.max_save_files),
        ("excluded", len(body.excluded), limits.max_save_files),
    ):
        if size > limit:
            unit = "characters" if field == "message" else "entries"
            raise PayloadTooLarge(
                f"a save's {field} may hold at most {limit} {unit}, not {size}",
                code=p.CODE_SAVE_TOO_LARGE,
                detail={"field": field, "limit": limit, "size": size},
            )


def content_hash(body: SaveCreate) -> str:
    """SHA-256 of a save's canonical content: equal for a re-sent save, whatever the offset
    its ``created`` was written with."""
    content = body.model_dump(mode="json")
    content["created"] = ts_text(body.created)
    return hashlib.sha256((json_text(content) or "").encode()).hexdigest()


def _values(body: SaveCreate, who: Principal, digest: str, stamp: int) -> dict[str, Any]:
    return {
        "user_id": who.user_id,
        "save_id": str(body.save_id),
        "thread_id": body.thread_id,
        "session_id": body.session_id,
        "agent": body.agent,
        "line_count": body.line_count,
        "remote": body.remote,
        "remote_key": body.remote_key,
        "branch": body.branch,
        "commit_sha": body.commit,
        "detached": body.detached,
        "upstream": body.upstream,
        "message": body.message,
        "device_name": body.device_name,
        "device_id": who.device_pk,
        "resumed_from": str(body.resumed_from) if body.resumed_from else None,
        "repo_root": body.repo_root,
        "cwd": body.cwd,
        "files": json_text([f.model_dump(mode="json") for f in body.files]),
        "excluded": json_text(body.excluded),
        "created": ts_text(body.created),
        "received_at": now_text(),
        "hash": digest,
        "change": stamp,
    }


def _check_thread(conn: sa.Connection, user_id: int, thread_id: str | None) -> None:
    if thread_id is None:
        return
    try:
        live_thread(conn, user_id, thread_id)
    except NotFound:
        raise ValidationFailed(
            f"thread_id {thread_id[:80]!r} is not one of your threads",
            code=p.CODE_UNKNOWN_THREAD,
            detail={"thread_id": thread_id},
            hint="Sync the session first (`threadline sync`), or send thread_id null.",
        ) from None


def _check_blobs(conn: sa.Connection, user_id: int, refs: dict[str, str | None]) -> None:
    lacking = blob_store.missing(conn, user_id, {sha for sha in refs.values() if sha})
    if not lacking:
        return
    found = [{"role": r, "sha256": sha} for r, sha in refs.items() if sha in lacking]
    names = ", ".join(f"{item['role']} {item['sha256']}" for item in found)
    raise ValidationFailed(
        f"the save refers to blobs that were not uploaded: {names}",
        code=p.CODE_MISSING_BLOB,
        detail={"missing": found},
        hint="Upload each with PUT /api/v1/blobs/{sha256}, then send the save again.",
    )


# --- read ----------------------------------------------------------------------------------


def get_save(db: Database, who: Principal, save_id: str) -> Save:
    """The caller's save ``save_id``; ``404`` if there is none."""
    with db.read() as conn:
        row = _row(conn, who.user_id, _key(save_id))
        if row is None:
            raise _not_found(save_id)
        return _models(conn, [row])[0]


def list_saves(
    db: Database,
    who: Principal,
    *,
    remote_key: str | None = None,
    thread_id: str | None = None,
    session_id: str | None = None,
    limit: int = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> SavePage:
    """One page of the caller's saves, newest first, narrowed by the filters given."""
    query = _filtered(who.user_id, remote_key, thread_id, session_id)
    with db.read() as conn:
        rows, next_cursor = _page(conn, query, limit, cursor)
        return SavePage(saves=_models(conn, rows), next_cursor=next_cursor)


def recent_saves(
    db: Database,
    user_id: int,
    *,
    thread_id: str | None = None,
    remote_key: str | None = None,
    limit: int = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[SaveView], str | None, int]:
    """A page of the user's saves for the web, newest first, the next page's cursor, and the
    user's change cursor as it was before the page was read (every save created up to it is
    in the page or after it)."""
    query = _filtered(user_id, remote_key, thread_id, None)
    with db.read() as conn:
        change = current_value(conn, user_id)
        rows, next_cursor = _page(conn, query, limit, cursor)
        return _views(conn, rows), next_cursor, change


def changed_views(
    db: Database,
    user_id: int,
    since_change: int,
    *,
    thread_id: str | None = None,
    remote_key: str | None = None,
    limit: int,
) -> tuple[list[SaveView] | None, int]:
    """The user's saves (of ``thread_id`` and ``remote_key``, if given) created after
    ``since_change``, newest first — ``None`` when more than ``limit`` were — and the change
    value to ask from next."""
    query = _filtered(user_id, remote_key, thread_id, None).where(saves.c.change > since_change)
    with db.read() as conn:
        change = max(current_value(conn, user_id), since_change)
        rows = list(conn.execute(query.order_by(*_NEWEST_FIRST).limit(limit + 1)))
        if len(rows) > limit:
            return None, change
        return _views(conn, rows), max([change, *(int(r.change) for r in rows)])


_CHANGED = (
    sa.select(saves.c.save_id, saves.c.thread_id, saves.c.change)
    .where(
        saves.c.user_id == sa.bindparam("user_id"),
        saves.c.change > sa.bindparam("after"),
        saves.c.change <= sa.bindparam("upto"),
    )
    .order_by(saves.c.change, saves.c.save_id)
)


def changed_saves(db: Database, user_id: int, after: int, upto: int) -> list[SaveChange]:
    """The user's saves whose change is in ``(after, upto]``, oldest change first (a deleted
    save is gone: it is not listed)."""
    with db.read() as conn:
        rows = conn.execute(_CHANGED, {"user_id": user_id, "after": after, "upto": upto}).all()
    return [SaveChange(r.save_id, r.thread_id, int(r.change)) for r in rows]


def _filtered(
    user_id: int, remote_key: str | None, thread_id: str | None, session_id: str | None
) -> sa.Select[Any]:
    query = _BASE.where(saves.c.user_id == user_id)
    if remote_key is not None:
        query = query.where(saves.c.remote_key == remote_key)
    if thread_id is not None:
        query = query.where(saves.c.thread_id == thread_id)
    if session_id is not None:
        query = query.where(saves.c.session_id == session_id)
    return query


def _page(
    conn: sa.Connection, query: sa.Select[Any], limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    if cursor is not None:
        created, save_id = pages.decode(cursor, str, str)
        query = query.where(
            sa.or_(
                saves.c.created < created,
                sa.and_(saves.c.created == created, saves.c.save_id < save_id),
            )
        )
    rows = conn.execute(query.order_by(*_NEWEST_FIRST).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pages.encode(rows[-1].created, rows[-1].save_id) if more else None
    return list(rows), next_cursor


def _row(conn: sa.Connection, user_id: int, save_id: str | None) -> Any:
    if save_id is None:
        return None
    query = _BASE.where(saves.c.user_id == user_id, saves.c.save_id == save_id)
    return conn.execute(query).first()


def _refs(conn: sa.Connection, pks: list[int]) -> dict[int, dict[str, str]]:
    """The blobs of the saves ``pks``, by save and role."""
    found: dict[int, dict[str, str]] = {}
    if not pks:
        return found
    query = sa.select(save_blobs.c.save_pk, save_blobs.c.role, save_blobs.c.sha256).where(
        save_blobs.c.save_pk.in_(pks)
    )
    for pk, role, sha in conn.execute(query):
        found.setdefault(int(pk), {})[role] = sha
    return found


def _models(conn: sa.Connection, rows: list[Any]) -> list[Save]:
    refs = _refs(conn, [int(r.pk) for r in rows])
    return [_model(r, refs.get(int(r.pk), {})) for r in rows]


def _views(conn: sa.Connection, rows: list[Any]) -> list[SaveView]:
    models = _models(conn, rows)
    return [SaveView(m, r.thread_title, int(r.change)) for m, r in zip(models, rows, strict=True)]


def _model(row: Any, refs: dict[str, str]) -> Save:
    return Save(
        save_id=uuid.UUID(row.save_id),
        thread_id=row.thread_id,
        session_id=row.session_id,
        agent=row.agent,
        line_count=int(row.line_count),
        remote=row.remote,
        remote_key=row.remote_key,
        branch=row.branch,
        commit=row.commit_sha,
        detached=bool(row.detached),
        upstream=row.upstream,
        message=row.message,
        device_name=row.device_name,
        device=row.device_name or row.token_device or "",
        resumed_from=uuid.UUID(row.resumed_from) if row.resumed_from else None,
        repo_root=row.repo_root,
        cwd=row.cwd,
        blobs=SaveBlobRefs(
            bundle=refs.get("bundle"), patch=refs.get("patch"), untracked=refs.get("untracked")
        ),
        files=json_value(row.files) or [],
        excluded=json_value(row.excluded) or [],
        created=ts_parse(row.created),
        received_at=ts_parse(row.received_at),
    )


# --- delete --------------------------------------------------------------------------------


def delete_save(db: Database, who: Principal, save_id: str) -> None:
    """Delete the caller's save ``save_id`` and the blobs no other save of theirs refers to."""
    key = _key(save_id)

    def work(conn: sa.Connection) -> None:
        change = ChangeCursor(conn, who.user_id)
        query = sa.select(saves.c.pk).where(saves.c.user_id == who.user_id, saves.c.save_id == key)
        pk = conn.execute(query).scalar() if key is not None else None
        if pk is None:
            raise _not_found(save_id)
        names = set(
            conn.execute(sa.select(save_blobs.c.sha256).where(save_blobs.c.save_pk == pk)).scalars()
        )
        conn.execute(save_blobs.delete().where(save_blobs.c.save_pk == pk))
        conn.execute(saves.delete().where(saves.c.pk == pk))
        for name in sorted(names):
            _drop_if_unreferenced(conn, who.user_id, name)
        change.used = True  # a deletion is a change too: live pages ask again
        change.finish()

    db.run_write(work)


def _drop_if_unreferenced(conn: sa.Connection, user_id: int, sha256: str) -> None:
    used = sa.exists().where(save_blobs.c.user_id == user_id, save_blobs.c.sha256 == sha256)
    conn.execute(blobs.delete().where(blobs.c.user_id == user_id, blobs.c.sha256 == sha256, ~used))


def _key(save_id: str) -> str | None:
    """``save_id`` as stored (a UUID's canonical text), or ``None`` if it is not a UUID."""
    try:
        return str(uuid.UUID(save_id))
    except ValueError:
        return None


def _not_found(save_id: str) -> NotFound:
    return NotFound(
        f"no save {save_id[:80]}",
        hint="`threadline handoff list --all` lists your saves.",
    )
