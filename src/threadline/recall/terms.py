"""The words of a question that matter.

A question's *content terms* are its words (letters and digits; ``rate-limit``,
``os.path.join`` and ``snake_case`` split into their parts, ``camelCase`` split too and kept
whole) without the :data:`STOP_WORDS` — function words and the scaffolding of a question
("what did we decide about …") — stemmed with the Snowball English stemmer, so ``caching``
matches ``cache`` and ``limits`` matches ``limiter``. Words of one character are dropped; at
most :data:`MAX_TERMS` distinct terms are kept, in the order they appear.

How much each term matters, and so which passages are relevant, is decided by
:mod:`threadline.recall.weights` from how often the history holds it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import snowballstemmer

#: Most distinct content terms taken from one question.
MAX_TERMS = 12
#: Characters of one text looked at when matching (tool outputs can be megabytes).
MAX_SCANNED_CHARS = 50_000

_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else ever every few for from further had has have having he her here hers him his how
    however i if in into is it its itself just let me might more most much must my myself no
    nor not now of off on once only or other our ours out over own per please same she should
    since so some such than that the their theirs them then there these they this those though
    through thus to too under until up upon us very via was we were what whatever when where
    whether which while who whom whose why will with within without would yet you your yours
    anything something everything nothing thing things way ways
    tell know show explain remember recall find found look decide decided decision say said
    talk talked discuss discussed mention mentioned think thought happen happened get got
    make made use used
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_STEMMER = snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Term:
    """One content term: its stem (what is matched) and the word as the question wrote it."""

    stem: str
    word: str


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lowercase ``word`` (digits and short words as they are)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """The lowercase words of ``text``: ``rateLimiter-v2`` → ``ratelimiter rate limiter v2``."""
    found: list[str] = []
    for token in _WORD.findall(text[:MAX_SCANNED_CHARS]):
        lower = token.lower()
        if lower != token and not token.isupper():
            parts = [p.lower() for p in _CAMEL.findall(token)]
            if len(parts) > 1:
                found.extend(parts)
        found.append(lower)
    return [w for w in found if len(w) > 1]


def content_terms(question: str) -> list[Term]:
    """The distinct content terms of ``question``, in order (see the module documentation)."""
    terms: dict[str, Term] = {}
    for word in words(question):
        if word in STOP_WORDS:
            continue
        key = stem(word)
        if key not in terms:
            terms[key] = Term(key, word)
        if len(terms) == MAX_TERMS:
            break
    return list(terms.values())


@functools.lru_cache(maxsize=512)
def stems(text: str) -> frozenset[str]:
    """The stems of every word of ``text`` (what terms are matched against); the last texts
    asked about are remembered (an entry is often in more than one passage)."""
    return frozenset(stem(w) for w in words(text))


def matched(terms: list[Term], text_stems: frozenset[str]) -> list[Term]:
    """The ``terms`` found in a text (given by its :func:`stems`)."""
    return [t for t in terms if t.stem in text_stems]
