"""What the language model clients take as an answer, against a STUB endpoint (no language
model can run here): a small HTTP server on 127.0.0.1 that writes a scripted response — the
bytes a misbehaving endpoint or proxy might send — a piece at a time. The clients are real.

An answer must be an event stream, keep sending text, end with its end mark, hold text and
stay within :data:`threadline.recall.llm.MAX_ANSWER_CHARS`; anything else is an error naming
the endpoint, never an answer cut short or empty taken for a whole one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from threadline.errors import ModelFailed, ModelUnavailable
from threadline.recall import llm
from threadline.recall.prompt import Prompt

PROMPT = Prompt("system", [{"role": "user", "content": "question"}], "nonce")


def openai(*pieces: str, done: bool = True, finish: bool = False) -> list[str]:
    chunks = [f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n" for p in pieces]
    if finish:
        stop = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        chunks.append(f"data: {json.dumps(stop)}\n\n")
    return chunks + (["data: [DONE]\n\n"] if done else [])


def anthropic(*pieces: str, stop: bool = True, stop_reason: bool = False) -> list[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    out = [event("message_start", {"message": {"id": "m"}})]
    out += [event("content_block_delta", {"delta": {"type": "text_delta", "text": p}})
            for p in pieces]  # fmt: skip
    if stop_reason:
        out.append(event("message_delta", {"delta": {"stop_reason": "end_turn"}}))
    return out + ([event("message_stop", {})] if stop else [])


class Endpoint:
    """The stub: answers every POST with ``content_type`` and ``writes``, ``pause`` apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.content_type = "text/event-stream"
        self.pause = 0.0
        #: A Content-Length to announce (more than is sent: the connection breaks off).
        self.length: int | None = None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", endpoint.content_type)
                if endpoint.length is not None:
                    self.send_header("Content-Length", str(endpoint.length))
                self.end_headers()
                try:
                    for write in endpoint.writes:
                        self.wfile.write(write.encode())
                        self.wfile.flush()
                        time.sleep(endpoint.pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def model(self, provider: str, **config: Any) -> llm.LanguageModel:
        host, port = self.server.server_address[:2]
        base = f"http://{host!s}:{port}"
        return llm.client_for(llm.ModelConfig(provider, base, "stub", **config))  # type: ignore[arg-type]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    stub = Endpoint()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def answer(endpoint: Endpoint, provider: str, **config: Any) -> str:
    return "".join(endpoint.model(provider, **config).stream(PROMPT))


def test_a_whole_answer_is_taken(endpoint: Endpoint) -> None:
    endpoint.writes = openai("Two models", " were compared [1].")
    assert answer(endpoint, "openai") == "Two models were compared [1]."
    endpoint.writes = openai("Ended by its finish reason.", done=False, finish=True)
    assert answer(endpoint, "openai") == "Ended by its finish reason."
    endpoint.writes = anthropic("Two models", " were compared.")
    assert answer(endpoint, "anthropic") == "Two models were compared."
    endpoint.writes = anthropic("Ended by its stop reason.", stop=False, stop_reason=True)
    assert answer(endpoint, "anthropic") == "Ended by its stop reason."


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_that_stops_before_its_end_is_no_answer(endpoint: Endpoint, provider: str) -> None:
    script = openai if provider == "openai" else anthropic
    endpoint.writes = (
        openai("Two models were compared: nomic", done=False)
        if provider == "openai"
        else anthropic("Two models were compared: nomic", stop=False)
    )
    with pytest.raises(ModelFailed, match="stopped before its end"):
        answer(endpoint, provider)
    endpoint.writes = script()  # ends as it should, but says nothing
    with pytest.raises(ModelFailed, match="answered with no text"):
        answer(endpoint, provider)


def test_an_answer_that_is_not_a_stream_is_refused(endpoint: Endpoint) -> None:
    endpoint.content_type = "application/json"
    endpoint.writes = [json.dumps({"choices": [{"message": {"content": "hello"}}]})]
    with pytest.raises(ModelFailed, match=r"did not stream its answer .*application/json"):
        answer(endpoint, "openai")
    endpoint.content_type = "text/html; charset=utf-8"
    endpoint.writes = ["<html>hello</html>"]
    with pytest.raises(ModelFailed, match="text/html, not text/event-stream"):
        answer(endpoint, "anthropic")


def test_comments_and_empty_pieces_do_not_keep_a_silent_model_waiting(
    endpoint: Endpoint,
) -> None:
    endpoint.pause = 0.2
    endpoint.writes = [": keep-alive\n\n"] * 25 + openai("late")
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="sent no text for 1 s"):
        answer(endpoint, "openai", read_timeout=1.0)
    assert time.monotonic() - started < 3.5
    empty = f"data: {json.dumps({'choices': [{'delta': {'content': ''}}]})}\n\n"
    endpoint.writes = [empty] * 25 + openai("late")
    with pytest.raises(ModelUnavailable, match="sent no text for 1 s"):
        answer(endpoint, "openai", read_timeout=1.0)


def test_the_whole_answer_keeps_to_its_total_time(endpoint: Endpoint) -> None:
    endpoint.pause = 0.2
    endpoint.writes = openai(*["word "] * 25)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="did not finish in 1 s"):
        answer(endpoint, "openai", total_timeout=1.0)
    assert time.monotonic() - started < 3.5


def test_an_answer_past_the_size_limit_is_stopped(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "MAX_ANSWER_CHARS", 100)
    endpoint.writes = anthropic(*["x" * 40] * 5)
    with pytest.raises(ModelFailed, match="more than 100 characters"):
        answer(endpoint, "anthropic")


def test_an_answer_that_breaks_off_is_a_failed_answer_not_an_unreachable_model(
    endpoint: Endpoint,
) -> None:
    endpoint.writes = openai("Two models were compared", done=False)
    endpoint.length = len("".join(endpoint.writes)) + 500
    with pytest.raises(ModelFailed, match="broke before the end of its answer"):
        answer(endpoint, "openai")
