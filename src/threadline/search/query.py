"""What a person types into a search box, read into a :class:`Query` that cannot fail later.

The grammar is forgiving on purpose; nothing typed is ever passed to a database's own query
syntax, so no input can make a query fail:

- Words are runs of letters and digits, compared without case. Anything else separates words,
  and a term made of several words is a phrase: ``rate-limit``, ``os.path.join`` and
  ``src/auth/login.py`` match those words next to each other, in that order.
- ``"quoted text"`` is a phrase (an unclosed quote runs to the end).
- A trailing ``*`` makes the last word a prefix (``auth*``, ``"src auth"*``), from
  :data:`MIN_PREFIX_CHARS` characters on; a shorter one is a plain word.
- ``OR`` between two terms matches either; ``NOT`` before a term excludes it; ``AND`` is what
  terms do anyway. Only in capitals, only where they make sense: a stray one is dropped, and
  a query that would only exclude (``NOT sound``, ``NOT FOUND``) or is made of operators
  alone (``NOT``, ``AND OR``) searches for everything typed as words, ``not`` included —
  never for the opposite of what was typed.
- Every term must match (all the words of a query, in any order).

Each term also keeps what was typed (:attr:`Term.needle`), for substring search: a query of
plain terms finds ``Limiter`` inside ``RateLimiter`` too, after the word matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from threadline import protocol as p
from threadline.errors import ValidationFailed

#: Longest query accepted (characters).
MAX_QUERY_CHARS = p.MAX_SEARCH_QUERY_CHARS
#: Most words in one query.
MAX_WORDS = 50
#: A prefix (``abc*``) needs this many characters; ``ab*`` is the word ``ab``.
MIN_PREFIX_CHARS = 3
#: Substring search needs a term this long (trigrams of three characters find it).
MIN_SUBSTRING_CHARS = 3

_WORD = re.compile(r"[^\W_]+")
_OPERATORS = {"OR", "AND", "NOT"}


def words_of(text: str) -> list[str]:
    """The words of ``text`` as the index sees them: letters and digits, lower case."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Term:
    """One thing to find: a word, or a phrase of words next to each other."""

    #: What was typed, without its quotes and trailing ``*``, in lower case.
    needle: str
    words: tuple[str, ...]
    #: The last word is a prefix.
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: every group must match, a group by any of its terms; an entry that
    matches an excluded term is left out."""

    text: str
    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()
    #: Lower-case needles for substring search (``None``: this query has no substring form).
    needles: tuple[str, ...] | None = field(default=None)

    @property
    def has_words(self) -> bool:
        return bool(self.groups)

    @property
    def terms(self) -> list[Term]:
        """Every term to show as a match (excluded ones are not shown)."""
        return [term for group in self.groups for term in group]


def parse(text: str) -> Query:
    """Read ``text``; ``422`` when it is empty, too long, or holds nothing to search for."""
    query = text.strip()
    if not query:
        raise _invalid("the search query is empty", "Type a word, a phrase or a path to find.")
    if len(query) > MAX_QUERY_CHARS:
        raise _invalid(
            f"the search query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}",
            "Search for fewer or shorter words.",
        )
    if "\x00" in query:
        raise _invalid("the search query contains a NUL character", "Remove it.")
    return _Reader(query).read()


def _invalid(message: str, hint: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        code="invalid_query",
        hint=hint,
        detail={"errors": [{"loc": ["query", "q"], "msg": message}]},
    )


@dataclass
class _Token:
    text: str
    quoted: bool
    prefix: bool

    @property
    def operator(self) -> str | None:
        return self.text if not self.quoted and self.text in _OPERATORS else None


def _tokens(query: str) -> list[_Token]:
    """Bare runs of non-space characters and ``"quoted"`` runs, in order."""
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            inside = query[i + 1 : end]
            i = end + 1
            star = i < n and query[i] == "*"
            if star:
                i += 1
            out.append(_Token(inside.rstrip("*"), True, star or inside.endswith("*")))
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] != '"':
                i += 1
            bare = query[start:i]
            stripped = bare.rstrip("*")
            out.append(_Token(stripped, False, stripped != bare))
    return out


def _term(token: _Token) -> Term | None:
    needle = token.text.lower() if token.quoted else _trim(token.text.lower())
    words = tuple(words_of(token.text))
    if not words and len(needle.strip()) < MIN_SUBSTRING_CHARS:
        return None
    prefix = token.prefix and bool(words) and len(words[-1]) >= MIN_PREFIX_CHARS
    return Term(needle=needle, words=words, prefix=prefix)


def _trim(text: str) -> str:
    """A bare term without the brackets and sentence punctuation typed around it."""
    return text.lstrip(_OPENING).rstrip(_CLOSING) or text


_OPENING = "([{<'`"
_CLOSING = ")]}>,;:!?.'`"


class _Reader:
    """Folds the tokens into groups with the forgiving rules of the module docstring."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.groups: list[list[Term]] = []
        self.excluded: list[Term] = []
        self.any_or = False
        #: Every token read as a word, operators too: what a query that would only exclude
        #: (``NOT sound``, ``NOT FOUND`` typed in capitals) searches for.
        self.literal: list[Term] = []

    def read(self) -> Query:
        pending_or = pending_not = False
        for token in _tokens(self.query):
            operator = token.operator
            if operator is not None:
                self.literal.append(Term(operator.lower(), (operator.lower(),)))
            if operator == "OR":
                pending_or = bool(self.groups)
                continue
            if operator == "NOT":
                pending_not = True
                continue
            if operator == "AND":
                continue
            term = _term(token)
            if term is None:
                continue
            if operator is None:
                self.literal.append(term)
            self._add(term, joined=pending_or, negated=pending_not and not pending_or)
            pending_or = pending_not = False
        return self._finish()

    def _add(self, term: Term, *, joined: bool, negated: bool) -> None:
        if negated:
            self.excluded.append(term)
        elif joined:
            self.groups[-1].append(term)
            self.any_or = True
        else:
            self.groups.append([term])

    def _finish(self) -> Query:
        if not self.groups:  # only exclusions or operators: they were meant as words
            self.groups, self.excluded, self.any_or = [[t] for t in self.literal], [], False
        plain = not self.any_or and not self.excluded
        needles = tuple(g[0].needle for g in self.groups) if plain else None
        if needles is not None and max((len(n) for n in needles), default=0) < 3:
            needles = None
        groups = tuple(tuple(t for t in g if t.words) for g in self.groups)
        groups = tuple(g for g in groups if g)
        excluded = tuple(t for t in self.excluded if t.words)
        count = sum(len(t.words) for g in groups for t in g) + sum(len(t.words) for t in excluded)
        if count > MAX_WORDS:
            raise _invalid(
                f"the search query has {count} words; the limit is {MAX_WORDS}",
                "Search for fewer words.",
            )
        if not groups and needles is None:
            raise _invalid(
                f"nothing to search for in {self.query[:60]!r}",
                "Search for a word, or for at least three characters of code.",
            )
        return Query(self.query, groups, excluded, needles)
