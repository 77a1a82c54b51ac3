"""``POST /api/v1/sync/push``: a strict, idempotent append per stream, all or nothing.

The rules are those of ``docs/protocol.md``. What this module guarantees on top:

- Everything that does not need the database (limits, ordering, canonical JSON, hashes) is
  checked and computed before the write transaction starts, so the transaction is short.
- The whole batch is one transaction; any error rolls all of it back, so nothing is half-stored
  and retrying is always safe. Several pushes of one user waiting for the user's writer share
  one transaction (:func:`commit`), each answered as if alone; a failed group is written again
  push by push.
- The number of statements does not grow with the number of entries: stream tails come in one
  query, stored entries a retry overlaps in one query per stream, the entry ids in one query,
  and new entries, streams and threads are written with one ``executemany`` each.
"""

from __future__ import annotations

import collections
import functools
import threading
import uuid
import weakref
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import Conflict, PayloadTooLarge, ValidationFailed
from threadline.protocol.models import (
    EntryIn,
    PushRequest,
    PushResponse,
    PushStreamResult,
    StreamBatch,
    ThreadRef,
)
from threadline.services.auth import Principal, ensure_device
from threadline.services.inputs import MAX_INT, fits
from threadline.services.streams import check_meta_size, insert_stream
from threadline.storage.changes import ChangeCursor
from threadline.storage.database import Database, Sql, insert_rows
from threadline.storage.schema import entries, streams, threads
from threadline.storage.values import entry_hash, json_text, json_value, now_text, ts_text

_ID_CHUNK = 500
_TOO_LARGE = f"must be at most {MAX_INT} (2⁶³ − 1)"


@dataclass(frozen=True)
class PushLimits:
    max_entry_bytes: int = p.MAX_ENTRY_BYTES
    max_batch_entries: int = p.MAX_BATCH_ENTRIES


@dataclass
class Prepared:
    """One entry ready to store: canonical values and the content hash."""

    seq: int
    entry_uuid: str
    ts: str
    role: str
    text: str
    parts: str | None
    meta: str | None
    raw: str | None
    hash: str


@dataclass
class ThreadState:
    id: str
    title: str | None
    meta: str
    entry_count: int
    last_activity_at: str
    deleted_at: str | None
    parent_key: str | None
    #: Its project, where it is read from the database (``None`` for a thread just made).
    project: str | None = None
    dirty: bool = False


@dataclass
class StreamState:
    pk: int
    thread: ThreadState
    tail: int
    new: bool = False
    stored: int = 0
    duplicates: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def push(db: Database, who: Principal, request: PushRequest, limits: PushLimits) -> PushResponse:
    """Apply a push for ``who``; raise an :class:`~threadline.errors.ApiError` to refuse it."""
    return commit(db, who, request, prepare(request, limits))


def commit(
    db: Database, who: Principal, request: PushRequest, prepared: list[list[Prepared]]
) -> PushResponse:
    """Store a push that :func:`prepare` checked; returns once it is committed.

    A user's pushes are written one transaction at a time (their change cursor is locked
    first). Pushes of one user that wait for the one being written are written together, in
    one transaction, by the first of them (:class:`_Groups`): fewer, larger transactions
    mean fewer commits, fewer search index segments on SQLite and fewer runs of the
    vocabulary's statement trigger on PostgreSQL. Each push is still answered only after its
    own entries are committed, with its own cursor and tails, as if written alone; if the
    group's transaction fails, its pushes are written again one by one, so one push's error
    is that push's alone.
    """
    waiting = _Waiting(who, request, prepared)
    if not request.streams:
        return _write_alone(db, waiting)
    return _groups(db).submit(db, waiting)


#: At most this many pushes are written in one transaction …
MAX_GROUP_PUSHES = 32
#: … and at most this many entries (a push's own batch may be larger, up to its limit).
MAX_GROUP_ENTRIES = 2_000


@dataclass
class _Waiting:
    """A checked push waiting to be written, and then its answer or error."""

    who: Principal
    request: PushRequest
    prepared: list[list[Prepared]]
    entries: int = 0
    #: Set once this push is written (:attr:`finished`) or its thread is to write (:attr:`lead`).
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    answer: PushResponse | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.entries = sum(len(items) for items in self.prepared)

    def finish(self, answer: PushResponse | None, error: BaseException | None) -> None:
        self.answer, self.error, self.finished = answer, error, True
        self.wake.set()

    def outcome(self) -> PushResponse:
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


