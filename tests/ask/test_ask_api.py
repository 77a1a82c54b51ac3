"""``POST /api/v1/ask`` against a real server holding the real transcripts: extractive answers
whose citations open the entries that hold the question's terms, the no-match answer, project
scoping, one user never seeing another's entries, conversations continued with ``thread``,
``about`` and its hidden file entry, the streamed form, and bad input."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.ask.conftest import Site
from tests.browser.site import signed_in
from tests.helpers.web import csrf_of
from threadline.protocol import sse
from threadline.recall import terms as t

XTERM = "How did xterm scrolling work with tmux?"
NONSENSE = "What did we decide about the zqxvbnm quorbleflax?"
ISSUE_KEYS = {"question", "answer", "no_match", "citations", "thread_id"}
CITATION_KEYS = {"n", "thread_id", "entry_id", "seq", "ts", "snippet", "url"}


def answered(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def entry_text(site: Site, thread_id: str, entry_id: str) -> str:
    """Everything searchable of one entry of alice's, lowercased (it must exist)."""
    found = [e for e in site.entries(site.alice, thread_id) if e["id"] == entry_id]
    assert found, f"no entry {entry_id} in thread {thread_id}"
    return str(found[0]["text"] + json.dumps(found[0]["parts"], ensure_ascii=False)).lower()


def test_the_answer_cites_the_entries_that_hold_the_terms(site: Site) -> None:
    answer = answered(site.ask(site.alice, question=XTERM))
    assert not answer["no_match"]
    citations = answer["citations"]
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    terms = t.content_terms(XTERM)
    for c in citations:
        assert f"[{c['n']}]" in answer["answer"]
        text = entry_text(site, c["thread_id"], c["entry_id"])
        assert t.matched(terms, t.stems(text)), (c, text[:300])
        assert c["url"] == f"/threads/{c['thread_id']}?around={c['entry_id']}#entry-{c['entry_id']}"
    with signed_in(site.server, "alice") as browser:
        first = citations[0]
        page = browser.get(first["url"])
        assert page.status_code == 200
        assert f'id="entry-{first["entry_id"]}"' in page.text


def test_the_answer_has_exactly_the_documented_shape(site: Site) -> None:
    answer = answered(site.ask(site.alice, question=XTERM, project="spotter"))
    assert set(answer) >= ISSUE_KEYS
    assert isinstance(answer["question"], str) and answer["question"] == XTERM
    assert isinstance(answer["answer"], str) and isinstance(answer["no_match"], bool)
    assert isinstance(answer["thread_id"], str)
    assert answer["citations"]
    for c in answer["citations"]:
        assert set(c) >= CITATION_KEYS
        assert isinstance(c["n"], int) and isinstance(c["seq"], int)
        for key in ("thread_id", "entry_id", "ts", "snippet", "url"):
            assert isinstance(c[key], str) and c[key], key
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", c["ts"])


def test_nothing_relevant_is_said_plainly_and_kept(site: Site) -> None:
    answer = answered(site.ask(site.alice, question=NONSENSE))
    assert answer["no_match"] is True
    assert answer["citations"] == []
    assert answer["answer"] == (
        "Nothing relevant was found in the history of any project, so there is no answer to give."
    )
    kept = site.entries(site.alice, answer["thread_id"])
    assert [(e["role"], e["text"]) for e in kept] == [
        ("user", NONSENSE),
        ("assistant", answer["answer"]),
    ]
    thread = site.get(site.alice, f"/api/v1/threads/{answer['thread_id']}")
    assert thread["kind"] == "ask"


def test_a_project_is_searched_on_its_own(site: Site) -> None:
    elsewhere = answered(site.ask(site.alice, question=XTERM, project="ai-music"))
    assert elsewhere["no_match"] and not elsewhere["citations"]
    assert "of project ai-music" in elsewhere["answer"]
    here = answered(site.ask(site.alice, question=XTERM, project="spotter"))
    assert here["citations"]
    assert {c["project"] for c in here["citations"]} == {"spotter"}
    wide = answered(site.ask(site.alice, question=XTERM, project="ai-music", all_projects=True))
    assert wide["citations"]
    thread = site.get(site.alice, f"/api/v1/threads/{wide['thread_id']}")
    assert thread["project"] == "ai-music"


