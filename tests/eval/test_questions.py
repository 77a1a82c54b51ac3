"""The ask evaluation's question file (``benchmarks/ask_questions.json``) stays true to the real
transcripts: every answer names an entry that exists and holds text, every "paraphrased" claim
holds word for word, and there are enough questions of each kind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import ask_eval  # noqa: E402


def test_question_file_holds_for_the_real_transcripts(fixtures: Path) -> None:
    questions = ask_eval.load_questions()
    assert ask_eval.check_questions(questions, fixtures) == []
    answerable = [q for q in questions if q.answerable]
    assert len(questions) >= 40
    assert 2 * sum(q.paraphrased for q in answerable) >= len(answerable)
    assert sum(not q.answerable for q in questions) >= 10
    assert all(not q.paraphrased for q in questions if not q.answerable)
    # the answers cover many files and every kind of entry content
    assert len({a.file for q in answerable for a in q.answers}) >= 12
    kinds = {q.kind for q in answerable}
    assert {"prompt", "assistant_text", "thinking", "tool_call", "tool_result"} <= kinds


def test_the_checker_catches_a_false_paraphrase_claim(fixtures: Path, tmp_path: Path) -> None:
    questions = ask_eval.load_questions()
    literal = next(q for q in questions if q.answerable and not q.paraphrased)
    lying = ask_eval.Question(literal.id, literal.question, True, literal.kind, literal.answers)
    problems = ask_eval.check_questions([lying], fixtures)
    assert any(f"{literal.id}: shares" in p for p in problems)


def test_the_checker_catches_a_missing_line(fixtures: Path) -> None:
    a = ask_eval.Answer("claude/spotter/short.jsonl", 10_000)
    q = ask_eval.Question("made-up", "What?", False, "prompt", (a,))
    assert "made-up: claude/spotter/short.jsonl has no line 10000" in ask_eval.check_questions(
        [q], fixtures
    )


@pytest.mark.parametrize(
    ("question", "text", "shared"),
    [
        ("Which typings did we find?", "the response types", [("typings", "types")]),
        ("Who leads it?", "the team leader", [("leads", "leader")]),
        ("Why is the fetcher slow?", "useTeamFetcher hook", [("fetcher", "fetcher")]),
        ("What did we decide?", "nothing in common here", []),
    ],
)
def test_shared_words(question: str, text: str, shared: list[tuple[str, str]]) -> None:
    assert ask_eval.shared_words(question, text) == shared


def test_the_literal_question_file_holds_for_the_real_transcripts(fixtures: Path) -> None:
    questions = ask_eval.load_questions(ask_eval.HERE / "ask_literal.json")
    assert ask_eval.check_questions(questions, fixtures, strict=False) == []
    assert not any(q.paraphrased for q in questions)
    answerable = [q for q in questions if q.answerable]
    assert len(answerable) >= 40 and len(questions) - len(answerable) >= 20
    # it covers files the main set covers little
    assert len({a.file for q in answerable for a in q.answers}) >= 12


def test_the_held_out_question_file_holds_for_the_real_transcripts(fixtures: Path) -> None:
    questions = ask_eval.load_questions(ask_eval.HERE / "ask_heldout.json")
    # not the project's own file (fewer than half paraphrased), but every claim still holds:
    # answers exist and hold text, paraphrased questions share no word with their answers
    assert ask_eval.check_questions(questions, fixtures, strict=False) == []
    answerable = [q for q in questions if q.answerable]
    literal = [q for q in answerable if not q.paraphrased]
    paraphrased = [q for q in answerable if q.paraphrased]
    assert len(questions) >= 60
    assert len(literal) >= 25 and len(paraphrased) >= 12
    assert len(questions) - len(answerable) >= 12
    assert all(not q.paraphrased for q in questions if not q.answerable)
    assert all(q.id.startswith("ho-") for q in questions)
    # spread over both agents, subagent transcripts and every kind of entry content
    files = {a.file for q in answerable for a in q.answers}
    assert len(files) >= 14
    assert {f.split("/")[0] for f in files} == {"claude", "codex"}
    assert any("/subagents/" in f for f in files)
    kinds = {q.kind for q in answerable}
    assert {"prompt", "assistant_text", "thinking", "tool_call", "tool_result"} <= kinds


def test_the_checker_holds_paraphrase_claims_in_any_question_file(fixtures: Path) -> None:
    questions = ask_eval.load_questions(ask_eval.HERE / "ask_heldout.json")
    literal = next(q for q in questions if q.answerable and not q.paraphrased)
    lying = ask_eval.Question(literal.id, literal.question, True, literal.kind, literal.answers)
    problems = ask_eval.check_questions([lying], fixtures, strict=False)
    assert any(f"{literal.id}: shares" in p for p in problems)
