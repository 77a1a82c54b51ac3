"""The ask retrieval (:func:`threadline.services.ask.retrieve`) on a small hand-written history,
in process on both backends: term weights come from the history itself, so a question whose
point is a word the history never holds finds nothing, and the entry holding all of a
question's words comes first."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from threadline.protocol.models import PushRequest
from threadline.recall import english
from threadline.recall import weights as w
from threadline.services import accounts, auth, push
from threadline.services import ask as ask_service
from threadline.services import entries as entry_service
from threadline.services.ask import retrieve
from threadline.storage.database import Database
from threadline.storage.schema import threads

#: Common words in many entries, rare ones in few: a small history with a shape of its own.
HISTORY = [
    *(f"configured the error report for module {n}" for n in range(12)),
    "the release checklist: tag, build, upload the wheel",
    "we chose Redis for the session cache because Memcached has no persistence",
    "the cache eviction policy is allkeys-lru, decided after the load test",
    "the flaky checkout test waited on a timer; now it waits on the event",
]


def _history(db: Database) -> auth.Principal:
    accounts.create_user(db, "alice", "password-for-tests")
    token = accounts.create_token(db, "alice", "tests")
    who = auth.authenticate(db, f"Bearer {token.secret}")
    rows = [
        {"seq": i + 1, "id": str(uuid.uuid4()), "ts": f"2026-01-01T00:00:{i:02d}Z",
         "role": "user", "text": text}
        for i, text in enumerate(HISTORY)
    ]  # fmt: skip
    request = PushRequest.model_validate(
        {"device_id": str(uuid.uuid4()), "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": rows,
             "thread": {"key": "note:p:history", "name": "history", "project": "p"}}]}
    )  # fmt: skip
    push.push(db, who, request, push.PushLimits())
    return who


def _texts(db: Database, who: auth.Principal, question: str) -> tuple[bool, list[str]]:
    with db.read() as conn:
        found = retrieve(conn, who.user_id, question)
    return found.no_match, [p.anchor.text for p in found.passages]


def test_a_rare_word_the_history_never_holds_means_nothing_found(db: Database) -> None:
    who = _history(db)
    # "configured", "error" and "report" are everywhere; "sentry" is the point, and nowhere.
    no_match, texts = _texts(db, who, "Which Sentry project did we configure for error reports?")
    assert no_match and texts == []


def test_the_entry_holding_all_the_words_comes_first(db: Database) -> None:
    who = _history(db)
    no_match, texts = _texts(db, who, "What cache eviction policy did we decide on?")
    assert not no_match
    assert texts[0] == HISTORY[-2]


def test_rare_terms_outrank_common_ones(db: Database) -> None:
    who = _history(db)
    # Each candidate holds one term of two: the rare one ("flaky") wins over the common one.
    no_match, texts = _texts(db, who, "flaky module")
    assert not no_match
    assert texts[0] == HISTORY[-1]
    assert all("flaky" in text for text in texts)


def test_a_name_the_history_never_holds_counts_against_the_passages(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = _history(db)
    # The entry holds "flaky", "checkout" and "test" (over half the weight), not "time" nor
    # "Vitest" — which the history names nowhere: the question is about something else.
    question = "Why did the flaky checkout test time out in Vitest?"
    assert _texts(db, who, question) == (True, [])
    # A common word missing from the history is how a paraphrase differs: it weighs as usual.
    no_match, texts = _texts(db, who, "Why did the flaky checkout test time out on the laptop?")
    assert not no_match and texts[0] == HISTORY[-1]
    # Weighed like any other term, the missing name would let the entry pass.
    monkeypatch.setattr(w, "ABSENT_NAME_FACTOR", 1.0)
    no_match, texts = _texts(db, who, question)
    assert not no_match and texts[0] == HISTORY[-1]


def test_a_rare_word_the_history_never_holds_counts_against_the_passages_too(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = _history(db)
    # The entry holds "session" and "cache" (over half the weight), not "shard": a rare English
    # word the history never holds, the point of the question.
    question = "How did we shard the session cache?"
    assert _texts(db, who, question) == (True, [])
    # A rarer word than everyday English but not a rare one ("laptop") weighs as usual.
    no_match, texts = _texts(db, who, "How did we set up the session cache on the laptop?")
    assert not no_match and texts[0] == HISTORY[-3]
    monkeypatch.setattr(english, "RARE_PER_MILLION", 0.0)
    no_match, texts = _texts(db, who, question)
    assert not no_match and texts[0] == HISTORY[-3]


def test_a_name_held_in_the_history_weighs_as_usual(db: Database) -> None:
    who = _history(db)
    no_match, texts = _texts(db, who, "Did we choose Redis over Dragonfly for the session cache?")
    assert not no_match and texts[0] == HISTORY[-3]


#: A session's entry: role, text, parts.
Row = tuple[str, str, list[dict[str, Any]] | None]


def _session(db: Database, rows: list[Row]) -> auth.Principal:
    """A Claude Code session of ``rows`` (role, text, parts) in project ``p``."""
    accounts.create_user(db, "bob", "password-for-tests")
    token = accounts.create_token(db, "bob", "tests")
    who = auth.authenticate(db, f"Bearer {token.secret}")
    entries = [
        {"seq": i + 1, "id": str(uuid.uuid4()), "ts": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
         "role": role, "text": text, **({"parts": parts} if parts else {})}
        for i, (role, text, parts) in enumerate(rows)
    ]  # fmt: skip
    request = PushRequest.model_validate(
        {"device_id": str(uuid.uuid4()), "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": entries,
             "thread": {"key": "claude-code:s1", "name": "s1", "project": "p",
                        "kind": "claude-code"}}]}
    )  # fmt: skip
    push.push(db, who, request, push.PushLimits())
    return who


def _tool(n: int, command: str, output: str) -> list[Row]:
    call = {"type": "tool_call", "id": f"c{n}", "name": "Bash", "input": {"command": command}}
    done = {"type": "tool_result", "tool_call_id": f"c{n}", "output": output}
    return [("assistant", "", [call]), ("tool", output, [done])]


def test_a_tool_call_holds_the_words_of_the_prompt_that_set_its_turn_going(db: Database) -> None:
    # The word the question turns on ("audit") is only in the prompt, 30 entries before the
    # command whose output answers it: out of reach of the entries read around a match.
    rows: list[Row] = [
        ("user", "Can you audit this codebase?", None),
        ("assistant", "I'll start with the layout.", None),
    ]
    for n in range(14):
        rows += _tool(n, f"cat docs/chapter{n}.md", f"Chapter {n}: about the layout of part {n}")
    rows += _tool(99, "find . -name '.env*'", "./apps/web/.env\n./apps/web/.env.example")
    rows += [("assistant", "Two dotenv files are there; neither is committed.", None)]
    rows += [("user", "Now rename the settings module.", None)]
    who = _session(db, rows)
    with db.read() as conn:
        found = retrieve(conn, who.user_id, "Which .env files turned up during the audit?")
    assert not found.no_match
    first = found.passages[0]
    assert ".env.example" in "\n".join(e.text for e in first.entries)
    assert [term.stem for term in first.context] == ["audit"]
    assert "audit" not in "\n".join(e.text for e in first.entries)
    # A prompt of a later turn is not the turn's: it lends no words to what came before it.
    with db.read() as conn:
        later = retrieve(conn, who.user_id, "Which .env files did we rename in the settings?")
    assert all(
        "rename" not in [term.stem for term in p.context]
        for p in later.passages
        if ".env.example" in "\n".join(e.text for e in p.entries)
    )


def test_what_ask_wrote_in_a_files_thread_of_notes_counts_in_no_words_weight(
    db: Database,
) -> None:
    """A file's conversation may live in a thread of notes pushed to its scope before the first
    question. The questions, answers and file ask stores there are never retrieved, and a
    word they hold is not made commoner by them: its weight is that of the history alone."""
    who = _history(db)
    request = PushRequest.model_validate(
        {"device_id": str(uuid.uuid4()), "streams": [
            {"stream_id": str(uuid.uuid4()), "entries": [
                {"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-01-02T00:00:00Z",
                 "role": "assistant", "text": "Decision: the quokka retry cap is five."}],
             "thread": {"key": "note:p:retry", "name": "retry notes", "project": "p",
                        "scope": "file:docs/retry.md"}}]}
    )  # fmt: skip
    push.push(db, who, request, push.PushLimits())
    question = "What is the quokka retry cap?"

    def quokka_weight() -> float:
        with db.read() as conn:
            found = retrieve(conn, who.user_id, question, project="p")
        return found.weights["quokka"]

    alone = quokka_weight()
    about = ask_service.About("docs/retry.md", "The quokka retry cap: see the notes.\n")
    for _ in range(3):
        asked = ask_service.answer(
            db, who, ask_service.Question(question, project="p", about=about)
        )
        assert not asked.no_match
    with db.read() as conn:
        kinds = {row.kind for row in conn.execute(sa.select(threads.c.kind))}
    assert kinds == {"note"}, "the conversation is kept in the thread of notes"
    assert quokka_weight() == alone == w.weight(1)


def test_a_turns_prompt_is_found_through_the_index_of_prompts_however_far_back(
    db: Database,
) -> None:
    # An agent's long run: one prompt, then 400 calls and results. The walk back to the prompt
    # reads the partial index of prompts (migration 0016), not the 800 rows in between.
    rows: list[Row] = [("user", "Profile the importer please.", None)]
    for n in range(400):
        rows += _tool(n, f"wc -l part{n}.csv", f"{n} lines")
    who = _session(db, rows)
    with db.read() as conn:
        last = conn.execute(
            sa.text("SELECT entry_uuid FROM entries WHERE user_id = :u ORDER BY pk DESC LIMIT 1"),
            {"u": who.user_id},
        ).scalar_one()
        found = entry_service.prompts_before(conn, who.user_id, [last], ask_service.TURN_LOOKBACK)
        assert [row.text for row in found[last]] == ["Profile the importer please."]
        target = conn.execute(
            sa.text("SELECT thread_id, ts, pk FROM entries WHERE entry_uuid = :e"), {"e": last}
        ).one()
        statement, params = entry_service._per_target(
            entry_service._PROMPTS, [target], {"back": ask_service.TURN_LOOKBACK}
        )
        explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
        plan = conn.execute(sa.text(explain + statement.text), params).all()
    assert "ix_entries_thread_prompts" in " ".join(str(row[-1]) for row in plan)
