"""``threadline serve``: the sync server behind protocol v1 (``docs/protocol.md``).

This package is the JSON API and the assembly of the whole application: :mod:`settings`, the
HTTP edge (:mod:`body`, :mod:`errors`, :mod:`deps`, :mod:`routes`, :mod:`openapi`), :mod:`app`
(the one place the API and the web UI are mounted) and :mod:`run`. What the routes do lives in
:mod:`threadline.services`, on the tables of :mod:`threadline.storage`; the web UI
(:mod:`threadline.web`) calls the same services.

The server never imports the client side (``threadline.client``, ``store``, ``sync``, ``cli``).
"""
