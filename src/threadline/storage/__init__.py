"""The server's storage: tables, the database and its transactions, migrations, value formats.

Bottom up: :mod:`values` (timestamps, canonical JSON, entry hashes), :mod:`schema` (the tables
as SQLAlchemy Core), :mod:`migrations`, :mod:`database` (engines, transactions, retries) and
:mod:`changes` (the per-user change cursor every write transaction takes). Nothing here knows
about HTTP; :mod:`threadline.services` is the only package that imports it (and the admin CLI,
which opens a database to hand to the services).
"""