def test_one_user_never_gets_anothers_entries(site: Site) -> None:
    alices = answered(site.ask(site.alice, question=XTERM))
    assert alices["citations"]
    bobs = answered(site.ask(site.bob, question=XTERM))
    assert bobs["no_match"] and bobs["citations"] == []
    refused = site.ask(site.bob, question=XTERM, thread=alices["thread_id"])
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "not_found"


def test_a_conversation_continues_in_its_thread(site: Site) -> None:
    first = answered(site.ask(site.alice, question=XTERM, project="spotter"))
    second = answered(
        site.ask(site.alice, question="and tmux?", project="spotter", thread=first["thread_id"])
    )
    assert second["thread_id"] == first["thread_id"]
    assert not second["no_match"]  # a short follow-up is searched with the question before it
    kept = site.entries(site.alice, first["thread_id"])
    assert [e["role"] for e in kept] == ["user", "assistant", "user", "assistant"]
    assert kept[2]["text"] == "and tmux?"
    assert kept[3]["meta"]["ask"]["citations"] == second["citations"]
    session = next(c["thread_id"] for c in first["citations"])
    refused = site.ask(site.alice, question=XTERM, thread=session)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_an_ask_thread"
    # Nor with a file: a session's thread is not the conversation about it.
    about = {"path": "docs/x.md", "content": "x"}
    refused = site.ask(site.alice, question=XTERM, thread=session, about=about)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "not_an_ask_thread"
    assert not any((e.get("meta") or {}).get("ask") for e in site.entries(site.alice, session))


def test_a_follow_up_searches_where_its_conversation_did(site: Site) -> None:
    """A follow-up naming no project, all_projects nor scope searches what its conversation
    searched (one project, or every project), whatever the client's own project is; naming
    one, it searches there, and that is where the next follow-up searches."""
    first = answered(site.ask(site.alice, question=XTERM, project="spotter"))
    assert first["searched_project"] == "spotter" and first["citations"]
    follow = answered(site.ask(site.alice, question="and tmux?", thread=first["thread_id"]))
    assert follow["searched_project"] == "spotter"
    assert {c["project"] for c in follow["citations"]} == {"spotter"}
    elsewhere = answered(
        site.ask(site.alice, question=XTERM, project="ai-music", thread=first["thread_id"])
    )
    assert elsewhere["no_match"] and elsewhere["searched_project"] == "ai-music"
    after = answered(site.ask(site.alice, question=XTERM, thread=first["thread_id"]))
    assert after["no_match"] and "of project ai-music" in after["answer"]
    kept = site.entries(site.alice, first["thread_id"])
    asked = [e["meta"]["ask"]["project"] for e in kept if e["role"] == "user"]
    assert asked == ["spotter", "spotter", "ai-music", "ai-music"]
    wide = answered(site.ask(site.alice, question=XTERM, project="ai-music", all_projects=True))
    again = answered(site.ask(site.alice, question=XTERM, thread=wide["thread_id"]))
    assert again["searched_project"] is None and again["citations"]
    thread = site.get(site.alice, f"/api/v1/threads/{wide['thread_id']}")
    assert thread["project"] == "ai-music"


SPEC = "# Retention\n\nThe quorbleflax cache keeps entries for ninety seconds.\n\nOther text.\n"