class _Groups:
    """Each user's pushes waiting for that user's writer, in one process.

    The first push of a user to arrive while none of theirs is being written writes, in one
    transaction, itself and the pushes queued behind it (up to :data:`MAX_GROUP_PUSHES` and
    :data:`MAX_GROUP_ENTRIES`); then hands the writing over to the first push still queued
    and returns. The others wait, holding no database connection, until a writer has
    committed them or hands the writing to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[int, collections.deque[_Waiting]] = {}

    def submit(self, db: Database, waiting: _Waiting) -> PushResponse:
        user_id = waiting.who.user_id
        with self._lock:
            queue = self._queues.get(user_id)
            if queue is None:  # nobody is writing for this user: this push does
                queue = self._queues[user_id] = collections.deque()
                waiting.lead = True
            queue.append(waiting)
        if not waiting.lead:
            waiting.wake.wait()
            if waiting.finished:
                return waiting.outcome()
        group = self._take(queue)
        try:
            _write_group(db, group)
        finally:
            for member in group:
                if not member.finished:  # the writer was interrupted
                    member.finish(None, RuntimeError("the push was not written; send it again"))
            self._hand_over(user_id, queue)
        return waiting.outcome()

    def _take(self, queue: collections.deque[_Waiting]) -> list[_Waiting]:
        with self._lock:
            group = [queue.popleft()]  # the writer itself
            entries = group[0].entries
            while queue and len(group) < MAX_GROUP_PUSHES:
                if entries + queue[0].entries > MAX_GROUP_ENTRIES:
                    break
                entries += queue[0].entries
                group.append(queue.popleft())
            return group

    def _hand_over(self, user_id: int, queue: collections.deque[_Waiting]) -> None:
        with self._lock:
            if not queue:
                del self._queues[user_id]
                return
            successor = queue[0]
            successor.lead = True
            successor.wake.set()


_GROUPS: weakref.WeakKeyDictionary[Database, _Groups] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def _groups(db: Database) -> _Groups:
    with _GROUPS_LOCK:
        groups = _GROUPS.get(db)
        if groups is None:
            groups = _GROUPS[db] = _Groups()
        return groups


def _write_group(db: Database, group: list[_Waiting]) -> None:
    """Write ``group`` in one transaction, each push as :class:`_Transaction` writes it alone;
    if that fails, each alone (every member's answer or error set)."""
    if len(group) > 1:
        learned: dict[Any, Any] = {}

        def attempt(conn: sa.Connection) -> list[PushResponse]:
            learned.clear()
            memo = collections.ChainMap(learned, db.memo)
            pending = _Pending()
            answers = [
                _Transaction(conn, w.who, w.request, w.prepared, memo, False, pending).run()
                for w in group
            ]
            # one statement for the group's entries: on PostgreSQL the search vocabulary's
            # statement trigger then runs once for the group (its new words looked up once)
            try:
                insert_rows(conn, entries, pending.rows)
            except sa.exc.IntegrityError:  # an entry id taken: not a race to run again
                raise _IdTaken("an entry id of this group is stored already") from None
            return answers

        try:
            answers = db.run_write(attempt)
        except Exception:
            pass  # one push's error, or a failed commit: each is written alone below
        else:
            db.memo.update(learned)  # committed now
            for member, answer in zip(group, answers, strict=True):
                member.finish(answer, None)
            return
    for member in group:
        try:
            answer = _write_alone(db, member)
        except Exception as exc:
            member.finish(None, exc)
        else:
            member.finish(answer, None)


def _write_alone(db: Database, waiting: _Waiting) -> PushResponse:
    """One push in its own transaction.

    New entry ids are checked by the unique index while inserting; only when it objects is
    the batch run again, with the query that finds which id and answers ``409``.
    """

    def attempt(conn: sa.Connection, check_ids: bool = False) -> PushResponse:
        return _Transaction(
            conn, waiting.who, waiting.request, waiting.prepared, db.memo, check_ids
        ).run()

    try:
        return db.run_write(attempt)
    except _IdTaken:
        return db.run_write(lambda conn: attempt(conn, check_ids=True))


class _IdTaken(Conflict):
    """The insert hit the unique (user, entry id) index: some new id is stored already (the
    push is tried again, checking each id first; never answered as such)."""

    code = "entry_id_taken"


# --- before the transaction ------------------------------------------------------------------


def prepare(request: PushRequest, limits: PushLimits) -> list[list[Prepared]]:
    """Check everything that needs no database and canonicalize every entry."""
    total = sum(len(batch.entries) for batch in request.streams)
    if total > limits.max_batch_entries:
        raise PayloadTooLarge(
            f"{total} entries in one push; the limit is {limits.max_batch_entries}",
            code=p.CODE_BATCH_TOO_LARGE,
            detail={"limit": limits.max_batch_entries},
        )
    _check_streams_unique(request)
    for i, batch in enumerate(request.streams):
        if not fits(batch.generation):
            raise _invalid(["body", "streams", i, "generation"], _TOO_LARGE)
        if batch.thread.meta is not None:
            check_meta_size(json_text(batch.thread.meta), stream_id=str(batch.stream_id), index=i)
        if batch.thread.parent_key is not None and batch.thread.parent_key == batch.thread.key:
            loc = ["body", "streams", i, "thread", "parent_key"]
            raise _invalid(loc, "a thread cannot be its own parent")
    seen_ids: set[str] = set()
    return [_prepare_stream(i, batch, limits, seen_ids) for i, batch in enumerate(request.streams)]


def _check_streams_unique(request: PushRequest) -> None:
    seen: set[uuid.UUID] = set()
    for i, batch in enumerate(request.streams):
        if batch.stream_id in seen:
            raise _invalid(["body", "streams", i, "stream_id"], "stream listed twice in one push")
        seen.add(batch.stream_id)


def _prepare_stream(
    index: int, batch: StreamBatch, limits: PushLimits, seen_ids: set[str]
) -> list[Prepared]:
    out: list[Prepared] = []
    previous = 0
    for j, entry in enumerate(batch.entries):
        if entry.seq <= previous:
            loc = ["body", "streams", index, "entries", j, "seq"]
            raise _invalid(loc, f"seq must be strictly increasing: {entry.seq} after {previous}")
        previous = entry.seq
        item = _canonical(entry)
        size = _size(item)
        if size > limits.max_entry_bytes:
            raise PayloadTooLarge(
                f"entry at seq {entry.seq} is {size} bytes; the limit is {limits.max_entry_bytes}",
                code=p.CODE_ENTRY_TOO_LARGE,
                detail={
                    "limit": limits.max_entry_bytes,
                    "size": size,
                    "stream_id": str(batch.stream_id),
                    "seq": entry.seq,
                },
            )
        if entry.seq > MAX_INT:  # seqs increase: only the last could be this large
            raise _invalid(["body", "streams", index, "entries", j, "seq"], _TOO_LARGE)
        if item.entry_uuid in seen_ids:
            raise _conflict(str(batch.stream_id), entry.seq, None, "entry id sent twice")
        seen_ids.add(item.entry_uuid)
        out.append(item)
    return out


def _canonical(entry: EntryIn) -> Prepared:
    entry_uuid, ts = str(entry.id), ts_text(entry.ts)
    parts = None if entry.parts is None else json_text(entry.parts)
    meta = None if entry.meta is None else json_text(entry.meta)
    digest = entry_hash(entry_uuid, ts, entry.role, entry.text, parts, meta, entry.raw)
    return Prepared(
        entry.seq, entry_uuid, ts, entry.role, entry.text, parts, meta, entry.raw, digest
    )


def _size(item: Prepared) -> int:
    """:func:`threadline.protocol.entry_size`, from the JSON already made (sorting keys does
    not change the length)."""
    size = len(item.text.encode())
    for value in (item.raw, item.parts, item.meta):
        if value is not None:
            size += len(value.encode())
    return size


def _invalid(loc: list[Any], msg: str) -> ValidationFailed:
    return ValidationFailed(msg, detail={"errors": [{"loc": loc, "msg": msg}]})


def _conflict(stream_id: str, seq: int, tail: int | None, why: str) -> Conflict:
    return Conflict(
        f"stream {stream_id} seq {seq}: {why}",
        code=p.CODE_ENTRY_CONFLICT,
        detail={"stream_id": stream_id, "seq": seq, "tail": tail},
    )


# --- the transaction -------------------------------------------------------------------------


class _Pending:
    """The entries of a group's pushes, stored together once every push is applied."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        #: (stream pk, seq) → (entry id, hash) of :attr:`rows`: what a later push of the group
        #: finds already stored.
        self.stored: dict[tuple[int, int], tuple[str, str]] = {}

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        for row in rows:
            self.stored[row["stream_pk"], row["seq"]] = (row["entry_uuid"], row["hash"])


class _Transaction:
    """One attempt at storing a push, inside the write transaction of ``conn``; in a group
    (``pending`` given) its entries are left in ``pending``, for the group to insert."""

    def __init__(
        self,
        conn: sa.Connection,
        who: Principal,
        request: PushRequest,
        prepared: list[list[Prepared]],
        memo: MutableMapping[Any, Any],
        check_ids: bool,
        pending: _Pending | None = None,
    ) -> None:
        self.pending = pending
        self.db_memo = memo
        self.check_ids = check_ids
        self.conn = conn
        self.who = who
        self.request = request
        self.prepared = prepared
        self.now = now_text()
        #: Taken first: it locks the user's cursor row, serializing the user's writes.
        self.change = ChangeCursor(conn, who.user_id)
        #: The pushing device's row, once :meth:`run` has found or created it.
        self.device_pk: int | None = None
        #: The threads the push touches, by id, as loaded or created.
        self.threads: dict[str, ThreadState] = {}

    def run(self) -> PushResponse:
        if not self.request.streams:
            return PushResponse(cursor=self.change.current, streams=[])
        self.device_pk = self._device()
        states = self._streams()
        if self.check_ids:
            self._check_ids(states)
        for batch, items in zip(self.request.streams, self.prepared, strict=True):
            self._apply(batch, items, states[str(batch.stream_id)])
        self._write(states)
        cursor = self.change.finish()
        return PushResponse(
            cursor=cursor, streams=[self._result(b, states) for b in self.request.streams]
        )

    def _device(self) -> int:
        device_uuid = str(self.request.device_id)
        if device_uuid == self.who.device_uuid and self.who.device_pk is not None:
            return self.who.device_pk
        key = ("device", self.who.user_id, device_uuid)
        known: int | None = self.db_memo.get(key)
        if known is None:
            known, created = ensure_device(self.conn, self.who.user_id, device_uuid, None)
            if not created:  # committed already, so safe to remember
                self.db_memo[key] = known
        return known

    # streams and threads

    def _streams(self) -> dict[str, StreamState]:
        wanted = [str(b.stream_id) for b in self.request.streams]
        states = self._load_streams(wanted)
        for i, (batch, items) in enumerate(zip(self.request.streams, self.prepared, strict=True)):
            stream_id = str(batch.stream_id)
            if stream_id not in states:
                states[stream_id] = self._new_stream(stream_id, batch, items)
            else:
                self._rebind(states[stream_id], batch, items)
            self._refresh_thread(states[stream_id].thread, batch.thread, stream_id, i)
        return states

    def _rebind(self, state: StreamState, batch: StreamBatch, items: list[Prepared]) -> None:
        """A note stream's new entries go where a new stream of its thread would, when its
        thread is no longer that (entries up to its tail stay where they are):

        - a note written after its thread was deleted is not discarded: a stream bound to a
          tombstone whose first new entry is newer than the deletion moves to the key's (or
          scope's) new thread. What the tombstone discarded stays discarded (a late retry
          remains a no-op); a transcript's stream stays with its tombstone (a deleted session
          does not come back in part);
        - a note of a scope goes to that scope's thread of the project it names: a stream
          whose scoped thread was moved to another project moves to its project's thread of
          the scope (found or made) instead of following the thread."""
        thread, ref = state.thread, batch.thread
        if ref.kind != "note":
            return
        first = next((item for item in items if item.seq > state.tail), None)
        if first is None:
            return
        deleted = thread.deleted_at is not None
        if deleted and first.ts <= (thread.deleted_at or ""):
            return
        moved = ref.scope is not None and thread.project not in (None, ref.project)
        if not deleted and not moved:
            return
        found = self._bind(ref, first.ts)
        if found.deleted_at is not None or found.id == thread.id:
            return
        self.conn.execute(
            streams.update().where(streams.c.pk == state.pk).values(thread_id=found.id)
        )
        state.thread = found

    def _load_streams(self, wanted: list[str]) -> dict[str, StreamState]:
        params: dict[str, Any] = {f"id{i}": stream_id for i, stream_id in enumerate(wanted)}
        params["user_id"] = self.who.user_id
        states = {}
        for row in map(_StreamRow._make, _streams_query(len(wanted)).run(self.conn, params)):
            thread = self.threads.setdefault(row.id, _thread_state(row))
            states[row.stream_uuid] = StreamState(row.pk, thread, row.tail)
        return states

    def _new_stream(self, stream_id: str, batch: StreamBatch, items: list[Prepared]) -> StreamState:
        thread = self._bind(batch.thread, items[0].ts if items else None)
        pk = insert_stream(
            self.conn,
            user_id=self.who.user_id,
            stream_uuid=stream_id,
            thread_id=thread.id,
            device_pk=self.device_pk,
            tail=0,
            change=self.change.next,
            generation=batch.generation,
            source=batch.source,
        )
        return StreamState(pk, thread, 0, new=True)

    def _bind(self, ref: ThreadRef, first_ts: str | None) -> ThreadState:
        """The thread a new stream belongs to: the live thread of its scope in its project
        (when it has a scope), else live by key, else a newer tombstone, else new."""
        if ref.scope is not None:
            scoped = self._thread_by_scope(ref.project, *p.parse_scope(ref.scope))
            if scoped is not None:
                return scoped
        live = self._thread_by_key(ref.key, live=True)
        if live is not None:
            return live
        tomb = self._thread_by_key(ref.key, live=False)
        if tomb is not None and (first_ts is None or first_ts < (tomb.deleted_at or "")):
            return tomb
        return self._create_thread(ref, first_ts)

    def _thread_by_key(self, key: str, *, live: bool) -> ThreadState | None:
        deleted = threads.c.deleted_at
        query = sa.select(*_THREAD_COLUMNS).where(
            threads.c.user_id == self.who.user_id,
            threads.c.key == key,
            deleted.is_(None) if live else deleted.is_not(None),
        )
        row = self.conn.execute(query.order_by(deleted.desc()).limit(1)).first()
        if row is None:
            return None
        return self.threads.setdefault(row.id, _thread_state(row))

    def _thread_by_scope(self, project: str, scope_type: str, scope_id: str) -> ThreadState | None:
        query = sa.select(*_THREAD_COLUMNS).where(
            threads.c.user_id == self.who.user_id,
            threads.c.project == project,
            threads.c.scope_type == scope_type,
            threads.c.scope_id == scope_id,
            threads.c.deleted_at.is_(None),
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None
        return self.threads.setdefault(row.id, _thread_state(row))

    def _create_thread(self, ref: ThreadRef, first_ts: str | None) -> ThreadState:
        thread_id = str(uuid.uuid4())
        activity = first_ts or self.now
        scope_type, scope_id = p.parse_scope(ref.scope) if ref.scope else (None, None)
        self.conn.execute(
            threads.insert().values(
                id=thread_id,
                user_id=self.who.user_id,
                key=ref.key,
                kind=ref.kind,
                name=ref.name,
                project=ref.project,
                title=ref.title or None,
                meta=json_text(ref.meta or {}),
                created_at=self.now,
                updated_at=self.now,
                last_activity_at=activity,
                entry_count=0,
                deleted_at=None,
                change=self.change.next,
                parent_key=ref.parent_key,
                scope_type=scope_type,
                scope_id=scope_id,
            )
        )
        meta = json_text(ref.meta or {}) or "{}"
        state = ThreadState(thread_id, ref.title or None, meta, 0, activity, None, ref.parent_key)
        self.threads[thread_id] = state
        return state

    def _refresh_thread(
        self, thread: ThreadState, ref: ThreadRef, stream_id: str, index: int
    ) -> None:
        """A title or parent key that is sent replaces the stored one; meta is merged into the
        thread's, key by key. Only a real difference marks the thread changed."""
        if thread.deleted_at is not None:
            return
        if ref.title is not None and (ref.title or None) != thread.title:
            thread.title, thread.dirty = ref.title or None, True
        if ref.parent_key is not None and ref.parent_key != thread.parent_key:
            thread.parent_key, thread.dirty = ref.parent_key, True
        if ref.meta:
            merged = json_text({**json_value(thread.meta), **ref.meta}) or "{}"
            if merged != thread.meta:
                check_meta_size(merged, stream_id=stream_id, index=index)
                thread.meta, thread.dirty = merged, True

    # entries

    def _check_ids(self, states: dict[str, StreamState]) -> None:
        """An entry id already stored elsewhere for this user is a conflict."""
        positions: dict[str, tuple[str, int, StreamState]] = {}
        for batch, items in zip(self.request.streams, self.prepared, strict=True):
            state = states[str(batch.stream_id)]
            for item in items:
                if item.seq > state.tail:
                    positions[item.entry_uuid] = (str(batch.stream_id), item.seq, state)
        ids = list(positions)
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            params = {"user_id": self.who.user_id, "ids": chunk}
            taken = self.conn.execute(_TAKEN_IDS_QUERY, params).scalar()
            if taken is not None:
                stream_id, seq, state = positions[taken]
                raise _conflict(stream_id, seq, state.tail, "entry id already stored elsewhere")

    def _apply(self, batch: StreamBatch, items: list[Prepared], state: StreamState) -> None:
        stream_id = str(batch.stream_id)
        stored_tail = state.tail
        self._check_duplicates(stream_id, items, state)
        tail = stored_tail
        for item in items:
            if item.seq <= stored_tail:
                state.duplicates += 1
                continue
            if item.seq != tail + 1:
                raise Conflict(
                    f"stream {stream_id} expects seq {tail + 1}, got {item.seq}",
                    code=p.CODE_SEQ_GAP,
                    detail={"stream_id": stream_id, "tail": stored_tail, "got": item.seq},
                )
            tail = item.seq
            state.stored += 1
            if state.thread.deleted_at is None:
                state.rows.append(self._row(item, state))
        state.tail = tail

    def _check_duplicates(self, stream_id: str, items: list[Prepared], state: StreamState) -> None:
        old = [item for item in items if item.seq <= state.tail]
        if not old or state.thread.deleted_at is not None:
            return  # a tombstone keeps no entries: anything up to its tail is a no-op
        # a stream moved off a tombstone (``_rebind``) holds nothing of what it discarded
        first = self._first_stored(state)
        old = [item for item in old if item.seq >= first]
        if not old:
            return
        params = {"stream_pk": state.pk, "low": old[0].seq, "high": old[-1].seq}
        rows = self.conn.execute(_STORED_QUERY, params)
        stored = {row.seq: (row.entry_uuid, row.hash) for row in rows}
        if self.pending is not None:  # stored by an earlier push of the group
            for item in old:
                found = self.pending.stored.get((state.pk, item.seq))
                if found is not None:
                    stored[item.seq] = found
        for item in old:
            if stored.get(item.seq) != (item.entry_uuid, item.hash):
                raise _conflict(
                    stream_id, item.seq, state.tail, "a different entry is stored there"
                )

    def _first_stored(self, state: StreamState) -> int:
        """The first ``seq`` a stream holds an entry at (past its tail when it holds none)."""
        query = sa.select(sa.func.min(entries.c.seq)).where(entries.c.stream_pk == state.pk)
        found = [self.conn.execute(query).scalar()]
        if self.pending is not None:  # stored by an earlier push of the group
            found += [seq for pk, seq in self.pending.stored if pk == state.pk]
        known = [int(seq) for seq in found if seq is not None]
        return min(known) if known else state.tail + 1

    def _row(self, item: Prepared, state: StreamState) -> dict[str, Any]:
        return {
            "user_id": self.who.user_id,
            "thread_id": state.thread.id,
            "stream_pk": state.pk,
            "seq": item.seq,
            "entry_uuid": item.entry_uuid,
            "ts": item.ts,
            "role": item.role,
            "text": item.text,
            "parts": item.parts,
            "meta": item.meta,
            "raw": item.raw,
            "hash": item.hash,
            "device_id": self.device_pk,
            "received_at": self.now,
            "change": self.change.next,
        }

    # writing

    def _write(self, states: dict[str, StreamState]) -> None:
        rows = [row for state in states.values() for row in state.rows]
        try:
            if self.pending is not None:
                self.pending.add(rows)
            else:
                insert_rows(self.conn, entries, rows)
        except sa.exc.IntegrityError:
            if self.check_ids:
                raise
            raise _IdTaken("an entry id of this push is stored already") from None
        self._write_streams([s for s in states.values() if s.stored])
        for state in states.values():
            _count(state)
        self._write_threads([t for t in self.threads.values() if t.dirty])

    def _write_streams(self, changed: list[StreamState]) -> None:
        if changed:
            change = self.change.next
            params = [{"b_pk": s.pk, "b_tail": s.tail, "b_change": change} for s in changed]
            _UPDATE_STREAM.run(self.conn, params)

    def _write_threads(self, changed: list[ThreadState]) -> None:
        if not changed:
            return
        params = [
            {
                "b_id": t.id,
                "b_title": t.title,
                "b_meta": t.meta,
                "b_parent": t.parent_key,
                "b_count": t.entry_count,
                "b_activity": t.last_activity_at,
                "b_updated": self.now,
                "b_change": self.change.next,
            }
            for t in changed
        ]
        _UPDATE_THREAD.run(self.conn, params)

    def _result(self, batch: StreamBatch, states: dict[str, StreamState]) -> PushStreamResult:
        state = states[str(batch.stream_id)]
        deleted = state.thread.deleted_at is not None
        return PushStreamResult(
            stream_id=batch.stream_id,
            thread_id=state.thread.id,
            tail=state.tail,
            stored=state.stored,
            duplicates=state.duplicates,
            status="thread_deleted" if deleted else "ok",
        )


