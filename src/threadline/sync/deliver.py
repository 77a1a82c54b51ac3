"""Deliver what is pending now: the one way ``push``, ``sync``, ``import`` and the daemon send.

:func:`deliver_pending` takes the per-machine sync lock (waiting up to a timeout), aligns with
the server's tails when asked, sends everything pending (within a deadline when given) and
answers with one :class:`~threadline.sync.engine.Delivery`: what was sent, stored, already on
the server or blocked, and — when it stopped short — the reason and the error behind it. It
never raises for a failure a caller expects; each caller only decides what to print.

Callers keep their own rhythm: ``sync`` and ``import`` reconcile every time, the daemon once
per connection to the server, ``push`` never (it must stay fast).

Standard library only: ``push`` runs this after each entry.
"""

from __future__ import annotations

import sqlite3
import time

from threadline.client.api import Api
from threadline.errors import ClientError, LockTimeout, NotLoggedIn, ServerUnreachable, StoreError
from threadline.store import handoff as handoff_store
from threadline.store import notes
from threadline.sync import engine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from threadline.config import Config
    from threadline.errors import ThreadlineError

#: ``Delivery.reason`` values: why a delivery did not finish.
NOT_LOGGED_IN = "not_logged_in"
UNREACHABLE = "server_unreachable"
REFUSED = "server_refused"
LOCK_HELD = "lock_held"
DEADLINE = "deadline"
STORE = "store_error"

#: The failures :func:`deliver_pending` turns into a reason instead of raising.
EXPECTED = (NotLoggedIn, ClientError, LockTimeout, StoreError)


def deliver_pending(
    conn: sqlite3.Connection,
    cfg: Config,
    *,
    timeout: float,
    lock_timeout: float,
    reconcile: bool = False,
    deadline: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    zstd: bool = True,
    entry: tuple[int, int] | None = None,
) -> engine.Delivery:
    """Deliver everything pending to the configured server and say how it went.

    ``timeout`` bounds each request, ``lock_timeout`` the wait for another process that is
    delivering, ``deadline`` (a monotonic time) the whole delivery. With ``reconcile`` the
    local acknowledgements are first aligned with the server's tails. ``progress`` is called
    with ``(0, pending)`` once the number pending is known, then ``(entries sent, pending)``
    after each batch. ``zstd`` compresses bodies with zstd (a heavier import) rather than gzip.
    ``entry`` is ``(local stream id, seq)`` of an entry the caller waits for: if another
    process delivered it while this one waited for the lock, nothing more is sent.
    """
    result = engine.Delivery()
    try:
        api = Api.from_config(cfg, timeout=timeout)
        api.zstd = zstd
        with engine.sync_lock(lock_timeout):
            if entry is not None and notes.is_acked(conn, *entry):
                return result
            if reconcile:
                engine.reconcile(conn, api)
            engine.deliver(
                conn, api, deadline=deadline, progress=_counter(conn, progress), result=result
            )
            if not result.timed_out and handoff_store.has_pending(conn):
                from threadline.sync import saves  # only when a save waits

                saves.upload_pending(conn, api, result)
    except EXPECTED as exc:
        result.reason, result.error = _reason(exc), exc
        return result
    if result.timed_out:
        result.reason = DEADLINE
    return result


def deliver_entry(
    conn: sqlite3.Connection, cfg: Config, entry: tuple[int, int], *, zstd: bool = False
) -> tuple[bool, str]:
    """Deliver what is pending within ``cfg.push_timeout``, for the one entry ``(local stream
    id, seq)`` just recorded: ``(True, "")`` once the server has it, else ``(False, why not)``
    in words for the user — the entry then stays queued for the next delivery. What ``push``
    and the agents' ``push_note`` do after storing a note."""
    timeout = cfg.push_timeout
    result = deliver_pending(
        conn,
        cfg,
        timeout=timeout,
        lock_timeout=timeout,
        deadline=time.monotonic() + timeout,
        zstd=zstd,
        entry=entry,
    )
    if result.reason == NOT_LOGGED_IN:
        return False, "no server configured (run `threadline login --server URL`)"
    if result.error is not None:
        return False, result.error.message
    if notes.is_acked(conn, *entry):
        return True, ""
    if result.blocked:
        return False, f"the server refused it ({result.blocked[0]}); see `threadline sync status`"
    return False, f"not delivered within {timeout:g} s"


def _counter(
    conn: sqlite3.Connection, progress: Callable[[int, int], None] | None
) -> Callable[[int], None] | None:
    """The per-batch callback of :func:`engine.deliver`, telling ``progress`` the total too."""
    if progress is None:
        return None
    total = notes.pending_count(conn)
    progress(0, total)
    return lambda sent: progress(sent, total)


def _reason(exc: ThreadlineError) -> str:
    if isinstance(exc, NotLoggedIn):
        return NOT_LOGGED_IN
    if isinstance(exc, LockTimeout):
        return LOCK_HELD
    if isinstance(exc, StoreError):
        return STORE
    if isinstance(exc, ServerUnreachable):
        return UNREACHABLE
    return REFUSED
