"""0014: PostgreSQL's search vocabulary trigger reads a batch's words in the select list. A
no-op on SQLite.

Migration 0011's statement trigger took each stored entry's words with a lateral
``unnest(…) AS w`` in its ``FROM`` clause: PostgreSQL runs that as a function scan per entry,
which first copies the entry's words into a tuple store and then reads them back (a profile
of 700-entry inserts put a quarter of the trigger's time there). Called in the select list,
``unnest`` hands its words one at a time to the ``DISTINCT`` (a ``ProjectSet`` node): the
same words, about a third less time (``EXPLAIN ANALYZE`` of interleaved 700-entry inserts of
the ingest benchmark's prose: 6.3 → 4.4 µs an entry for the trigger).

Same vocabulary, same search results; no other change (the row trigger for updates keeps
0009's function).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

from alembic.operations import Operations

from threadline.storage.migrations.m0005_search import _run

#: The statement trigger's transition table (migration 0011's name).
_NEW = "stored_entries"


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    s = '"' + str(_run(conn, "SELECT current_schema()").scalar()) + '"'
    _run(
        conn,
        f"""
        CREATE OR REPLACE FUNCTION {s}.threadline_search_words_batch() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO {s}.search_words (word)
          SELECT n.w FROM (
            SELECT DISTINCT unnest(tsvector_to_array(ts_filter(e.search_doc, '{{a,b}}'))) AS w
            FROM {_NEW} e
          ) AS n
          WHERE NOT EXISTS (SELECT 1 FROM {s}.search_words k WHERE k.word = n.w);
          RETURN NULL;
        END
        $$
        """,
    )
