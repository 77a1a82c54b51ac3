"""Upload hand-off saves: the blobs the server lacks, then the save.

:func:`upload_save` is how ``threadline save`` uploads at once; :func:`upload_pending` is how
every delivery (``push``, ``sync``, the daemon) uploads the saves that waited in the local
store because the server was away. A save goes up only once its session's thread is on the
server (its ``thread_id`` is known). Uploading is idempotent on both sides — a blob is named by
its SHA-256, a save by its ``save_id`` — so a retry after a lost answer is harmless.

Standard library only: :mod:`threadline.sync.deliver` imports it when saves are waiting.
"""

from __future__ import annotations

import sqlite3

from threadline.client.api import Api
from threadline.errors import ServerRefused
from threadline.store import handoff as store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Uploaded:
    """What :func:`upload_pending` did: the saves uploaded, those still waiting for their
    session to reach the server, and why others were refused (a
    :class:`~threadline.sync.engine.Delivery` has the same three lists)."""

    def __init__(self) -> None:
        self.saves_uploaded: list[str] = []
        self.saves_waiting: list[str] = []
        self.saves_refused: list[str] = []


def upload_save(api: Api, body: dict[str, Any], blob: Callable[[str], bytes | None]) -> Any:
    """Upload the blobs of ``body`` the server does not hold (``blob`` gives their bytes),
    then the save; returns the stored save."""
    for sha in [s for s in (body.get("blobs") or {}).values() if s]:
        if api.has_blob(sha):
            continue
        data = blob(sha)
        if data is None:
            raise ServerRefused(422, "missing_blob", f"the blob {sha} of this save is lost")
        api.put_blob(sha, data)
    return api.create_save(body)


def upload_pending(conn: sqlite3.Connection, api: Api, result: Any = None) -> Any:
    """Upload every waiting save whose session is on the server. A save the server refuses
    for good (4xx) keeps its reason and stays (``threadline sync status`` shows it); an
    unreachable or failing server raises, leaving the rest for the next delivery. ``result``
    (an :class:`Uploaded` or a ``Delivery``) collects what happened."""
    result = result if result is not None else Uploaded()
    for item in store.pending(conn):
        if item.error:
            continue  # refused before: `threadline sync --retry-blocked` tries it again
        body = dict(item.body)
        if not body.get("thread_id"):
            body["thread_id"] = store.server_thread_id(conn, item.thread_key)
        if not body["thread_id"]:
            result.saves_waiting.append(item.save_id)
            continue
        try:
            upload_save(api, body, lambda sha: store.blob(conn, sha))
        except ServerRefused as exc:
            if exc.status >= 500 or exc.status in (401, 408, 429):
                raise
            store.note_error(conn, item.save_id, f"{exc.code}: {exc.message}")
            result.saves_refused.append(f"save {item.save_id}: {exc.message}")
            continue
        store.remove(conn, item.save_id)
        result.saves_uploaded.append(item.save_id)
    return result
