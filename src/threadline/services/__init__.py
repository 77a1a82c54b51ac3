"""The server's capabilities, one module each, shared by the JSON API and the web UI.

Every query and every access check lives here, once: :mod:`threads`, :mod:`entries`,
:mod:`transcripts`, :mod:`push` (with :mod:`streams`), :mod:`status`, :mod:`changes` (the change
cursor as read by live pages), :mod:`auth` (bearer tokens, password sign-in and its rate limit),
:mod:`accounts` (users and tokens), :mod:`web_sessions` (browser sign-ins), :mod:`handoff` (saves
of a session with its git state) with :mod:`blobs` (their content-addressed files), :mod:`pages`
(keyset cursors) and :mod:`inputs` (the checks every route applies to what it is sent).
:mod:`context` holds the application state both edges reach.

Services take plain values and protocol models, return plain dataclasses or protocol models,
and raise :mod:`threadline.errors` types; they never see a request or build a response. They
import :mod:`threadline.storage`, :mod:`threadline.protocol` and :mod:`threadline.errors` only.
"""
