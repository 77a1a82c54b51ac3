"""Server-side search over the entries' text: the query language, the index's queries on
SQLite (FTS5) and PostgreSQL (``tsvector`` and ``pg_trgm``), and snippets.

- :mod:`query` reads what a person typed into a :class:`~threadline.search.query.Query`;
  nothing typed reaches a database's own query syntax, so no input can make a query fail.
- :mod:`engine` runs it: ranked word matches, then substring matches, under the filters the
  service gives (the user always among them).
- :mod:`text` is an entry's searchable text as the index holds it, and the snippet of a hit
  with the offsets of its matches.

The index itself is built by migrations 0005 and 0008 (``threadline.storage.migrations``) and
kept by their triggers and, on SQLite, by ``threadline.storage.search_index`` before each
commit. The access check and paging live in
:mod:`threadline.services.search`, which is what callers use.
"""
