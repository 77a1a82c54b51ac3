"""The server's settings: one small frozen dataclass, read from flags and ``THREADLINE_*`` env."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from threadline import paths
from threadline import protocol as p
from threadline.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787

ENV_DATABASE_URL = "THREADLINE_DATABASE_URL"
ENV_MAX_ENTRY_BYTES = "THREADLINE_MAX_ENTRY_BYTES"
ENV_MAX_BATCH_BYTES = "THREADLINE_MAX_BATCH_BYTES"
ENV_WORKERS = "THREADLINE_WORKERS"
ENV_HEADER_TIMEOUT = "THREADLINE_HEADER_TIMEOUT"
ENV_MAX_BLOB_BYTES = "THREADLINE_MAX_BLOB_BYTES"
ENV_MAX_SAVE_FILES = "THREADLINE_MAX_SAVE_FILES"
ENV_MAX_SAVE_MESSAGE_CHARS = "THREADLINE_MAX_SAVE_MESSAGE_CHARS"

#: Seconds a connection has to send a request's complete headers (its first one, or its next
#: one on keep-alive) before the server closes it; at most :data:`MAX_HEADER_TIMEOUT`.
DEFAULT_HEADER_TIMEOUT = 30.0
MAX_HEADER_TIMEOUT = 60.0


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str = ""
    max_entry_bytes: int = p.MAX_ENTRY_BYTES
    max_batch_bytes: int = p.MAX_BATCH_BYTES
    max_batch_entries: int = p.MAX_BATCH_ENTRIES
    access_log: bool = False
    workers: int = 1
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    #: Hand-off: bytes of one blob (uncompressed), entries of a save's ``files`` (and of its
    #: ``excluded``), characters of its ``message``.
    max_blob_bytes: int = p.MAX_BLOB_BYTES
    max_save_files: int = p.MAX_SAVE_FILES
    max_save_message_chars: int = p.MAX_SAVE_MESSAGE_CHARS

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url()

    def with_overrides(self, **values: Any) -> ServerSettings:
        """A copy with every value that is not ``None`` replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def default_database_url() -> str:
    """``THREADLINE_DATABASE_URL``, else the SQLite file in the data folder."""
    env = os.environ.get(ENV_DATABASE_URL)
    if env:
        return env
    return f"sqlite:///{paths.server_database_file()}"


def settings_from_env() -> ServerSettings:
    """Defaults overridden by the ``THREADLINE_*`` environment variables."""
    return ServerSettings(
        database_url=os.environ.get(ENV_DATABASE_URL, ""),
        max_entry_bytes=_env_int(ENV_MAX_ENTRY_BYTES, p.MAX_ENTRY_BYTES),
        max_batch_bytes=_env_int(ENV_MAX_BATCH_BYTES, p.MAX_BATCH_BYTES),
        workers=_env_int(ENV_WORKERS, 1),
        header_timeout=_env_seconds(ENV_HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT),
        max_blob_bytes=_env_int(ENV_MAX_BLOB_BYTES, p.MAX_BLOB_BYTES),
        max_save_files=_env_int(ENV_MAX_SAVE_FILES, p.MAX_SAVE_FILES),
        max_save_message_chars=_env_int(ENV_MAX_SAVE_MESSAGE_CHARS, p.MAX_SAVE_MESSAGE_CHARS),
    )


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= MAX_HEADER_TIMEOUT:
        raise ConfigError(f"{name} must be more than 0 and at most {MAX_HEADER_TIMEOUT:g} seconds")
    return seconds


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name} must be at least 1, not {number}")
    return number
