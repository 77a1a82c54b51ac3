"""Which words are everyday English: the words a question is asked *in*, rather than about.

The point of a question is rarely an everyday word. In "which embedding model did we pick as
the most diverse?" the point is *embedding* and *diverse*; *pick* is how it is asked, and the
history may say *chose* or *went with* instead. Weighing a term only by how rare it is in the
history (:mod:`threadline.recall.weights`) would make *pick* weigh most exactly when the
history never says it, and sink the passage that answers. A word the language itself uses
often carries little of a question's point wherever it appears; a word the language rarely
uses (*Sentry*, *shard*, *Django*) is what the question is about, and its absence from the
history means the history does not answer.

The frequencies are pyspellchecker's English word list (word counts from a large corpus of
everyday English, shipped inside its wheel; nothing is downloaded). They load once, on the
first question a process weighs (about 0.3 s and 20 MB).

A word is everyday when it occurs at least :data:`EVERYDAY_PER_MILLION` times per million
words of that list — *pick*, *nearly*, *coming*, *size*, *join* are; *leak*, *torch*,
*session*, *cache*, *shard* and names the list lacks are not.
"""

from __future__ import annotations

import functools

#: Occurrences per million words from which a word is everyday English (Zipf 4.0).
EVERYDAY_PER_MILLION = 10.0
#: Occurrences per million words under which a word is rare English (Zipf 3.0): *shard*,
#: *flaky*, *liveness* are; *laptop*, *staging*, *deploy* are not.
RARE_PER_MILLION = 1.0


@functools.cache
def _counts() -> tuple[dict[str, int], int]:
    """The English word counts and their total (loaded on first use)."""
    from spellchecker import SpellChecker

    frequency = SpellChecker(language="en", distance=1).word_frequency
    return frequency.dictionary, frequency.total_words


def per_million(word: str) -> float:
    """How many times in a million words of everyday English ``word`` occurs (0: never)."""
    counts, total = _counts()
    return 1e6 * counts.get(word.lower(), 0) / total if total else 0.0


def is_everyday(word: str) -> bool:
    """Whether ``word`` is everyday English (see the module doc)."""
    return per_million(word) >= EVERYDAY_PER_MILLION


def is_rare(word: str) -> bool:
    """Whether ``word`` is rare English (or no English at all): what a question is about, and
    a word the history would hold if it answered it."""
    return per_million(word) < RARE_PER_MILLION
