"""Literal questions about the real transcripts, asked through ``POST /api/v1/ask`` of a real
server: a name written as code (``rate-limit``, ``src/auth/login.py``, ``create-next-app``) is
looked for whole, so parts of it scattered in the history answer nothing; the past form of an
irregular verb finds its verb; and every quote of an answer is in the entry its citation opens,
a tool's result being cited when it holds what the question asks and its call does not."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.ask.conftest import Site
from tests.ask.test_ask_api import answered
from threadline.recall import terms as t

_QUOTE = re.compile(r"^- “(?P<quote>.*)” \[(?P<n>\d+)\]$")


def cited_entries(site: Site, answer: dict[str, Any]) -> dict[int, str]:
    """Citation number → everything searchable of the entry it opens."""
    found: dict[int, str] = {}
    for c in answer["citations"]:
        rows = [e for e in site.entries(site.alice, c["thread_id"]) if e["id"] == c["entry_id"]]
        assert rows, c
        found[c["n"]] = rows[0]["text"] + "\n" + json.dumps(rows[0]["parts"], ensure_ascii=False)
    return found


@pytest.mark.parametrize(
    "question",
    [
        # The history holds "rate", "limit", "auth", "login", "path" and "join" — never these.
        "How did we fix the rate-limit bug?",
        "rate-limit",
        "What did we change in src/auth/login.py?",
        "Why is os.path.join slow?",
    ],
)
def test_a_name_written_as_code_is_looked_for_whole(site: Site, question: str) -> None:
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    assert answer["no_match"] is True, answer["answer"]
    assert answer["citations"] == []


def test_a_name_written_as_code_finds_the_entries_holding_it(site: Site) -> None:
    question = "Which flags did we pass to create-next-app for the todo app?"
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    texts = cited_entries(site, answer).values()
    assert any("create-next-app@latest todo-app --typescript" in text for text in texts)


def test_the_past_form_of_an_irregular_verb_finds_the_verb(site: Site) -> None:
    # The answer says "Kept model as …"; the stemmer alone never relates "keep" and "kept".
    question = "What did the /model command keep the model as?"
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    assert any("Kept model as" in text for text in cited_entries(site, answer).values())


@pytest.mark.parametrize(
    "question",
    [
        "Which conda environment did we create for ai-music?",
        "Which command ran the NavUser tests?",
        "How did xterm scrolling work with tmux?",
        "Why did Edit and Write keep failing with 'File has not been read yet'?",
    ],
)
def test_every_quote_is_in_the_entry_its_citation_opens(site: Site, question: str) -> None:
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    entries = cited_entries(site, answer)
    quotes = [m for line in answer["answer"].splitlines() if (m := _QUOTE.match(line))]
    assert quotes and {int(m["n"]) for m in quotes} == set(entries)
    for quote in quotes:
        held = set(t.words(entries[int(quote["n"])]))
        assert set(t.words(quote["quote"].replace("…", " "))) <= held, quote.group(0)
    # No sentence is quoted twice, and a citation's snippet shows the first one quoted of it.
    assert len({m["quote"].lower() for m in quotes}) == len(quotes)
    first = {int(m["n"]): m for m in reversed(quotes)}
    for c in answer["citations"]:
        said = t.words(first[c["n"]]["quote"].split("…")[0])[:4]
        assert set(said) <= set(t.words(c["snippet"])), (first[c["n"]].group(0), c)


def test_a_tool_result_holding_the_finding_is_cited_rather_than_its_call(site: Site) -> None:
    # The call greps mix.lock; its result holds the version the question asks for.
    question = "Which version of ash is locked in mix.lock?"
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    texts = list(cited_entries(site, answer).values())
    assert any('{:hex, :ash, "3.16.0"' in text for text in texts), texts


def test_an_everyday_word_the_history_never_says_does_not_sink_the_answer(site: Site) -> None:
    # The answer says "Top 3 Most Diverse Models Found: all-roberta-large-v1 …"; nothing in
    # the project says "pick". Weighed by its rarity in the history alone, "pick" outweighed
    # the words the answer holds and the question got "nothing found".
    question = "Which embedding model did we pick as the most diverse?"
    answer = answered(site.ask(site.alice, question=question, project="ai-music"))
    assert answer["no_match"] is False, answer["answer"]
    texts = cited_entries(site, answer).values()
    assert any("all-roberta-large-v1" in text for text in texts), answer["answer"]


def test_a_rare_word_the_history_never_holds_still_gives_nothing_found(site: Site) -> None:
    # The history has pools, sizes and connections (Ecto's), never Redis.
    question = "What pool size did we set for the Redis connection?"
    answer = answered(site.ask(site.alice, question=question, all_projects=True))
    assert answer["no_match"] is True, answer["answer"]
