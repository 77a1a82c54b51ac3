"""The two searches over the index, on SQLite and PostgreSQL alike: ranked word matches and
substring matches.

:func:`ranked` finds the entries whose words match a :class:`~threadline.search.query.Query`
and scores them — SQLite FTS5's ``bm25()`` with the body weighted :data:`BODY_WEIGHT` times
the tool column, PostgreSQL's ``ts_rank_cd`` (weights ``A`` 1.0, ``B`` and ``C`` 0.2, divided by
1 + the log of the entry's length) — best first, newest first among equals.

The cost of ranking grows with the number of matches, so only the :data:`RANKED` most
recently stored matches (after the filters) are ranked: a word found in a million entries is
answered from its newest matches in milliseconds, and a query that matches fewer entries is
ranked exactly. Adding a word or a filter is how an older match of a very common word is
found. On SQLite, a query with more than :data:`COMMON` matches is not scored with
``bm25()``, whose cost grows with the number of matches (it counts them all to weigh the
words): its matches in the body come before those only in tool calls and output, newest first.
The walk that fills that set (newest match first, each checked against the
filters) is bounded too: it first looks among the :data:`RECENT` newest entries, where a
common word finds all it needs; only if that is not enough does it look further, through the
:data:`WALKED` newest matches at most — past them, a narrow filter on a very common word
stops looking. On PostgreSQL, a query its planner expects in at most :data:`PG_COMMON`
entries is answered from the GIN index over all entries; a more common one by walking down
the primary key through the :data:`PG_RECENT` newest entries, and through the
:data:`PG_OLDER` before them only when those hold fewer than :data:`PG_ENOUGH` of its matches
(within one thread or scope, its entries bound the work) — each search planned for its own
words, under a statement timeout.

:func:`substrings` finds the entries whose searchable text contains every needle of a plain
query, newest first — the FTS5 trigram index gives candidates, checked against the text; on
PostgreSQL, the ``pg_trgm`` index of the vocabulary (migration 0009) gives the words that hold
each needle, and the GIN index the entries that hold those words. It runs after the word
matches, for what they did not find (``Limiter`` in ``RateLimiter``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.search.query import MIN_SUBSTRING_CHARS, Query, Term, words_of
from threadline.search.text import substring_text

log = logging.getLogger("threadline.search")

#: Matches ranked per query: the most recently stored ones.
RANKED = 300
#: SQLite: a query with more matches than this (of any user) is too common for ``bm25()``.
COMMON = 5_000
#: SQLite: the newest entries looked at first; most queries find their matches there.
RECENT = 20_000
#: SQLite: matches walked (newest first) to find the ranked ones, at most.
WALKED = 10_000
#: Candidates of a substring search checked against the text.
SUBSTRING_CANDIDATES = 2000
#: PostgreSQL: a query the planner expects in more entries than this is common. Above the
#: planner's guess for a word outside its list of the most common ones (about 1,400 in a
#: million entries), which would otherwise count every rare word as common.
PG_COMMON = 2_000
#: PostgreSQL: a common query with fewer matches than this among the newest entries (a page
#: and one more) looks at the older ones too.
PG_ENOUGH = p.DEFAULT_SEARCH_LIMIT + 1
#: PostgreSQL: older entries walked then, at most.
PG_OLDER = 40_000
#: PostgreSQL: the newest entries (of any user) walked for a common query's matches.
PG_RECENT = 10_000
#: PostgreSQL: a substring is looked up as the words that contain it, up to this many.
SUBSTRING_WORDS = 500
#: PostgreSQL: the vocabulary's trigram index (migration 0009).
SUBSTRING_INDEX = "ix_search_words_trgm"
#: FTS5 ``bm25()`` weight of the body column; the tool column's is 1.
BODY_WEIGHT = 5.0
#: Trigrams of one needle asked of the index (the text check does the rest).
_TRIGRAMS_PER_NEEDLE = 16


@dataclass(frozen=True)
class Filters:
    """What narrows a search besides its words. ``user_id`` always applies."""

    user_id: int
    project: str | None = None
    kinds: tuple[str, ...] = ()
    thread_id: str | None = None
    role: str | None = None
    #: ``ts`` from (inclusive) and before (exclusive), as stored text.
    ts_from: str | None = None
    ts_before: str | None = None
    #: Only entries whose ``change`` is at most this (what existed at the first page).
    horizon: int | None = None
    #: Only threads of this scope (type, id).
    scope: tuple[str, str] | None = None


@dataclass(frozen=True)
class Match:
    pk: int
    score: float
    ts: str


def where(filters: Filters) -> tuple[str, dict[str, Any]]:
    """The filters as SQL over ``entries e`` joined with ``threads t`` — the user's own entries
    in live threads, always — and their parameters."""
    clauses = ["e.user_id = :user_id", "t.deleted_at IS NULL"]
    params: dict[str, Any] = {"user_id": filters.user_id}
    optional = (
        ("project", "t.project = :project", filters.project),
        ("thread_id", "e.thread_id = :thread_id", filters.thread_id),
        ("role", "e.role = :role", filters.role),
        ("ts_from", "e.ts >= :ts_from", filters.ts_from),
        ("ts_before", "e.ts < :ts_before", filters.ts_before),
        ("horizon", "e.change <= :horizon", filters.horizon),
    )
    for name, clause, value in optional:
        if value is not None:
            clauses.append(clause)
            params[name] = value
    if filters.scope is not None:
        clauses.append("t.scope_type = :scope_type AND t.scope_id = :scope_id")
        params.update(scope_type=filters.scope[0], scope_id=filters.scope[1])
    if filters.kinds:
        names = [f"kind{i}" for i in range(len(filters.kinds))]
        clauses.append(f"t.kind IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, filters.kinds, strict=True))
    return " AND ".join(clauses), params


_FROM = "JOIN entries e ON e.pk = {key} JOIN threads t ON t.id = e.thread_id"


def ranked(conn: sa.Connection, query: Query, filters: Filters, limit: int = RANKED) -> list[Match]:
    """The word matches of ``query`` best first (see the module docstring)."""
    if not query.has_words:
        return []
    if conn.dialect.name == "sqlite":
        matches = _sqlite_ranked(conn, query, filters, limit)
    else:
        matches = _pg_ranked(conn, query, filters, limit)
    matches.sort(key=lambda m: (m.ts, m.pk), reverse=True)  # newest first among equals
    matches.sort(key=lambda m: -m.score)
    return matches


def substrings(
    conn: sa.Connection, query: Query, filters: Filters, want: int, skip: set[int]
) -> list[int]:
    """Up to ``want`` entries (newest first, none of ``skip``) whose text contains every
    needle of ``query``; empty when the query has no substring form."""
    if not query.needles or want <= 0:
        return []
    if conn.dialect.name == "sqlite":
        return _sqlite_substrings(conn, query.needles, filters, want, skip)
    return _pg_substrings(conn, query.needles, filters, want, skip)


# --- SQLite ----------------------------------------------------------------------------------


def fts5_match(query: Query) -> str:
    """``query`` in FTS5's syntax, every word quoted."""
    groups = [" OR ".join(_fts5_term(term) for term in group) for group in query.groups]
    positive = " AND ".join(f"({group})" for group in groups)
    if not query.excluded:
        return positive
    excluded = " OR ".join(_fts5_term(term) for term in query.excluded)
    return f"({positive}) NOT ({excluded})"


