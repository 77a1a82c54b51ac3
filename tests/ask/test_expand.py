"""Query expansion — the model's search words for a question — against STUB endpoints,
because no model can run here: the stub OpenAI-compatible and Anthropic servers of
:mod:`tests.ask.stubs` answer a request for search words with scripted words, and record it
apart from the requests for an answer. The Threadline server, CLI and history are real (a
small hand-written transcript), on SQLite and PostgreSQL.

Checked: a paraphrased question that shares no word with the history is answered, with the
right citation, once the model gives search words; the request for them holds the question
(and earlier questions) and no history text; a failing expansion falls back to the question's
own words; search words that match nothing still give "nothing found", without asking the
model for an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ask.conftest import Site, history_site
from tests.ask.stubs import INJECTION, StubModel, planted_session
from tests.ask.test_llm import model_env
from threadline.recall import expand

#: Shares no word with the planted transcript (which says "Redis cache", "evicted sessions").
PARAPHRASE = "What made us abandon the key-value store for user logins?"
WORDS = ["Redis cache sessions evicted"]
EVICTED = "evicted sessions under memory pressure"

CASES = [
    pytest.param(("openai", "sqlite"), id="openai-sqlite"),
    pytest.param(("anthropic", "sqlite"), id="anthropic-sqlite"),
    pytest.param(("openai", "postgresql"), id="openai-postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=CASES)
def expanding(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, StubModel]]:
    kind, backend = request.param
    stub = StubModel(kind)
    folder = tmp_path_factory.mktemp(f"expand-{kind}-{backend}")
    transcripts = planted_session(folder / "transcripts").parent
    try:
        yield from ((s, stub) for s in history_site(backend, folder, model_env(kind, stub.url),
                                                   (transcripts,)))  # fmt: skip
    finally:
        stub.close()


@pytest.fixture
def stub(expanding: tuple[Site, StubModel]) -> Iterator[StubModel]:
    model = expanding[1].reset()
    model.pieces, model.pause = ["It was evicting [1]."], 0.0
    yield model


def cited_texts(site: Site, answer: dict[str, Any]) -> list[str]:
    """The text of each cited entry."""
    texts = []
    for cited in answer["citations"]:
        kept = site.entries(site.alice, cited["thread_id"])
        texts += [e["text"] for e in kept if e["id"] == cited["entry_id"]]
    return texts


def test_a_paraphrase_is_missed_without_search_words(
    expanding: tuple[Site, StubModel], stub: StubModel
) -> None:
    site = expanding[0]
    answer = site.ask(site.alice, question=PARAPHRASE, all_projects=True).json()
    assert answer["no_match"] is True and answer["expanded_terms"] == []
    assert len(stub.expansions) == 1 and stub.requests == []  # no answer asked for


def test_a_paraphrase_is_answered_with_the_models_search_words(
    expanding: tuple[Site, StubModel], stub: StubModel
) -> None:
    site = expanding[0]
    stub.expansion = WORDS
    answer = site.ask(site.alice, question=PARAPHRASE, all_projects=True).json()
    assert answer["no_match"] is False, answer
    assert answer["expanded_terms"] == ["redis", "cache", "sessions", "evicted"]
    assert answer["answer"] == "It was evicting [1]." and answer["mode"] == "llm"
    assert [c["n"] for c in answer["citations"]] == [1]
    assert any(EVICTED in text for text in cited_texts(site, answer))
    kept = site.entries(site.alice, answer["thread_id"])
    assert kept[-1]["meta"]["ask"]["expanded_terms"] == answer["expanded_terms"]


def test_the_request_for_search_words_holds_the_question_and_no_history(
    expanding: tuple[Site, StubModel], stub: StubModel
) -> None:
    site = expanding[0]
    stub.expansion = WORDS
    first = site.ask(site.alice, question=PARAPHRASE, all_projects=True).json()
    follow = "And what replaced it?"
    site.ask(site.alice, question=follow, thread=first["thread_id"])
    assert len(stub.expansions) == 2
    for sent in stub.expansions:
        assert sent.body["max_tokens"] == expand.MAX_TOKENS
        sent_text = json.dumps(sent.body)
        for history in ("evicted", "Redis", "PostgreSQL", INJECTION, first["answer"]):
            assert history not in sent_text
    last = stub.expansions[-1].body["messages"][-1]["content"]
    assert last.endswith(f"{expand.QUESTION_LABEL}\n{follow}")
    assert f"- {PARAPHRASE}" in last  # the earlier question, as context


def test_a_failing_expansion_falls_back_to_the_question(
    expanding: tuple[Site, StubModel], stub: StubModel
) -> None:
    site = expanding[0]
    stub.expansion_status = 500
    answer = site.ask(site.alice, question="Why did we drop the Redis cache?").json()
    assert answer["no_match"] is False and answer["expanded_terms"] == []
    # the reply that answers the prompt is cited, not the prompt that asked it
    assert any("dropped the Redis cache because" in text for text in cited_texts(site, answer))
    assert len(stub.expansions) == 1 and len(stub.requests) == 1


def test_search_words_that_match_nothing_still_find_nothing(
    expanding: tuple[Site, StubModel], stub: StubModel
) -> None:
    site = expanding[0]
    stub.expansion = ["zeppelin quaternion"]
    answer = site.ask(site.alice, question=PARAPHRASE, all_projects=True).json()
    assert answer["no_match"] is True and answer["citations"] == []
    assert answer["expanded_terms"] == ["zeppelin", "quaternion"]
    assert stub.requests == []  # the model is not asked to answer from nothing
