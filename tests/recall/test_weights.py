"""The term weights of :mod:`threadline.recall.weights`: rarity in the history decides how much
a question's word counts, and the weighted rule keeps the plain rule's "half"."""

from __future__ import annotations

import math

from threadline.recall import weights as w


def test_a_term_the_history_never_holds_weighs_most_and_a_common_one_least() -> None:
    assert w.weight(0) > w.weight(1) > w.weight(10) > w.weight(100)
    assert w.weight(0) == math.log1p(w.DEFAULT_CAP / 0.5)
    # past the cap a term is simply common
    assert w.weight(1000) == w.weight(w.DEFAULT_CAP)
    assert w.weight(-3) == w.weight(0)


def test_equal_weights_give_the_plain_rule_half_of_the_terms() -> None:
    same = w.weights({"cach": 40, "evict": 40, "polici": 40, "redi": 40})
    assert w.is_relevant(same, {"cach", "polici"})
    assert not w.is_relevant(same, {"cach"})


def test_a_missing_rare_term_outweighs_the_common_ones_found() -> None:
    # "What Sentry DSN did we configure for error reporting?" against a history that never
    # mentions Sentry: the passage holding the three common words is not an answer
    counts = {"sentri": 0, "dsn": 0, "configur": 16, "error": 100, "report": 2}
    found = {"configur", "error", "report"}
    assert not w.is_relevant(w.weights(counts), found)
    # while one holding the rare words is, without the common ones
    assert w.is_relevant(w.weights(counts), {"sentri", "dsn"})


def test_share_and_held_count_each_term_once_and_ignore_strangers() -> None:
    tw = w.weights({"a": 100, "b": 100})
    assert w.held(tw, ["a", "a", "zzz"]) == tw["a"]
    assert w.share(tw, ["a", "b"]) == 1.0
    assert w.share({}, ["a"]) == 0.0
    assert not w.is_relevant({}, ["a"])


def test_a_second_wording_is_weighed_apart_from_the_question() -> None:
    # a paraphrase ("abandon the key-value store") the history never holds, and a model's
    # search words for it ("redis cache evicted") that the passage does hold
    counts = {"abandon": 0, "key": 0, "valu": 0, "redi": 3, "cach": 5, "evict": 2}
    weights = w.weights(counts)
    found = {"redi", "cach", "evict"}
    asked, rewritten = ["abandon", "key", "valu"], ["redi", "cach", "evict"]
    assert not w.is_relevant(weights, found)  # together, the missing words sink it
    assert w.is_relevant_to_any(weights, [asked, rewritten], found)
    assert not w.is_relevant_to_any(weights, [asked, rewritten], {"cach"})
    assert not w.is_relevant_to_any(weights, [asked], found)
    assert not w.is_relevant_to_any(weights, [], found)


def test_a_name_the_history_holds_nowhere_weighs_double_in_the_rule() -> None:
    # "How did we migrate from moment.js to date-fns?": every word but the library's name is
    # in the history; the passage holding them is no answer once the name counts double
    counts = {"migrat": 11, "moment": 5, "js": 100, "moment js": 0, "date": 35, "fns": 2}
    counts["date fns"] = 2
    found = {"migrat", "js", "date", "fns", "date fns"}
    weights = w.weights(counts)
    assert w.is_relevant(weights, found)
    rule = w.against_absent(weights, {"moment js"})
    assert rule["moment js"] == w.ABSENT_NAME_FACTOR * weights["moment js"] == 2 * w.weight(0)
    assert {k: v for k, v in rule.items() if k != "moment js"} == {
        k: v for k, v in weights.items() if k != "moment js"
    }
    assert not w.is_relevant(rule, found)
    assert w.against_absent(weights, []) == weights


def test_an_everyday_word_weighs_least_even_where_the_history_never_says_it() -> None:
    # "Which embedding model did we pick as the most diverse?" against a history that says
    # "chose" and writes "embedding" and "model" everywhere: "pick" is how it is asked
    counts = {"embed": 100, "model": 100, "pick": 0, "divers": 4}
    found = {"embed", "model", "divers"}
    assert not w.is_relevant(w.weights(counts), found)
    weights = w.weights(counts, everyday={"pick", "model"})
    assert weights["pick"] == weights["model"] == w.weight(w.DEFAULT_CAP)
    assert weights["divers"] == w.weight(4)
    assert w.is_relevant(weights, found)


def test_a_rare_word_the_history_never_holds_still_sinks_the_passage() -> None:
    # "What pool size did we give the Redis connection?": the history has pools, sizes and
    # connections (everyday words), never Redis
    counts = {"pool": 3, "size": 30, "redi": 0, "connect": 20}
    everyday = {"pool", "size", "connect"}
    assert w.is_relevant(w.weights(counts), {"pool", "size", "connect"})
    assert not w.is_relevant(w.weights(counts, everyday=everyday), {"pool", "size", "connect"})
