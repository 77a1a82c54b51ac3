"""The words of a question that matter.

A question's *content terms* are its words (letters and digits; ``rate-limit``,
``os.path.join`` and ``snake_case`` split into their parts, ``camelCase`` split too and kept
whole) without the :data:`STOP_WORDS` — function words and the scaffolding of a question
("what did we decide about …") — stemmed with the Snowball English stemmer, so ``caching``
matches ``cache`` and ``limits`` matches ``limiter``; the past forms of irregular verbs the
stemmer does not know (``ran``, ``kept``, ``wrote``) are read as their base form first
(:data:`IRREGULAR`). Words of one character are dropped; at most :data:`MAX_TERMS` distinct
terms are kept, in the order they appear.

A *compound* — a name written with separators inside it, such as ``rate-limit``,
``os.path.join``, ``src/auth/login.py``, ``POOL_SIZE`` or ``create-next-app`` — is also a term
of its own, after its parts: a text holds it when its parts stand next to each other, in that
order (:func:`holds`). Its parts are often common words; the compound rarely is, so a passage
holding ``limit`` and ``rate`` somewhere no longer passes for one about ``rate-limit``.

How much each term matters, and so which passages are relevant, is decided by
:mod:`threadline.recall.weights` from how often the history holds it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
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
    aren couldn didn doesn don hadn hasn haven isn ll mustn shouldn ve wasn weren won wouldn
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[^\W_]+")
#: A run of non-blank characters of a question, and what a compound may be separated by.
_TOKEN = re.compile(r"[^\s'’\"`()\[\]{}<>,;!?]+")
_SEPARATED = re.compile(r"[^\W_]+(?:[-./\\:@#_+~=]+[^\W_]+)+")
#: An English word made with a prefix and a hyphen (``re-export``, ``pre-flight``,
#: ``multi-tenant``): written in more than one way (``reexport``, ``re export``), it is a word
#: of the language, not a name, and is not a compound.
_PREFIXED = re.compile(
    r"(?i)(?:anti|auto|co|counter|cross|de|inter|multi|non|over|post|pre|re|self|semi|sub|"
    r"super|un|under)-[a-z]+"
)
#: A compound has at most this many parts (a long path is matched by its last ones).
MAX_COMPOUND_PARTS = 6

#: Past forms of common irregular verbs, read as the base form (Snowball stems suffixes
#: only: it leaves ``ran`` and ``kept`` apart from ``run`` and ``keep``). Forms that are
#: also common words of their own in software (``bit``, ``bound``, ``led``, ``lit``, ``won``,
#: ``went`` and ``gone`` — Go is a language)
#: are left out.
IRREGULAR = {
    "ran": "run", "reran": "rerun", "wrote": "write", "written": "write", "rewrote": "rewrite",
    "rewritten": "rewrite", "broke": "break", "broken": "break", "chose": "choose",
    "chosen": "choose", "took": "take", "taken": "take", "gave": "give", "given": "give",
    "began": "begin", "begun": "begin", "sent": "send",
    "spent": "spend", "lost": "lose", "held": "hold", "kept": "keep", "built": "build",
    "rebuilt": "rebuild", "brought": "bring", "bought": "buy", "caught": "catch",
    "taught": "teach", "sought": "seek", "fell": "fall", "fallen": "fall", "forgot": "forget",
    "forgotten": "forget", "froze": "freeze", "frozen": "freeze", "grew": "grow", "grown": "grow",
    "hid": "hide", "hidden": "hide", "meant": "mean", "met": "meet", "paid": "pay", "rose": "rise",
    "risen": "rise", "sat": "sit", "saw": "see", "seen": "see", "shook": "shake",
    "shaken": "shake", "shot": "shoot", "slept": "sleep", "sold": "sell", "spoke": "speak",
    "spoken": "speak", "stood": "stand", "stole": "steal", "stolen": "steal", "stuck": "stick",
    "struck": "strike", "threw": "throw", "thrown": "throw", "understood": "understand",
    "woke": "wake", "woken": "wake", "wore": "wear", "worn": "wear", "dealt": "deal",
    "drew": "draw", "drawn": "draw", "drove": "drive", "driven": "drive", "fed": "feed",
    "felt": "feel", "flew": "fly", "flown": "fly", "hung": "hang", "heard": "hear", "lent": "lend",
    "overrode": "override", "overridden": "override", "undid": "undo", "undone": "undo",
    "redid": "redo", "redone": "redo", "withdrew": "withdraw", "withdrawn": "withdraw",
    "ate": "eat", "eaten": "eat", "blew": "blow", "blown": "blow", "swore": "swear",
    "sworn": "swear", "forbade": "forbid", "forbidden": "forbid", "mistook": "mistake",
    "mistaken": "mistake", "overwrote": "overwrite", "overwritten": "overwrite",
    "upheld": "uphold", "withheld": "withhold", "spun": "spin", "swept": "sweep", "wept": "weep",
    "fought": "fight", "fled": "flee", "knelt": "kneel", "leapt": "leap", "rode": "ride",
    "ridden": "ride", "rang": "ring", "rung": "ring", "sang": "sing", "sung": "sing",
    "sank": "sink", "sunk": "sink", "shrank": "shrink", "slid": "slide", "strove": "strive",
    "swam": "swim", "swung": "swing", "tore": "tear", "torn": "tear", "trod": "tread",
    "wove": "weave", "woven": "weave",
}  # fmt: skip
_FORMS: dict[str, tuple[str, ...]] = {}
for _past, _base in IRREGULAR.items():
    _FORMS[_base] = (*_FORMS.get(_base, ()), _past)
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_STEMMER = snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Term:
    """One content term: its stem (what is matched) and the word as the question wrote it.

    A compound's ``stem`` is the stems of its parts with a blank between them (never the
    stem of one word), and its ``word`` the compound as written, in lower case (which the
    search reads as a phrase)."""

    stem: str
    word: str

    @property
    def compound(self) -> bool:
        return " " in self.stem


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lowercase ``word`` (digits and short words as they are; an
    irregular past form as its base form's stem)."""
    word = IRREGULAR.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    return str(_STEMMER.stemWord(word))


