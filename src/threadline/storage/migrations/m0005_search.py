"""0005: the full-text search index of entries, kept by triggers, built here for what is stored.

What is indexed, per entry (the same on both databases):

- ``body`` — the entry's ``text`` when its role is ``user`` or ``assistant`` (prompts, replies,
  thinking, notes): ranked highest;
- ``tool`` — the ``text`` of ``system`` and ``tool`` entries (tool results, command output)
  and every tool call's name and the scalar values of its input, from ``parts``: ranked lower.

Each is cut at :data:`INDEXED_CHARS` characters. Substrings (the trigram indexes) are indexed
in the body and the tool calls, not in tool output: that is most of the bytes of a session,
and every word of it is in the word index anyway. Triggers on ``entries`` write the index in the
transaction that inserts, updates or deletes the entry, whichever code path does it.

SQLite: two contentless FTS5 tables keyed by the entry's ``pk`` — ``entries_fts`` (words,
``unicode61``: letters and digits make words, case folded) and ``entries_trigram`` (every
three characters, ``detail=none``: candidates for substring search, checked against the text
afterwards). Contentless tables store no copy of the text; their delete trigger gives FTS5 the
same values again (from the view ``entries_search_source``, the one definition of the
indexed columns). A new row does not go into FTS5 from its trigger — FTS5 writes its pending
terms out at each trigger's savepoint, a segment per row, about ten times the cost — but into
``entries_search_pending``, which ``Database.write`` folds into FTS5 with one statement just
before every commit (``threadline.storage.search_index``): still the same transaction.

PostgreSQL: ``entry_search`` holds a weighted ``tsvector`` per entry (``A`` body, ``C`` tool;
ASCII punctuation read as spaces, the ``simple`` configuration, so words split as on SQLite)
with a GIN index; ``pg_trgm`` adds a trigram GIN index on the lowered searchable text for
substring search. When the extension cannot be created, the migration logs it and goes on:
search works without substrings.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

log = logging.getLogger("threadline.search")

#: Characters of each indexed field that go into the index.
INDEXED_CHARS = 100_000
#: The roles whose text is ranked as prose.
_PROSE = "('user', 'assistant')"


def upgrade(op: Operations) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _sqlite(conn)
    else:
        _postgresql(conn)


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_tool_calls(row: str) -> str:
    """Every tool call of ``row.parts``: its name and its input's scalar values, one a line."""
    return (
        f"CASE WHEN instr({row}.parts, '\"tool_call\"') > 0 THEN "
        "coalesce((SELECT group_concat(coalesce(json_extract(j.value, '$.name'), '') || ' ' || "
        "coalesce((SELECT group_concat(t.atom, ' ') FROM json_tree(j.value, '$.input') AS t "
        "WHERE t.atom IS NOT NULL), ''), char(10)) "
        f"FROM json_each({row}.parts) AS j "
        "WHERE j.type = 'object' AND json_extract(j.value, '$.type') = 'tool_call'), '') "
        "ELSE '' END"
    )


def _sqlite_columns(row: str) -> tuple[str, str, str]:
    """(body, tool, substring text) of an entry row named ``row``."""
    calls = _sqlite_tool_calls(row)
    body = (
        f"CASE WHEN {row}.role IN {_PROSE} THEN substr({row}.text, 1, {INDEXED_CHARS}) ELSE '' END"
    )
    tool = (
        f"substr(CASE WHEN {row}.role IN {_PROSE} THEN '' ELSE {row}.text END "
        f"|| char(10) || {calls}, 1, {INDEXED_CHARS})"
    )
    substring = f"{body} || char(10) || substr({calls}, 1, {INDEXED_CHARS})"
    return body, tool, substring


def _sqlite_remove(row: str) -> str:
    """Take ``row`` out of the FTS5 tables, unless it is still waiting to go in."""
    body, tool, substring = _sqlite_columns(row)
    waiting = f"EXISTS (SELECT 1 FROM entries_search_pending WHERE pk = {row}.pk)"
    return (
        "INSERT INTO entries_fts(entries_fts, rowid, body, tool) "
        f"SELECT 'delete', {row}.pk, {body}, {tool} WHERE NOT {waiting}; "
        "INSERT INTO entries_trigram(entries_trigram, rowid, text) "
        f"SELECT 'delete', {row}.pk, {substring} WHERE NOT {waiting};"
    )