def _fts5_term(term: Term) -> str:
    phrase = '"' + " ".join(term.words).replace('"', '""') + '"'
    return phrase + "*" if term.prefix else phrase


def _sqlite_ranked(conn: sa.Connection, query: Query, filters: Filters, limit: int) -> list[Match]:
    """The ``limit`` newest matches, scored with BM25 when the query has at most
    :data:`COMMON` matches, else by column (see :func:`_by_column`)."""
    match = fts5_match(query)
    if _sqlite_nth(conn, match, COMMON) is None:
        return _sqlite_walk(conn, match, filters, limit, None, scored=True)
    newest = int(conn.execute(sa.text("SELECT max(pk) FROM entries")).scalar() or 0)
    found = _sqlite_walk(conn, match, filters, limit, newest - RECENT + 1, scored=False)
    if len(found) < limit:
        floor = _sqlite_nth(conn, match, WALKED)
        found = _sqlite_walk(conn, match, filters, limit, floor, scored=False)
    return _by_column(conn, match, found)


def _sqlite_walk(
    conn: sa.Connection,
    match: str,
    filters: Filters,
    limit: int,
    floor: int | None,
    *,
    scored: bool,
) -> list[Match]:
    """The ``limit`` newest matches from ``floor`` on that pass the filters, with their
    BM25 score when ``scored`` (else 0)."""
    clauses, params = where(filters)
    if floor is not None:
        clauses += " AND entries_fts.rowid >= :floor"
    score = f"bm25(entries_fts, {BODY_WEIGHT}, 1.0)" if scored else "0.0"
    sql = (
        f"SELECT entries_fts.rowid, {score}, e.ts "
        f"FROM entries_fts {_FROM.format(key='entries_fts.rowid')} "
        f"WHERE entries_fts MATCH :match AND {clauses} "
        "ORDER BY entries_fts.rowid DESC LIMIT :limit"
    )
    params.update(match=match, floor=floor, limit=limit)
    rows = conn.execute(sa.text(sql), params)
    return [Match(int(pk), -float(bm25), str(ts)) for pk, bm25, ts in rows]


