"""What the capture stores of a line travels: no NUL anywhere the server refuses one."""

from __future__ import annotations

import json

from threadline.protocol.models import EntryIn
from threadline.sources.model import ParsedLine
from threadline.watch.session import entry_row

TS = "2026-11-01T10:00:00Z"


def test_nul_in_keys_and_values_of_parts_and_meta_is_replaced() -> None:
    """A tool input or a record with a NUL in a key (or a value) would be refused with 422
    by the server and block its stream; the projection replaces it, the raw line keeps it."""
    line = ParsedLine(
        line_no=1,
        raw='{"type":"assistant","odd\\u0000key":"v"}',
        record_type="assistant",
        role="assistant",
        parts=[{"type": "tool_call", "name": "Bash", "input": {"cmd\x00": ["a\x00b"]}}],
        meta={"extra": {"k\x00": "v\x00"}},
    )
    seq, ts, role, text, parts, meta, raw = entry_row(line, TS)
    assert parts is not None and meta is not None
    for stored in (parts, meta):
        assert "\\u0000" not in stored and "\x00" not in stored
    assert json.loads(parts)[0]["input"] == {"cmd\ufffd": ["a\ufffdb"]}
    assert raw == line.raw
    entry = {"id": "2f6e0000-0000-4000-8000-000000000002", "seq": seq, "ts": ts, "role": role}
    entry |= {"text": text, "parts": json.loads(parts), "meta": json.loads(meta), "raw": raw}
    EntryIn.model_validate(entry)  # the wire model takes it (a NUL in a key would be 422)
