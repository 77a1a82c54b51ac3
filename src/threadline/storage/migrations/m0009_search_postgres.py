"""0009: PostgreSQL's search index, made cheaper to write and to read. A no-op on SQLite.

Migration 0005 kept a weighted ``tsvector`` per entry in a table of its own (``entry_search``,
written by a trigger with a foreign key check per row) and a ``pg_trgm`` index over the text
of every entry. Measured over a million entries, a stored entry cost about ten times its own
insert, most of it the trigram index (some 150 trigrams per entry), and every search joined
the two tables row by row. This migration replaces both:

- ``entries.search_doc``, a stored generated ``tsvector`` column (``A`` prompts and replies,
  ``B`` tool calls — name and input values —, ``C`` tool output and system text; the same
  words as 0005: ASCII punctuation read as spaces, the ``simple`` configuration), with a GIN
  index. A search reads one table; no trigger computes it; deleting an entry deletes it.
- ``search_words``, the vocabulary of the words of prompts, replies and tool calls (weights
  ``A`` and ``B``, as the substring index of 0005 covered), with the ``pg_trgm`` index. A
  substring search (``limiter`` inside ``RateLimiter``) finds the words that contain it there,
  then the entries holding those words in the GIN index. A trigger adds an entry's new words
  in its transaction; words are never removed (one left over by a deleted entry only makes a
  substring search look it up in vain). The table has no unique constraint, on purpose: two
  transactions storing the same new word would otherwise wait for each other — and deadlock
  when they store two such words in opposite orders; a word stored twice by a race costs a
  row.

When ``pg_trgm`` cannot be created, the vocabulary is kept without its trigram index and
search finds words, not substrings inside them (as in 0005).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic.operations import Operations

from threadline.storage.migrations.m0005_search import INDEXED_CHARS, _run

log = logging.getLogger("threadline.search")

#: The trigram index of the vocabulary; search asks for it by this name.
TRIGRAM_INDEX = "ix_search_words_trgm"


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = '"' + str(_run(conn, "SELECT current_schema()").scalar()) + '"'
    _drop_0005(conn, schema)
    _doc_column(conn, schema)
    _vocabulary(conn, schema)
    _trigrams(conn)


def _drop_0005(conn: sa.Connection, s: str) -> None:
    """The table, triggers and trigram index of 0005 (its text functions stay: they are
    reused)."""
    _run(conn, "DROP TRIGGER IF EXISTS entries_search_insert ON entries")
    _run(conn, "DROP TRIGGER IF EXISTS entries_search_update ON entries")
    _run(conn, f"DROP FUNCTION IF EXISTS {s}.threadline_search_index()")
    _run(conn, "DROP TABLE IF EXISTS entry_search")
    _run(conn, "DROP INDEX IF EXISTS ix_entries_search_trgm")


#: ASCII punctuation (as 0005's ``PUNCTUATION``), for ``regexp_replace``: ``translate`` with
#: 32 characters to map costs some 50 µs per entry, more than the rest of the work together.
_PUNCTUATION_CLASS = "'[!-/:-@[-`{-~]'"


def _doc_column(conn: sa.Connection, s: str) -> None:
    def words(text: str, weight: str) -> str:
        return (
            "setweight(to_tsvector('pg_catalog.simple'::regconfig, "
            f"regexp_replace(left({text}, {INDEXED_CHARS}), {_PUNCTUATION_CLASS}, ' ', 'g')), "
            f"{weight})"
        )

    prose = "(CASE WHEN role IN ('user', 'assistant') THEN 'A' ELSE 'C' END)::\"char\""
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_entry_doc(role text, body text, parts text)
        RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE
          calls text := {s}.threadline_tool_calls(parts);
          doc tsvector := ''::tsvector;
        BEGIN
          IF body <> '' THEN
            doc := {words("body", prose)};
          END IF;
          IF calls <> '' THEN
            doc := doc || {words("calls", "'B'")};
          END IF;
          RETURN doc;
        END
        $$
        """,
    )
    _run(
        conn,
        "ALTER TABLE entries ADD COLUMN search_doc tsvector GENERATED ALWAYS AS "
        f"({s}.threadline_entry_doc(role, text, parts)) STORED",
    )
    _run(conn, "CREATE INDEX ix_entries_search_doc ON entries USING gin (search_doc)")


def _vocabulary(conn: sa.Connection, s: str) -> None:
    _run(conn, "CREATE TABLE search_words (word text NOT NULL)")
    _run(
        conn,
        "INSERT INTO search_words (word) SELECT DISTINCT w FROM entries, "
        "unnest(tsvector_to_array(ts_filter(search_doc, '{a,b}'))) AS w",
    )
    _run(conn, "CREATE INDEX ix_search_words_word ON search_words (word)")
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_search_words() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO {s}.search_words (word)
          SELECT w FROM unnest(tsvector_to_array(ts_filter(NEW.search_doc, '{{a,b}}'))) AS w
          WHERE NOT EXISTS (SELECT 1 FROM {s}.search_words k WHERE k.word = w);
          RETURN NULL;
        END
        $$
        """,
    )
    _run(
        conn,
        "CREATE TRIGGER entries_search_words AFTER INSERT OR UPDATE OF role, text, parts "
        f"ON entries FOR EACH ROW EXECUTE FUNCTION {s}.threadline_search_words()",
    )


def _trigrams(conn: sa.Connection) -> None:
    """The vocabulary's trigram index, if ``pg_trgm`` is there or can be created."""
    savepoint = conn.begin_nested()
    try:
        _run(conn, "CREATE EXTENSION IF NOT EXISTS pg_trgm")
        where = _run(
            conn,
            "SELECT n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace "
            "WHERE x.extname = 'pg_trgm'",
        ).scalar()
        _run(
            conn,
            f'CREATE INDEX {TRIGRAM_INDEX} ON search_words USING gin (word "{where}".gin_trgm_ops)',
        )
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning(
            "pg_trgm is not available (%s): search works, without substring matches",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return
    savepoint.commit()
