"""The per-user change cursor, taken once per write transaction.

:class:`ChangeCursor` locks the user's ``user_cursors`` row first thing in a write transaction
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes other
writers), which serializes that user's writes, so cursor values commit in order and "changed
since N" never skips a late commit. The value is bumped once, and only if the transaction
changed something; every row it touched is stamped with :attr:`ChangeCursor.next`.
"""

from __future__ import annotations

import sqlalchemy as sa

from threadline.errors import NotFound
from threadline.storage.database import Sql
from threadline.storage.schema import user_cursors


class ChangeCursor:
    def __init__(self, conn: sa.Connection, user_id: int) -> None:
        self._conn = conn
        self._user_id = user_id
        self.current = _locked_value(conn, user_id)
        self.used = False

    @property
    def next(self) -> int:
        """The value this transaction stamps on what it changes (marks the cursor used)."""
        self.used = True
        return self.current + 1

    def finish(self) -> int:
        """Store the bump if anything used it; return the user's cursor after the commit."""
        if not self.used:
            return self.current
        _BUMP.run(self._conn, {"b_user_id": self._user_id, "b_value": self.current + 1})
        return self.current + 1


_VALUE = sa.select(user_cursors.c.value).where(user_cursors.c.user_id == sa.bindparam("user_id"))
_LOCKED = "SELECT value FROM user_cursors WHERE user_id = :user_id"
_LOCKED_VALUE = Sql(_LOCKED, _LOCKED + " FOR UPDATE")
_BUMP = Sql("UPDATE user_cursors SET value = :b_value WHERE user_id = :b_user_id")


def current_value(conn: sa.Connection, user_id: int) -> int:
    value = conn.execute(_VALUE, {"user_id": user_id}).scalar()
    return int(value or 0)


def _locked_value(conn: sa.Connection, user_id: int) -> int:
    row = _LOCKED_VALUE.run(conn, {"user_id": user_id}).fetchone()
    if row is None:
        raise NotFound("the user of this token no longer exists")
    return int(row[0])