def _sqlite(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE entries_fts USING fts5(body, tool, content='', "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE entries_trigram USING fts5(text, content='', "
        "tokenize='trigram', detail='none')"
    )
    body, tool, substring = _sqlite_columns("entries")
    conn.exec_driver_sql(
        f"CREATE VIEW entries_search_source AS SELECT pk, {body} AS body, {tool} AS tool, "
        f"{substring} AS substring FROM entries"
    )
    conn.exec_driver_sql("CREATE TABLE entries_search_pending (pk INTEGER PRIMARY KEY)")
    conn.exec_driver_sql(
        "INSERT INTO entries_fts(rowid, body, tool) SELECT pk, body, tool "
        "FROM entries_search_source"
    )
    conn.exec_driver_sql(
        "INSERT INTO entries_trigram(rowid, text) SELECT pk, substring FROM entries_search_source"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER entries_search_insert AFTER INSERT ON entries BEGIN "
        "INSERT OR IGNORE INTO entries_search_pending(pk) VALUES (new.pk); END"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN "
        f"{_sqlite_remove('old')} DELETE FROM entries_search_pending WHERE pk = old.pk; END"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER entries_search_update AFTER UPDATE OF role, text, parts ON entries BEGIN "
        f"{_sqlite_remove('old')} "
        "INSERT OR IGNORE INTO entries_search_pending(pk) VALUES (new.pk); END"
    )


# --- PostgreSQL ------------------------------------------------------------------------------

#: ASCII punctuation, read as spaces before PostgreSQL's parser sees the text (it would keep
#: ``os.path.join`` or ``src/a.py`` whole); SQLite's ``unicode61`` splits on them too.
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _run(conn: sa.Connection, sql: str) -> sa.CursorResult[Any]:
    """Run ``sql`` as written: psycopg reads ``%`` as a placeholder, so it is doubled."""
    return conn.exec_driver_sql(sql.replace("%", "%%"))


def _pg_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _postgresql(conn: sa.Connection) -> None:
    schema = _run(conn, "SELECT current_schema()").scalar()
    s = f'"{schema}"'
    blanks = _pg_literal(" " * len(PUNCTUATION))
    punctuation = _pg_literal(PUNCTUATION)
    # PL/pgSQL rather than SQL functions: these cannot be inlined, and a SQL function that is
    # not inlined is planned again for each row a trigger or an index expression hands it.
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_tool_calls(parts text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE found text;
        BEGIN
          IF parts IS NULL OR position('"tool_call"' IN parts) = 0 THEN
            RETURN '';
          END IF;
          SELECT string_agg(coalesce(e->>'name', '') || ' ' || coalesce((
              SELECT string_agg(v #>> '{{}}', ' ')
              FROM jsonb_path_query(e->'input', 'strict $.**') AS v
              WHERE jsonb_typeof(v) IN ('string', 'number', 'boolean')), ''), E'\\n')
          INTO found
          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(parts::jsonb) = 'array'
                                    THEN parts::jsonb ELSE '[]'::jsonb END) AS e
          WHERE jsonb_typeof(e) = 'object' AND e->>'type' = 'tool_call';
          RETURN coalesce(found, '');
        END
        $$
        """,
    )
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_words(body text, weight "char") RETURNS tsvector
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        BEGIN
          IF body = '' THEN
            RETURN ''::tsvector;
          END IF;
          RETURN setweight(to_tsvector('pg_catalog.simple'::regconfig,
                           translate(left(body, {INDEXED_CHARS}), {punctuation}, {blanks})),
                           weight);
        END
        $$
        """,
    )
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_search_doc(role text, body text, parts text)
        RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE calls text := {s}.threadline_tool_calls(parts);
        BEGIN
          IF role IN {_PROSE} THEN
            RETURN {s}.threadline_words(body, 'A') || {s}.threadline_words(calls, 'C');
          END IF;
          RETURN {s}.threadline_words(body || E'\\n' || calls, 'C');
        END
        $$
        """,
    )
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_search_text(role text, body text, parts text)
        RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        BEGIN
          RETURN lower(left(CASE WHEN role IN {_PROSE} THEN body ELSE '' END, {INDEXED_CHARS})
                       || E'\\n' || left({s}.threadline_tool_calls(parts), {INDEXED_CHARS}));
        END
        $$
        """,
    )
    _run(
        conn,
        "CREATE TABLE entry_search (pk BIGINT PRIMARY KEY REFERENCES entries (pk) "
        "ON DELETE CASCADE, doc tsvector NOT NULL)",
    )
    _run(
        conn,
        f"INSERT INTO entry_search (pk, doc) "
        f"SELECT pk, {s}.threadline_search_doc(role, text, parts) FROM entries",
    )
    _run(conn, "CREATE INDEX ix_entry_search_doc ON entry_search USING gin (doc)")
    _run(
        conn,
        f"""
        CREATE FUNCTION {s}.threadline_search_index() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO {s}.entry_search (pk, doc)
          VALUES (NEW.pk, {s}.threadline_search_doc(NEW.role, NEW.text, NEW.parts))
          ON CONFLICT (pk) DO UPDATE SET doc = EXCLUDED.doc;
          RETURN NULL;
        END
        $$
        """,
    )
    _run(
        conn,
        "CREATE TRIGGER entries_search_insert AFTER INSERT ON entries "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.threadline_search_index()",
    )
    _run(
        conn,
        "CREATE TRIGGER entries_search_update AFTER UPDATE OF role, text, parts ON entries "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.threadline_search_index()",
    )
    _pg_trigram(conn, s)


def _pg_trigram(conn: sa.Connection, schema: str) -> None:
    """The substring index, if ``pg_trgm`` is there or can be created."""
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
            "CREATE INDEX ix_entries_search_trgm ON entries USING gin "
            f'({schema}.threadline_search_text(role, text, parts) "{where}".gin_trgm_ops)',
        )
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning(
            "pg_trgm is not available (%s): search works, without substring matches",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return
    savepoint.commit()
