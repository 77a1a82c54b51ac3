"""Streaming clients of the two kinds of language model endpoint Threadline speaks to.

- ``openai``: any OpenAI-compatible chat endpoint — ``POST {base}/v1/chat/completions`` with
  ``"stream": true`` (OpenAI, Ollama, vLLM, llama.cpp's server …). A base URL that already ends
  in ``/v1`` is not given a second one.
- ``anthropic``: Anthropic's Messages API — ``POST {base}/v1/messages`` with ``"stream": true``.

Both yield the answer's text as it arrives, and hold the endpoint to what a stream of an answer
is: the response must be an event stream; text must keep coming (a gap longer than the read
timeout is a timeout, whatever comments or empty events keep the connection busy, and the
whole answer may be given a time of its own, ``total_timeout``); the stream must end with its
end mark (``[DONE]`` or a finish reason; ``message_stop``), not just stop; it must hold text;
and it may not run past :data:`MAX_ANSWER_CHARS` characters (a model ignoring ``max_tokens``).

The API key is read, when it is needed, from the
environment variable whose *name* is configured; it is sent only in its header and never
appears in a message: errors name the base URL (without any ``user:password@``) and are
scrubbed of the key. A model that cannot be reached (refused, timed out, no key) raises
:class:`~threadline.errors.ModelUnavailable`; one that answers with an error or with something
unreadable raises :class:`~threadline.errors.ModelFailed`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from threadline.errors import ModelFailed, ModelUnavailable
from threadline.protocol import sse
from threadline.recall.prompt import Prompt

Provider = Literal["openai", "anthropic"]
PROVIDERS: tuple[str, ...] = ("openai", "anthropic")
ANTHROPIC_VERSION = "2023-06-01"
#: Characters of an endpoint's error body quoted in the error.
MAX_ERROR_CHARS = 300
#: Characters of an answer read at most (``max_tokens`` asks for far fewer).
MAX_ANSWER_CHARS = 50_000


@dataclass(frozen=True)
class ModelConfig:
    """Where the model is and how long to wait for it."""

    provider: Provider
    base_url: str
    model: str
    #: Name of the environment variable holding the API key (``None``: no key is sent).
    api_key_env: str | None = None
    #: Seconds to connect, and to wait for each piece of the answer.
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_tokens: int = 1024
    #: Seconds the whole answer may take (``None``: as long as pieces keep coming).
    total_timeout: float | None = None

    @property
    def shown_url(self) -> str:
        """The base URL as errors show it: without ``user:password@``, query or fragment."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class LanguageModel(Protocol):
    """A model that streams the answer to a prompt."""

    config: ModelConfig

    def stream(self, prompt: Prompt) -> Iterator[str]: ...


def client_for(config: ModelConfig) -> LanguageModel:
    if config.provider == "anthropic":
        return AnthropicClient(config)
    return OpenAIClient(config)


