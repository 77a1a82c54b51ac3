"""Migrations: a blank database gets the whole schema; opening again changes nothing; the
query-side table definitions match what the migrations created."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from threadline.server import migrations
from threadline.server.database import Database, open_database
from threadline.server.schema import metadata


def test_blank_database_gets_every_migration(server_db_url: str) -> None:
    db = Database(server_db_url)
    try:
        applied = migrations.migrate(db)
        assert applied == [m.version for m in migrations.available()]
        assert applied[0] == 1
        assert migrations.migrate(db) == [], "opening again is a no-op"
        with db.read() as conn:
            assert migrations.applied_versions(conn) == set(applied)
    finally:
        db.dispose()


def test_schema_matches_the_table_definitions(db: Database) -> None:
    inspector = sa.inspect(db.engine)
    for table in metadata.sorted_tables:
        found = {column["name"] for column in inspector.get_columns(table.name)}
        assert found == {column.name for column in table.columns}, table.name


def test_live_key_is_unique_but_tombstones_may_repeat(db: Database) -> None:
    indexes = {ix["name"]: ix for ix in sa.inspect(db.engine).get_indexes("threads")}
    assert indexes["ux_threads_user_key_live"]["unique"]


def test_concurrent_openers_migrate_once(server_db_url: str) -> None:
    errors: list[BaseException] = []
    opened: list[Database] = []

    def open_it() -> None:
        try:
            opened.append(open_database(server_db_url))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with opened[0].read() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM schema_migrations")).scalar()
        assert count == len(migrations.available())
    finally:
        for db in opened:
            db.dispose()


def test_sqlite_pragmas(tmp_path: object) -> None:
    db = open_database(f"sqlite:///{tmp_path}/p.db")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        db.dispose()