def test_about_a_file_continues_one_thread_with_the_file_hidden(site: Site) -> None:
    about = {"path": "docs/spec.md", "content": SPEC}
    question = "How long does the quorbleflax cache keep entries?"
    first = answered(site.ask(site.alice, question=question, project="spotter", about=about))
    assert not first["no_match"]
    (cited,) = [c for c in first["citations"] if c["role"] == "system"]
    assert cited["thread_id"] == first["thread_id"]
    assert "ninety seconds" in cited["snippet"]
    assert "ninety seconds" in first["answer"]
    again = answered(
        site.ask(site.alice, question="And after that?", project="spotter", about=about)
    )
    assert again["thread_id"] == first["thread_id"]
    changed = {"path": "docs/spec.md", "content": SPEC.replace("ninety", "thirty")}
    third = answered(site.ask(site.alice, question=question, project="spotter", about=changed))
    assert third["thread_id"] == first["thread_id"]
    kept = site.entries(site.alice, first["thread_id"])
    # The file is stored again only when it changed.
    assert [e["role"] for e in kept] == [
        "system", "user", "assistant", "user", "assistant", "system", "user", "assistant",
    ]  # fmt: skip
    thread = site.get(site.alice, f"/api/v1/threads/{first['thread_id']}")
    assert thread["kind"] == "ask" and thread["scope"] == "file:docs/spec.md"
    elsewhere = answered(site.ask(site.alice, question=question, project="ai-music", about=about))
    assert elsewhere["thread_id"] != first["thread_id"]
    # The file's citation gives the place and time of the entry it opens, stored now or before.
    files = [e for e in kept if e["role"] == "system"]
    assert (cited["entry_id"], cited["seq"], cited["ts"]) == (
        files[0]["id"], files[0]["seq"], files[0]["ts"],
    )  # fmt: skip
    fourth = answered(site.ask(site.alice, question=question, project="spotter", about=changed))
    (again_cited,) = [c for c in fourth["citations"] if c["role"] == "system"]
    assert (again_cited["entry_id"], again_cited["seq"], again_cited["ts"]) == (
        files[1]["id"], files[1]["seq"], files[1]["ts"],
    )  # fmt: skip
    # The file is what the question is about: quoted even when it holds none of its words.
    plain = answered(
        site.ask(site.alice, question="What is this about?", project="spotter", about=about)
    )
    assert [c["role"] for c in plain["citations"]][:1] == ["system"], plain
    assert "keeps entries for ninety seconds" in plain["answer"], plain["answer"]
    for short in ("TODO", "x = 1", "# Title\n\n"):
        tiny = {"path": "docs/tiny.md", "content": short}
        told = answered(
            site.ask(site.alice, question="What is this about?", project="spotter", about=tiny)
        )
        assert not told["no_match"] and told["citations"][0]["role"] == "system", told
        assert f"“{short.strip()}”" in told["answer"], told["answer"]
    # A file with another conversation's thread is refused: the file's is found by its path.
    other = answered(site.ask(site.alice, question=XTERM, project="spotter"))["thread_id"]
    refused = site.ask(site.alice, question=question, project="spotter", about=about, thread=other)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "not_the_files_conversation"
    with signed_in(site.server, "alice") as browser:
        page = browser.get(f"/threads/{first['thread_id']}")
        system_id = kept[0]["id"]
        assert re.search(rf'<li class="entry role-system sys" id="entry-{system_id}"', page.text)


def test_asking_about_one_file_at_once_stores_it_once(site: Site) -> None:
    question = "How long does the quorbleflax cache keep entries?"

    def at_once(content: str) -> list[dict[str, Any]]:
        about = {"path": "docs/at-once.md", "content": content}
        with ThreadPoolExecutor(6) as pool:
            asked = list(
                pool.map(
                    lambda _: site.ask(
                        site.alice, question=question, project="spotter", about=about
                    ),
                    range(6),
                )
            )
        return [answered(response) for response in asked]

    at_once(SPEC.replace("ninety", "sixty"))  # a conversation about an earlier version
    answers = at_once(SPEC)  # … then the file changed, asked about six times at once
    assert len({a["thread_id"] for a in answers}) == 1
    kept = site.entries(site.alice, answers[0]["thread_id"])
    (_, file) = [e for e in kept if e["role"] == "system"]
    for answer in answers:  # each cites the one stored entry, where it is
        (cited,) = [c for c in answer["citations"] if c["role"] == "system"]
        assert (cited["entry_id"], cited["seq"], cited["ts"]) == (
            file["id"],
            file["seq"],
            file["ts"],
        )


