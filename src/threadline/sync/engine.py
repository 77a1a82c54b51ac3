"""Deliver the outbox: pending entries go to the server in batches until none is left.

Guarantees:

- only entries already committed to the local store are sent, and an entry counts as
  delivered only once the server's answer says its stream's tail reached it;
- one process at a time delivers (an ``flock`` on ``sync.lock``); others wait for it, then find
  their entries already acknowledged;
- every server answer is acted on: a gap rewinds to the server's tail and resends, a
  differing duplicate or an entry over the server's limit blocks that stream (its entries stay
  in the store, reported by ``threadline sync status``), a deleted thread is marked locally;
- failures leave everything queued; the next ``push``, ``sync`` or daemon pass retries.

Callers go through :func:`threadline.sync.deliver.deliver_pending`, which holds the lock and
turns every failure into a reason on the :class:`Delivery` it answers with.

Standard library only: ``push`` runs this after each entry.
"""

from __future__ import annotations

import sqlite3
import time

from threadline import paths
from threadline import protocol as p
from threadline.client.api import Api
from threadline.errors import ClientError, LockTimeout, ServerRefused, StoreError
from threadline.store import db, notes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from threadline.errors import ThreadlineError

DEFAULT_BATCH_ENTRIES = 1000
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024


class Delivery:
    """What one delivery achieved, and why it stopped short when it did.

    ``sent`` entries went out in ``batches``; the server stored ``stored`` of them and already
    held ``duplicates``; ``blocked`` lists the streams it refused for good. ``reason`` is
    ``None`` when everything pending was delivered (or blocked), else one of the reasons of
    :mod:`threadline.sync.deliver` (``timed_out`` is set when the deadline passed first), with
    the ``error`` behind it."""

    def __init__(self) -> None:
        self.sent = 0
        self.stored = 0
        self.duplicates = 0
        self.batches = 0
        self.blocked: list[str] = []
        self.timed_out = False
        self.reason: str | None = None
        self.error: ThreadlineError | None = None
        #: Hand-off saves that waited locally: uploaded, still waiting, refused (why).
        self.saves_uploaded: list[str] = []
        self.saves_waiting: list[str] = []
        self.saves_refused: list[str] = []

    @property
    def finished(self) -> bool:
        """Everything pending was delivered (or blocked by the server)."""
        return self.reason is None

    @property
    def message(self) -> str:
        """Why the delivery did not finish (empty when it did)."""
        if self.error is not None:
            return self.error.message
        return "the deadline passed" if self.timed_out else ""


