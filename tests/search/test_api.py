"""``GET /api/v1/search`` against a real server on both backends, over real transcripts and
notes (see ``conftest.py``): ranking, snippets, code-ish words, phrases and prefixes, filters,
paging, the index being current after a push, and users kept apart."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.search.conftest import PROJECT, Indexed, push

REQUIRED = {"thread_id", "entry_id", "seq", "ts", "role", "snippet", "score", "url"}


def marked(hit: dict[str, Any]) -> list[str]:
    return [hit["snippet"][a:b].lower() for a, b in hit["highlights"]]


def test_answer_shape(indexed: Indexed) -> None:
    answer = indexed.search(q="zanzibar")
    assert answer.status_code == 200
    page = answer.json()
    assert set(page) >= {"query", "results", "next_cursor"} and page["query"] == "zanzibar"
    for hit in page["results"]:
        assert set(hit) >= REQUIRED | {"thread_title", "project", "kind", "highlights"}
        assert hit["url"] == f"/threads/{hit['thread_id']}?around={hit['entry_id']}" + (
            f"#entry-{hit['entry_id']}"
        )


def test_prompt_ranks_above_tool_output(indexed: Indexed) -> None:
    hits = indexed.hits("zanzibar", project=PROJECT)
    assert hits[0]["role"] == "user" and {h["role"] for h in hits[1:]} == {"assistant", "tool"}
    assert hits[0]["snippet"] == "Why does the zanzibar cache miss so often?"
    assert marked(hits[0]) == ["zanzibar"]
    result = next(h for h in hits if h["role"] == "tool")
    assert marked(result) == ["zanzibar"] * 4, "one word mentioned four times, all marked"
    assert hits[0]["score"] > hits[1]["score"] >= hits[2]["score"] > 0


def test_a_known_term_of_a_real_transcript_ranks_its_prompt_first(indexed: Indexed) -> None:
    hits = indexed.hits("conda environment", kind="claude-code")
    assert len(hits) >= 3
    assert hits[0]["role"] == "user", hits[0]
    assert "conda environment" in hits[0]["snippet"].lower()
    assert {"conda", "environment"} <= set(marked(hits[0]))


def test_paths_dotted_names_hyphens_and_identifiers(indexed: Indexed) -> None:
    for q, found in [
        ("rate-limit", "rate-limit"),
        ("os.path.join", "os.path.join"),
        ("src/auth/login.py", "src/auth/login.py"),
        ("auth/login", "auth/login"),
        ("prisma/db.ts", "prisma/db.ts"),
        ("spectora-labs", "spectora-labs"),
        ("README.md", "readme.md"),
        ("createInvite", "createinvite"),
    ]:
        hits = indexed.hits(q)
        assert hits, q
        assert found in marked(hits[0]), (q, hits[0]["snippet"])


def test_text_inside_a_word_comes_after_the_word_matches(indexed: Indexed) -> None:
    hits = indexed.hits("Limiter", project=PROJECT)
    assert [marked(h) for h in hits] == [["limiter"]]
    assert hits[0]["score"] == 0
    inside = indexed.hits("AggregatedClaude")
    assert inside and "aggregatedclaude" in marked(inside[0])


def test_phrase_and_prefix(indexed: Indexed) -> None:
    assert [h["snippet"] for h in indexed.hits('"cache miss"')] == [
        "Why does the zanzibar cache miss so often?"
    ]
    assert indexed.hits('"miss cache"') == []
    prefixed = indexed.hits("zanzi*", project=PROJECT)
    assert len(prefixed) == 3 and all("zanzi" in m for h in prefixed for m in marked(h))
    assert indexed.hits("pagingw*", project=PROJECT, limit=100).__len__() == 7


def test_or_and_not(indexed: Indexed) -> None:
    either = indexed.hits("xsstoken OR bug", project=PROJECT)
    assert len(either) == 2
    assert len(indexed.hits("zanzibar NOT cache", project=PROJECT)) == 1
    # NOT with nothing before it is not the opposite of what was typed: its words are searched.
    alone = indexed.hits("NOT zanzibar", project=PROJECT)
    assert len(alone) < len(indexed.hits("zanzibar", project=PROJECT))
    assert all("not" in h["snippet"].lower() for h in alone)


def test_filters(indexed: Indexed) -> None:
    assert {h["project"] for h in indexed.hits("zanzibar")} == {PROJECT}
    assert indexed.hits("zanzibar", project="elsewhere") == []
    assert [h["role"] for h in indexed.hits("zanzibar", role="tool")] == ["tool"]
    assert indexed.hits("zanzibar", kind="codex") == []
    assert indexed.hits("zanzibar", kind="note", agent="codex") == []
    codex = indexed.hits("packages/services", agent="codex")
    assert codex and {h["kind"] for h in codex} == {"codex"}
    assert indexed.hits("packages/services", agent="claude-code") == []
    thread = indexed.threads["paging"]
    assert {h["thread_id"] for h in indexed.hits("number", thread=thread)} == {thread}
    dated = indexed.hits("pagingword", since="2026-02-03", until="2026-02-04", project=PROJECT)
    assert sorted(h["snippet"] for h in dated) == ["pagingword number 3", "pagingword number 4"]
    assert indexed.hits("zanzibar", since="2026-01-11") == []


def test_pages_have_no_duplicates_and_no_gaps(indexed: Indexed) -> None:
    everything = indexed.hits("pagingword", project=PROJECT, limit=100)
    assert len(everything) == 7
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = indexed.search(q="pagingword", project=PROJECT, limit=3, cursor=cursor).json()
        seen += [h["entry_id"] for h in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [h["entry_id"] for h in everything]
    # newest first among equal scores
    assert [h["snippet"][-1] for h in everything] == list("7654321")
    # A cursor pages the search that gave it: another query or filter is refused.
    first = indexed.search(q="pagingword", project=PROJECT, limit=3).json()["next_cursor"]
    assert indexed.search(q="pagingword", project=PROJECT, limit=5, cursor=first).status_code == 200
    others = ({"q": "number"}, {"q": "pagingword", "role": "user"}, {"q": "pagingword"})
    for other in others:
        refused = indexed.search(**{"project": PROJECT, **other, "cursor": first})
        if other == {"q": "pagingword"}:  # the same search
            assert refused.status_code == 200
            refused = indexed.search(q="pagingword", cursor=first)  # every project
        assert refused.status_code == 400, (other, refused.text)
        assert refused.json()["error"]["code"] == "bad_cursor"
        assert "another search" in refused.json()["error"]["message"]
    theirs = indexed.search(indexed.bob, q="pagingword", project=PROJECT, cursor=first)
    assert theirs.status_code == 400 and theirs.json()["error"]["code"] == "bad_cursor"


def test_pages_stay_put_while_entries_arrive(indexed: Indexed) -> None:
    first = indexed.search(q="pagingword", project=PROJECT, limit=3).json()
    push(
        indexed.url,
        indexed.alice,
        f"late-{uuid.uuid4().hex[:6]}",
        [{"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-01T00:00:00Z", "role": "user",
          "text": "pagingword arrived late"}],
    )  # fmt: skip
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = indexed.search(q="pagingword", project=PROJECT, limit=3, cursor=cursor).json()
        rest += [h["snippet"] for h in page["results"]]
        cursor = page["next_cursor"]
    assert len(rest) == 4 and "pagingword arrived late" not in rest
    assert indexed.hits("pagingword arrived late")[0]["snippet"] == "pagingword arrived late"


def test_an_entry_is_found_as_soon_as_its_push_is_acknowledged(indexed: Indexed) -> None:
    word = f"fresh{uuid.uuid4().hex[:10]}"
    entry = {"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-02T00:00:00Z", "role": "user"}
    push(indexed.url, indexed.alice, f"fresh-{word}", [{**entry, "text": f"just {word} now"}])
    assert [h["entry_id"] for h in indexed.hits(word)] == [entry["id"]]
    # and over the curl route (``POST /threads/{id}/entries``)
    thread = indexed.threads["paging"]
    posted = httpx.post(
        f"{indexed.url}/api/v1/threads/{thread}/entries",
        json={"role": "assistant", "text": f"posted {word}x"},
        headers=indexed.alice.headers,
    )
    assert posted.status_code == 201
    assert [h["entry_id"] for h in indexed.hits(f"{word}x")] == [posted.json()["id"]]


def test_a_refused_push_indexes_nothing(indexed: Indexed) -> None:
    word = f"refused{uuid.uuid4().hex[:10]}"
    good = {"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-03T00:00:00Z", "role": "user",
            "text": f"{word} in a good stream"}  # fmt: skip
    gap = {**good, "id": str(uuid.uuid4()), "seq": 5, "text": f"{word} after a gap"}
    body = {
        "device_id": "5e4c0000-0000-4000-8000-0000000000d2",
        "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": [good],
             "thread": {"key": f"note:x:{word}", "name": word, "project": PROJECT}},
            {"stream_id": str(uuid.uuid4()), "entries": [gap],
             "thread": {"key": f"note:y:{word}", "name": word, "project": PROJECT}},
        ],
    }  # fmt: skip
    answer = httpx.post(f"{indexed.url}/api/v1/sync/push", json=body, headers=indexed.alice.headers)
    assert answer.status_code == 409
    assert indexed.hits(word) == []


def test_deleted_threads_are_not_found(indexed: Indexed) -> None:
    word = f"deleted{uuid.uuid4().hex[:10]}"
    entry = {"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-04T00:00:00Z", "role": "user"}
    thread = push(indexed.url, indexed.alice, word, [{**entry, "text": f"{word} then gone"}])
    assert len(indexed.hits(word)) == 1
    gone = httpx.delete(f"{indexed.url}/api/v1/threads/{thread}", headers=indexed.alice.headers)
    assert gone.status_code == 204
    assert indexed.hits(word) == []
    assert indexed.hits(f"{word[:9]}*") == []


def test_one_user_never_finds_anothers_entries(indexed: Indexed) -> None:
    assert indexed.hits("bobsecret") == []
    bob = indexed.search(indexed.bob, q="zanzibar").json()["results"]
    assert [h["snippet"] for h in bob] == ["bobsecret zanzibar pagingword"]
    for q in ("conda", "pagingword", "limiter", "packages/services", "zanzi*"):
        found = indexed.search(indexed.bob, q=q).json()["results"]
        assert all("bobsecret" in h["snippet"] for h in found), q
    alices_thread = indexed.threads["zanzibar"]
    assert indexed.search(indexed.bob, q="zanzibar", thread=alices_thread).json()["results"] == []


def test_needs_a_token(indexed: Indexed) -> None:
    answer = httpx.get(f"{indexed.url}/api/v1/search", params={"q": "zanzibar"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_documented_in_openapi(indexed: Indexed) -> None:
    schema = httpx.get(f"{indexed.url}/openapi.json").json()
    operation = schema["paths"]["/api/v1/search"]["get"]
    assert {"400", "401", "422", "503"} <= set(operation["responses"])
    names = {p["name"] for p in operation["parameters"]}
    assert names >= {"q", "project", "kind", "agent", "thread", "role", "since", "until"}


def test_scope_filter(indexed: Indexed) -> None:
    assert len(indexed.hits("scopedword")) == 2
    found = indexed.hits("scopedword", scope="pr:42")
    assert [h["snippet"] for h in found] == ["scopedword about pr 42"]
    assert indexed.hits("scopedword", scope="pr:44") == []
    assert indexed.search(q="scopedword", scope="no-colon").status_code == 422
