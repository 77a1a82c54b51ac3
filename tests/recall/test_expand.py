"""The bounds of :mod:`threadline.recall.expand`: what a model is sent for search words, and
how its reply is read (plain words only, bounded). Pure; the calls themselves are tested
against stub endpoints in ``tests/ask/test_expand.py``."""

from __future__ import annotations

from threadline.recall import expand


def test_the_prompt_holds_the_question_and_the_newest_earlier_questions() -> None:
    earlier = [f"question {n} " + "x" * 900 for n in range(5)]
    built = expand.build("Why did logins fail?", earlier)
    assert built.system == expand.SYSTEM
    (message,) = built.messages
    text = message["content"]
    assert text.endswith(f"{expand.QUESTION_LABEL}\nWhy did logins fail?")
    assert "question 1" not in text and all(f"question {n}" in text for n in (2, 3, 4))
    assert "x" * (expand.MAX_EARLIER_CHARS + 1) not in text
    assert expand.build("Q?").messages[0]["content"] == f"{expand.QUESTION_LABEL}\nQ?"


def test_the_reply_is_read_as_plain_bounded_words() -> None:
    reply = "Here: `redis`, **cache**; session_store rm -rf / " + "a" * 41 + " evict"
    words = [term.word for term in expand.parse(reply)]
    assert words == ["redis", "cache", "session", "store", "session_store", "rm", "rf", "evict"]
    many = " ".join(f"word{n}x" for n in range(50))
    assert len(expand.parse(many)) == expand.MAX_EXPANSION_TERMS
    late = "a " * expand.MAX_REPLY_CHARS + "zeppelin"
    assert expand.parse(late) == []
