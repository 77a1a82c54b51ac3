"""``threadline serve``: the sync server behind protocol v1 (``docs/protocol.md``).

Layout, bottom up: :mod:`settings`, :mod:`database` (engines, transactions, migrations),
:mod:`schema` (the tables as SQLAlchemy Core), :mod:`values` (timestamps, hashes, sizes),
the services (:mod:`admin`, :mod:`auth`, :mod:`push`, :mod:`status`, :mod:`threads`), and the
HTTP edge (:mod:`body`, :mod:`errors`, :mod:`routes`, :mod:`app`, :mod:`run`).

The server never imports the client side (``threadline.client``, ``store``, ``sync``, ``cli``).
"""
