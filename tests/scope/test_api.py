"""Scoped threads over the JSON API, on SQLite and PostgreSQL: ``POST /threads`` with a scope is
a get-or-create per user, project and scope; deleting frees the scope; listings filter by it;
another user's scoped thread is never seen."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.scope.conftest import Api, note_stream
from threadline import protocol as p
from threadline.errors import ValidationFailed
from threadline.services import threads
from threadline.storage.changes import ChangeCursor
from threadline.storage.database import Database


def test_creating_a_scope_twice_returns_the_same_thread(alice: Api) -> None:
    first = alice.create(name="review", scope="pr:123", title="Review of #123")
    assert first.status_code == 201, first.text
    thread = first.json()
    assert thread["scope"] == "pr:123"
    assert thread["key"] == p.scope_thread_key("shop", "pr", "123")

    again = alice.create(name="another name", scope="pr:123", kind="codex", title="other")
    assert again.status_code == 200, again.text
    assert again.json() == thread, "the existing thread, unchanged by the second call"
    assert alice.ids(project="shop") == [thread["id"]]


def test_the_same_scope_in_two_projects_is_two_threads(alice: Api) -> None:
    shop = alice.create(project="shop", scope="spec:009-projects").json()
    blog = alice.create(project="blog", scope="spec:009-projects").json()
    assert shop["id"] != blog["id"]
    assert alice.create(project="blog", scope="spec:009-projects").json()["id"] == blog["id"]
    assert sorted(alice.ids(scope="spec:009-projects")) == sorted([shop["id"], blog["id"]])
    assert alice.ids(scope="spec:009-projects", project="blog") == [blog["id"]]


def test_deleting_a_scoped_thread_frees_the_scope(alice: Api) -> None:
    old = alice.create(scope="issue:42").json()
    assert alice.delete(old["id"]).status_code == 204
    assert alice.ids(scope="issue:42") == []
    new = alice.create(scope="issue:42")
    assert new.status_code == 201
    assert new.json()["id"] != old["id"]
    assert alice.get(old["id"]).status_code == 404


def test_a_scope_id_may_hold_colons_slashes_and_any_printable_text(alice: Api) -> None:
    for scope in ("file:docs/spec.md", "url:https://example.com/a?b=c#d", "note:été ☃ 𝄞 x"):
        answer = alice.create(scope=scope)
        assert answer.status_code == 201, answer.text
        assert answer.json()["scope"] == scope
        assert alice.ids(scope=scope) == [answer.json()["id"]]


@pytest.mark.parametrize(
    ("scope", "rule"),
    [
        ("pr123", "has no ':'"),
        (":123", "scope type"),
        ("PR:123", "lowercase letters"),
        ("pr_x:1", "lowercase letters"),
        ("t" * 33 + ":1", "1–32 characters"),
        ("pr:", "1–512 characters"),
        ("pr:" + "x" * 513, "1–512 characters"),
        ("pr:" + "€" * 400, "at most 1024 bytes"),
        ("pr:a\tb", "control character U+0009"),
        ("pr:a\x00b", "control character U+0000"),
        ("pr:a\x85b", "control character U+0085"),
        ("pr: 1", "white space"),
        ("pr:1 ", "white space"),
    ],
)
def test_an_invalid_scope_is_a_422_naming_the_rule(alice: Api, scope: str, rule: str) -> None:
    created = alice.create(scope=scope)
    assert created.status_code == 422, created.text
    assert rule in created.text
    listed = alice.listing(scope=scope)
    assert listed.status_code in (400, 422), listed.text  # NUL in a query is the edge's 400
    if "\x00" not in scope:
        assert listed.status_code == 422 and rule in listed.text
    ref = {"key": "note:shop:x", "name": "x", "project": "shop", "scope": scope}
    pushed = alice.push(
        {"stream_id": "5c0f0000-0000-4000-8000-000000000001", "thread": ref, "entries": []}
    )
    assert pushed.status_code == 422 and rule in pushed.text
    assert alice.ids() == [], "nothing was stored"


def test_an_invalid_scope_type_filter_is_a_422(alice: Api) -> None:
    answer = alice.listing(scope_type="Pull Request")
    assert answer.status_code == 422
    assert "lowercase letters" in answer.json()["error"]["message"]
    whole = alice.listing(scope_type="issue:1")  # a scope, not a type: never "every issue"
    assert whole.status_code == 422, whole.text
    assert "has no ':'" in whole.json()["error"]["message"]


def test_listing_filters_by_scope_and_by_scope_type(alice: Api) -> None:
    pr1 = alice.create(scope="pr:1").json()["id"]
    pr2 = alice.create(scope="pr:2").json()["id"]
    issue = alice.create(scope="issue:1").json()["id"]
    plain = alice.create(name="plain").json()["id"]
    assert alice.ids(scope="pr:1") == [pr1]
    assert sorted(alice.ids(scope_type="pr")) == sorted([pr1, pr2])
    assert alice.ids(scope_type="issue") == [issue]
    assert alice.ids(scope="pr:1", scope_type="pr") == [pr1]
    assert alice.ids(scope="pr:1", scope_type="issue") == [], "filters combine"
    assert alice.ids(scope="pr:3") == []
    assert len(alice.ids()) == 4 and plain in alice.ids()
    assert alice.get(pr1).json()["scope"] == "pr:1"
    assert alice.get(plain).json()["scope"] is None


def test_another_users_scoped_thread_is_never_seen(alice: Api, bob: Api) -> None:
    mine = alice.create(scope="pr:7", title="alice's").json()
    theirs = bob.create(scope="pr:7", title="bob's")
    assert theirs.status_code == 201, "bob gets a thread of his own"
    assert theirs.json()["id"] != mine["id"]
    assert bob.get(mine["id"]).status_code == 404
    assert bob.ids(scope="pr:7") == [theirs.json()["id"]]
    assert bob.ids(scope_type="pr") == [theirs.json()["id"]]
    assert bob.delete(mine["id"]).status_code == 404
    assert alice.ids(scope="pr:7") == [mine["id"]]


def test_a_scoped_thread_moves_only_to_a_project_where_its_scope_is_free(alice: Api) -> None:
    shop = alice.create(project="shop", scope="pr:9").json()
    blog = alice.create(project="blog", scope="pr:9").json()
    moved = alice.patch(shop["id"], project="blog")
    assert moved.status_code == 409, moved.text
    assert moved.json()["error"]["detail"]["thread_id"] == blog["id"]
    assert alice.patch(shop["id"], project="docs").status_code == 200
    assert alice.ids(scope="pr:9", project="docs") == [shop["id"]]
    renamed = alice.patch(blog["id"], name="renamed")
    assert renamed.status_code == 200 and renamed.json()["scope"] == "pr:9"


def test_a_moved_scoped_thread_leaves_its_scope_free_in_the_old_project(alice: Api) -> None:
    moved = alice.create(project="shop", scope="issue:3").json()
    answer = alice.patch(moved["id"], project="blog")
    assert answer.status_code == 200, answer.text
    assert answer.json()["key"] == p.scope_thread_key("blog", "issue", "3")
    # The old project's next thread of the scope is a new one, by API and by push …
    again = alice.create(project="shop", scope="issue:3")
    assert again.status_code == 201, again.text
    assert again.json()["id"] != moved["id"]
    pushed = alice.push(note_stream(_ref("issue:3", "shop"), "in shop")).json()["streams"][0]
    assert pushed["thread_id"] == again.json()["id"]
    # … and the moved thread is the new project's, where its devices' pushes now go.
    there = alice.push(note_stream(_ref("issue:3", "blog"), "in blog")).json()["streams"][0]
    assert there["thread_id"] == moved["id"]
    assert alice.get(moved["id"]).json()["entry_count"] == 1
    # A device that wrote to the thread before it moved: its next note of the scope in the
    # old project goes to that project's thread of the scope, not after the moved thread.
    stream = note_stream(_ref("issue:5", "shop"), "before the move")
    first = alice.push(stream).json()["streams"][0]["thread_id"]
    assert alice.patch(first, project="blog").status_code == 200
    later = {**stream["entries"][0], "seq": 2, "id": str(uuid.uuid4()), "text": "after"}
    answer = alice.push({**stream, "entries": [later]}).json()["streams"][0]
    assert answer["status"] == "ok" and answer["thread_id"] != first, answer
    assert alice.ids(scope="issue:5", project="shop") == [answer["thread_id"]]
    assert alice.get(first).json()["entry_count"] == 1
    retry = alice.push({**stream, "entries": [*stream["entries"], later]})
    assert retry.status_code == 200 and retry.json()["streams"][0]["duplicates"] == 2
    # A custom key is the thread's own and stays.
    custom = alice.create(project="shop", scope="issue:4", key="custom:4").json()
    assert alice.patch(custom["id"], project="blog").json()["key"] == "custom:4"


def test_without_a_scope_creating_a_taken_key_is_still_a_409(alice: Api) -> None:
    assert alice.create(name="main").status_code == 201
    again = alice.create(name="main")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "thread_exists"


def test_a_scoped_create_whose_key_has_another_live_thread_is_a_409(alice: Api) -> None:
    """A key names one live thread: a scope created with a key in use gets no second one."""
    plain = alice.create(name="main").json()
    clash = alice.create(name="x", scope="pr:1", key=plain["key"])
    assert clash.status_code == 409
    assert clash.json()["error"]["detail"]["thread_id"] == plain["id"]


# --- push -------------------------------------------------------------------------------


def _ref(scope: str | None, project: str = "shop", key: str | None = None) -> dict[str, object]:
    ref: dict[str, object] = {"name": "n", "project": project}
    if scope is not None:
        ref["scope"] = scope
        ref["key"] = key or p.scope_thread_key(project, *p.parse_scope(scope))
    else:
        ref["key"] = key or p.note_thread_key(project, "n")
    return ref


def test_a_push_with_a_scope_binds_to_the_scopes_thread(alice: Api) -> None:
    made = alice.create(name="review", scope="pr:5", key="custom:key").json()
    # A device derives the scope key, not the custom one: the scope binds it all the same.
    answer = alice.push(note_stream(_ref("pr:5"), "first", "second"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["streams"][0]["thread_id"] == made["id"]
    # A second device, its own stream, the same scope: the same thread.
    other = alice.push(note_stream(_ref("pr:5"), "from the desktop"))
    assert other.json()["streams"][0]["thread_id"] == made["id"]
    thread = alice.get(made["id"]).json()
    assert thread["entry_count"] == 3 and thread["name"] == "review"
    assert alice.ids(scope="pr:5") == [made["id"]]


def test_a_push_creates_the_scopes_thread_and_the_api_then_finds_it(alice: Api) -> None:
    answer = alice.push(note_stream(_ref("issue:3"), "found it"))
    thread_id = answer.json()["streams"][0]["thread_id"]
    thread = alice.get(thread_id).json()
    assert thread["scope"] == "issue:3"
    assert thread["key"] == p.scope_thread_key("shop", "issue", "3")
    again = alice.create(name="anything", scope="issue:3")
    assert again.status_code == 200 and again.json()["id"] == thread_id


def test_two_scoped_streams_of_one_push_share_one_new_thread(alice: Api) -> None:
    answer = alice.push(
        note_stream(_ref("pr:8", key="scope:device-a"), "a"),
        note_stream(_ref("pr:8", key="scope:device-b"), "b"),
    )
    assert answer.status_code == 200, answer.text
    ids = {s["thread_id"] for s in answer.json()["streams"]}
    assert len(ids) == 1
    assert alice.ids() == list(ids)


def test_a_pushed_scope_is_per_project_and_freed_by_deletion(alice: Api) -> None:
    shop = alice.push(note_stream(_ref("pr:4", "shop"), "x")).json()["streams"][0]["thread_id"]
    blog = alice.push(note_stream(_ref("pr:4", "blog"), "y")).json()["streams"][0]["thread_id"]
    assert shop != blog
    assert alice.delete(shop).status_code == 204
    # A stream of the deleted thread keeps going to its tombstone …
    # … while a new one, written after the deletion, starts a new thread of the scope.
    late = note_stream(_ref("pr:4", "shop"), "after")
    late["entries"][0]["ts"] = "2999-01-01T00:00:00Z"
    new = alice.push(late).json()["streams"][0]
    assert new["status"] == "ok" and new["thread_id"] not in (shop, blog)
    assert alice.ids(scope="pr:4", project="shop") == [new["thread_id"]]


def test_a_note_written_after_the_deletion_on_the_old_stream_starts_the_new_thread(
    alice: Api,
) -> None:
    stream = note_stream(_ref("pr:8"), "before the deletion")
    first = alice.push(stream).json()["streams"][0]["thread_id"]
    assert alice.delete(first).status_code == 204

    def more(seq: int, ts: str, text: str) -> dict[str, object]:
        return {"seq": seq, "id": str(uuid.uuid4()), "ts": ts, "role": "user", "text": text}

    late = more(2, "2026-11-21T10:00:30Z", "written before the deletion, sent after it")
    answer = alice.push({**stream, "entries": [late]}).json()["streams"][0]
    assert (answer["status"], answer["thread_id"]) == ("thread_deleted", first)

    # The same device's next note, written after the deletion: kept, in a new thread.
    note = more(3, "2999-01-01T00:00:00Z", "a note after the deletion")
    answer = alice.push({**stream, "entries": [note]}).json()["streams"][0]
    assert answer["status"] == "ok" and answer["thread_id"] != first, answer
    second = answer["thread_id"]
    assert alice.ids(scope="pr:8") == [second]
    kept = alice.client.get(f"/api/v1/threads/{second}/entries", headers=alice.headers).json()
    assert [e["text"] for e in kept["entries"]] == ["a note after the deletion"]

    # A retry of all of it is a no-op; another entry at a stored seq is still a conflict.
    retry = alice.push({**stream, "entries": [late, note]})
    assert retry.status_code == 200, retry.text
    assert retry.json()["streams"][0] == {**answer, "stored": 0, "duplicates": 2}
    other = alice.push({**stream, "entries": [{**note, "text": "changed"}]})
    assert other.status_code == 409, other.text
    assert alice.get(second).json()["entry_count"] == 1


def test_a_transcript_written_after_its_deletion_stays_deleted(alice: Api) -> None:
    ref = {"key": "claude-code:sess-1", "kind": "claude-code", "name": "s", "project": "shop"}
    stream = note_stream(ref, "one")
    first = alice.push(stream).json()["streams"][0]["thread_id"]
    assert alice.delete(first).status_code == 204
    later = {"seq": 2, "id": str(uuid.uuid4()), "ts": "2999-01-01T00:00:00Z", "role": "user"}
    answer = alice.push({**stream, "entries": [{**later, "text": "two"}]}).json()["streams"][0]
    assert (answer["status"], answer["thread_id"]) == ("thread_deleted", first)
    assert alice.ids() == []


def test_a_push_of_another_user_never_binds_to_my_scope(alice: Api, bob: Api) -> None:
    mine = alice.create(scope="pr:6").json()["id"]
    answer = bob.push(note_stream(_ref("pr:6"), "bob's note"))
    theirs = answer.json()["streams"][0]["thread_id"]
    assert theirs != mine
    assert alice.get(mine).json()["entry_count"] == 0
    assert bob.ids(scope="pr:6") == [theirs]


# --- the service the other capabilities use ----------------------------------------------


def test_get_or_create_scoped_inside_a_callers_transaction(db: Database, alice: Api) -> None:
    user_id = _user_id(db, "alice")

    def work(conn: sa.Connection) -> tuple[str, bool, str, bool]:
        change = ChangeCursor(conn, user_id)
        first, created = threads.get_or_create_scoped(
            conn,
            user_id,
            project="shop",
            kind="note",
            name="about the spec",
            scope_type="file",
            scope_id="docs/spec.md",
            title="Spec",
            meta={"why": "test"},
            change=change,
        )
        again, created_again = threads.get_or_create_scoped(
            conn,
            user_id,
            project="shop",
            kind="note",
            name="ignored",
            scope_type="file",
            scope_id="docs/spec.md",
            change=change,
        )
        change.finish()
        return first.id, created, again.id, created_again

    first, created, again, created_again = db.run_write(work)
    assert (created, created_again) == (True, False)
    assert first == again
    thread = alice.get(first).json()
    assert (thread["scope"], thread["title"], thread["meta"]) == (
        "file:docs/spec.md",
        "Spec",
        {"why": "test"},
    )
    # On its own (no cursor passed): takes and finishes one, and finds the same thread.
    found, created = db.run_write(
        lambda conn: threads.get_or_create_scoped(
            conn,
            user_id,
            project="shop",
            kind="note",
            name="x",
            scope_type="file",
            scope_id="docs/spec.md",
        )
    )
    assert (found.id, created) == (first, False)
    with pytest.raises(ValidationFailed, match="lowercase letters"):
        db.run_write(
            lambda conn: threads.get_or_create_scoped(
                conn,
                user_id,
                project="shop",
                kind="note",
                name="x",
                scope_type="File",
                scope_id="a",
            )
        )


def _user_id(db: Database, name: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(sa.text("SELECT id FROM users WHERE name = :n"), {"n": name}).scalar_one()
        )


def test_the_scope_index_is_unique_for_live_threads_only(db: Database) -> None:
    indexes = {ix["name"]: ix for ix in sa.inspect(db.engine).get_indexes("threads")}
    unique = indexes["ux_threads_user_project_scope_live"]
    assert unique["unique"]
    assert unique["column_names"] == ["user_id", "project", "scope_type", "scope_id"]
    assert "ix_threads_user_scope" in indexes


def test_capabilities_announce_scopes(alice: Api) -> None:
    answer = alice.client.get("/api/v1/capabilities")
    assert "scopes" in answer.json()["features"]


def test_the_database_refuses_a_second_live_thread_of_a_scope(db: Database, alice: Api) -> None:
    """The partial unique index backs the service's check: two live threads of one scope in
    one project cannot exist, whatever writes them; a deleted one does not count."""
    from threadline.storage.schema import threads as table

    first = alice.create(name="a", scope="pr:11").json()
    row = {
        "user_id": _user_id(db, "alice"),
        "key": "other-key",
        "kind": "note",
        "name": "b",
        "project": "shop",
        "meta": "{}",
        "created_at": "2026-11-21T10:00:00.000000Z",
        "updated_at": "2026-11-21T10:00:00.000000Z",
        "last_activity_at": "2026-11-21T10:00:00.000000Z",
        "entry_count": 0,
        "change": 1,
        "scope_type": "pr",
        "scope_id": "11",
    }
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(table.insert().values(id="second", **row))
    with db.write() as conn:  # a tombstone of the scope may sit beside the live thread
        conn.execute(
            table.insert().values(id="tomb", deleted_at="2026-11-21T11:00:00.000000Z", **row)
        )
    assert alice.ids(scope="pr:11") == [first["id"]]
