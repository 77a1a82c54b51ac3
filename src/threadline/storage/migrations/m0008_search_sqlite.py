"""0008 (SQLite only; nothing on PostgreSQL): a cheaper substring index, and fewer merges of the
word index.

Migration 0005's trigram table held every character of every prompt, reply and tool call: about
two thirds of what each write cost, for finds that the word index mostly makes anyway. It is
replaced by ``entries_code``, an FTS5 trigram table (``detail=none``, no column sizes) of the
*code-like tokens* of each entry only — identifiers, paths, dotted names, flags, anything with
punctuation, digits or inner capitals inside
(:func:`threadline.storage.search_index.code_text`), each token once, lower case. It keeps
its own copy of those tokens (small), so the triggers remove a row by its ``rowid`` and search
checks a candidate against the tokens without reading the entry. Rows go in from Python in
``search_index.catch_up`` (before each commit, like the words); the triggers of 0005 are
replaced by ones that no longer name the old table.

The word index (``entries_fts``) merges its segments when :data:`AUTOMERGE` of them are on a
level rather than FTS5's default of 4: each entry is rewritten fewer times as the index grows,
at the price of a few more segments for a query to look into. It stays below FTS5's
``crisismerge`` (16), so merges go on a little at each write instead of a whole level at once
inside one push.

A search for a common word checks each of its newest matches against the filters (the user,
the thread's project or kind, the role, the dates, a cursor's horizon):
``ix_entries_search_filters`` holds what that needs of an entry — its key, user, thread, role,
change and time — in a few dozen bytes, where reading the entry's row would read its text.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from threadline.storage import search_index
from threadline.storage.migrations.m0005_search import _sqlite_columns

#: FTS5 ``automerge`` of the word index: segments on a level before they are merged.
AUTOMERGE = 8
#: Entries read at a time while the substring index is built for what is stored.
_BATCH = 5000


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for trigger in ("entries_search_delete", "entries_search_update"):
        conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
    conn.exec_driver_sql("DROP TABLE entries_trigram")
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE entries_code USING fts5(code, tokenize='trigram', "
        "detail='none', columnsize=0)"
    )
    conn.exec_driver_sql(
        f"INSERT INTO entries_fts(entries_fts, rank) VALUES ('automerge', {AUTOMERGE})"
    )
    _fill(conn)
    conn.exec_driver_sql(
        "CREATE INDEX ix_entries_search_filters "
        "ON entries (pk, user_id, thread_id, role, change, ts)"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN "
        f"{_remove('old')} DELETE FROM entries_search_pending WHERE pk = old.pk; END"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER entries_search_update AFTER UPDATE OF role, text, parts ON entries BEGIN "
        f"{_remove('old')} "
        "INSERT OR IGNORE INTO entries_search_pending(pk) VALUES (new.pk); END"
    )


def _remove(row: str) -> str:
    """Take ``row`` out of both tables; out of the words unless it still waits to go in."""
    body, tool, _ = _sqlite_columns(row)
    waiting = f"EXISTS (SELECT 1 FROM entries_search_pending WHERE pk = {row}.pk)"
    return (
        "INSERT INTO entries_fts(entries_fts, rowid, body, tool) "
        f"SELECT 'delete', {row}.pk, {body}, {tool} WHERE NOT {waiting}; "
        f"DELETE FROM entries_code WHERE rowid = {row}.pk;"
    )


def _fill(conn: sa.Connection) -> None:
    """The code-like tokens of every stored entry (none is pending between transactions)."""
    after = 0
    while True:
        rows = conn.exec_driver_sql(
            "SELECT pk, role, text, parts FROM entries WHERE pk > ? ORDER BY pk LIMIT ?",
            (after, _BATCH),
        ).all()
        if not rows:
            return
        search_index.stage_code(conn, rows)
        after = int(rows[-1][0])
