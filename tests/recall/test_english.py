"""Everyday English words (:mod:`threadline.recall.english`): the words a question is asked
in, from the frequencies the installed word list ships."""

from __future__ import annotations

import pytest

from threadline.recall import english


@pytest.mark.parametrize("word", ["pick", "nearly", "coming", "size", "join", "Decide"])
def test_everyday_words(word: str) -> None:
    assert english.is_everyday(word)


@pytest.mark.parametrize(
    "word", ["redis", "django", "shard", "sentry", "leak", "torch", "kubernetes", "navuser", ""]
)
def test_words_a_question_is_about(word: str) -> None:
    assert not english.is_everyday(word)


def test_frequencies_are_per_million_and_zero_for_unknown_words() -> None:
    assert english.per_million("the") > 10_000
    assert english.per_million("zzzqqqxxy") == 0.0
    assert english.per_million("Pick") == english.per_million("pick")
