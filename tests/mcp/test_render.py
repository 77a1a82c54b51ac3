"""How an entry is cut to size for an agent: its parts share the budget, and a long part is
shown around the words looked for."""

from __future__ import annotations

from threadline.mcpserver import render


def test_parts_share_the_budget_short_ones_whole() -> None:
    assert render.shares([100, 5_000, 5_000], 2_100) == [100, 1_000, 1_000]
    assert render.shares([300, 40], 2_000) == [300, 40]
    assert render.shares([15_000], 20_000) == [15_000]
    assert sum(render.shares([7, 900, 3_000, 12], 1_000)) == 1_000


def test_an_entry_shows_each_long_part_in_its_share() -> None:
    entry = {
        "parts": [
            {"type": "text", "text": "Running the tests."},
            {"type": "tool_call", "name": "Bash", "input": {"command": "pytest " + "-v " * 900}},
            {"type": "tool_result", "output": "ok\n" * 1_000 + "FAILED test_refund"},
        ]
    }
    shown = render.entry_text(entry, 1_000)
    first, call, result = shown.split("\n", 2)
    assert first == "Running the tests."
    assert call.startswith("[tool call Bash] {") and call.endswith("more characters]")
    assert result.startswith("[tool result] ok\n") and "FAILED" not in result
    found = render.entry_text(entry, 1_000, find="test_refund")
    assert found.endswith("ok\nFAILED test_refund") and "characters before] …" in found
    assert render.entry_text(entry, 20_000).endswith("ok\nFAILED test_refund")


def test_find_reads_a_search_query() -> None:
    text = "alpha " * 400 + "the Token Bucket is shared " + "omega " * 400
    at = text.index("Token Bucket")
    assert render.locate(text, "token bucket") == (at, 12)
    assert render.locate(text, '"token bucket" OR limiter') == (at, 12)
    assert render.locate(text, "limiter OR bucket*") == (text.index("Bucket"), 6)
    assert render.locate(text, "omega NOT alpha") == (text.index("omega"), 5)
    assert render.locate(text, "nowhere") is None
    shown = render.excerpt(text, 100, "bucket")
    assert "Token Bucket is shared" in shown
    assert shown.startswith("[cut: ") and shown.endswith(" more characters]")
    assert render.excerpt(text, 100, "nowhere") == render.cut(text, 100)