def test_the_answer_streams_as_events(site: Site) -> None:
    headers = {**site.alice.headers, "Accept": "text/event-stream"}
    with httpx.stream(
        "POST", f"{site.url}/api/v1/ask", json={"question": XTERM}, headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse.events(response.iter_lines()))
    names = [e.event for e in events]
    assert names[0] == "delta" and names[-1] == "done" and set(names) == {"delta", "done"}
    done = json.loads(events[-1].data)
    assert set(done) >= ISSUE_KEYS
    assert "".join(json.loads(e.data)["text"] for e in events[:-1]) == done["answer"]


def test_bad_questions_get_clear_errors(site: Site) -> None:
    big = {"path": "a.md", "content": "x" * 70000}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"question": ""}, 422, "invalid_request"),
        ({"question": "x" * 2001}, 422, "invalid_request"),
        ({"question": "   "}, 422, "invalid_request"),
        ({"question": "ok", "nope": 1}, 422, "invalid_request"),
        ({"question": "ok", "scope": "nocolon"}, 422, "invalid_request"),
        ({"question": "ok", "all_projects": "yes"}, 422, "invalid_request"),
        ({"question": "ok", "about": {"path": "../x", "content": ""}}, 422, "invalid_request"),
        ({"question": "ok", "about": {"path": "/etc/pw", "content": ""}}, 422, "invalid_request"),
        ({"question": "ok", "about": big}, 413, "about_too_large"),
        ({"question": "ok", "thread": "no-such-thread"}, 404, "not_found"),
    ]  # fmt: skip
    for body, status, code in cases:
        response = site.ask(site.alice, **body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, (body, response.text)
    tab = site.ask(site.alice, question="ok", about={"path": "a\tb.md", "content": ""})
    assert tab.status_code == 422
    error = tab.json()["error"]
    assert error["message"].startswith("about.path: the scope id must be printable text")
    assert "TYPE:ID" not in error["detail"]["hint"] and "path" in error["detail"]["hint"]
    unauthenticated = httpx.post(f"{site.url}/api/v1/ask", json={"question": "x"})
    assert unauthenticated.status_code == 401


def test_the_ask_page_answers_without_javascript_and_checks_its_form(site: Site) -> None:
    with signed_in(site.server, "alice") as browser:
        page = browser.get("/ask")
        assert page.status_code == 200 and 'id="ask-form"' in page.text
        form = {"csrf": csrf_of(page), "question": XTERM, "project": "spotter", "thread": ""}
        answered_page = browser.post("/ask", data=form)
        assert answered_page.status_code == 200
        first = r'<ol id="citations" class="citations">\s*<li value="1"><a href="/threads/'
        assert re.search(first, answered_page.text)
        assert 'id="ask-conversation" class="muted small">' in answered_page.text
        streamed = browser.post("/ask/stream", data=form)
        assert streamed.headers["content-type"].startswith("text/event-stream")
        names = [e.event for e in sse.events(streamed.text.splitlines())]
        assert names[-1] == "done"
        forged = browser.post("/ask/stream", data={**form, "csrf": "wrong"})
        assert forged.status_code == 403
        empty = browser.post("/ask", data={**form, "question": ""})
        assert empty.status_code == 422 and 'role="alert"' in empty.text
        # Opened to continue the conversation, the page selects its project.
        thread = re.search(r'id="ask-thread" name="thread" value="([^"]+)"', answered_page.text)
        assert thread, answered_page.text
        reopened = browser.get("/ask", params={"thread": thread.group(1)})
        assert '<option value="spotter" selected>' in reopened.text
        assert '<option value="spotter" selected>' not in browser.get("/ask").text
        bobs = signed_in(site.server, "bob")
        with bobs as other:
            theirs = other.get("/ask", params={"thread": thread.group(1)})
            assert theirs.status_code == 200 and " selected>" not in theirs.text


def scoped_note(site: Site, name: str, project: str, scope: str, text: str) -> tuple[str, str]:
    """alice's thread ``name`` of ``scope`` (got or created) with the note ``text`` added:
    the thread's id and the note's."""
    made = httpx.post(
        f"{site.url}/api/v1/threads",
        json={"name": name, "project": project, "scope": scope},
        headers=site.alice.headers,
    )
    assert made.status_code in (200, 201), made.text
    thread_id = str(made.json()["id"])
    posted = httpx.post(
        f"{site.url}/api/v1/threads/{thread_id}/entries",
        json={"role": "assistant", "text": text},
        headers=site.alice.headers,
    )
    assert posted.status_code == 201, posted.text
    return thread_id, str(posted.json()["id"])


def test_a_scope_narrows_the_search_and_answers_are_searchable(site: Site) -> None:
    note = "Review of pr 42: xterm scrolling inside tmux needs mouse mode on."
    scoped, _ = scoped_note(site, "pr-42", "spotter", "pr:42", note)
    answer = answered(site.ask(site.alice, question=XTERM, scope="pr:42"))
    assert answer["citations"]
    assert {c["thread_id"] for c in answer["citations"]} == {scoped}
    wide = answered(site.ask(site.alice, question=XTERM))
    assert {c["thread_id"] for c in wide["citations"]} - {scoped}
    found = site.get(site.alice, "/api/v1/search", q="xterm scrolling", kind="ask")
    assert answer["thread_id"] in {hit["thread_id"] for hit in found["results"]}


def test_asking_about_a_file_finds_the_notes_of_its_scope_and_never_its_answers(
    site: Site,
) -> None:
    """The conversation about a file lives in the thread of its scope ``file:<path>``, which
    may be a thread of notes pushed there first: asking about the file still finds those
    notes, and what ask stores there (questions, answers, the file) is never retrieved as
    history by a later question."""
    note = "Decision: the quokka retry cap is five attempts per job."
    notes, note_id = scoped_note(site, "retry notes", "zeta", "file:docs/retry.md", note)
    about = {"path": "docs/retry.md", "content": "Jobs are retried with a backoff.\n"}
    question = "What is the quokka retry cap?"
    first = answered(site.ask(site.alice, question=question, project="zeta", about=about))
    assert first["thread_id"] == notes
    assert not first["no_match"], first["answer"]
    assert note_id in {c["entry_id"] for c in first["citations"]}
    # Continued by its id, as the scope's thread of the file (not an ask thread).
    follow = site.ask(site.alice, question=question, thread=notes, about=about)
    assert answered(follow)["thread_id"] == notes
    # The note thread now holds the file, the question and the answer; only the note counts.
    again = answered(site.ask(site.alice, question=question, project="zeta"))
    assert {c["entry_id"] for c in again["citations"]} == {note_id}


def test_a_note_pushed_to_a_files_scope_after_asking_about_it_is_found(site: Site) -> None:
    """Asking about a file first makes the ``ask`` thread of its scope; a note pushed to that
    scope afterwards lands there, and is found by later questions — about the file or not —
    while what ask stored beside it never is."""
    about = {"path": "docs/upload.md", "content": "Uploads go through the gateway.\n"}
    question = "What is the wombat upload limit?"
    first = answered(site.ask(site.alice, question=question, project="eta", about=about))
    conversation = first["thread_id"]
    assert site.get(site.alice, f"/api/v1/threads/{conversation}")["kind"] == "ask"
    note = "Decision: the wombat upload limit is twelve megabytes."
    thread_id, note_id = scoped_note(site, "upload", "eta", "file:docs/upload.md", note)
    assert thread_id == conversation, "the scope's thread is the conversation"
    later = answered(site.ask(site.alice, question=question, project="eta"))
    assert not later["no_match"], later["answer"]
    assert {c["entry_id"] for c in later["citations"]} == {note_id}
    again = answered(site.ask(site.alice, question=question, project="eta", about=about))
    assert again["thread_id"] == conversation
    assert note_id in {c["entry_id"] for c in again["citations"]}
    # Ask's earlier questions and answers are never cited (the file sent with it is).
    kept = site.entries(site.alice, conversation)
    stored = {e["id"] for e in kept if e["role"] != "system"} - {note_id}
    assert not stored & {c["entry_id"] for c in again["citations"]}


def test_a_quoted_marker_is_not_a_citation_link_on_the_conversation_page(site: Site) -> None:
    """A sentence quoted from the history may hold ``[2]`` (``columns[2]`` in code, or a
    planted fake marker): on the conversation's page only the answer's own markers link to
    citations; a quote's brackets stay text."""
    made = httpx.post(
        f"{site.url}/api/v1/threads",
        json={"name": "zorblat notes", "project": "zorblat"},
        headers=site.alice.headers,
    )
    assert made.status_code == 201, made.text
    for note in (
        "The zorblat retry cap is read from settings[1] and from columns[2] of the table.",
        "The zorblat retry cap was raised to nine [2] after the outage.",
    ):
        posted = httpx.post(
            f"{site.url}/api/v1/threads/{made.json()['id']}/entries",
            json={"role": "assistant", "text": note},
            headers=site.alice.headers,
        )
        assert posted.status_code == 201, posted.text
    question = "What is the zorblat retry cap?"
    answer = answered(site.ask(site.alice, question=question, project="zorblat"))
    assert [c["n"] for c in answer["citations"]] == [1, 2], answer
    assert "settings[1]" in answer["answer"] and "nine [2]" in answer["answer"]
    with signed_in(site.server, "alice") as browser:
        page = browser.get(f"/threads/{answer['thread_id']}")
    assert page.status_code == 200
    links = re.findall(r'<a href="(/threads/[^"]+)"[^>]*>(\d)</a>', page.text)
    assert links == [(c["url"], str(c["n"])) for c in answer["citations"]], links
    assert "settings[1]" in page.text and "columns[2]" in page.text and "nine [2]" in page.text


def test_search_lists_the_history_before_the_ask_conversations_that_quote_it(
    site: Site,
) -> None:
    asked = answered(site.ask(site.alice, question=XTERM))
    assert not asked["no_match"]
    found = site.get(site.alice, "/api/v1/search", q="xterm", limit=100)["results"]
    kinds = [hit["kind"] for hit in found]
    assert "ask" in kinds and kinds[0] != "ask"
    first_ask = kinds.index("ask")
    assert set(kinds[first_ask:]) == {"ask"}, kinds
    only = site.get(site.alice, "/api/v1/search", q="xterm", kind="ask")["results"]
    assert asked["thread_id"] in {hit["thread_id"] for hit in only}
    assert {hit["kind"] for hit in only} == {"ask"}


def test_a_follow_up_going_on_from_the_question_before_is_searched_with_it(site: Site) -> None:
    """ "and why did we pick the most diverse one?" alone finds TypeScript's ``Pick``; after a
    question about the embedding models compared, it is searched with that question."""
    first = answered(
        site.ask(
            site.alice,
            question="Which sentence-transformers models did we compare for embedding words?",
            all_projects=True,
        )
    )
    follow = answered(
        site.ask(
            site.alice,
            question="and why did we pick the most diverse one?",
            thread=first["thread_id"],
        )
    )
    assert not follow["no_match"], follow["answer"]
    assert {c["project"] for c in follow["citations"]} == {"ai-music"}
    assert "Pick<" not in follow["answer"]
    assert "diverse" in follow["answer"].lower(), follow["answer"]
