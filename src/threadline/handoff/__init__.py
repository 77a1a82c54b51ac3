"""Hand-off: save a session with its code on one machine, resume it on another.

:mod:`~threadline.handoff.git` runs git and finds a repository's remote, branch and HEAD;
:mod:`~threadline.handoff.capture` records the uncommitted work without changing the
repository; :mod:`~threadline.handoff.restore` plans, checks, applies and, on failure, undoes
the re-creation of that state in another clone; :mod:`~threadline.handoff.saves` and
:mod:`~threadline.handoff.resume` put these together with the session's transcript and the
server.
"""
