"""Numbered, append-only schema migrations, one set for SQLite and PostgreSQL.

Each ``mNNNN_<name>.py`` module has ``upgrade(op)``, where ``op`` is alembic's
:class:`~alembic.operations.Operations` bound to the open connection (no ``alembic.ini``, no
``env.py``). :func:`migrate` applies the missing ones in order, each in its own transaction
together with its row in ``schema_migrations``, so a crash leaves the schema at a whole
version. Concurrent openers are serialized (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL) and re-check what is applied once they hold the lock.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from threadline.storage.values import now_text

if TYPE_CHECKING:
    from threadline.storage.database import Database

_MODULE_NAME = re.compile(r"^m(\d{4})_(\w+)$")
#: Arbitrary constant: the PostgreSQL advisory lock that serializes migrating processes.
_PG_LOCK_ID = 7_311_402_615

schema_migrations = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Operations], None]


def available() -> list[Migration]:
    """Every migration shipped with this version, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _MODULE_NAME.match(info.name)
        if match:
            module: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
            found.append(Migration(int(match[1]), match[2], module.upgrade))
    found.sort(key=lambda m: m.version)
    return found


def migrate(db: Database) -> list[int]:
    """Bring the database to the newest schema; return the versions applied now."""
    with db.write() as conn:
        _lock(conn)
        schema_migrations.create(conn, checkfirst=True)
    done = []
    for migration in available():
        with db.write() as conn:
            _lock(conn)
            if migration.version in applied_versions(conn):
                continue
            migration.upgrade(Operations(MigrationContext.configure(conn)))
            conn.execute(
                schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=now_text()
                )
            )
        done.append(migration.version)
    return done


def applied_versions(conn: sa.Connection) -> set[int]:
    return set(conn.execute(sa.select(schema_migrations.c.version)).scalars())


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
