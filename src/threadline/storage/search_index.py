"""Keeping SQLite's full-text index current, inside the transaction that wrote the entries.

Migration 0005 makes ``entries`` triggers list each new or changed entry in
``entries_search_pending``; :func:`catch_up` moves them into the FTS5 tables with one
``INSERT … SELECT`` each (FTS5 writes a segment per statement, so one statement for the whole
transaction instead of one per row) and empties the list. :meth:`Database.write
<threadline.storage.database.Database.write>` calls it before every commit, so no write path
can leave an entry out of the index or commit it unindexed. PostgreSQL's index is kept by its
triggers directly and needs nothing here.
"""

from __future__ import annotations

import sqlalchemy as sa

_PENDING = "SELECT 1 FROM entries_search_pending LIMIT 1"
_WORDS = (
    "INSERT INTO entries_fts(rowid, body, tool) SELECT s.pk, s.body, s.tool "
    "FROM entries_search_pending p JOIN entries_search_source s ON s.pk = p.pk"
)
_TRIGRAMS = (
    "INSERT INTO entries_trigram(rowid, text) SELECT s.pk, s.substring "
    "FROM entries_search_pending p JOIN entries_search_source s ON s.pk = p.pk"
)
_DONE = "DELETE FROM entries_search_pending"
_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries_search_pending'"


def has_index(conn: sa.Connection) -> bool:
    """Whether this SQLite database has the search index (migration 0005)."""
    return conn.exec_driver_sql(_EXISTS).first() is not None


def catch_up(conn: sa.Connection) -> None:
    """Index the entries this transaction added or changed (SQLite, after migration 0005)."""
    if conn.exec_driver_sql(_PENDING).first() is None:
        return
    conn.exec_driver_sql(_WORDS)
    conn.exec_driver_sql(_TRIGRAMS)
    conn.exec_driver_sql(_DONE)
