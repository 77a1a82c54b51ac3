"""The hand-off's errors, each a branch of the one tree in :mod:`threadline.errors`.

InvalidInput
├── NotARepository     not inside a git work tree
├── NoRemote           the repository has no remote to compare or fetch from
├── NoCommit           HEAD has no commit yet
└── NoSession          no captured session works in this repository
ThreadlineError
└── GitFailed          a git command failed (its own message is kept)
Conflict
└── ResumeRefused      resuming would lose or mix up something; nothing was changed
NotFound
└── SaveNotFound       no such save (or not yours)
"""

from __future__ import annotations

from threadline.errors import Conflict, InvalidInput, NotFound, ThreadlineError


class NotARepository(InvalidInput):
    code = "not_a_repository"
    hint = "Run it inside the git work tree of the project (a clone of its repository)."


class NoRemote(InvalidInput):
    code = "no_remote"
    hint = (
        "A save names its project by the repository's remote: add one with "
        "`git remote add origin URL`."
    )


class NoCommit(InvalidInput):
    code = "no_commit"
    hint = "Make a first commit (or fetch one), then try again."


class NoSession(InvalidInput):
    code = "no_session"
    hint = (
        "Sessions are captured by the daemon (`threadline daemon start`) or by "
        "`threadline import`; `--session ID` names one."
    )


class GitFailed(ThreadlineError):
    code = "git_failed"
    hint = "Run the git command shown to see what it needs."


class ResumeRefused(Conflict):
    """Resuming was refused before anything was changed (the message says why)."""

    code = "resume_refused"


class SaveNotFound(NotFound):
    code = "save_not_found"
    hint = "`threadline handoff list --all` lists your saves."
