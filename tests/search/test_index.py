"""The index itself, on both backends: migration 0005 builds it for what was stored before, it
follows updates and deletes, it is written in the entries' own transaction (and rolled back
with it), and PostgreSQL without ``pg_trgm`` still searches words."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from threadline.protocol.models import PushRequest
from threadline.search import engine
from threadline.search.query import parse
from threadline.services import accounts, auth, push, threads
from threadline.services.search import SearchParams, search, search_in
from threadline.storage import migrations
from threadline.storage.database import Database, insert_rows
from threadline.storage.schema import entries

_OLD = [
    "INSERT INTO users (id, name, password_hash, is_admin, created_at) "
    "VALUES (1, 'alice', 'x', false, '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO user_cursors (user_id, value) VALUES (1, 1)",
    "INSERT INTO threads (id, user_id, key, kind, name, project, title, meta, created_at, "
    "updated_at, last_activity_at, entry_count, deleted_at, change) VALUES ('t1', 1, "
    "'codex:s', 'codex', 's', 'shop', NULL, '{}', '2026-01-01T00:00:00.000000Z', "
    "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 2, NULL, 1)",
    "INSERT INTO streams (pk, user_id, stream_uuid, thread_id, device_id, tail, change) "
    "VALUES (1, 1, '5c0f0000-0000-4000-8000-000000000001', 't1', NULL, 2, 1)",
]
_OLD_ENTRY = (
    "INSERT INTO entries (user_id, thread_id, stream_pk, seq, entry_uuid, ts, role, text, "
    "parts, meta, raw, hash, device_id, received_at, change) VALUES (1, 't1', 1, :seq, :id, "
    "'2026-01-01T00:00:00.000000Z', :role, :text, :parts, NULL, NULL, 'h', NULL, "
    "'2026-01-01T00:00:00.000000Z', 1)"
)


def snippets(db: Database, q: str, user_id: int = 1) -> list[str]:
    with db.read() as conn:
        page = search_in(conn, user_id, SearchParams(query=q))
    return [hit.snippet for hit in page.results]


def test_migration_indexes_what_was_stored_before(
    server_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.version < 5])
    db = Database(server_db_url)
    try:
        migrations.migrate(db)
        with db.write() as conn:
            for sql in _OLD:
                conn.exec_driver_sql(sql)
            call = '[{"type":"tool_call","name":"Bash","input":{"command":"make deploy-staging"}}]'
            rows = [
                (1, "user", "the rollback of ledger.sqlite worried us", None),
                (2, "assistant", "", call),
            ]
            for seq, role, text, parts in rows:
                conn.execute(
                    sa.text(_OLD_ENTRY),
                    {"seq": seq, "id": str(uuid.uuid4()), "role": role, "text": text,
                     "parts": parts},
                )  # fmt: skip
        monkeypatch.undo()
        assert migrations.migrate(db) == [m.version for m in shipped if m.version >= 5]
        assert snippets(db, "ledger.sqlite") == ["the rollback of ledger.sqlite worried us"]
        assert snippets(db, "deploy-staging") == ["Bash make deploy-staging"]
        assert snippets(db, "dger.sql") == ["the rollback of ledger.sqlite worried us"]
    finally:
        db.dispose()


def _push(db: Database, who: auth.Principal, texts: list[str], name: str = "t") -> None:
    _push_parts(db, who, [("user", text, None) for text in texts], name)


def _principal(db: Database) -> auth.Principal:
    accounts.create_user(db, "alice", "password-for-tests")
    token = accounts.create_token(db, "alice", "tests")
    return auth.authenticate(db, f"Bearer {token.secret}")


def test_the_index_follows_updates_and_deletes(db: Database) -> None:
    who = _principal(db)
    _push(db, who, ["alpha original", "beta stays"])
    with db.write() as conn:
        conn.execute(entries.update().where(entries.c.text == "alpha original").values(
            text="alpha rewritten"))  # fmt: skip
    assert snippets(db, "original", who.user_id) == []
    assert snippets(db, "rewritten", who.user_id) == ["alpha rewritten"]
    thread = search(db, who, SearchParams(query="beta")).results[0].thread_id
    threads.delete_thread(db, who, thread)
    assert snippets(db, "alpha", who.user_id) == [] and snippets(db, "beta", who.user_id) == []
    _push(db, who, ["gamma after the delete"], name="another")
    assert snippets(db, "gamma", who.user_id) == ["gamma after the delete"]
    if db.dialect == "sqlite":
        with db.write() as conn:  # FTS5's own check of its contentless tables
            conn.exec_driver_sql(
                "INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO entries_code(entries_code, rank) VALUES ('integrity-check', 0)"
            )
            pending = conn.exec_driver_sql("SELECT count(*) FROM entries_search_pending")
            assert pending.scalar() == 0


def test_written_in_the_entries_transaction_and_rolled_back_with_it(db: Database) -> None:
    who = _principal(db)
    _push(db, who, ["first entry"])
    with db.read() as conn:
        row = conn.execute(sa.select(entries).limit(1)).one()._asdict()
    fresh = {**row, "seq": 2, "entry_uuid": str(uuid.uuid4()), "text": "inflight words"}
    del fresh["pk"]

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.write() as conn:
        insert_rows(conn, entries, [fresh])
        inside = search_in(conn, who.user_id, SearchParams(query="inflight"))
        assert [hit.snippet for hit in inside.results] == ["inflight words"]
        raise Abort
    assert snippets(db, "inflight", who.user_id) == []


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_without_pg_trgm_still_finds_words(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    who = _principal(db)
    _push(db, who, ["the RateLimiter backs off", "a limiter word"])
    with db.write() as conn:
        conn.exec_driver_sql(f"DROP INDEX {engine.SUBSTRING_INDEX}")
    monkey = engine._warned
    engine._warned = False
    try:
        with caplog.at_level(logging.WARNING, logger="threadline.search"):
            assert snippets(db, "limiter", who.user_id) == ["a limiter word"]
    finally:
        engine._warned = monkey
    assert "pg_trgm index missing" in caplog.text


def _push_parts(
    db: Database,
    who: auth.Principal,
    rows: list[tuple[str, str, Any]],
    name: str = "parts",
    project: str = "p",
) -> None:
    """Entries ``(role, text, parts)`` in one note thread of ``project``."""
    entries_ = [
        {"seq": i + 1, "id": str(uuid.uuid4()), "ts": "2026-01-01T00:00:00Z", "role": role,
         "text": text, **({"parts": parts} if parts is not None else {})}
        for i, (role, text, parts) in enumerate(rows)
    ]  # fmt: skip
    request = PushRequest.model_validate(
        {"device_id": str(uuid.uuid4()), "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": entries_,
             "thread": {"key": f"note:{project}:{name}", "name": name, "project": project}}]}
    )  # fmt: skip
    push.push(db, who, request, push.PushLimits())


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_substrings_come_from_the_vocabulary_of_prose_and_tool_calls(
    db: Database,
) -> None:
    who = _principal(db)
    call = [{"type": "tool_call", "id": "c1", "name": "Bash", "input": {"command": "make ci"}}]
    _push_parts(db, who, [
        ("user", "the RateLimiter of ledger.sqlite backs off", None),
        ("assistant", "", call),
        ("tool", "outputonlyword appears here", [{"type": "tool_result", "tool_call_id": "c1",
                                                  "output": "outputonlyword"}]),
    ])  # fmt: skip
    with db.read() as conn:
        words = set(conn.exec_driver_sql("SELECT word FROM search_words").scalars())
    assert {"ratelimiter", "ledger", "sqlite", "bash", "make", "ci"} <= words
    assert "outputonlyword" not in words, "tool output is not in the substring vocabulary"
    assert snippets(db, "teLimit", who.user_id) == ["the RateLimiter of ledger.sqlite backs off"]
    assert snippets(db, "dger.sqli", who.user_id) == ["the RateLimiter of ledger.sqlite backs off"]
    assert snippets(db, '"dger sqli"', who.user_id) == [], "the typed space is checked"
    assert snippets(db, "ake c", who.user_id) == ["Bash make ci"]
    assert snippets(db, "tputonlywor", who.user_id) == []


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_substring_walk_finds_what_the_index_finds(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A needle in common words walks the newest entries, reading their words of prose and
    tool calls as text: the same hits as the vocabulary and the GIN index, newest first."""
    who = _principal(db)
    call = [{"type": "tool_call", "id": "c1", "name": "Bash", "input": {"command": "make ci"}}]
    _push_parts(db, who, [
        ("user", "the RateLimiter of ledger.sqlite backs off", None),
        ("assistant", "", call),
        ("tool", "outputonlyword appears here", [{"type": "tool_result", "tool_call_id": "c1",
                                                  "output": "outputonlyword"}]),
        ("assistant", "a second ratelimiter, 12345 of them", None),
    ])  # fmt: skip
    needles = ["teLimit", "dger.sqli", '"dger sqli"', "ake c", "tputonlywor", "234", "xyzzy"]
    indexed = {needle: snippets(db, needle, who.user_id) for needle in needles}
    assert indexed["teLimit"] == [
        "a second ratelimiter, 12345 of them",
        "the RateLimiter of ledger.sqlite backs off",
    ]
    assert indexed["234"] == ["a second ratelimiter, 12345 of them"]
    assert indexed["tputonlywor"] == [] and indexed["xyzzy"] == []
    monkeypatch.setattr(engine, "PG_COMMON", -1)  # every needle is common: the walk
    assert {needle: snippets(db, needle, who.user_id) for needle in needles} == indexed
    monkeypatch.setattr(engine, "PG_RECENT", 2)  # the two newest entries only
    assert snippets(db, "teLimit", who.user_id) == ["a second ratelimiter, 12345 of them"]


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_vocabulary_takes_each_new_word_of_a_batch_once(db: Database) -> None:
    """Migration 0011: a push's entries are one ``INSERT``, whose statement trigger adds each
    new word of the batch once, however many entries hold it, and a known word not again;
    an entry's update still adds its new words (0009's row trigger)."""
    who = _principal(db)
    _push(db, who, [f"sharedword RateLimiter item{i % 3}" for i in range(6)])
    _push(db, who, ["sharedword again ratelimiter"], name="other")
    with db.read() as conn:
        counts: dict[str, int] = dict(
            conn.exec_driver_sql("SELECT word, count(*) FROM search_words GROUP BY word").all()
        )
    assert {"sharedword", "ratelimiter", "item0", "item2", "again"} <= set(counts)
    assert set(counts.values()) == {1}, counts
    with db.write() as conn:
        conn.execute(entries.update().where(entries.c.text == "sharedword again ratelimiter")
                     .values(text="updatedword here"))  # fmt: skip
    assert snippets(db, "datedwor", who.user_id) == ["updatedword here"]
    assert sorted(snippets(db, "aredwor", who.user_id)) == sorted(
        f"sharedword RateLimiter item{i % 3}" for i in range(6)
    )


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_vocabulary_trigger_upgraded_with_entries_stored(
    server_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0014 rewrites the vocabulary's statement trigger (``unnest`` in the select
    list) on a database that holds entries and has every other migration (0015 included, as a
    server that ran before 0014 shipped): what was stored stays found, and new pushes add
    their new words of prose and tool calls once each, not their tool output's."""
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.version != 14])
    db = Database(server_db_url)
    try:
        migrations.migrate(db)
        who = _principal(db)
        _push(db, who, ["the RateLimiter before the upgrade", "oldword twice oldword"])
        monkeypatch.undo()
        assert migrations.migrate(db) == [14]
        with db.read() as conn:
            body = conn.exec_driver_sql(
                "SELECT prosrc FROM pg_proc WHERE proname = 'threadline_search_words_batch' "
                "AND pronamespace = current_schema()::regnamespace"
            ).scalar()
        assert "SELECT DISTINCT unnest(" in str(body)
        call = [{"type": "tool_call", "id": "c1", "name": "Grep", "input": {"pattern": "xyzzy"}}]
        _push_parts(db, who, [
            ("user", "newword RateLimiter oldword newword", None),
            ("assistant", "newword again", call),
            ("tool", "outputonlyword", [{"type": "tool_result", "tool_call_id": "c1",
                                         "output": "outputonlyword"}]),
        ], name="after")  # fmt: skip
        with db.read() as conn:
            counts: dict[str, int] = dict(
                conn.exec_driver_sql("SELECT word, count(*) FROM search_words GROUP BY word").all()
            )
        assert {"ratelimiter", "oldword", "newword", "again", "grep", "xyzzy"} <= set(counts)
        assert set(counts.values()) == {1}, counts
        assert "outputonlyword" not in counts
        assert snippets(db, "teLimit", who.user_id) == [
            "newword RateLimiter oldword newword",
            "the RateLimiter before the upgrade",
        ]
        assert snippets(db, "ldwor", who.user_id) == [
            "newword RateLimiter oldword newword",
            "oldword twice oldword",
        ]
        assert snippets(db, "yzz", who.user_id) == ["newword again Grep xyzzy"]
    finally:
        db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_common_query_walks_the_newest_entries_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = _principal(db)
    _push(db, who, [f"alpha number {i}" for i in range(5)])
    _push(db, who, ["alpha elsewhere"], name="other")
    assert len(snippets(db, "alpha", who.user_id)) == 6, "a rare word: the GIN index, all"
    monkeypatch.setattr(engine, "PG_COMMON", 0)  # every query is common
    monkeypatch.setattr(engine, "PG_RECENT", 2)
    assert len(snippets(db, "alpha", who.user_id)) == 6, "too few in the newest: older too"
    monkeypatch.setattr(engine, "PG_ENOUGH", 2)
    assert snippets(db, "alpha", who.user_id) == ["alpha elsewhere", "alpha number 4"]
    thread = search(db, who, SearchParams(query="number")).results[0].thread_id
    within = search(db, who, SearchParams(query="alpha", thread_id=thread)).results
    assert len(within) == 5, "within one thread, all of its entries are looked at"


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_walk_within_a_project_reads_only_its_threads(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common word filtered by project walks the same ranges of keys, through the keys of
    the project's threads (migration 0012): the same hits, the older range when the newest
    holds too few, and nothing for a project without threads."""
    who = _principal(db)
    mine = [("user", f"alpha mine {i}", None) for i in range(4)]
    _push_parts(db, who, mine[:2], name="one", project="mine")
    _push_parts(db, who, [("user", f"alpha other {i}", None) for i in range(6)], name="x",
                project="other")  # fmt: skip
    _push_parts(db, who, mine[2:], name="two", project="mine")
    _push_parts(db, who, [("assistant", "alpha mine reply", None)], name="one", project="mine")

    def found(**filters: Any) -> list[str]:
        page = search(db, who, SearchParams(query="alpha", limit=50, **filters))
        return [hit.snippet for hit in page.results]

    everything = found(project="mine")
    assert sorted(everything) == sorted([text for _, text, _ in mine] + ["alpha mine reply"])
    monkeypatch.setattr(engine, "PG_COMMON", -1)  # every query is common: the walk
    assert found(project="mine") == everything
    assert found(project="mine", role="assistant") == ["alpha mine reply"]
    assert found(project="nowhere") == []
    monkeypatch.setattr(engine, "PG_RECENT", 3)  # the newest three: one reply, two of mine
    monkeypatch.setattr(engine, "PG_OLDER", 6)  # then the other project's six
    monkeypatch.setattr(engine, "PG_ENOUGH", 4)
    assert sorted(found(project="mine")) == sorted(
        ["alpha mine reply", "alpha mine 3", "alpha mine 2"]
    ), "the older range holds none of the project's entries"
    monkeypatch.setattr(engine, "PG_OLDER", 8)
    assert sorted(found(project="mine")) == sorted(everything)
    monkeypatch.setattr(engine, "PG_SET_THREADS", 1)  # too many threads: every entry is read
    assert sorted(found(project="mine")) == sorted(everything)


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_common_words_are_found_newest_first_through_the_filters(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a word too common for BM25 is looked for among its newest matches, in batches
    (here of 2, 4, 8 …), each checked against the filters, body matches first."""
    monkeypatch.setattr(engine, "COMMON", 2)
    monkeypatch.setattr(engine, "_FIRST_BATCH", 1)
    who = _principal(db)
    _push(db, who, [f"common word {i}" for i in range(30)], name="a")
    _push(db, who, ["common other project", "a common phrase here"], name="b")
    page = search(db, who, SearchParams(query="common", thread_id=None, limit=50))
    assert len(page.results) == 32
    assert [h.snippet for h in page.results][:2] == ["a common phrase here", "common other project"]
    in_a = search(db, who, SearchParams(query="common word", scope=None, limit=5))
    assert [h.snippet for h in in_a.results] == [f"common word {i}" for i in (29, 28, 27, 26, 25)]
    thread_a = in_a.results[0].thread_id
    only_a = search(db, who, SearchParams(query="common", thread_id=thread_a, limit=50))
    assert len(only_a.results) == 30 and {h.thread_id for h in only_a.results} == {thread_a}
    assert search(db, who, SearchParams(query='"common phrase"')).results[0].snippet == (
        "a common phrase here"
    )
    with db.write() as conn:  # a tool call ranks below the older prompts
        conn.execute(entries.update().where(entries.c.text == "common word 29").values(
            role="tool"))  # fmt: skip
    first = search(db, who, SearchParams(query="common", limit=3))
    assert [h.snippet for h in first.results] == [
        "a common phrase here", "common other project", "common word 28"]  # fmt: skip
    second = search(db, who, SearchParams(query="common", limit=3, cursor=first.next_cursor))
    assert [h.snippet for h in second.results] == [f"common word {i}" for i in (27, 26, 25)]
    assert search(db, who, SearchParams(query="common", role="tool")).results[0].snippet == (
        "common word 29"
    )
    phrase = SearchParams(query='"common phrase"')
    assert search(db, who, phrase).results[0].score != engine.BODY_WEIGHT, "few matches: BM25"
    monkeypatch.setattr(engine, "BM25_ENTRIES", 10)  # its words are in 32 entries
    assert search(db, who, phrase).results[0].score == engine.BODY_WEIGHT
    monkeypatch.setattr(engine, "WALKED", 3)
    assert len(search(db, who, SearchParams(query="common", limit=50)).results) == 3
    monkeypatch.setattr(engine, "LOOKED", 5)
    assert len(search(db, who, SearchParams(query="word", limit=50)).results) == 3


@pytest.mark.parametrize("server_db_url", ["sqlite"], indirect=True)
def test_sqlite_index_merges_16_segments_and_stays_whole(db: Database) -> None:
    """Migration 0013: both FTS5 tables merge 16 segments at a time (crisis merges at 32); a
    write a segment, so 40 pushes make merges happen, and the index still finds every entry,
    follows a delete, and passes FTS5's own check."""
    from threadline.storage.migrations import m0013_search_merges as m0013

    with db.read() as conn:
        for table in ("entries_fts", "entries_code"):
            rows = conn.exec_driver_sql(f"SELECT k, v FROM {table}_config").all()
            config = {str(key): value for key, value in rows}
            assert (config["automerge"], config["crisismerge"]) == (
                m0013.AUTOMERGE,
                m0013.CRISISMERGE,
            )
    who = _principal(db)
    for i in range(40):
        _push(db, who, [f"mergeword push{i} src/mod{i}/file.py", f"other text {i}"], name=f"t{i}")
    assert len(snippets(db, "mergeword", who.user_id)) == 20, "a page of the 40"
    assert snippets(db, "push17", who.user_id) == ["mergeword push17 src/mod17/file.py"]
    assert snippets(db, "mod23/fil", who.user_id) == ["mergeword push23 src/mod23/file.py"]
    thread = search(db, who, SearchParams(query="push5")).results[0].thread_id
    threads.delete_thread(db, who, thread)
    assert snippets(db, "push5", who.user_id) == [] and snippets(db, "mod5/", who.user_id) == []
    with db.write() as conn:
        for table in ("entries_fts", "entries_code"):
            conn.exec_driver_sql(
                f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 0)"
            )


