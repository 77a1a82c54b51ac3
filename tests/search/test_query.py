"""Reading queries and cutting snippets: pure functions, no database."""

from __future__ import annotations

import pytest

from threadline.errors import ValidationFailed
from threadline.search.engine import fts5_match, trigram_match, tsquery
from threadline.search.query import MAX_QUERY_CHARS, MAX_WORDS, parse
from threadline.search.text import searchable_text, snippet
from threadline.storage.search_index import code_text


def words(query: str) -> list[list[tuple[str, ...]]]:
    return [[term.words for term in group] for group in parse(query).groups]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("rate-limit", [[("rate", "limit")]]),
        ("os.path.join", [[("os", "path", "join")]]),
        ("src/auth/login.py", [[("src", "auth", "login", "py")]]),
        ('"quoted phrase" word', [[("quoted", "phrase")], [("word",)]]),
        ("Mixed CASE", [[("mixed",)], [("case",)]]),
        ("snake_case_name", [[("snake", "case", "name")]]),
        ("a OR b c", [[("a",), ("b",)], [("c",)]]),
        ("OR OR a AND", [[("a",)]]),
        ("NOT x", [[("not",)], [("x",)]]),
        ("NOT FOUND", [[("not",)], [("found",)]]),
        ("NOT", [[("not",)]]),
        ("AND OR NOT", [[("and",)], [("or",)], [("not",)]]),
        ('"unclosed quote', [[("unclosed", "quote")]]),
        ("café 日本語", [[("café",)], [("日本語",)]]),
    ],
)
def test_terms(typed: str, expected: list[list[tuple[str, ...]]]) -> None:
    assert words(typed) == expected


def test_prefix_needs_three_characters() -> None:
    assert parse("auth*").groups[0][0].prefix
    assert parse('"src auth"*').groups[0][0].prefix
    assert not parse("ab*").groups[0][0].prefix


def test_not_excludes_only_after_a_positive_term() -> None:
    query = parse("cache NOT redis")
    assert [t.words for t in query.excluded] == [("redis",)]
    assert query.needles is None, "no substring form with an exclusion"


def test_needles_are_what_was_typed_without_surrounding_punctuation() -> None:
    assert parse("getUser (RateLimiter), src/a.py").needles == (
        "getuser",
        "ratelimiter",
        "src/a.py",
    )
    assert parse("===").needles == ("===",)
    assert not parse("===").has_words


@pytest.mark.parametrize(
    "typed", ["", "   ", "\t\n", "->", "()", '""', "x" * (MAX_QUERY_CHARS + 1), "a\x00b"]
)
def test_refused_with_a_clear_error(typed: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(typed)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_query"


def test_too_many_words() -> None:
    with pytest.raises(ValidationFailed, match="words"):
        parse(" ".join(f"w{i}" for i in range(MAX_WORDS + 1)))


def test_database_syntax_quotes_every_word() -> None:
    query = parse('rate-limit OR "os path" NOT auth* x"y')
    assert fts5_match(query) == '(("rate limit" OR "os path") AND ("x") AND ("y")) NOT ("auth"*)'
    assert tsquery(query) == (
        "( ( ( 'rate' <-> 'limit' ) | ( 'os' <-> 'path' ) ) & ( ( 'x' ) ) & ( ( 'y' ) ) )"
        " & !( ( 'auth':* ) )"
    )
    assert trigram_match(('a"bc',)) == '"a""b" AND """bc"'
    assert trigram_match(("ab",)) is None


def test_searchable_text_adds_tool_calls() -> None:
    parts = '[{"type":"tool_call","name":"Bash","input":{"command":"ls -la","n":3,"x":[true]}}]'
    assert searchable_text("", parts) == "Bash ls -la 3 true"
    assert searchable_text("hello", parts) == "hello\nBash ls -la 3 true"
    assert searchable_text("hello", None) == "hello"
    assert searchable_text("hello", "not json") == "hello"
    assert code_text("tool", "output -v2", parts) == "-la", "tool output has no substrings"


def test_code_text_keeps_code_like_tokens_once() -> None:
    text = (
        "The RateLimiter in (src/auth/login.py:42), os.path.join and snake_case; "
        "sha256, rate-limit, getUser, JSONDecodeError — not plain words, JSON, It's or 42."
    )
    assert code_text("user", text + " RateLimiter", None).split("\n") == [
        "ratelimiter", "src/auth/login.py:42", "os.path.join", "snake_case", "sha256",
        "rate-limit", "getuser", "jsondecodeerror",
    ]  # fmt: skip
    assert code_text("user", "x" * 300 + "_y a_", None) == "", "too long, too short"


def marked(text: str, query: str, substring: bool = False) -> tuple[str, list[str]]:
    cut = snippet(text, parse(query), substring=substring)
    return cut.text, [cut.text[a:b] for a, b in cut.highlights]


def test_snippet_marks_words_phrases_and_prefixes() -> None:
    text = "We hit the rate-limit bug in os.path.join when calling src/auth/login.py."
    assert marked(text, "rate-limit")[1] == ["rate-limit"]
    assert marked(text, "os.path.join login")[1] == ["os.path.join", "login"]
    assert marked(text, "auth*")[1] == ["auth"]
    assert marked(text, "RATE")[1] == ["rate"]
    assert marked(text, "limiter")[1] == []
    assert marked("class RateLimiter:", "limiter", substring=True)[1] == ["Limiter"]


def test_snippet_cuts_around_the_best_match_and_folds_whitespace() -> None:
    text = "filler " * 100 + "the   needle\n\nis here " + "tail " * 100
    shown, matched = marked(text, "needle")
    assert shown.startswith("…") and shown.endswith("…")
    assert "needle is here" in shown and matched == ["needle"]
    assert len(shown) < 260


def test_snippet_without_a_match_is_the_start() -> None:
    shown, matched = marked("short text", "absent")
    assert (shown, matched) == ("short text", [])
