"""0011: PostgreSQL's search vocabulary gains new words once per statement, not once per
entry. A no-op on SQLite.

Migration 0009's row trigger ran a PL/pgSQL function per stored entry: extract its words,
look every one up in ``search_words``, insert the missing ones — about 100 µs an entry, more
than the entry's own insert. A push stores its batch in one multi-row
``INSERT`` on PostgreSQL (:func:`threadline.storage.database.insert_rows`), so a statement
trigger with a transition table does the same work once for the batch: the batch's distinct
words are looked up once each, however many of its entries hold them (100 entries of the
search benchmark hold some 2,200 words, 1,200 of them distinct).

The lookups go through a hash index instead of 0009's B-tree: a word is found by one hash
and one comparison of bytes, where the B-tree compared it, through the database's collation,
with some 17 others (measured three times faster over a vocabulary of 80,000 words). Nothing
else used the B-tree (substring search reads the ``pg_trgm`` index).

The vocabulary is the same as before (the words of weights ``A`` and ``B`` of every stored
entry); so are search results. An update of an entry's ``role``, ``text`` or ``parts`` keeps
0009's row trigger (PostgreSQL allows no column list on a trigger with a transition table,
and entries are not updated in the normal course). Still no unique constraint (see 0009).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from threadline.storage.migrations.m0005_search import _run

#: The statement trigger's transition table: the rows one ``INSERT`` stored.
_NEW = "stored_entries"


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = '"' + str(_run(conn, "SELECT current_schema()").scalar()) + '"'
    _run(conn, "CREATE INDEX ix_search_words_hash ON search_words USING hash (word)")
    _run(conn, "DROP INDEX ix_search_words_word")
    _triggers(conn, schema)


def _triggers(conn: sa.Connection, s: str) -> None:
    """The statement trigger for inserts; 0009's function, per row, for updates."""
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_search_words_batch() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO {s}.search_words (word)
          SELECT n.w FROM (
            SELECT DISTINCT w
            FROM {_NEW} e, unnest(tsvector_to_array(ts_filter(e.search_doc, '{{a,b}}'))) AS w
          ) AS n
          WHERE NOT EXISTS (SELECT 1 FROM {s}.search_words k WHERE k.word = n.w);
          RETURN NULL;
        END
        $$
        """,
    )
    _run(conn, "DROP TRIGGER entries_search_words ON entries")
    _run(
        conn,
        f"CREATE TRIGGER entries_search_words AFTER INSERT ON entries REFERENCING NEW TABLE AS "
        f"{_NEW} FOR EACH STATEMENT EXECUTE FUNCTION {s}.threadline_search_words_batch()",
    )
    _run(
        conn,
        "CREATE TRIGGER entries_search_words_update AFTER UPDATE OF role, text, parts "
        f"ON entries FOR EACH ROW EXECUTE FUNCTION {s}.threadline_search_words()",
    )
