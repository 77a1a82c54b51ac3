"""The words of a question that matter.

A question's *content terms* are its words (letters and digits; ``rate-limit``,
``os.path.join`` and ``snake_case`` split into their parts, ``camelCase`` split too and kept
whole) without the :data:`STOP_WORDS` — function words and the scaffolding of a question
("what did we decide about …") — stemmed with the Snowball English stemmer, so ``caching``
matches ``cache`` and ``limits`` matches ``limiter``; the irregular forms of verbs the
stemmer does not know (``ran``, ``kept``, ``wrote``, ``learnt``) are read as their base form
first, from the lemma table of the LemmInflect lemmatizer (:func:`_irregular`; a few that are
mostly words of their own in software text are kept as written, :data:`KEPT_AS_WRITTEN`).
Words of one character are dropped; at most :data:`MAX_TERMS` distinct terms are kept, in the
order they appear.

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
import gzip
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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

#: Irregular verb forms the lemmatizer knows that are kept as written: in software text they
#: are mostly words of their own (``bit``, ``bound``, ``led``, ``lit``, ``left``, ``won``;
#: ``went`` and ``gone`` — Go is a language).
KEPT_AS_WRITTEN = frozenset({"bit", "bound", "led", "lit", "left", "won", "went", "gone"})
#: The lemma table LemmInflect ships (from the SPECIALIST Lexicon): ``form,category,lemmas``.
_LEMMA_TABLE = ("resources", "lemma_lu.csv.gz")
_VERB_LINE = re.compile(rb"^([a-z]+),verb,([a-z/-]+)$", re.MULTILINE)
#: A regular inflection: the base's letters (its last one dropped, ``bak|ing``, or doubled,
#: ``stopp|ed``), then an ending; the stemmer already reads these as their verb.
_REGULAR = (
    (0, ("s", "es", "ed", "ing", "ked", "king")),
    (-1, ("ed", "ing", "ied", "ies")),
    (1, ("ed", "ing")),
)


@dataclass(frozen=True)
class _Irregular:
    """The irregular forms of English verbs: each form's base (``ran`` → ``run``), each
    base's forms (``keep`` → ``kept``)."""

    base: dict[str, str]
    forms: dict[str, tuple[str, ...]]


@functools.cache
def _irregular() -> _Irregular:
    """The irregular verb forms of LemmInflect's lemma table (read once, on first use).

    A form is taken when it is not a base form itself (``saw``, ``found``, ``lay`` are
    ambiguous and stay as written), not a regular inflection of its base (``programmed``),
    and not in :data:`KEPT_AS_WRITTEN`. The table is read as a file, without importing the
    package (whose import loads numpy for its guesses at unknown words, which are not used):
    about 0.1 s once per process, against about a second for the package's own loader."""
    base: dict[str, str] = {}
    forms: dict[str, tuple[str, ...]] = {}
    for match in _VERB_LINE.finditer(_lemma_bytes()):
        form = match.group(1).decode()
        lemmas = match.group(2).decode().split("/")
        lemma = next((lemma for lemma in lemmas if lemma.isalpha()), None)
        if lemma is None or form in lemmas or form in KEPT_AS_WRITTEN or form in base:
            continue
        if any(_regular(form, one) for one in lemmas):
            continue
        base[form] = lemma
        forms[lemma] = (*forms.get(lemma, ()), form)
    return _Irregular(base, forms)


@functools.cache
def _lemma_bytes() -> bytes:
    """LemmInflect's lemma table, decompressed once for both of its readers
    (:func:`_irregular` and :func:`_lexicon`)."""
    return gzip.decompress(_lemma_table().read_bytes())


def _lemma_table() -> Path:
    """Where LemmInflect's lemma table is (found without importing the package)."""
    spec = importlib.util.find_spec("lemminflect")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]).joinpath(*_LEMMA_TABLE) if folders else None
    if path is None or not path.is_file():
        raise RuntimeError(
            "threadline needs the lemmatizer lemminflect (0.2.x) and its lemma table "
            f"{'/'.join(_LEMMA_TABLE)}, which were not found: reinstall threadline "
            "(pip install --force-reinstall threadline) or install lemminflect"
        )
    return path


def _regular(form: str, lemma: str) -> bool:
    """Whether ``form`` is a regular inflection of ``lemma`` (``mocked``, ``baked``,
    ``baking``, ``tried``, ``stopped``, ``picnicked``, ``programmed`` of *programme*)."""
    if form == lemma + "d" and lemma.endswith("e"):
        return True
    for change, endings in _REGULAR:
        root = lemma[:-1] if change < 0 else lemma + lemma[-1] * change
        if change < 0 and lemma[-1] not in "ey":
            continue
        if form.startswith(root) and form[len(root) :] in endings:
            return True
    return False


_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
#: PyStemmer's C stemmer when it is installed (a dependency on CPython: the same stems, about
#: ten times faster — ask stems the words of every candidate it reads), else pure Python.
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


@functools.cache
def _lexicon() -> frozenset[str]:
    """Every word form of LemmInflect's lemma table (about 69,000: English words of every
    kind, not names), read on first use."""
    text = _lemma_bytes().decode().lower()
    known: set[str] = set()
    for line in text.splitlines():
        form, _, lemmas = line.split(",", 2)
        known.add(form)
        known.update(lemmas.split("/"))
    return frozenset(known)


def is_name(term: Term) -> bool:
    """Whether ``term`` names something rather than saying it in English: a compound
    (``moment.js``, ``user_events``) or a word the English lexicon does not hold
    (``kafka``, ``django``)."""
    return term.compound or term.word not in _lexicon()


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of a lowercase ``word`` (digits and short words as they are; an
    irregular past form as its base form's stem)."""
    word = _irregular().base.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    return str(_STEMMER.stemWord(word))


def forms(word: str) -> tuple[str, ...]:
    """The other written forms of ``word`` that an irregular verb gives the same stem
    (``ran`` → ``run``; ``keep`` → ``kept``), for searching an index that does not know them."""
    irregular = _irregular()
    base = irregular.base.get(word, word)
    return tuple(f for f in (base, *irregular.forms.get(base, ())) if f != word)


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