_THREAD_COLUMNS = (
    threads.c.id,
    threads.c.title,
    threads.c.meta,
    threads.c.entry_count,
    threads.c.last_activity_at,
    threads.c.deleted_at,
    threads.c.parent_key,
    threads.c.project,
)

# Statements built once: executing them skips SQLAlchemy's per-call coercion.
_StreamRow = collections.namedtuple(
    "_StreamRow",
    "pk stream_uuid tail id title meta entry_count last_activity_at deleted_at parent_key project",
)


@functools.lru_cache(maxsize=32)
def _streams_query(count: int) -> Sql:
    """The streams of a push with their threads, for ``count`` stream ids."""
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(
        "SELECT s.pk, s.stream_uuid, s.tail, t.id, t.title, t.meta, t.entry_count, "
        "t.last_activity_at, t.deleted_at, t.parent_key, t.project "
        "FROM streams s JOIN threads t ON t.id = s.thread_id "
        f"WHERE s.user_id = :user_id AND s.stream_uuid IN ({ids})"
    )


_TAKEN_IDS_QUERY = sa.select(entries.c.entry_uuid).where(
    entries.c.user_id == sa.bindparam("user_id"),
    entries.c.entry_uuid.in_(sa.bindparam("ids", expanding=True)),
)
_STORED_QUERY = sa.select(entries.c.seq, entries.c.entry_uuid, entries.c.hash).where(
    entries.c.stream_pk == sa.bindparam("stream_pk"),
    entries.c.seq.between(sa.bindparam("low"), sa.bindparam("high")),
)
_UPDATE_STREAM = Sql("UPDATE streams SET tail = :b_tail, change = :b_change WHERE pk = :b_pk")
_UPDATE_THREAD = Sql(
    "UPDATE threads SET title = :b_title, meta = :b_meta, parent_key = :b_parent, "
    "entry_count = :b_count, "
    "last_activity_at = :b_activity, updated_at = :b_updated, change = :b_change "
    "WHERE id = :b_id"
)


def _thread_state(row: Any) -> ThreadState:
    return ThreadState(
        row.id,
        row.title,
        row.meta,
        row.entry_count,
        row.last_activity_at,
        row.deleted_at,
        row.parent_key,
        row.project,
    )


def _count(state: StreamState) -> None:
    """Fold a stream's new rows into its thread's count and last activity."""
    if not state.rows:
        return
    thread = state.thread
    thread.entry_count += len(state.rows)
    latest = max(row["ts"] for row in state.rows)
    if latest > thread.last_activity_at:
        thread.last_activity_at = latest
    thread.dirty = True
