"""0013 (SQLite only; nothing on PostgreSQL): the search index's FTS5 tables merge their
segments 16 at a time.

FTS5 writes each transaction's entries as a new segment and merges segments of a level into
one of the next level when :data:`AUTOMERGE` of them are there, a little at each write. Each
merge rewrites what it merges, so an entry is rewritten about once per level it passes through:
with 4 (FTS5's default, kept by ``entries_code`` until now) or 8 (``entries_fts`` since 0008)
segments per merge, a push's entries were rewritten five or six times over a few hundred
thousand entries, most of what the substring index cost a write. With 16, fewer levels: over
20,000 entries of the search benchmark's corpus both tables together took about a quarter
fewer instructions per entry; a query looks into a few more segments.

:data:`CRISISMERGE` (FTS5 merges a level all at once, inside one write, when it holds that
many segments) stays above :data:`AUTOMERGE`, so merges keep going on a little at each write
instead (as in 0008).

What is indexed, and how it ranks, is unchanged; the settings are kept in each table's own
configuration and apply from the next write on.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

from alembic.operations import Operations

#: FTS5 ``automerge`` of both tables: segments on a level before they are merged.
AUTOMERGE = 16
#: FTS5 ``crisismerge`` of both tables: segments on a level merged at once, inside a write.
CRISISMERGE = 32


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in ("entries_fts", "entries_code"):
        for option, value in (("automerge", AUTOMERGE), ("crisismerge", CRISISMERGE)):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}, rank) VALUES ('{option}', {value})")
