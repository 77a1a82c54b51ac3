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
found.

On SQLite, ``bm25()`` reads every entry of every word of the query to weigh the words (a word
in 900,000 entries, or a phrase of two such words: ~100 ms), so a query with more than
:data:`COMMON` matches, or whose words are in more than :data:`BM25_ENTRIES` entries together
(as estimated from the :data:`SAMPLE` newest), is not scored with it: its matches in the body
come before those only in tool calls and output, newest first. FTS5 hands its matches newest
first, checked against the filters in growing batches (in the small index
``ix_entries_search_filters``, not the entries' rows), and the walk stops as soon as the
page asked for is settled — as many body matches as the page needs, which come first whatever
older matches follow — or :data:`RANKED` matches passed, or :data:`WALKED` were checked, or
the matches are older than the :data:`LOOKED` newest entries: a narrow filter on a very
common word stops looking there.

On PostgreSQL, a query its planner expects in at most :data:`PG_COMMON` entries is answered
from the GIN index over all entries; a more common one by walking down the primary key through
the :data:`PG_RECENT` newest entries, and through the :data:`PG_OLDER` before them only when
those hold fewer than :data:`PG_ENOUGH` of its matches (within one thread or scope, its entries
bound the work; filtered by project or kind, only those threads' entries in the ranges are
read, through the index ``(thread_id, pk)`` of migration 0012) — each search planned for its
own words, under a statement timeout, without JIT compilation or parallel workers. A common
query the planner expects in at most :data:`PG_BITMAP_SHARE` of the entries reads the same
ranges through the GIN index instead, its matches intersected with the range's keys as
bitmaps before any row is read: such a word has too few matches among the newest for a walk
to stop early.

:func:`substrings` finds the entries that contain every needle of a plain query, newest first,
after the word matches, for what they did not find (``Limiter`` in ``RateLimiter``). On
SQLite, a needle is looked for inside the *code-like tokens* of prompts, replies and tool calls
(identifiers, paths, dotted names …: see
:func:`threadline.storage.search_index.code_text`), whose trigrams migration 0008 indexes; a
needle with a space in it, or one found only inside a plain word (``ollbac`` in
``rollback``), is not found there — the word index finds the words themselves. On PostgreSQL,
the ``pg_trgm`` index of the vocabulary of prompts, replies and tool calls (migration 0009)
gives the words that hold each needle, and the GIN index the entries that hold those words;
when those are common (or too many to ask for), the :data:`PG_RECENT` newest entries are
walked instead, newest first until the page is filled: each entry's words tested first as the
bytes of its ``tsvector``, then, for the few that hold the needle there, as text without tool
output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.search.query import MIN_SUBSTRING_CHARS, Query, Term, words_of
from threadline.search.text import matches, substring_text
from threadline.storage.search_index import INDEXED_CHARS, PROSE_ROLES

log = logging.getLogger("threadline.search")

#: Matches ranked per query: the most recently stored ones.
RANKED = 300
#: SQLite: a query with more matches than this (of any user) is too common for ``bm25()``.
COMMON = 5_000
#: SQLite: queries whose words are in more entries than this together are not scored with BM25.
BM25_ENTRIES = 50_000
#: SQLite: the newest entries that tell how many entries a query's words are in.
SAMPLE = 20_000
#: SQLite: matches checked against the filters (newest first) to find the ranked ones, at most.
WALKED = 20_000
#: SQLite: entries looked through (newest first) to find the ranked ones, at most.
LOOKED = 400_000
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
#: PostgreSQL: the newest entries walked for a substring before its words are looked up.
PG_FIRST_CHUNK = 2_000
#: PostgreSQL: a common query the planner expects in at most this share of the entries is
#: not walked (unless filtered to a set of threads): the GIN index gives its matches, and the
#: bitmap of the range's keys narrows them before a row is read. A word in 0.2–3 % of the
#: entries has too few matches among the newest for a walk to stop early, and too many for
#: the index over all entries; past that, reading its matches from the index costs more than
#: the walk.
PG_BITMAP_SHARE = 0.03
#: PostgreSQL: a walk filtered by project or kind reads the entries of the threads that pass
#: through the index ``(thread_id, pk)`` when they are at most this many threads.
PG_SET_THREADS = 1_000
#: PostgreSQL: a substring is looked up as the words that contain it, up to this many.
SUBSTRING_WORDS = 500
#: PostgreSQL: the vocabulary's trigram index (migration 0009).
SUBSTRING_INDEX = "ix_search_words_trgm"
#: FTS5 ``bm25()`` weight of the body column; the tool column's is 1.
BODY_WEIGHT = 5.0
#: Trigrams of one needle asked of the index (the text check does the rest).
_TRIGRAMS_PER_NEEDLE = 16
_SPACE = re.compile(r"\s")
#: SQLite: the first batch of a common word's matches is at least twice this.
_FIRST_BATCH = 32
_PROSE = str(PROSE_ROLES)


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
    #: The newest entry's key (of any user) when the first page was read: the walks of the
    #: newest entries count back from it, so that later pages walk the same range while
    #: writes arrive (``None``: the newest key now).
    top: int | None = None
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


def ranked(
    conn: sa.Connection,
    query: Query,
    filters: Filters,
    limit: int = RANKED,
    wanted: int = RANKED,
    *,
    dense: bool = False,
) -> list[Match]:
    """The word matches of ``query`` best first (see the module docstring); at least the
    ``wanted`` best, or all there are, when not all ``limit``. With ``dense`` (ask's
    candidates), PostgreSQL divides a score by the entry's number of distinct words as well
    (:data:`PG_DENSE`): the entries about the words first, not the long ones that mention them
    among much else (SQLite's BM25, which caps what a word's repeats add, is unchanged)."""
    if not query.has_words:
        return []
    if conn.dialect.name == "sqlite":
        matches = _sqlite_ranked(conn, query, filters, limit, wanted)
    else:
        matches = _pg_ranked(conn, query, filters, limit, PG_DENSE if dense else PG_NORMAL)
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


def _sqlite_ranked(
    conn: sa.Connection, query: Query, filters: Filters, limit: int, wanted: int
) -> list[Match]:
    """All matches scored with BM25 when that is cheap (:func:`_bm25_affordable`); else the
    newest, scored by column (see :func:`_newest`)."""
    match = fts5_match(query)
    if _bm25_affordable(conn, query, match, filters):
        return _sqlite_walk(conn, match, filters, limit)
    return _newest(conn, query, filters, limit, wanted)


def _bm25_affordable(conn: sa.Connection, query: Query, match: str, filters: Filters) -> bool:
    """Whether the query's words are in at most :data:`BM25_ENTRIES` entries together (an
    estimate from the :data:`SAMPLE` newest) and the query matches at most :data:`COMMON`."""
    top = newest_key(conn, filters)
    low = max(1, top - SAMPLE + 1)
    sampled = conn.execute(
        sa.text(
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH :words AND rowid >= :low"
        ),
        {"words": _any_word(query), "low": low},
    ).scalar()
    if int(sampled or 0) * (top / max(1, top - low + 1)) > BM25_ENTRIES:
        return False
    return _sqlite_nth(conn, match, COMMON) is None


def _any_word(query: Query) -> str:
    """Every word of ``query`` (excluded ones too), any of them: BM25 reads all their
    entries, whatever the query as a whole matches (a phrase of two common words)."""
    terms = [*query.terms, *query.excluded]
    words = {f'"{w}"' for term in terms for w in term.words[: -1 if term.prefix else None]}
    words |= {_fts5_term(Term(t.needle, t.words[-1:], True)) for t in terms if t.prefix}
    return " OR ".join(sorted(words))


def _sqlite_walk(conn: sa.Connection, match: str, filters: Filters, limit: int) -> list[Match]:
    """The ``limit`` newest matches that pass the filters, with their BM25 score."""
    clauses, params = where(filters)
    sql = (
        f"SELECT entries_fts.rowid, bm25(entries_fts, {BODY_WEIGHT}, 1.0), e.ts "
        f"FROM entries_fts {_FROM.format(key='entries_fts.rowid')} "
        f"WHERE entries_fts MATCH :match AND {clauses} "
        "ORDER BY entries_fts.rowid DESC LIMIT :limit"
    )
    params.update(match=match, limit=limit)
    rows = conn.execute(sa.text(sql), params)
    return [Match(int(pk), -float(bm25), str(ts)) for pk, bm25, ts in rows]


def _newest(
    conn: sa.Connection, query: Query, filters: Filters, limit: int, wanted: int
) -> list[Match]:
    """The ``limit`` newest matches that pass the filters, scored by column
    (:func:`_by_column`) — or fewer, once ``wanted`` of them match in the body: those are
    then the ``wanted`` best (body first, newest first), whatever older matches follow.

    FTS5 hands the matches newest first; they are checked against the filters in batches
    (twice what is still wanted, then doubling) until that, or until :data:`WALKED` were
    checked, or the matches are older than the :data:`LOOKED` newest entries. FTS5 reads
    only as far as the batches go, so a common word, or a phrase of common words, costs what
    its newest matches do. The filters are checked in the index ``ix_entries_search_filters``
    (migration 0008), not in the entries' rows."""
    top = newest_key(conn, filters)
    rows = conn.execute(
        sa.text(
            "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :match "
            "AND rowid >= :low ORDER BY rowid DESC LIMIT :most"
        ),
        {"match": fts5_match(query), "low": top - LOOKED + 1, "most": WALKED},
    )
    found: list[Match] = []
    body, batch = 0, 2 * max(wanted, _FIRST_BATCH)
    try:
        while len(found) < limit and body < wanted and (chunk := rows.fetchmany(batch)):
            pks = [int(pk) for (pk,) in chunk]
            scored = _by_column(conn, query, _passing(conn, pks, filters, limit - len(found)))
            found += scored
            body += sum(1 for m in scored if m.score == BODY_WEIGHT)
            batch *= 2
    finally:
        rows.close()
    return found


def _passing(conn: sa.Connection, pks: list[int], filters: Filters, limit: int) -> list[Match]:
    """The ``limit`` newest of ``pks`` that pass the filters (unscored)."""
    if not pks:
        return []
    clauses, params = where(filters)
    sql = (
        "SELECT e.pk, e.ts FROM entries e INDEXED BY ix_entries_search_filters "
        "JOIN threads t ON t.id = e.thread_id "
        f"WHERE e.pk IN (SELECT value FROM json_each(:pks)) AND {clauses} "
        "ORDER BY e.pk DESC LIMIT :limit"
    )
    params.update(pks=json.dumps(pks), limit=limit)
    return [Match(int(pk), 0.0, str(ts)) for pk, ts in conn.execute(sa.text(sql), params)]


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


def _by_column(conn: sa.Connection, query: Query, found: list[Match]) -> list[Match]:
    """Scores for a query too common for BM25: FTS5's ``bm25()`` counts every match of the
    query to weigh it (a word in 900,000 entries: ~100 ms), so here a match in the body
    (prompts, replies, notes) scores :data:`BODY_WEIGHT`, one only in tool calls and output 1;
    newest first among them. Whether the body alone matches is read from the entries' text,
    as snippets are (asking FTS5 would read the words' entries over the whole range again)."""
    if not found:
        return found
    rows = conn.execute(
        sa.text(
            f"SELECT pk, substr(text, 1, {INDEXED_CHARS}) FROM entries "
            f"WHERE pk IN (SELECT value FROM json_each(:pks)) AND role IN {_PROSE}"
        ),
        {"pks": json.dumps([m.pk for m in found])},
    )
    body = {int(pk) for pk, text in rows if matches(query, text)}
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
    """Entries whose code-like tokens (migration 0008) hold every needle: a needle with a
    space in it is inside no token, so such a query finds nothing here."""
    match = trigram_match(needles)
    if match is None or any(_SPACE.search(needle) for needle in needles):
        return []
    clauses, params = where(filters)
    sql = (
        "SELECT e.pk, entries_code.code "
        f"FROM entries_code {_FROM.format(key='entries_code.rowid')} "
        f"WHERE entries_code MATCH :match AND {clauses} "
        "ORDER BY entries_code.rowid DESC LIMIT :limit"
    )
    params.update(match=match, limit=SUBSTRING_CANDIDATES)
    found: list[int] = []
    for pk, code in conn.execute(sa.text(sql), params):
        if pk not in skip and all(needle in code for needle in needles):
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


def _pg_prepare(conn: sa.Connection) -> bool:
    """Plan every search for its own words (a generic plan cannot tell a rare word from a
    common one), bound its time, and run it without JIT compilation or parallel workers: a
    search reads a bounded number of rows, in a few milliseconds, which compiling its
    expressions (tens of milliseconds, when the planner overestimates a query's matches) or
    starting workers would only add to. One statement for the four settings, which also
    tells whether the vocabulary's trigram index is there (:func:`pg_substrings_available`)."""
    present = conn.exec_driver_sql(
        f"SELECT to_regclass('{SUBSTRING_INDEX}') IS NOT NULL, "
        "set_config('plan_cache_mode', 'force_custom_plan', true), "
        f"set_config('statement_timeout', '{PG_TIMEOUT_MS}', true), "
        "set_config('jit', 'off', true), "
        "set_config('max_parallel_workers_per_gather', '0', true)"
    ).scalar()
    return bool(present)


#: ``ts_rank_cd``'s normalization: divided by 1 + the log of the entry's length; and for
#: ``dense`` ranking, by its number of distinct words too.
PG_NORMAL = 1
PG_DENSE = 1 | 8
#: ``ts_rank_cd`` weights of ``D``, ``C`` (tool output), ``B`` (tool calls), ``A`` (prose).
_PG_WEIGHTS = "'{0.1, 0.2, 0.2, 1.0}'::float4[]"
_PG_FROM = "FROM entries e JOIN threads t ON t.id = e.thread_id"


def _pg_ranked(
    conn: sa.Connection, query: Query, filters: Filters, limit: int, normalization: int
) -> list[Match]:
    """The ``limit`` newest matches (see :func:`_pg_where`); when the newest entries hold
    fewer than :data:`PG_ENOUGH` of a common query's matches (an old project's, a rare phrase
    of common words), the :data:`PG_OLDER` entries before them are walked too — within a
    small set of threads, through their entries only (:func:`_pg_thread_set`)."""
    _pg_prepare(conn)
    match = tsquery(query)
    test, order, floor, bitmap = _pg_where(conn, match, filters, _one_word(query))
    if floor is None:
        return _pg_matches(conn, match, filters, limit, (test, order), {}, normalization)
    threads = _pg_thread_set(conn, filters)
    if threads == []:
        return []
    bitmap = bitmap and threads is None  # a set of threads' keys is fewer rows still
    walk = f"e.search_doc @@ {_TSQUERY}" if bitmap else f"ts_match_vq(e.search_doc, {_TSQUERY})"
    within: dict[str, Any] = {} if threads is None else {"threads": threads}
    recent, order = _pg_range(threads, ">= :floor")
    how = (f"{walk} AND {recent}", order)
    bounds: dict[str, Any] = {"floor": floor, **within}
    found = _pg_matches(conn, match, filters, limit, how, bounds, normalization, bitmap)
    if floor > 1 and len(found) < PG_ENOUGH:
        older, order = _pg_range(threads, "BETWEEN :low AND :high")
        bounds = {"low": max(1, floor - PG_OLDER), "high": floor - 1, **within}
        how = (f"{walk} AND {older}", order)
        found += _pg_matches(
            conn, match, filters, limit - len(found), how, bounds, normalization, bitmap
        )
    return found


def _one_word(query: Query) -> bool:
    """Whether ``query`` is one word: the GIN index reads its matches alone. (For a phrase or
    several words it reads every match of each word, however few entries hold them all.)"""
    terms = query.terms
    return (
        len(terms) == 1 and len(terms[0].words) == 1 and not terms[0].prefix and not query.excluded
    )


def _pg_range(threads: list[str] | None, bounds: str) -> tuple[str, str]:
    """A walk's range of primary keys and its order: down the primary key; or, within a set
    of threads, their keys in the range first, from the index ``(thread_id, pk)`` alone
    (migration 0012), then only those rows — ordered by ``pk + 0``, so that the planner does
    not walk the primary key down instead. (Asked as one condition, the planner reads every
    row of the range: it counts the test of a row's words as nearly free, and reading the
    rows in key order as cheap.)"""
    if threads is None:
        return f"e.pk {bounds}", "e.pk"
    keys = f"SELECT w.pk FROM entries w WHERE w.thread_id = ANY(:threads) AND w.pk {bounds}"
    return f"e.pk IN ({keys})", "e.pk + 0"


def _pg_thread_set(conn: sa.Connection, filters: Filters) -> list[str] | None:
    """The live threads a project or kind filter leaves, when they are at most
    :data:`PG_SET_THREADS`: a walk then reads their entries in its range through the index
    ``(thread_id, pk)`` (migration 0012), not every entry of the range. ``None`` otherwise, or
    without such a filter."""
    if filters.project is None and not filters.kinds:
        return None
    clauses = ["user_id = :user_id", "deleted_at IS NULL"]
    params: dict[str, Any] = {"user_id": filters.user_id, "most": PG_SET_THREADS + 1}
    if filters.project is not None:
        clauses.append("project = :project")
        params["project"] = filters.project
    if filters.kinds:
        clauses.append("kind = ANY(:kinds)")
        params["kinds"] = list(filters.kinds)
    found = conn.execute(
        sa.text(f"SELECT id FROM threads WHERE {' AND '.join(clauses)} LIMIT :most"), params
    ).scalars()
    threads = [str(thread_id) for thread_id in found]
    return None if len(threads) > PG_SET_THREADS else threads


def _pg_matches(
    conn: sa.Connection,
    match: str,
    filters: Filters,
    limit: int,
    how: tuple[str, str],
    bounds: dict[str, Any],
    normalization: int,
    bitmap: bool = False,
) -> list[Match]:
    """Up to ``limit`` matches passing ``how`` (the test, the order), newest first, scored by
    ``ts_rank_cd`` with ``normalization``; with ``bitmap``, the primary key read as a bitmap
    (:func:`_pg_bitmap`), not walked down."""
    test, order = how
    clauses, params = where(filters)
    rank = f"ts_rank_cd({_PG_WEIGHTS}, e.search_doc, {_TSQUERY}, {int(normalization)})"
    sql = (
        f"SELECT e.pk, {rank}, e.ts {_PG_FROM} "
        f"WHERE {test} AND {clauses} ORDER BY {order} DESC LIMIT :limit"
    )
    params.update(bounds, tsquery=match, limit=limit)
    if bitmap:
        with _pg_bitmap(conn):
            rows = conn.execute(sa.text(sql), params).all()
    else:
        rows = conn.execute(sa.text(sql), params).all()
    return [Match(int(pk), float(rank), str(ts)) for pk, rank, ts in rows]


@contextlib.contextmanager
def _pg_bitmap(conn: sa.Connection) -> Iterator[None]:
    """Statements that read the entries of a range of keys through bitmaps: the GIN index's
    matches intersected with the range's keys before any row is read. The planner would walk
    the primary key down instead, counting on the matches to come soon, so index scans are
    off for these statements (``enable_indexscan``, back to what it was after; a statement
    that fails leaves the transaction to be rolled back, which undoes the setting)."""
    was = conn.exec_driver_sql(
        "SELECT current_setting('enable_indexscan'), set_config('enable_indexscan', 'off', true)"
    ).scalar_one()
    yield
    conn.execute(sa.text("SELECT set_config('enable_indexscan', :was, true)"), {"was": was})


def _pg_where(
    conn: sa.Connection, match: str, filters: Filters, one_word: bool = False
) -> tuple[str, str, int | None, bool]:
    """How to find the newest entries matching the tsquery ``match``: (the test, the order,
    the primary key a walk starts from — ``None`` for the GIN index —, whether to read that
    range through the GIN index and the bitmap of its keys rather than walk it).

    A query the planner expects in at most :data:`PG_COMMON` entries is answered from the
    GIN index, over all entries (ordered by ``pk + 0`` so that the planner does not walk the
    primary key instead, hoping to meet its few matches soon). A more common one is looked for
    by walking down the primary key through the :data:`PG_RECENT` newest entries — where a
    common word finds all it needs; a phrase of common words or a narrow filter stops looking
    there — unless the search is within one thread or scope (its entries bound the work).
    A word (``one_word``) expected in at most :data:`PG_BITMAP_SHARE` of the entries has too
    few matches among the newest for a walk to stop early: the same range is read through the
    bitmaps of the GIN index and of the range's keys instead (:func:`_pg_bitmap`)."""
    narrow = filters.thread_id is not None or filters.scope is not None
    if narrow:
        return f"e.search_doc @@ {_TSQUERY}", "e.pk", None, False
    expected = _pg_estimate(conn, match)
    if expected <= PG_COMMON:
        return f"e.search_doc @@ {_TSQUERY}", "e.pk + 0", None, False
    top = newest_key(conn, filters)
    floor = max(0, top - PG_RECENT + 1)
    bitmap = one_word and expected <= PG_BITMAP_SHARE * top
    # the function form of @@ cannot use the GIN index, whose bitmap would hold most rows
    test = f"ts_match_vq(e.search_doc, {_TSQUERY}) AND e.pk >= :floor"
    return test, "e.pk", floor, bitmap


def _pg_estimate(conn: sa.Connection, match: str) -> float:
    """How many entries the planner expects to hold ``match`` (its statistics of the words)."""
    plan = conn.execute(
        sa.text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM entries WHERE search_doc @@ {_TSQUERY}"),
        {"tsquery": match},
    ).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


def _pg_floor(conn: sa.Connection, filters: Filters, newest: int) -> int:
    """The primary key from which the ``newest`` entries (of any user) are."""
    return max(0, newest_key(conn, filters) - newest + 1)


def newest_key(conn: sa.Connection, filters: Filters | None = None) -> int:
    """The newest entry's primary key (of any user; about how many entries there are), or
    the one the first page of a search saw (:attr:`Filters.top`)."""
    if filters is not None and filters.top is not None:
        return filters.top
    return int(conn.execute(sa.text("SELECT max(pk) FROM entries")).scalar() or 0)


_warned = False


def pg_substrings_available(conn: sa.Connection) -> bool:
    """Whether migration 0009 could build the vocabulary's ``pg_trgm`` index (said once in
    the log when not); the search settings of :func:`_pg_prepare` are made in passing."""
    global _warned
    present = _pg_prepare(conn)
    if not present and not _warned:
        _warned = True
        log.warning("pg_trgm index missing: search finds words, not substrings inside them")
    return present


def _like(pattern: str) -> str:
    return pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pg_substrings(
    conn: sa.Connection, needles: tuple[str, ...], filters: Filters, want: int, skip: set[int]
) -> list[int]:
    """Entries holding every needle, newest first. The :data:`PG_FIRST_CHUNK` newest entries
    are walked first (:func:`_pg_walk_substrings`): a needle in common words fills the page
    there, and its newest matches are the page whatever would be asked next. Otherwise the
    words of the vocabulary that contain each needle (``pg_trgm``) make a query of the GIN
    index, whose newest matches are checked against the text, when the planner expects it in
    at most :data:`PG_COMMON` entries (or the search is within one thread or scope). Else — a
    needle in more than :data:`SUBSTRING_WORDS` words, or in common ones — the walk goes on
    through the rest of the :data:`PG_RECENT` newest entries: the same test whatever the
    number of words, where a query of hundreds of words costs the index (and its list of
    pending entries, under writes) each word for each entry."""
    if not pg_substrings_available(conn):  # which prepares the search's settings, too
        return []
    if not all(words_of(needle) for needle in needles):
        return _pg_recent_substrings(conn, needles, filters, want, skip)
    # Only a needle of one whole word is matched exactly in SQL: the chunk's rows are all its
    # matches, so a chunk that does not fill the page was read to its end. Others stop at
    # SUBSTRING_CANDIDATES rows, in one walk. Within one thread or scope, the index is cheap.
    chunked = filters.thread_id is None and filters.scope is None and _exact(needles)
    top = newest_key(conn, filters)
    floor = max(0, top - PG_RECENT + 1)
    chunk = max(floor, top - PG_FIRST_CHUNK + 1) if chunked else floor
    first: list[int] = []
    if chunked:
        first = _pg_walk_substrings(conn, needles, filters, want, skip, (chunk, None))
        if len(first) >= want:
            return first

    def walked() -> list[int]:
        """The walk, on below the first chunk."""
        if chunked and chunk <= floor:
            return first
        rest = (floor, chunk if chunked else None)
        return first + _pg_walk_substrings(conn, needles, filters, want - len(first), skip, rest)

    terms = []
    for needle in needles:
        words = _pg_expand(conn, needle)
        if words == "":
            return first  # a needle in no word at all: nothing holds every needle
        if words is None:
            return walked()
        terms.append(words)
    match = " & ".join(terms)
    test, order, common, _ = _pg_where(conn, match, filters)
    if common is not None:
        return walked()
    clauses, params = where(filters)
    sql = (
        f"SELECT e.pk, e.role, e.text, e.parts {_PG_FROM} WHERE {test} AND {clauses} "
        f"ORDER BY {order} DESC LIMIT :limit"
    )
    params.update(tsquery=match, limit=_substring_limit(needles, want, skip))
    return _checked(conn.execute(sa.text(sql), params), needles, want, skip)


def _substring_limit(needles: tuple[str, ...], want: int, skip: set[int]) -> int:
    """Candidates to read: a needle that is one whole word is matched exactly by the index
    (and by the walk's test); others are checked."""
    return want + len(skip) if _exact(needles) else SUBSTRING_CANDIDATES


def _exact(needles: tuple[str, ...]) -> bool:
    """Whether every needle is one whole word (letters and digits), which SQL tests exactly."""
    return all(words_of(needle) == [needle] for needle in needles)


#: An entry's words with their positions, tool output's too, in the binary form sent to a
#: client (in the client's encoding): what a walk tests first, as bytes.
_PG_DOC_BYTES = "tsvectorsend(e.search_doc)"
#: An entry's words of prose and tool calls (weights ``A`` and ``B``) as text.
_PG_PROSE_WORDS = "strip(ts_filter(e.search_doc, '{a,b}'))::text"


def _pg_walk_substrings(
    conn: sa.Connection,
    needles: tuple[str, ...],
    filters: Filters,
    want: int,
    skip: set[int],
    keys: tuple[int, int | None],
) -> list[int]:
    """Substring matches among the entries of primary keys from ``keys[0]`` (up to ``keys[1]``,
    excluded, when given), newest first: every word of every needle is inside one of the
    entry's words of prose and tool calls (its ``search_doc`` of weights ``A`` and ``B``,
    without positions, as text: ``'a' 'b'``), then the searchable text holds the needles.

    Most entries of the walk hold no needle, so each is first tested cheaply: the bytes of
    its ``tsvector`` as sent to a client (:data:`_PG_DOC_BYTES`: every word, tool output's
    too, with the binary counts and positions between them) hold the word; only the few that
    do are read as text without tool output (:data:`_PG_PROSE_WORDS`, which copies the
    ``tsvector`` twice and prints it), the exact test. The bytes cost a fifth of the text;
    the walk of the :data:`PG_RECENT` newest entries costs some 1.5 µs an entry less."""
    words = dict.fromkeys(w for n in needles for w in words_of(n))
    test = f"{_PG_DOC_BYTES} LIKE :bytes AND {_PG_PROSE_WORDS} LIKE :like"
    try:
        "".join(words).encode(_pg_client_encoding(conn))
    except UnicodeEncodeError:  # a word the connection's encoding cannot send as bytes
        test = f"{_PG_PROSE_WORDS} LIKE :like"
    limit = _substring_limit(needles, want, skip)
    rows = _pg_walk_newest(conn, filters, test, list(words), keys[0], limit, keys[1])
    return _checked(rows, needles, want, skip)


def _pg_walk_newest(
    conn: sa.Connection,
    filters: Filters,
    test: str,
    patterns: list[str],
    floor: int | None,
    limit: int,
    below: int | None = None,
) -> Iterator[Any]:
    """The newest entries from ``floor`` (the :data:`PG_RECENT` newest when ``None``; up to
    ``below``, excluded, when given) that pass
    ``test`` (SQL naming ``:like``, and ``:bytes`` for the same pattern in the connection's
    encoding) for every one of ``patterns``, read as ``%pattern%``: ``pk, role, text, parts``,
    newest first."""
    clauses, params = where(filters)
    encoding = _pg_client_encoding(conn)
    likes = []
    for i, pattern in enumerate(patterns):
        likes.append(f"({test.replace(':like', f':like{i}').replace(':bytes', f':bytes{i}')})")
        params[f"like{i}"] = f"%{_like(pattern)}%"
        if ":bytes" in test:
            params[f"bytes{i}"] = params[f"like{i}"].encode(encoding)
    sql = (
        f"SELECT e.pk, e.role, e.text, e.parts {_PG_FROM} WHERE e.pk >= :floor "
        f"{'' if below is None else 'AND e.pk < :below '}"
        f"AND {' AND '.join(likes)} AND {clauses} ORDER BY e.pk DESC LIMIT :limit"
    )
    if floor is None:
        floor = _pg_floor(conn, filters, PG_RECENT)
    params.update(floor=floor, limit=limit, below=below)
    return iter(conn.execute(sa.text(sql), params))


def _pg_client_encoding(conn: sa.Connection) -> str:
    """The Python codec of the connection's ``client_encoding`` (psycopg's)."""
    return str(conn.connection.dbapi_connection.info.encoding)  # type: ignore[union-attr]


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


def _pg_recent_substrings(
    conn: sa.Connection, needles: tuple[str, ...], filters: Filters, want: int, skip: set[int]
) -> list[int]:
    """Substring matches among the :data:`PG_RECENT` newest entries, newest first, for a
    needle without letters or digits (in no word): the lowered text and parts hold every
    needle (a cheap test), then the searchable text."""
    test = "lower(e.text) LIKE :like OR lower(coalesce(e.parts, '')) LIKE :like"
    rows = _pg_walk_newest(conn, filters, test, list(needles), None, SUBSTRING_CANDIDATES)
    return _checked(rows, needles, want, skip)
