"""0015 (PostgreSQL only; nothing on SQLite): the vocabulary's trigram index keeps at most
64 kB of new words waiting in its list of pending entries.

A GIN index with ``fastupdate`` (PostgreSQL's default) appends new entries to a pending list
and merges them into the index once the list passes ``gin_pending_list_limit`` (4 MB by
default) or at a vacuum, and every search through the index reads the whole list. The
vocabulary of migration 0009 only ever receives words (its table is never vacuumed for dead
rows, and rarely analyzed), so under writes its trigram index's list grew to its 4 MB: some
10,000 new words in 330 pages, read by every substring search that looks up the words
holding a needle — 9 to 14 ms, where the index itself answers in 0.5 ms. With 64 kB (the
least PostgreSQL allows: eight pages, a few hundred words) the list is merged about every
few hundred new words, still in batches, and a lookup reads at most those eight pages.

Without the trigram index (``pg_trgm`` missing when 0009 ran) there is nothing to change.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

from alembic.operations import Operations

from threadline.storage.migrations.m0005_search import _run
from threadline.storage.migrations.m0009_search_postgres import TRIGRAM_INDEX

#: ``gin_pending_list_limit`` of the vocabulary's trigram index, in kB.
PENDING_LIMIT_KB = 64


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if _run(conn, f"SELECT to_regclass('{TRIGRAM_INDEX}')").scalar() is None:
        return
    _run(conn, f"ALTER INDEX {TRIGRAM_INDEX} SET (gin_pending_list_limit = {PENDING_LIMIT_KB})")