class sync_lock:
    """Hold the per-machine delivery lock (``flock`` on ``sync.lock``), waiting up to
    ``timeout`` seconds for it; raises :class:`LockTimeout` when the wait runs out, and
    :class:`StoreError` when the lock file cannot be opened."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fh: Any = None

    def __enter__(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock here: deliver unlocked
            return
        try:
            path = paths.ensure_dir(paths.data_dir()) / "sync.lock"
            self.fh = open(path, "a+b")
        except OSError as exc:
            raise StoreError(f"cannot open the sync lock in {paths.data_dir()}: {exc}") from exc
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.fh.close()
                    self.fh = None
                    raise LockTimeout from None
                time.sleep(0.003)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.fh is not None:
            self.fh.close()  # closing the file releases the lock
            self.fh = None


def deliver(
    conn: sqlite3.Connection,
    api: Api,
    *,
    deadline: float | None = None,
    batch_entries: int = DEFAULT_BATCH_ENTRIES,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Callable[[int], None] | None = None,
    result: Delivery | None = None,
) -> Delivery:
    """Send pending entries until none is left (or ``deadline``, a monotonic time, passes:
    ``timed_out`` is then set). Counts go into ``result`` when given, so that what was done
    before an error is known to the caller.

    Records the outcome (last success or last error) in the store and re-raises client errors.
    """
    result = result if result is not None else Delivery()
    device = db.device_id(conn)
    try:
        while True:
            batch = notes.pending_batch(conn, batch_entries, batch_bytes)
            if not batch:
                break
            if deadline is not None and time.monotonic() >= deadline:
                result.timed_out = True
                break
            timeout = None if deadline is None else max(0.05, deadline - time.monotonic())
            try:
                answer = api.push(device, [s.body for s in batch], timeout=timeout)
            except ServerRefused as exc:
                batch_entries = _handle_refusal(conn, batch, exc, result, batch_entries)
                continue
            _record(conn, batch, answer, result)
            if progress is not None:
                progress(sum(len(s.body["entries"]) for s in batch))
    except ClientError as exc:
        now = notes.utc_now()
        db.set_state(conn, {"last_error": f"{now} {exc.message}", "last_attempt": now})
        raise
    now = notes.utc_now()
    db.set_state(conn, {"last_success": now, "last_attempt": now, "last_error": None})
    return result


def _record(
    conn: sqlite3.Connection, batch: list[notes.OutStream], answer: Any, result: Delivery
) -> None:
    by_uuid = {s.body["stream_id"]: s for s in batch}
    acks = []
    for item in answer["streams"]:
        out = by_uuid.get(item["stream_id"])
        if out is None:
            continue
        deleted = item.get("status") == p.STREAM_THREAD_DELETED
        acks.append((out.stream_id, int(item["tail"]), item.get("thread_id"), deleted))
        result.stored += int(item.get("stored", 0))
        result.duplicates += int(item.get("duplicates", 0))
    notes.ack(conn, acks)
    result.sent += sum(len(s.body["entries"]) for s in batch)
    result.batches += 1


def _handle_refusal(
    conn: sqlite3.Connection,
    batch: list[notes.OutStream],
    exc: ServerRefused,
    result: Delivery,
    batch_entries: int,
) -> int:
    """Act on a refused batch; return the batch size to go on with, or re-raise."""
    stream = _stream_of(batch, exc.detail.get("stream_id")) or _invalid_stream(batch, exc)
    if exc.code == p.CODE_SEQ_GAP and stream is not None and "tail" in exc.detail:
        notes.rewind(conn, stream.stream_id, int(exc.detail["tail"]))
        return batch_entries
    blocking = (p.CODE_ENTRY_CONFLICT, p.CODE_ENTRY_TOO_LARGE, p.CODE_INVALID_REQUEST)
    if exc.code in blocking and stream is not None:
        reason = f"{exc.code}: {exc.message}"
        notes.block(conn, stream.stream_id, reason)
        result.blocked.append(reason)
        return batch_entries
    if exc.code == p.CODE_BATCH_TOO_LARGE and batch_entries > 1:
        return max(1, batch_entries // 4)
    raise exc


def _invalid_stream(batch: list[notes.OutStream], exc: ServerRefused) -> notes.OutStream | None:
    """The stream a ``422`` points at (its first error's ``loc`` is ``body, streams, i, …``):
    that stream is blocked, so one entry the server cannot take never holds up the others."""
    if exc.status != 422:
        return None
    errors = exc.detail.get("errors")
    loc = errors[0].get("loc") if isinstance(errors, list) and errors else None
    if not isinstance(loc, list) or loc[:2] != ["body", "streams"] or len(loc) < 3:
        return None
    index = loc[2]
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
        return batch[index]
    return None


def _stream_of(batch: list[notes.OutStream], stream_uuid: object) -> notes.OutStream | None:
    for out in batch:
        if out.body["stream_id"] == stream_uuid:
            return out
    return None


def reconcile(conn: sqlite3.Connection, api: Api) -> int:
    """Align local acknowledgements with the server's tails (invariant 3 of the protocol).

    Each stream with something pending continues from the server's tail: ahead when the
    server holds more than we knew, back when it holds less (restored from a backup), from 0
    when it has never seen the stream. Call it holding :func:`sync_lock`. Returns the number
    of streams looked up."""
    pending = notes.stream_uuids_pending(conn)
    uuids = list(pending)
    for start in range(0, len(uuids), 200):
        chunk = uuids[start : start + 200]
        answer = api.status(stream_ids=chunk)
        known = {item["stream_id"]: item for item in answer["streams"]}
        for stream_uuid in chunk:
            item = known.get(stream_uuid, {"tail": 0})
            notes.rewind(conn, pending[stream_uuid], int(item["tail"]))
            if item.get("deleted"):
                notes.ack(conn, [(pending[stream_uuid], int(item["tail"]), None, True)])
    return len(uuids)
