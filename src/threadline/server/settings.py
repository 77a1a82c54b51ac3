"""The server's settings: one small frozen dataclass, read from flags and ``THREADLINE_*`` env.

The language model that writes ``ask`` answers is configured here too (``THREADLINE_LLM_*``):
a provider (``openai`` for any OpenAI-compatible chat endpoint, ``anthropic``, or ``none`` —
the default, extractive answers), its base URL and model, and the *name* of the environment
variable holding its API key (never the key itself: it is read from that variable when a
question is asked, and never logged or shown).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

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
ENV_LLM_PROVIDER = "THREADLINE_LLM_PROVIDER"
ENV_LLM_BASE_URL = "THREADLINE_LLM_BASE_URL"
ENV_LLM_MODEL = "THREADLINE_LLM_MODEL"
ENV_LLM_API_KEY_ENV = "THREADLINE_LLM_API_KEY_ENV"
ENV_LLM_TIMEOUT = "THREADLINE_LLM_TIMEOUT"
ENV_LLM_CONNECT_TIMEOUT = "THREADLINE_LLM_CONNECT_TIMEOUT"

LLM_PROVIDERS = ("none", "openai", "anthropic")
#: Base URLs used when a provider is chosen without one.
LLM_DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
#: Seconds to connect to the model, and to wait for each piece of its answer (at most
#: :data:`MAX_LLM_TIMEOUT`).
DEFAULT_LLM_CONNECT_TIMEOUT = 10.0
DEFAULT_LLM_TIMEOUT = 120.0
MAX_LLM_TIMEOUT = 600.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

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
    llm_provider: str = "none"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key_env: str = ""
    llm_timeout: float = DEFAULT_LLM_TIMEOUT
    llm_connect_timeout: float = DEFAULT_LLM_CONNECT_TIMEOUT

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
        llm_provider=os.environ.get(ENV_LLM_PROVIDER, "") or "none",
        llm_base_url=os.environ.get(ENV_LLM_BASE_URL, ""),
        llm_model=os.environ.get(ENV_LLM_MODEL, ""),
        llm_api_key_env=os.environ.get(ENV_LLM_API_KEY_ENV, ""),
        llm_timeout=_env_seconds(ENV_LLM_TIMEOUT, DEFAULT_LLM_TIMEOUT, MAX_LLM_TIMEOUT),
        llm_connect_timeout=_env_seconds(
            ENV_LLM_CONNECT_TIMEOUT, DEFAULT_LLM_CONNECT_TIMEOUT, MAX_LLM_TIMEOUT
        ),
    )


_LLM_HINT = "See `threadline serve --help` (the --llm-… options) and the README's Ask section."


def check_llm(settings: ServerSettings) -> ServerSettings:
    """``settings`` with the model's base URL defaulted; :class:`ConfigError` when the model
    settings cannot work. No message quotes the key variable's value."""
    provider = settings.llm_provider
    if provider not in LLM_PROVIDERS:
        raise ConfigError(
            f"{ENV_LLM_PROVIDER} must be one of {', '.join(LLM_PROVIDERS)}, not {provider[:20]!r}",
            hint=_LLM_HINT,
        )
    if provider == "none":
        return settings
    if not settings.llm_model:
        raise ConfigError(
            f"{ENV_LLM_MODEL} (or --llm-model) must name the model to use", hint=_LLM_HINT
        )
    name = settings.llm_api_key_env
    if name and not _ENV_NAME.fullmatch(name):
        raise ConfigError(
            f"{ENV_LLM_API_KEY_ENV} must be the name of an environment variable (letters, "
            "digits and _), not the key itself",
            hint=f"Put the key in a variable such as OPENAI_API_KEY and set {ENV_LLM_API_KEY_ENV}"
            "=OPENAI_API_KEY.",
        )
    base = settings.llm_base_url or LLM_DEFAULT_BASE_URLS[provider]
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{ENV_LLM_BASE_URL} must be an http:// or https:// URL", hint=_LLM_HINT)
    try:
        parts.port  # noqa: B018 - read to check it: a port past 65535 or not a number raises
    except ValueError:
        raise ConfigError(
            f"{ENV_LLM_BASE_URL} must have a port from 1 to 65535 after its host, if any",
            hint=_LLM_HINT,
        ) from None
    if "?" in base or "#" in base:
        raise ConfigError(
            f"{ENV_LLM_BASE_URL} (--llm-base-url) must not have a query or fragment (?… or "
            "#…): the endpoint's path is added after it",
            hint="Give the base URL alone, such as http://127.0.0.1:11434/v1.",
        )
    return replace(settings, llm_base_url=base)


def _env_seconds(name: str, default: float, most: float = MAX_HEADER_TIMEOUT) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= most:
        raise ConfigError(f"{name} must be more than 0 and at most {most:g} seconds")
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
