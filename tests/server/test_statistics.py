"""PostgreSQL's planner statistics kept current where autovacuum does not: a server analyzes
the searched tables once autovacuum would have (a tenth of a table changed), so searches over a
freshly imported history are not planned blind."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from threadline.protocol.models import PushRequest
from threadline.services import accounts, auth, push
from threadline.storage.database import Analyzer, Database


def _push(db: Database, count: int) -> None:
    accounts.create_user(db, "alice", "password-for-tests")
    token = accounts.create_token(db, "alice", "tests")
    who = auth.authenticate(db, f"Bearer {token.secret}")
    rows = [
        {"seq": i + 1, "id": str(uuid.uuid4()), "ts": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
         "role": "user", "text": f"note {i} about the cache"}
        for i in range(count)
    ]  # fmt: skip
    request = PushRequest.model_validate(
        {"device_id": str(uuid.uuid4()), "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": rows,
             "thread": {"key": "note:p:n", "name": "n", "project": "p"}}]}
    )  # fmt: skip
    push.push(db, who, request, push.PushLimits())


def _last_analyzed(db: Database, table: str) -> object:
    with db.read() as conn:
        return conn.execute(
            sa.text(
                "SELECT last_analyze FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema() AND relname = :t"
            ),
            {"t": table},
        ).scalar()


def test_a_table_changed_past_autovacuums_rule_is_analyzed_when_autovacuum_is_off(
    db: Database,
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    with db.write() as conn:  # off for this table, whatever the server's setting
        conn.execute(sa.text("ALTER TABLE entries SET (autovacuum_enabled = false)"))
    analyzer = Analyzer.__new__(Analyzer)  # its rounds without its thread
    analyzer.engine = db.engine
    _push(db, 200)
    due: list[str] = []
    deadline = time.monotonic() + 20  # the writer's counts reach the statistics views
    while "entries" not in due and time.monotonic() < deadline:
        due = analyzer.analyze_due()
        time.sleep(0.2)
    assert "entries" in due
    deadline = time.monotonic() + 20  # and the analysis reaches them too
    while _last_analyzed(db, "entries") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _last_analyzed(db, "entries") is not None
    assert "entries" not in analyzer.analyze_due(), "analyzed: not due again until it changes"


def test_a_server_keeps_statistics_only_on_postgresql(db: Database) -> None:
    db.keep_statistics()
    db.keep_statistics()
    running = db._analyzer
    assert (running is not None) == (db.dialect == "postgresql")
    if running is not None:
        assert running._thread.is_alive()
    db.dispose()
    if running is not None:
        assert not running._thread.is_alive()
