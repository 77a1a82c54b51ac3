"""A stand-in model server for the real Claude Code and Codex CLIs (stdlib only).

It speaks just enough of two streaming APIs:

- Anthropic Messages (``POST /v1/messages``, Claude Code), plus token counting and ``HEAD /``;
- OpenAI Responses (``POST /v1/responses``, Codex), plus an empty model list.

Every reply says which user prompts the request carried, e.g. ``stub reply 2; seen prompts:
["hello", "second question"]``, so a test can prove that a resumed session sent its earlier turns.
Every request is appended to the ``--log`` file as one JSON line (method, path, body, the prompts
seen and the reply text). Any other path gets a harmless empty JSON object.

Run it inside the network namespace of the client (that namespace has its own loopback)::

    python stub_model.py --port 0 --port-file /tmp/x/port --log /tmp/x/requests.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Text a client adds to the user's turn on its own (environment, instructions, reminders).
INJECTED_PREFIXES = ("<", "# AGENTS.md", "Caveat:")


def _text_parts(content: Any, types: tuple[str, ...]) -> list[str]:
    if isinstance(content, str):
        return [content]
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") in types:
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
    return parts


def user_prompts(body: dict[str, Any]) -> list[str]:
    """The user-typed prompts in a Messages or Responses request, oldest first."""
    found: list[str] = []
    if isinstance(body.get("messages"), list):  # Anthropic Messages
        for message in body["messages"]:
            if isinstance(message, dict) and message.get("role") == "user":
                found.extend(_text_parts(message.get("content"), ("text",)))
    items = body.get("input")
    if isinstance(items, str):  # OpenAI Responses, short form
        found.append(items)
    elif isinstance(items, list):
        for item in items:
            if (
                isinstance(item, dict)
                and item.get("role") == "user"
                and item.get("type", "message") == "message"
            ):
                found.extend(_text_parts(item.get("content"), ("input_text", "text")))
    return [text.strip() for text in found if not text.lstrip().startswith(INJECTED_PREFIXES)]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _chunks(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def anthropic_stream(text: str, model: str) -> bytes:
    message_id = f"msg_stub_{uuid.uuid4().hex[:20]}"
    usage = {"input_tokens": 10, "output_tokens": max(1, len(text) // 4)}
    out = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 10,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        ),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for piece in _chunks(text):
        out.append(
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    out += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(out)


def anthropic_message(text: str, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_stub_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": max(1, len(text) // 4)},
    }


def _responses_usage(text: str) -> dict[str, Any]:
    output = max(1, len(text) // 4)
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10 + output,
    }


def _responses_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def responses_object(text: str, model: str, response_id: str, item_id: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [_responses_item(text, item_id)],
        "usage": _responses_usage(text),
    }


def responses_stream(text: str, model: str) -> bytes:
    response_id = f"resp_stub_{uuid.uuid4().hex[:20]}"
    item_id = f"msg_stub_{uuid.uuid4().hex[:20]}"
    pending = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
    }
    seq = iter(range(1_000_000))
    out = [
        _sse(
            "response.created",
            {"type": "response.created", "sequence_number": next(seq), "response": pending},
        ),
        _sse(
            "response.in_progress",
            {"type": "response.in_progress", "sequence_number": next(seq), "response": pending},
        ),
        _sse(
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": {**_responses_item("", item_id, "in_progress"), "content": []},
            },
        ),
        _sse(
            "response.content_part.added",
            {
                "type": "response.content_part.added",
                "sequence_number": next(seq),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
        ),
    ]
    for piece in _chunks(text):
        out.append(
            _sse(
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": next(seq),
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                },
            )
        )
    part = {"type": "output_text", "text": text, "annotations": []}
    common = {"item_id": item_id, "output_index": 0, "content_index": 0}
    out += [
        _sse(
            "response.output_text.done",
            {
                "type": "response.output_text.done",
                "sequence_number": next(seq),
                **common,
                "text": text,
            },
        ),
        _sse(
            "response.content_part.done",
            {
                "type": "response.content_part.done",
                "sequence_number": next(seq),
                **common,
                "part": part,
            },
        ),
        _sse(
            "response.output_item.done",
            {
                "type": "response.output_item.done",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": _responses_item(text, item_id),
            },
        ),
        _sse(
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": next(seq),
                "response": responses_object(text, model, response_id, item_id),
            },
        ),
    ]
    return b"".join(out)


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_path: Path | None) -> None:
        super().__init__(address, StubHandler)
        self.log_path = log_path
        self.lock = threading.Lock()
        self.count = 0

    def record(self, entry: dict[str, Any]) -> int:
        with self.lock:
            self.count += 1
            entry["n"] = self.count
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")
            return self.count


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubServer

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"stub: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if content_type == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", f"req_stub_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain")

    def do_GET(self) -> None:
        self.server.record({"method": "GET", "path": self.path, "body": None})
        route = self.path.split("?", 1)[0].rstrip("/")
        if route.endswith("/models"):
            self._json({"object": "list", "data": [], "models": []})
        else:
            self._json({})

    def do_POST(self) -> None:
        body = self._body()
        route = self.path.split("?", 1)[0].rstrip("/")
        if not isinstance(body, dict) or route not in (
            "/v1/messages",
            "/v1/responses",
            "/responses",
            "/messages",
        ):
            self.server.record({"method": "POST", "path": self.path, "body": body})
            if route.endswith("/count_tokens"):
                self._json({"input_tokens": 10})
            else:
                self._json({})
            return
        prompts = user_prompts(body)
        entry: dict[str, Any] = {
            "method": "POST",
            "path": self.path,
            "body": body,
            "prompts": prompts,
        }
        with self.server.lock:
            number = self.server.count + 1
        text = f"stub reply {number}; seen prompts: {json.dumps(prompts)}"
        entry["reply"] = text
        self.server.record(entry)
        model = str(body.get("model") or "stub-model")
        stream = bool(body.get("stream"))
        if route.endswith("/messages"):
            if stream:
                self._send(200, anthropic_stream(text, model), "text/event-stream")
            else:
                self._json(anthropic_message(text, model))
        elif stream:
            self._send(200, responses_stream(text, model), "text/event-stream")
        else:
            item_id = f"msg_stub_{uuid.uuid4().hex[:20]}"
            response_id = f"resp_stub_{uuid.uuid4().hex[:20]}"
            self._json(responses_object(text, model, response_id, item_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path, help="written (atomically) once listening")
    parser.add_argument("--log", type=Path, help="JSON lines, one per request")
    args = parser.parse_args(argv)
    server = StubServer((args.host, args.port), args.log)
    port = server.server_address[1]
    if args.port_file is not None:
        partial = args.port_file.with_name(args.port_file.name + ".partial")
        partial.write_text(f"{port}\n")
        os.replace(partial, args.port_file)
    sys.stderr.write(f"stub model listening on {args.host}:{port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