class _Watch:
    """Whether an answer keeps coming: text within the read timeout of the last text (or of
    the start), the whole within the total timeout, at most :data:`MAX_ANSWER_CHARS`."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.start = self.last = time.monotonic()
        self.chars = 0

    def check(self) -> None:
        now, config = time.monotonic(), self.config
        if now - self.last > config.read_timeout:
            raise ModelUnavailable(
                f"the language model at {config.shown_url} sent no text for "
                f"{config.read_timeout:g} s"
            )
        if config.total_timeout is not None and now - self.start > config.total_timeout:
            raise ModelUnavailable(
                f"the language model at {config.shown_url} did not finish in "
                f"{config.total_timeout:g} s"
            )

    def text(self, piece: str) -> str:
        self.last = time.monotonic()
        self.chars += len(piece)
        if self.chars > MAX_ANSWER_CHARS:
            raise ModelFailed(
                f"the language model at {self.config.shown_url} sent more than "
                f"{MAX_ANSWER_CHARS:,} characters (it does not keep to max_tokens)"
            )
        return piece

    def finished(self, done: bool) -> None:
        """At the end of the stream: it must have said it was done, and given text."""
        where = self.config.shown_url
        if not done:
            raise ModelFailed(
                f"the answer of the language model at {where} stopped before its end "
                "(the stream closed without its end mark)"
            )
        if not self.chars:
            raise ModelFailed(f"the language model at {where} answered with no text")


class _Client:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    def _key(self) -> str | None:
        name = self.config.api_key_env
        if not name:
            return None
        key = os.environ.get(name)
        if not key:
            raise ModelUnavailable(
                f"the environment variable {name} that should hold the API key of the language "
                f"model at {self.config.shown_url} is not set",
                hint=f"Set {name} in the server's environment (or leave out "
                "THREADLINE_LLM_API_KEY_ENV for a model server without keys); the question was "
                "kept.",
            )
        return key

    def _endpoint(self, path: str) -> str:
        base = self.config.base_url.rstrip("/")
        return base + (path if base.endswith("/v1") else "/v1" + path)

    def _events(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        key: str | None,
        watch: _Watch,
    ) -> Iterator[sse.Event]:
        """The events the endpoint streams back for ``body``, checked by ``watch`` at every
        line (a comment too)."""
        timeout = httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout)
        where = self.config.shown_url
        try:
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream("POST", self._endpoint(path), json=body, headers=headers) as response,
            ):
                status = response.status_code
                if status >= 400:
                    message = f"the language model at {where} answered HTTP {status}"
                    message += _reason(response.read(), key)
                    if status == 429:
                        raise ModelUnavailable(message, hint=_BUSY)
                    raise ModelFailed(message, hint=_REFUSED if status in (401, 403) else None)
                kind = response.headers.get("content-type", "text/event-stream")
                if not kind.lower().startswith("text/event-stream"):
                    raise ModelFailed(
                        f"the language model at {where} did not stream its answer (it sent "
                        f"{kind.split(';')[0][:60]}, not text/event-stream)"
                    )
                yield from sse.events(_checked(response.iter_lines(), watch))
        except httpx.TimeoutException:
            raise ModelUnavailable(
                f"the language model at {where} did not answer in time"
            ) from None
        except httpx.TransportError as exc:
            reason = _scrub(str(exc) or type(exc).__name__, key)
            if watch.chars:  # it was reached: the answer broke off
                raise ModelFailed(
                    f"the connection to the language model at {where} broke before the end of "
                    f"its answer: {reason}"
                ) from None
            raise ModelUnavailable(
                f"cannot reach the language model at {where}: {reason}"
            ) from None

    def _data(self, event: sse.Event) -> dict[str, Any]:
        try:
            data = json.loads(event.data)
        except ValueError:
            raise ModelFailed(
                f"the language model at {self.config.shown_url} sent an event that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise ModelFailed(
                f"the language model at {self.config.shown_url} sent {event.data[:50]!r}"
            )
        if isinstance(data.get("error"), dict | str):
            error = data["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise ModelFailed(
                f"the language model at {self.config.shown_url} failed: "
                + _scrub(str(message)[:MAX_ERROR_CHARS], self._key_or_none())
            )
        return data

    def _key_or_none(self) -> str | None:
        name = self.config.api_key_env
        return os.environ.get(name) if name else None


class OpenAIClient(_Client):
    """``/v1/chat/completions``, streamed: ``choices[0].delta.content`` until ``[DONE]``."""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        key = self._key()
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": prompt.system}, *prompt.messages],
            "stream": True,
            "max_tokens": self.config.max_tokens,
        }
        watch, done = _Watch(self.config), False
        for event in self._events("/chat/completions", body, headers, key, watch):
            if event.data.strip() == "[DONE]":
                done = True
                break
            data = self._data(event)
            for choice in data.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(text, str) and text:
                    yield watch.text(text)
                done = done or choice.get("finish_reason") is not None
        watch.finished(done)


class AnthropicClient(_Client):
    """``/v1/messages``, streamed: the ``text_delta`` of ``content_block_delta`` events until
    ``message_stop``."""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        key = self._key()
        headers = {"Accept": "text/event-stream", "anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        body = {
            "model": self.config.model,
            "system": prompt.system,
            "messages": prompt.messages,
            "stream": True,
            "max_tokens": self.config.max_tokens,
        }
        watch, done = _Watch(self.config), False
        for event in self._events("/messages", body, headers, key, watch):
            if event.event == "message_stop":
                done = True
                break
            data = self._data(event)
            delta = data.get("delta")
            if event.event == "message_delta" and isinstance(delta, dict):
                done = done or delta.get("stop_reason") is not None
            if event.event == "content_block_delta" and isinstance(delta, dict):
                text = delta.get("text")
                if delta.get("type") == "text_delta" and isinstance(text, str) and text:
                    yield watch.text(text)
        watch.finished(done)


_BUSY = "The model's endpoint is limiting requests: ask again in a moment (the question was kept)."
_REFUSED = (
    "The endpoint refused the key: check the key in the variable THREADLINE_LLM_API_KEY_ENV "
    "names, and that it may use THREADLINE_LLM_MODEL."
)


def _checked(lines: Iterator[str], watch: _Watch) -> Iterator[str]:
    for line in lines:
        watch.check()
        yield line


def _reason(body: bytes, key: str | None) -> str:
    """``: <the endpoint's error message>`` from an error body (JSON or text), scrubbed."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message or data.get("message") or text)
    text = " ".join(text.split())[:MAX_ERROR_CHARS]
    return f": {_scrub(text, key)}" if text else ""


#: Characters of the key that never appear together in a message.
_KEY_PIECE = 8


def _scrub(text: str, key: str | None) -> str:
    """``text`` without the key, nor any piece of it :data:`_KEY_PIECE` characters long (an
    endpoint may echo a key it refused, partly masked)."""
    if not key:
        return text
    text = text.replace(key, "***")
    for start in range(0, max(0, len(key) - _KEY_PIECE) + 1):
        piece = key[start : start + _KEY_PIECE]
        if len(piece) == _KEY_PIECE:
            text = text.replace(piece, "***")
    return text