def _pages(
    db: Database, who: auth.Principal, query: str, limit_: int = 2, **filters: Any
) -> list[str]:
    """Every hit of ``query``, ``limit_`` a page, following the cursors to the end."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        params = SearchParams(query=query, limit=limit_, cursor=cursor, **filters)
        page = search(db, who, params)
        found += [hit.snippet for hit in page.results]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_substring_walk_pages_the_newest_matches_to_the_end(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A needle is looked for in the newest entries first, then (the page not filled) through
    the index, or by walking on below that first chunk when its words are common; each entry
    is tested first on the bytes of its words (tool output's too; letters beyond ASCII as the
    connection encodes them), then on its words of prose and tool calls. Page after page,
    across the chunk's edge, the matches come newest first, to the end, none twice and none
    left out — as the index finds them."""
    who = _principal(db)

    def call(command: str) -> list[dict[str, Any]]:
        return [{"type": "tool_call", "id": "c1", "name": "Bash", "input": {"command": command}}]

    rows: list[tuple[str, str, Any]] = []
    matching: list[str] = []
    for i in range(12):
        if i % 4 == 0:
            rows.append(("user", f"the GrößeLimiter number{i}", None))
            matching.append(f"the GrößeLimiter number{i}")
        elif i % 4 == 1:
            rows.append(("assistant", "", call(f"run größelimiter{i}")))
            matching.append(f"Bash run größelimiter{i}")
        elif i % 4 == 2:  # tool output is not searched for substrings
            output = f"größelimiter in the output {i}"
            rows.append(("tool", output, [{"type": "tool_result", "tool_call_id": "c1",
                                           "output": output}]))  # fmt: skip
        else:
            rows.append(("user", f"nothing to find {i}", None))
    _push_parts(db, who, rows[:5], name="first")
    _push_parts(db, who, rows[5:], name="second")
    newest_first = matching[::-1]
    assert _pages(db, who, "ößeLimit") == newest_first, "the first chunk holds every entry"
    assert _pages(db, who, "ößeLimit", limit_=6) == newest_first
    monkeypatch.setattr(engine, "PG_FIRST_CHUNK", 3)  # 9 … 11: one match, then the index
    assert _pages(db, who, "ößeLimit") == newest_first
    monkeypatch.setattr(engine, "PG_COMMON", -1)  # every needle is common: the walk goes on
    for chunk in (3, 1, 4):
        monkeypatch.setattr(engine, "PG_FIRST_CHUNK", chunk)
        assert _pages(db, who, "ößeLimit") == newest_first, chunk
        assert _pages(db, who, "ößeLimit", limit_=6) == newest_first, chunk
        assert _pages(db, who, "ößeLimit", project="p", role="assistant") == [
            s for s in newest_first if s.startswith("Bash")
        ]
    monkeypatch.setattr(engine, "PG_RECENT", 5)  # the newest five entries: 7 … 11
    monkeypatch.setattr(engine, "PG_FIRST_CHUNK", 2)
    assert _pages(db, who, "ößeLimit") == ["Bash run größelimiter9", "the GrößeLimiter number8"]
    assert _pages(db, who, "größelimiter9") == ["Bash run größelimiter9"], "a whole word"


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_common_query_in_few_entries_reads_its_range_through_bitmaps(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common query the planner expects in few of the entries reads the same range of the
    newest entries as the walk, through the bitmaps of the GIN index and of the keys (index
    scans off for those statements only): the same hits, in the same order, page after page,
    with filters, and in the older range too."""
    who = _principal(db)
    _push_parts(db, who, [("user", f"alpha mine {i}", None) for i in range(4)], name="one",
                project="mine")  # fmt: skip
    _push_parts(db, who, [("assistant", f"alpha other {i}", None) for i in range(6)],
                name="x", project="other")  # fmt: skip
    _push_parts(db, who, [("user", f"beta filler {i}", None) for i in range(5)], name="f")
    _push_parts(db, who, [("assistant", "alpha mine reply", None)], name="one", project="mine")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)

    def every() -> list[list[str]]:
        return [_pages(db, who, "alpha"), _pages(db, who, "alpha", project="mine"),
                _pages(db, who, "alpha", role="assistant", project="other")]  # fmt: skip

    monkeypatch.setattr(engine, "PG_COMMON", -1)  # every query is common
    for recent in (100, 3):  # all in the newest; then the older range too
        monkeypatch.setattr(engine, "PG_RECENT", recent)
        monkeypatch.setattr(engine, "PG_ENOUGH", 50)
        monkeypatch.setattr(engine, "PG_BITMAP_SHARE", 0.0)  # walked
        statements.clear()
        walked = every()
        assert not any("enable_indexscan" in s for s in statements)
        monkeypatch.setattr(engine, "PG_BITMAP_SHARE", 1e9)  # read through bitmaps
        statements.clear()
        assert every() == walked
        assert any("set_config('enable_indexscan', 'off', true)" in s for s in statements)
    assert walked[0][:2] == ["alpha mine reply", "alpha other 5"]
    assert len(walked[0]) == 11 and sorted(walked[1]) == sorted(
        [f"alpha mine {i}" for i in range(4)] + ["alpha mine reply"]
    )
    assert walked[2] == [f"alpha other {i}" for i in range(5, -1, -1)]
    with db.read() as conn:  # within one transaction: index scans back on after the search
        search_in(conn, who.user_id, SearchParams(query="alpha"))
        assert conn.exec_driver_sql("SELECT current_setting('enable_indexscan')").scalar() == "on"


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_vocabulary_keeps_few_pending_words(db: Database) -> None:
    """Migration 0015: the vocabulary's trigram index merges its pending words every 64 kB,
    so a substring search never reads a long list of them."""
    with db.read() as conn:
        options = conn.execute(
            sa.text("SELECT reloptions FROM pg_class WHERE relname = :name"),
            {"name": engine.SUBSTRING_INDEX},
        ).scalar()
    assert options == ["gin_pending_list_limit=64"]


def test_later_pages_walk_the_range_the_first_page_walked_while_writes_arrive(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common word is looked for among the newest entries (of any user). Another user's
    pushes between two pages must not move that range: the cursor keeps the newest key the
    first page saw, so no match of the first range is skipped."""
    monkeypatch.setattr(engine, "BM25_ENTRIES", 0)  # SQLite: the newest matches, not BM25
    monkeypatch.setattr(engine, "LOOKED", 6)
    monkeypatch.setattr(engine, "PG_COMMON", 0)  # PostgreSQL: walk the newest entries
    monkeypatch.setattr(engine, "PG_RECENT", 6)
    monkeypatch.setattr(engine, "PG_ENOUGH", 1)  # and never the older ones
    who = _principal(db)
    _push(db, who, [f"walkword {i}" for i in range(6)])
    accounts.create_user(db, "bob", "password-for-tests")
    bob = auth.authenticate(db, f"Bearer {accounts.create_token(db, 'bob', 'tests').secret}")
    seen: list[str] = []
    page = search(db, who, SearchParams(query="walkword", limit=2))
    seen += [h.snippet for h in page.results]
    for round_ in range(2):
        _push(db, bob, [f"bob's entry {round_} {i}" for i in range(4)], name=f"b{round_}")
        page = search(db, who, SearchParams(query="walkword", limit=2, cursor=page.next_cursor))
        seen += [h.snippet for h in page.results]
    assert seen == [f"walkword {i}" for i in range(5, -1, -1)]
    assert page.next_cursor is None


@pytest.mark.postgres
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_dense_ranking_puts_the_entry_about_a_word_before_a_long_one_mentioning_it(
    db: Database,
) -> None:
    """Ask's candidates (``dense``): on PostgreSQL an entry about a word comes before a long
    one that mentions it among much else — ``ts_rank_cd`` divided by the number of distinct
    words too (without it, the long entry mentioning the word forty times wins)."""
    who = _principal(db)
    about = "the quokka cache"
    pasted = [f"file{n}.ts" for n in range(41)]
    long = "context: " + " ".join(f"quokka {pasted[n]} see {pasted[n + 1]}" for n in range(40))
    _push(db, who, [about, long])
    query = parse("quokka")
    filters = engine.Filters(user_id=who.user_id)
    with db.read() as conn:
        dense = engine.ranked(conn, query, filters, dense=True)
        plain = engine.ranked(conn, query, filters)
        rows = conn.execute(sa.select(entries.c.pk, entries.c.text)).all()
        texts = {int(pk): str(text) for pk, text in rows}
    assert [texts[m.pk] for m in dense] == [about, long]
    assert [texts[m.pk] for m in plain] == [long, about]
