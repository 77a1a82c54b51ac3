"""Migrations: a blank database gets the whole schema; opening again changes nothing; the
query-side table definitions match what the migrations created."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.helpers.asgi import AsgiClient
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage import migrations
from threadline.storage.database import Database, open_database
from threadline.storage.schema import metadata


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


#: Columns one backend computes by itself, left out of the table definitions (the code never
#: reads or writes them through SQLAlchemy): PostgreSQL's search column (migration 0009).
BACKEND_ONLY = {("postgresql", "entries"): {"search_doc"}}


def test_schema_matches_the_table_definitions(db: Database) -> None:
    inspector = sa.inspect(db.engine)
    for table in metadata.sorted_tables:
        found = {column["name"] for column in inspector.get_columns(table.name)}
        found -= BACKEND_ONLY.get((db.dialect, table.name), set())
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


def test_upgrading_a_database_with_data_from_0001(
    server_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database created by 0001 and holding data gets 0002: parent keys, generations and
    sources, with the old rows readable as generation 1 without a parent."""
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: shipped[:1])
    db = Database(server_db_url)
    try:
        assert migrations.migrate(db) == [1]
        with db.write() as conn:
            conn.exec_driver_sql(_OLD_ROWS_USER)
            conn.exec_driver_sql(_OLD_ROWS_THREAD)
            conn.exec_driver_sql(_OLD_ROWS_STREAM)
            conn.exec_driver_sql(_OLD_ROWS_ENTRY)
        monkeypatch.undo()
        assert migrations.migrate(db) == [v.version for v in shipped[1:]]
        assert migrations.migrate(db) == []
        with db.read() as conn:
            stream = conn.execute(sa.text("SELECT generation, source FROM streams")).one()
            thread = conn.execute(sa.text("SELECT parent_key, meta FROM threads")).one()
        assert (stream.generation, stream.source) == (1, None)
        assert (thread.parent_key, thread.meta) == (None, '{"a":1}')
        indexes = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("threads")}
        assert {"ix_threads_user_parent", "ix_threads_user_change", "ix_threads_user_project"} <= (
            indexes
        )

        token = accounts.create_token(db, "alice", "tests")
        client = AsgiClient(create_app(ServerSettings(database_url=server_db_url), db=db))
        try:
            headers = {"Authorization": f"Bearer {token.secret}"}
            thread = client.get("/api/v1/threads/t1", headers=headers).json()
            assert (thread["parent_id"], thread["child_count"], thread["entry_count"]) == (
                None,
                0,
                1,
            )
            assert [(s["generation"], s["source"], s["tail"]) for s in thread["streams"]] == [
                (1, None, 1)
            ]
            transcript = client.get("/api/v1/threads/t1/transcript", headers=headers)
            assert transcript.content == b"{}\n"
            assert transcript.headers["Threadline-Generation"] == "1"
        finally:
            client.close()
    finally:
        db.dispose()


_OLD_ROWS_USER = (
    "INSERT INTO users (id, name, password_hash, is_admin, created_at) "
    "VALUES (1, 'alice', 'x', false, '2026-01-01T00:00:00.000000Z')"
)
_OLD_ROWS_THREAD = (
    "INSERT INTO threads (id, user_id, key, kind, name, project, title, meta, created_at, "
    "updated_at, last_activity_at, entry_count, deleted_at, change) VALUES ('t1', 1, "
    "'codex:s', 'codex', 's', 'shop', NULL, '{\"a\":1}', '2026-01-01T00:00:00.000000Z', "
    "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 1, NULL, 1)"
)
_OLD_ROWS_STREAM = (
    "INSERT INTO streams (pk, user_id, stream_uuid, thread_id, device_id, tail, change) "
    "VALUES (1, 1, '5c0f0000-0000-4000-8000-000000000001', 't1', NULL, 1, 1)"
)
_OLD_ROWS_ENTRY = (
    "INSERT INTO entries (user_id, thread_id, stream_pk, seq, entry_uuid, ts, role, text, "
    "parts, meta, raw, hash, device_id, received_at, change) VALUES (1, 't1', 1, 1, "
    "'0b7d0000-0000-4000-8000-000000000001', '2026-01-01T00:00:00.000000Z', 'user', '', "
    "NULL, NULL, '{}', 'h', NULL, '2026-01-01T00:00:00.000000Z', 1)"
)