def _sqlite_nth(conn: sa.Connection, match: str, n: int) -> int | None:
    """The ``n``-th newest match of ``match`` (any user's), if there are that many."""
    row = conn.execute(
        sa.text(
            "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :match "
            "ORDER BY rowid DESC LIMIT 1 OFFSET :skip"
        ),
        {"match": match, "skip": n - 1},
    ).first()
    return None if row is None else int(row[0])


def _by_column(conn: sa.Connection, match: str, found: list[Match]) -> list[Match]:
    """Scores for a query too common for BM25: FTS5's ``bm25()`` counts every match of the
    query to weigh it (a word in 900,000 entries: ~100 ms), so here a match in the body
    (prompts, replies, notes) scores :data:`BODY_WEIGHT`, one only in tool calls and output 1;
    newest first among them."""
    if not found:
        return found
    rows = conn.execute(
        sa.text(
            "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :match "
            "AND rowid BETWEEN :low AND :high"
        ),
        {"match": f"{{body}} : ({match})", "low": found[-1].pk, "high": found[0].pk},
    )
    body = {int(pk) for (pk,) in rows}
    return [Match(m.pk, BODY_WEIGHT if m.pk in body else 1.0, m.ts) for m in found]


def trigram_match(needles: tuple[str, ...]) -> str | None:
    """The trigrams of the needles, all required (``detail=none`` has no phrases), or ``None``
    when no needle is long enough."""
    grams: list[str] = []
    for needle in needles:
        if len(needle) < MIN_SUBSTRING_CHARS:
            continue
        found = [needle[i : i + 3] for i in range(len(needle) - 2)]
        step = max(1, len(found) // _TRIGRAMS_PER_NEEDLE)
        chosen = [*found[::step][:_TRIGRAMS_PER_NEEDLE], found[-1]]
        grams.extend(g for g in dict.fromkeys(chosen) if g not in grams)
    if not grams:
        return None
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def _sqlite_substrings(
    conn: sa.Connection, needles: tuple[str, ...], filters: Filters, want: int, skip: set[int]
) -> list[int]:
    match = trigram_match(needles)
    if match is None:
        return []
    clauses, params = where(filters)
    sql = (
        "SELECT e.pk, e.role, e.text, e.parts "
        f"FROM entries_trigram {_FROM.format(key='entries_trigram.rowid')} "
        f"WHERE entries_trigram MATCH :match AND {clauses} "
        "ORDER BY entries_trigram.rowid DESC LIMIT :limit"
    )
    params.update(match=match, limit=SUBSTRING_CANDIDATES)
    return _checked(conn.execute(sa.text(sql), params), needles, want, skip)


def _checked(rows: Iterator[Any], needles: tuple[str, ...], want: int, skip: set[int]) -> list[int]:
    """The rows whose indexed text holds every needle, until ``want`` are found."""
    found: list[int] = []
    for pk, role, text, parts in rows:
        if pk in skip:
            continue
        indexed = substring_text(role, text, parts).lower()
        if all(needle in indexed for needle in needles):
            found.append(int(pk))
            if len(found) >= want:
                break
    return found


# --- PostgreSQL ------------------------------------------------------------------------------

#: A search may not run longer than this on PostgreSQL.
PG_TIMEOUT_MS = 10_000
_TSQUERY = "to_tsquery('pg_catalog.simple'::regconfig, :tsquery)"


def tsquery(query: Query) -> str:
    """``query`` in ``to_tsquery`` syntax: words are letters and digits only, quoted."""
    groups = [" | ".join(_ts_term(term) for term in group) for group in query.groups]
    positive = " & ".join(f"( {group} )" for group in groups)
    if not query.excluded:
        return positive
    excluded = " | ".join(_ts_term(term) for term in query.excluded)
    return f"( {positive} ) & !( {excluded} )"


def _ts_term(term: Term) -> str:
    words = [f"'{word}'" for word in term.words]
    if term.prefix:
        words[-1] += ":*"
    return "( " + " <-> ".join(words) + " )"


def _pg_prepare(conn: sa.Connection) -> None:
    """Plan every search for its own words (a generic plan cannot tell a rare word from a
    common one), and bound its time."""
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {PG_TIMEOUT_MS}")


#: ``ts_rank_cd`` weights of ``D``, ``C`` (tool output), ``B`` (tool calls), ``A`` (prose).
_PG_WEIGHTS = "'{0.1, 0.2, 0.2, 1.0}'::float4[]"
_PG_FROM = "FROM entries e JOIN threads t ON t.id = e.thread_id"


def _pg_ranked(conn: sa.Connection, query: Query, filters: Filters, limit: int) -> list[Match]:
    """The ``limit`` newest matches (see :func:`_pg_where`); when the newest entries hold
    fewer than :data:`PG_ENOUGH` of a common query's matches (an old project's, a rare phrase
    of common words), the :data:`PG_OLDER` entries before them are walked too."""
    _pg_prepare(conn)
    match = tsquery(query)
    test, order, floor = _pg_where(conn, match, filters)
    found = _pg_matches(conn, match, filters, limit, (test, order), {"floor": floor})
    if floor > 1 and len(found) < PG_ENOUGH:
        older = f"ts_match_vq(e.search_doc, {_TSQUERY}) AND e.pk BETWEEN :low AND :high"
        bounds = {"low": max(1, floor - PG_OLDER), "high": floor - 1}
        found += _pg_matches(conn, match, filters, limit - len(found), (older, "e.pk"), bounds)
    return found


def _pg_matches(
    conn: sa.Connection,
    match: str,
    filters: Filters,
    limit: int,
    how: tuple[str, str],
    bounds: dict[str, int],
) -> list[Match]:
    """Up to ``limit`` matches passing ``how`` (the test, the order), newest first."""
    test, order = how
    clauses, params = where(filters)
    sql = (
        f"SELECT e.pk, ts_rank_cd({_PG_WEIGHTS}, e.search_doc, {_TSQUERY}, 1), e.ts {_PG_FROM} "
        f"WHERE {test} AND {clauses} ORDER BY {order} DESC LIMIT :limit"
    )
    params.update(bounds, tsquery=match, limit=limit)
    rows = conn.execute(sa.text(sql), params)
    return [Match(int(pk), float(rank), str(ts)) for pk, rank, ts in rows]


def _pg_where(conn: sa.Connection, match: str, filters: Filters) -> tuple[str, str, int]:
    """How to find the newest entries matching the tsquery ``match``: (the test, the order,
    the primary key the test starts from).

    A query the planner expects in at most :data:`PG_COMMON` entries is answered from the
    GIN index, over all entries (ordered by ``pk + 0`` so that the planner does not walk the
    primary key instead, hoping to meet its few matches soon). A more common one is looked for
    by walking down the primary key through the :data:`PG_RECENT` newest entries — where a
    common word finds all it needs; a phrase of common words or a narrow filter stops looking
    there — unless the search is within one thread or scope (its entries bound the work)."""
    narrow = filters.thread_id is not None or filters.scope is not None
    if narrow:
        return f"e.search_doc @@ {_TSQUERY}", "e.pk", 0
    if _pg_estimate(conn, match) <= PG_COMMON:
        return f"e.search_doc @@ {_TSQUERY}", "e.pk + 0", 0
    # the function form of @@ cannot use the GIN index, whose bitmap would hold most rows
    test = f"ts_match_vq(e.search_doc, {_TSQUERY}) AND e.pk >= :floor"
    return test, "e.pk", _pg_floor(conn, PG_RECENT)


def _pg_estimate(conn: sa.Connection, match: str) -> float:
    """How many entries the planner expects to hold ``match`` (its statistics of the words)."""
    plan = conn.execute(
        sa.text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM entries WHERE search_doc @@ {_TSQUERY}"),
        {"tsquery": match},
    ).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


def _pg_floor(conn: sa.Connection, newest: int) -> int:
    """The primary key from which the ``newest`` entries (of any user) are."""
    top = conn.exec_driver_sql("SELECT max(pk) FROM entries").scalar()
    return max(0, int(top or 0) - newest + 1)


_warned = False


def pg_substrings_available(conn: sa.Connection) -> bool:
    """Whether migration 0009 could build the vocabulary's ``pg_trgm`` index (said once in
    the log when not)."""
    global _warned
    present = conn.exec_driver_sql(f"SELECT to_regclass('{SUBSTRING_INDEX}')").scalar()
    if present is None and not _warned:
        _warned = True
        log.warning("pg_trgm index missing: search finds words, not substrings inside them")
    return present is not None


def _like(pattern: str) -> str:
    return pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pg_substrings(
    conn: sa.Connection, needles: tuple[str, ...], filters: Filters, want: int, skip: set[int]
) -> list[int]:
    """Entries holding every needle: the words of the vocabulary that contain it (``pg_trgm``)
    make a query of the GIN index, whose newest matches are checked against the text; a
    needle in more than :data:`SUBSTRING_WORDS` words (or with none) is looked for in the
    :data:`PG_RECENT` newest entries instead."""
    if not pg_substrings_available(conn):
        return []
    _pg_prepare(conn)
    terms = []
    for needle in needles:
        words = _pg_expand(conn, needle)
        if words == "":
            return []  # a needle in no word at all: nothing holds every needle
        if words is None:
            return _pg_recent_substrings(conn, needles, filters, want, skip)
        terms.append(words)
    match = " & ".join(terms)
    test, order, floor = _pg_where(conn, match, filters)
    clauses, params = where(filters)
    sql = (
        f"SELECT e.pk, e.role, e.text, e.parts {_PG_FROM} WHERE {test} AND {clauses} "
        f"ORDER BY {order} DESC LIMIT :limit"
    )
    # a needle that is one whole word is matched exactly by the index; others are checked
    exact = all(words_of(needle) == [needle] for needle in needles)
    limit = want + len(skip) if exact else SUBSTRING_CANDIDATES
    params.update(tsquery=match, limit=limit, floor=floor)
    return _checked(conn.execute(sa.text(sql), params), needles, want, skip)


def _pg_expand(conn: sa.Connection, needle: str) -> str | None:
    """``needle`` as a tsquery of the indexed words that can hold it (prose and tool calls
    only, weights ``A`` and ``B``): its first word as the end of a word, its last as the start
    of one, the words between as they are, next to each other; a lone word anywhere inside a
    word. ``""`` when a word has no match; ``None`` when there are too many to ask for."""
    words = words_of(needle)
    if not words:
        return None
    patterns: list[str | None] = [f"%{_like(words[0])}%"]
    if len(words) > 1:
        patterns = [f"%{_like(words[0])}", *[None] * (len(words) - 2), f"{_like(words[-1])}%"]
    parts = []
    for word, pattern in zip(words, patterns, strict=True):
        found = [word] if pattern is None else _pg_vocabulary(conn, pattern)
        if not found:
            return None if found is None else ""
        parts.append("( " + " | ".join(_pg_lexeme(w) + ":AB" for w in found) + " )")
    return "( " + " <-> ".join(parts) + " )"


def _pg_vocabulary(conn: sa.Connection, pattern: str) -> list[str] | None:
    """The words of the vocabulary ``LIKE pattern``; ``None`` past :data:`SUBSTRING_WORDS`."""
    rows = conn.execute(
        sa.text("SELECT DISTINCT word FROM search_words WHERE word LIKE :p LIMIT :n"),
        {"p": pattern, "n": SUBSTRING_WORDS + 1},
    ).scalars()
    found = [str(w) for w in rows]
    return None if len(found) > SUBSTRING_WORDS else found


def _pg_lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_recent_substrings(
    conn: sa.Connection, needles: tuple[str, ...], filters: Filters, want: int, skip: set[int]
) -> list[int]:
    """Substring matches among the :data:`PG_RECENT` newest entries, newest first: the
    lowered text and parts hold every needle (a cheap test), then the searchable text."""
    clauses, params = where(filters)
    likes = []
    for i, needle in enumerate(needles):
        likes.append(
            f"(lower(e.text) LIKE :needle{i} OR lower(coalesce(e.parts, '')) LIKE :needle{i})"
        )
        params[f"needle{i}"] = f"%{_like(needle)}%"
    sql = (
        f"SELECT e.pk, e.role, e.text, e.parts {_PG_FROM} WHERE e.pk >= :floor "
        f"AND {' AND '.join(likes)} AND {clauses} ORDER BY e.pk DESC LIMIT :limit"
    )
    params.update(floor=_pg_floor(conn, PG_RECENT), limit=SUBSTRING_CANDIDATES)
    return _checked(conn.execute(sa.text(sql), params), needles, want, skip)
