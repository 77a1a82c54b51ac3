"""One exception tree for the whole of Threadline, each error with a hint.

The CLI prints ``Error: <message>`` and ``Hint: <hint>`` and exits non-zero; the server maps the
same tree to the one JSON error shape ``{"error": {"code", "message", "detail"}}`` with the
status given here. Standard library only: the ``push`` hot path imports this module.

Every class carries the HTTP ``status`` and ``code`` it would answer with and a default
``hint``; nothing else decides them (no ``getattr(exc, "code")`` checks anywhere).

    ThreadlineError                  500  base; ``status``, ``code``, ``hint``
    ├── ConfigError                  500  bad configuration value or file
    ├── InvalidInput                 400  a command was given a value it cannot use
    ├── StoreError                   503  the local store cannot be opened or used
    ├── NotLoggedIn                  401  no server or no token configured
    ├── AlreadyRunning               409  the capture daemon already runs
    ├── LockTimeout                  409  another process kept delivering for the whole wait
    ├── ClientError                  502  talking to a server failed
    │   ├── ServerUnreachable        503  connection refused, timed out, DNS
    │   └── ServerRefused           (its)  the server answered with an error body
    └── ApiError                     500  raised by the server, rendered as JSON
        ├── BadRequest          400  malformed JSON, bad encoding, bad cursor
        ├── Unauthorized        401  missing, wrong or revoked token
        │   └── NotSignedIn     401  a web page without a session (answered by a redirect)
        ├── Forbidden           403  authenticated but not allowed (admin only)
        ├── NotFound            404  no such thing, or not yours
        ├── Conflict            409  seq gap, differing duplicate, name taken
        ├── PayloadTooLarge     413  an entry or a batch over its limit
        ├── UnsupportedEncoding 415  a Content-Encoding other than zstd or gzip
        ├── ValidationFailed    422  a field with a wrong type or value
        ├── TooManyRequests     429  too many attempts
        ├── TranscriptIncomplete 500 a stored transcript is not a whole file
        ├── Unavailable         503  the database does not answer, or its disk is full
        ├── ModelFailed         502  the configured language model answered with an error
        └── ModelUnavailable    503  the configured language model cannot be reached

A few modules subclass these for a signal they raise and catch themselves:
``cli.push.UsageError`` (an ``InvalidInput``, exit status 2), ``store.transcripts.Stale`` and
``services.push._IdTaken`` (``Conflict``: another writer came first; read or try again).
:mod:`threadline.handoff.errors` holds the hand-off's own branches (a refused resume, a failed
git command, no session for this folder …).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ≈2 ms of imports on the push hot path
    from typing import Any


class ThreadlineError(Exception):
    """Base of every error Threadline raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint


class ConfigError(ThreadlineError):
    code = "config_error"
    hint = "Run `threadline config` to see every effective value and where it came from."


class InvalidInput(ThreadlineError):
    """A command-line value that cannot be used (empty name, unknown role, too large)."""

    status = 400
    code = "invalid_input"


class StoreError(ThreadlineError):
    status = 503
    code = "store_error"
    hint = "Check that the data folder is writable (THREADLINE_HOME overrides its location)."


class NotLoggedIn(ThreadlineError):
    status = 401
    code = "not_logged_in"
    hint = "Run `threadline login --server URL`, or set THREADLINE_SERVER_URL and THREADLINE_TOKEN."


class AlreadyRunning(ThreadlineError):
    """The capture daemon is already running (it holds its lock file)."""

    status = 409
    code = "already_running"
    hint = "`threadline daemon status` shows it; `threadline daemon stop` stops it."


class LockTimeout(ThreadlineError):
    """Another process held the sync lock for the whole wait; what is pending stays queued."""

    status = 409
    code = "sync_busy"
    hint = "Another threadline process is delivering; try again, or let the daemon send it."

    def __init__(self, message: str = "another threadline process is still delivering") -> None:
        super().__init__(message)


class ClientError(ThreadlineError):
    """Talking to the server failed; what was being sent stays queued."""

    status = 502
    code = "client_error"


class ServerUnreachable(ClientError):
    status = 503
    code = "server_unreachable"
    hint = "Entries stay queued; `threadline sync` delivers them once the server answers."


class BadServerUrl(ServerUnreachable):
    """The server URL in use cannot name a server (not http(s), no host, malformed)."""

    code = "bad_server_url"
    hint = "`threadline config` shows the server_url in use and where it came from."


class ServerRefused(ClientError):
    """The server answered with an error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: dict[str, Any] | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.detail = detail or {}
        if status == 401:  # the server's own hint speaks to API clients, not to a user here
            self.hint = (
                "The token is wrong or revoked: run `threadline login` again "
                "(THREADLINE_TOKEN, when set, is used instead of the stored login)."
            )


class ApiError(ThreadlineError):
    """An error the server answers with; ``status`` and ``code`` go on the wire."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = dict(detail or {})
        if self.hint and "hint" not in self.detail:
            self.detail["hint"] = self.hint


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    hint = (
        "Send `Authorization: Bearer <token>`; get a token with `threadline login` "
        "or `threadline token create`."
    )


class NotSignedIn(Unauthorized):
    """A web page asked for without a signed-in session; the web answers with a redirect to
    the sign-in page that comes back to ``next_url``."""

    code = "not_signed_in"
    hint = "Sign in first."

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in to see this page")
        self.next_url = next_url


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedEncoding(ApiError):
    status = 415
    code = "unsupported_encoding"
    hint = "Send the body uncompressed, or with Content-Encoding: zstd or gzip."


class ValidationFailed(ApiError):
    status = 422
    code = "invalid_request"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class TranscriptIncomplete(ApiError):
    """The chosen stream is not a whole file (a missing line, a line without ``raw``)."""

    status = 500
    code = "transcript_incomplete"


class Unavailable(ApiError):
    """The database does not answer, or cannot write (its disk is full): try again later."""

    status = 503
    code = "unavailable"
    hint = "The server's database is unavailable; try again in a moment."


class ModelFailed(ApiError):
    """The configured language model answered, but with an error or something unreadable."""

    status = 502
    code = "model_failed"
    hint = (
        "Check THREADLINE_LLM_MODEL and the key's variable (THREADLINE_LLM_API_KEY_ENV); "
        "without THREADLINE_LLM_PROVIDER answers are extractive."
    )


class ModelUnavailable(ApiError):
    """The configured language model does not answer (refused, timed out, no key)."""

    status = 503
    code = "model_unavailable"
    hint = (
        "Check that the model server runs at THREADLINE_LLM_BASE_URL; the question was kept in "
        "its conversation."
    )
