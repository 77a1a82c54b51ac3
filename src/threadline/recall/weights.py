"""How much each word of a question matters, from how often the history holds it — and the
one relevance rule of ask (:func:`is_relevant`), which passages and answers use.

A plain count ("half of the question's content terms") would treat every term alike, so a
passage that holds a question's common words — *configure*, *error*, *report* — would pass
for a question whose point is the one word nowhere in the history (*Sentry*). Weighting each
term by its rarity in the caller's own history (an inverse document frequency, from the
number of entries the search finds for the term alone, capped) keeps the rule's shape and
fixes that:

- a term's weight is ``log(1 + cap / (matches + ½))``: a term the history never holds weighs
  most, a term in ``cap`` entries or more weighs least (about 0.7 for a cap of 100);
- an everyday English word (*pick*, *nearly*, *coming*: :mod:`threadline.recall.english`)
  weighs least wherever it appears: it is how a question is asked, not what it is about, and
  its absence from the history must not sink the passage holding what the question is about;
- a passage is relevant when the terms it holds carry at least :data:`NEEDED_SHARE` of the
  question's total weight — for terms of equal weight that is the plain rule's "half";
- a *name* of the question — a compound (``moment.js``) or a word the English lexicon does
  not know (``Kafka``) — that the searched history holds nowhere (the search finds no entry
  for it and no passage holds it) weighs :data:`ABSENT_NAME_FACTOR` times its weight in the
  rule (:func:`against_absent`): a question about a thing the history never names is about
  something else than the passages that share its other words. So does a rare English word
  (:func:`threadline.recall.english.is_rare`: *shard*, *liveness*). Commoner words missing
  from the history are not counted so: they are how a paraphrase differs from the text it
  asks about (*laptop*, *staging*);
- a question given with other wordings (a language model's search words for it) has a
  passage relevant to any one of them (:func:`is_relevant_to_any`);
- passages rank by how many of the terms they hold, then by the weight of those, then by the
  search's own score (:mod:`threadline.recall.passages`).

Nothing here depends on one corpus or one question set: the weights come from the history
being asked, at the moment it is asked. Pure functions; the counts are the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

#: Share of a question's total term weight a relevant passage must hold.
NEEDED_SHARE = 0.5
#: How many times its weight a name the searched history holds nowhere weighs in the rule.
ABSENT_NAME_FACTOR = 2.0
#: Matches counted per term (the count is capped: past it a term is simply common).
DEFAULT_CAP = 100


def weight(matches: int, cap: int = DEFAULT_CAP) -> float:
    """The weight of a term the search finds in ``matches`` entries (counted up to ``cap``)."""
    return math.log1p(cap / (min(max(matches, 0), cap) + 0.5))


def weights(
    counts: Mapping[str, int], cap: int = DEFAULT_CAP, everyday: Collection[str] = ()
) -> dict[str, float]:
    """Each term's weight from its match count; the terms of ``everyday`` (everyday English
    words) weigh as a term found ``cap`` times, whatever their count."""
    return {term: weight(cap if term in everyday else count, cap) for term, count in counts.items()}


def held(term_weights: Mapping[str, float], found: Iterable[str]) -> float:
    """The total weight of the question's terms among ``found``."""
    return sum(term_weights.get(term, 0.0) for term in set(found))


def share(term_weights: Mapping[str, float], found: Iterable[str]) -> float:
    """The share (0–1) of the question's total weight that ``found`` holds."""
    total = sum(term_weights.values())
    return held(term_weights, found) / total if total > 0 else 0.0


def against_absent(term_weights: Mapping[str, float], absent: Iterable[str]) -> dict[str, float]:
    """The weights the rule weighs with: each term of ``absent`` (names of the question the
    history holds nowhere) at :data:`ABSENT_NAME_FACTOR` times its weight."""
    gone = set(absent)
    return {
        term: value * ABSENT_NAME_FACTOR if term in gone else value
        for term, value in term_weights.items()
    }


def is_relevant(term_weights: Mapping[str, float], found: Iterable[str]) -> bool:
    """The weighted relevance rule: ``found`` holds at least :data:`NEEDED_SHARE` of the
    question's weight (a question without terms matches nothing)."""
    return bool(term_weights) and share(term_weights, found) >= NEEDED_SHARE


def is_relevant_to_any(
    term_weights: Mapping[str, float], groups: Iterable[Iterable[str]], found: Iterable[str]
) -> bool:
    """The rule for a question asked in more than one wording (its own terms, and a language
    model's search words for it): ``found`` passes :func:`is_relevant` for at least one of
    the ``groups`` of terms, each weighed alone. Weighing them together would let a term of
    the question the history never holds (weighing most) sink every passage found through
    the other wording; weighing them apart keeps each wording's own "half"."""
    held_stems = set(found)
    for group in groups:
        wanted = {term: term_weights.get(term, 0.0) for term in group}
        if is_relevant(wanted, held_stems):
            return True
    return False
