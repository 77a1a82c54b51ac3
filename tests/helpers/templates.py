"""Migrated server databases for tests, without migrating each one.

Migrating a blank database is the same work every time (about a second on PostgreSQL, a few
tenths on SQLite), and most tests start with a migrated one: :class:`MigratedDatabases` makes
the first one per backend by migrating it and hands out the next ones as if fresh:

- SQLite: a byte copy of the migrated template file.
- PostgreSQL: a schema migrated once and reused after the test that had it: its rows are
  deleted and its sequences restarted, which leaves it as a fresh migration would. A schema
  whose structure changed (a table, column, index, constraint or function of its own added,
  dropped or altered, or ``schema_migrations`` changed) is dropped instead, as is one that cannot
  be emptied in :data:`RESET_LOCK_TIMEOUT` (a connection of the test still holds a lock).

Migrations themselves are tested on blank databases (``fresh_database_url``), never here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.server import (
    create_schema,
    drop_schema,
    postgres_base_url,
    schema_url,
)
from threadline.storage.database import open_database

#: How long emptying a used schema may wait for a lock before the schema is dropped instead.
RESET_LOCK_TIMEOUT = "5s"

#: Everything of a schema's own structure, as one text (the schema's name left out).
_STRUCTURE = """
SELECT replace(coalesce(string_agg(item, E'\\n' ORDER BY item), ''), %(schema)s::text, '')
FROM (
    SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(a.attname, '') || ' '
           || coalesce(format_type(a.atttypid, a.atttypmod), '') || ' '
           || coalesce(a.attnotnull::text, '') || ' '
           || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS item
    FROM pg_class c
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = %(schema)s::text::regnamespace
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = %(schema)s::text
    UNION ALL
    SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = %(schema)s::text::regnamespace
    UNION ALL
    SELECT 'function ' || proname || ' '
           || md5(replace(pg_get_functiondef(oid), %(schema)s::text, ''))
    FROM pg_proc WHERE pronamespace = %(schema)s::text::regnamespace
    UNION ALL
    SELECT 'trigger ' || tgname || ' ' || tgrelid::regclass::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = %(schema)s::text::regnamespace AND NOT t.tgisinternal
) AS structure
"""

#: Each table of the schema and the tables its foreign keys point to.
_TABLES = """
SELECT c.relname, coalesce(array_agg(r.relname) FILTER (WHERE r.relname IS NOT NULL), '{}')
FROM pg_class c
LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
LEFT JOIN pg_class r ON r.oid = k.confrelid AND r.oid <> c.oid
WHERE c.relnamespace = %(schema)s::text::regnamespace AND c.relkind IN ('r', 'p')
GROUP BY c.relname
"""

_SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = %(schema)s"


class MigratedDatabases:
    """Migrated databases handed out per test (see the module docstring); :meth:`close` drops
    what it keeps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._free: list[str] = []  # emptied PostgreSQL schemas, ready to hand out
        self._structure = ""  # the PostgreSQL template's structure, to compare with

    @contextmanager
    def database_url(self, backend: str, folder: Path) -> Iterator[str]:
        """A migrated database nobody else uses for the block: ``sqlite`` or ``postgresql``;
        the SQLite file goes in ``folder``."""
        if backend == "sqlite":
            target = folder / "server.db"
            shutil.copyfile(self._sqlite_template(), target)
            yield f"sqlite:///{target}"
            return
        base = postgres_base_url()
        schema = self._free.pop() if self._free else self._new_schema(base)
        try:
            yield schema_url(base, schema)
        finally:
            self._give_back(base, schema)

    def close(self) -> None:
        if self._free:
            base = postgres_base_url()
            for schema in self._free:
                drop_schema(base, schema)
            self._free.clear()

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "template.db"
            open_database(f"sqlite:///{path}").dispose()
            leftovers = [p.name for p in self.folder.glob("template.db-*")]
            assert not leftovers, f"the SQLite template is not in one file: {leftovers}"
            self._sqlite = path
        return self._sqlite

    def _new_schema(self, base: str) -> str:
        schema = create_schema(base)
        try:
            open_database(schema_url(base, schema)).dispose()
            if not self._structure:
                self._structure = self._describe(base, schema)
        except BaseException:
            drop_schema(base, schema)
            raise
        return schema

    def _describe(self, base: str, schema: str) -> str:
        """The schema's structure and its applied migrations."""
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            row = conn.execute(_STRUCTURE, {"schema": schema}).fetchone()
            versions = conn.execute(f"SELECT version FROM {schema}.schema_migrations").fetchall()
        return f"{row[0] if row else ''}\nmigrations {sorted(v for (v,) in versions)}"

    def _give_back(self, base: str, schema: str) -> None:
        """Empty ``schema`` for the next test, or drop it if it is not as migrated anymore."""
        import psycopg

        try:
            if self._describe(base, schema) == self._structure:
                self._empty(base, schema)
                self._free.append(schema)
                return
        except psycopg.Error:
            pass
        drop_schema(base, schema)

    @staticmethod
    def _empty(base: str, schema: str) -> None:
        """Delete every row but the migrations' (referencing tables first) and restart the
        sequences, in one transaction."""
        import psycopg

        with psycopg.connect(base) as conn:
            conn.execute(f"SET LOCAL lock_timeout = '{RESET_LOCK_TIMEOUT}'")
            rows = conn.execute(_TABLES, {"schema": schema}).fetchall()
            tables: dict[str, list[str]] = {name: list(refs) for name, refs in rows}
            sequences = [s for (s,) in conn.execute(_SEQUENCES, {"schema": schema})]
            for table in _referencing_first(tables):
                if table != "schema_migrations":
                    conn.execute(f'DELETE FROM {schema}."{table}"')
            for sequence in sequences:
                conn.execute(f'ALTER SEQUENCE {schema}."{sequence}" RESTART')


def _referencing_first(references: dict[str, list[str]]) -> list[str]:
    """The tables ordered so that each comes before every table it references."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(table: str) -> None:
        if table in seen:
            return
        seen.add(table)
        for referencing, targets in references.items():
            if table in targets:
                visit(referencing)
        ordered.append(table)

    for table in sorted(references):
        visit(table)
    return ordered