def forms(word: str) -> tuple[str, ...]:
    """The other written forms of ``word`` that :data:`IRREGULAR` gives the same stem
    (``ran`` → ``run``; ``keep`` → ``kept``), for searching an index that does not know them."""
    base = IRREGULAR.get(word, word)
    return tuple(f for f in (base, *_FORMS.get(base, ())) if f != word)


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
    for token in _TOKEN.findall(question[:MAX_SCANNED_CHARS]):
        found = [Term(stem(w), w) for w in words(token) if w not in STOP_WORDS]
        whole = _compound(token)
        if whole is not None:
            found.append(whole)
        for term in found:
            if term.stem not in terms:
                terms[term.stem] = term
            if len(terms) == MAX_TERMS:
                return list(terms.values())
    return list(terms.values())


def _compound(token: str) -> Term | None:
    """The compound ``token`` is or holds (its longest run of separated parts), if any: at
    least two parts, two of them of two characters or more; a longer run keeps its last
    :data:`MAX_COMPOUND_PARTS` parts (a path's file name and the folders nearest it)."""
    runs = _SEPARATED.findall(token)
    if not runs:
        return None
    run = max(runs, key=len)
    parts = [part.lower() for part in _WORD.findall(run)][-MAX_COMPOUND_PARTS:]
    if _PREFIXED.fullmatch(run):
        return None
    if sum(len(part) > 1 for part in parts) < 2:
        return None
    word = f'"{" ".join(parts)}"' if len(parts) < len(_WORD.findall(run)) else run.lower()
    return Term(" ".join(stem(part) for part in parts), word)


@functools.lru_cache(maxsize=512)
def stems(text: str) -> frozenset[str]:
    """The stems of every word of ``text`` (what terms are matched against); the last texts
    asked about are remembered (an entry is often in more than one passage)."""
    return frozenset(stem(w) for w in words(text))


@functools.lru_cache(maxsize=512)
def sequence(text: str) -> str:
    """The stems of the words of ``text`` in order (``RateLimiter`` as one word), each between
    blanks: a compound's parts stand next to each other in it when the text holds it."""
    return " " + " ".join(stem(w.lower()) for w in _WORD.findall(text[:MAX_SCANNED_CHARS])) + " "


def holds(term: Term, text: str) -> bool:
    """Whether ``text`` holds ``term``: its stem, or a compound's parts side by side."""
    if term.compound:
        return f" {term.stem} " in sequence(text)
    return term.stem in stems(text)


def found_in(terms: Iterable[Term], texts: Iterable[str]) -> list[Term]:
    """The ``terms`` that one of ``texts`` holds (:func:`holds`), in order."""
    every = list(texts)
    return [term for term in terms if any(holds(term, text) for text in every)]


def matched(terms: list[Term], text_stems: frozenset[str]) -> list[Term]:
    """The single-word ``terms`` found in a text given by its :func:`stems` (compounds need
    the text itself: :func:`found_in`)."""
    return [t for t in terms if t.stem in text_stems]
