"""Reading transcript files into the local store: exact, incremental, restart-safe."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import complete_lines
from threadline.sources import claude_code, detect
from threadline.sources.lines import open_binary
from threadline.store import db
from threadline.store import transcripts as tstore
from threadline.watch import roots
from threadline.watch.tail import Exclusions, Tailer


def stored_bytes(conn: sqlite3.Connection, stream_id: int) -> bytes:
    """The file rebuilt from the raw lines in the local store."""
    out = bytearray()
    rows = conn.execute(
        "SELECT raw, meta FROM entries WHERE stream_id = ? ORDER BY seq", (stream_id,)
    )
    for raw, meta in rows:
        encoded = json.loads(meta).get("raw_encoding") == "base64"
        out += base64.b64decode(raw) if encoded else raw.encode("utf-8")
        out += b"\n"
    return bytes(out)


def streams_of(conn: sqlite3.Connection, path: Path) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT s.id, s.generation, s.last_seq FROM streams s JOIN sources f "
        "ON f.thread_id = s.thread_id WHERE f.path = ? ORDER BY s.id",
        (str(path),),
    )
    return [dict(r) for r in rows]


def test_every_fixture_is_stored_byte_for_byte(conn: sqlite3.Connection, fixtures: Path) -> None:
    tailer = Tailer(conn)
    files = list(roots.walk(fixtures))
    assert len(files) >= 17
    for path in files:
        result = tailer.ingest(path)
        assert result.lines > 0 and not result.excluded, path
    for path in files:
        source = tstore.get_source(conn, str(path))
        assert source is not None and source["status"] == tstore.ACTIVE
        with open_binary(path) as stream:
            original = complete_lines(stream.read())
        assert stored_bytes(conn, source["stream_id"]) == original, path
        assert source["offset"] == len(original)
    # Reading again finds nothing new, in this process or a fresh one.
    assert sum(tailer.ingest(p).lines for p in files) == 0
    assert sum(Tailer(conn).ingest(p).lines for p in files) == 0


def test_session_threads_carry_metadata_and_subagent_links(
    conn: sqlite3.Connection, fixtures: Path
) -> None:
    tailer = Tailer(conn)
    for path in roots.walk(fixtures / "claude" / "spotter"):
        tailer.ingest(path)
    child = conn.execute(
        "SELECT key, parent_key, meta, title FROM threads WHERE parent_key IS NOT NULL"
    ).fetchone()
    assert child["key"] == "claude-code:6c2214d7-b87e-4432-8e41-22ba294ea584/agent-afc096d"
    assert child["parent_key"] == "claude-code:6c2214d7-b87e-4432-8e41-22ba294ea584"
    meta = json.loads(child["meta"])
    assert meta["agent"] == "claude-code" and meta["agent_id"] == "afc096d"
    assert child["title"]
    path = fixtures / "claude" / "spotter" / "tool_heavy.jsonl"
    _, info = claude_code.parse_file(path)
    row = conn.execute(
        "SELECT t.meta, t.title, t.kind FROM threads t JOIN sources s ON s.thread_id = t.id "
        "WHERE s.path = ?",
        (str(path),),
    ).fetchone()
    meta = json.loads(row["meta"])
    assert row["kind"] == "claude-code" and row["title"] == info.title
    assert meta["tokens"] == info.usage.as_dict()
    assert (meta["cwd"], meta["model"], meta["session_id"]) == (
        info.cwd,
        info.model,
        info.session_id,
    )


def test_uneven_appends_store_complete_lines_only_and_count_usage_once(
    conn: sqlite3.Connection, fixtures: Path, tmp_path: Path
) -> None:
    """Written in odd-sized pieces, read between them (with the reader restarted midway), the
    file ends up stored exactly, and usage equals a single whole-file parse."""
    original = (fixtures / "claude" / "agentcmd" / "full-session-four.jsonl").read_bytes()
    path = tmp_path / "projects" / "-w" / "s.jsonl"
    path.parent.mkdir(parents=True)
    tailer = Tailer(conn)
    written = 0
    for i, size in enumerate([1, 700, 5000, 13, 60_000, 333, 90_000, 10**7]):
        with path.open("ab") as fh:
            fh.write(original[written : written + size])
        written = min(written + size, len(original))
        if i == 4:
            tailer = Tailer(conn)  # a restart: the parser state is rebuilt from the file
        tailer.ingest(path)
        source = tstore.get_source(conn, str(path))
        expected = complete_lines(original[:written])
        if source is not None:
            assert stored_bytes(conn, source["stream_id"]) == expected
            assert source["offset"] == len(expected)
    _, info = claude_code.parse_file(fixtures / "claude" / "agentcmd" / "full-session-four.jsonl")
    meta = json.loads(conn.execute("SELECT meta FROM threads").fetchone()[0])
    assert meta["tokens"] == info.usage.as_dict()
    assert len(streams_of(conn, path)) == 1


LINES = [json.dumps({"type": "user", "sessionId": "s1", "uuid": f"u{i}", "n": i}) for i in range(6)]


def write(path: Path, lines: list[str], tail: str = "") -> None:
    path.write_bytes("".join(line + "\n" for line in lines).encode() + tail.encode())


@pytest.mark.parametrize(
    ("case", "rewrite"),
    [
        ("shrank", LINES[:2]),
        ("first line changed", [LINES[5], *LINES[1:4]]),
        ("last read line changed", [*LINES[:3], LINES[5], LINES[4]]),
    ],
)
def test_a_rewritten_file_starts_a_new_generation(
    conn: sqlite3.Connection, tmp_path: Path, case: str, rewrite: list[str]
) -> None:
    path = tmp_path / "s1.jsonl"
    write(path, LINES[:4])
    tailer = Tailer(conn)
    assert tailer.ingest(path, "claude-code").lines == 4
    write(path, rewrite)
    result = tailer.ingest(path, "claude-code")
    assert result.new_generation, case
    streams = streams_of(conn, path)
    assert [(s["generation"], s["last_seq"]) for s in streams] == [(1, 4), (2, len(rewrite))]
    assert stored_bytes(conn, streams[0]["id"]) == "".join(x + "\n" for x in LINES[:4]).encode()
    assert stored_bytes(conn, streams[1]["id"]) == path.read_bytes()


def test_appending_is_not_a_rewrite(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    write(path, LINES[:2], tail='{"partial": ')
    tailer = Tailer(conn)
    assert tailer.ingest(path, "claude-code").lines == 2
    write(path, LINES[:2], tail='{"partial": 1}\n' + LINES[3] + "\n")
    result = tailer.ingest(path, "claude-code")
    assert (result.lines, result.new_generation) == (2, False)
    assert [s["generation"] for s in streams_of(conn, path)] == [1]


def test_odd_lines_are_kept_exactly(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """Malformed JSON, invalid UTF-8, a NUL byte, CR LF, an empty line and a 5 MB line."""
    big = json.dumps({"type": "assistant", "sessionId": "s1", "text": "x" * 5_000_000})
    data = (
        LINES[0].encode() + b"\n"
        + b"not json at all\n"
        + b'{"type":"user","bad":"\xff\xfe"}\n'
        + b'{"type":"user","nul":"a\x00b"}\n'
        + LINES[1].encode() + b"\r\n"
        + b"\n"
        + big.encode() + b"\n"
    )  # fmt: skip
    path = tmp_path / "odd.jsonl"
    path.write_bytes(data)
    result = Tailer(conn).ingest(path, "claude-code")
    assert result.lines == 7 and result.malformed >= 2
    source = tstore.get_source(conn, str(path))
    assert source is not None
    assert stored_bytes(conn, source["stream_id"]) == data
    metas = [json.loads(m) for (m,) in conn.execute("SELECT meta FROM entries ORDER BY seq")]
    assert metas[1]["malformed"] and metas[1]["error"].startswith("invalid JSON")
    assert metas[2]["raw_encoding"] == "base64" and metas[3]["raw_encoding"] == "base64"
    big_row = conn.execute("SELECT text, parts FROM entries WHERE seq = 7").fetchone()
    assert len(big_row["parts"] or "") < 300_000, "the projection is cut; raw stays whole"


def test_exclusions_by_path_project_and_working_folder(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    secret = tmp_path / "work" / "secret-repo"
    secret.mkdir(parents=True)
    folder = tmp_path / "projects"
    folder.mkdir()
    line = {"type": "user", "sessionId": "s", "cwd": str(secret), "message": {"content": "hi"}}
    (folder / "a.jsonl").write_text(json.dumps(line) + "\n")
    (folder / "b.jsonl").write_text(json.dumps({**line, "cwd": str(tmp_path)}) + "\n")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "c.jsonl").write_text(json.dumps({**line, "cwd": "/x"}) + "\n")
    tailer = Tailer(conn, Exclusions(["secret-*", str(tmp_path / "private")]))
    a = tailer.ingest(folder / "a.jsonl", "claude-code")
    b = tailer.ingest(folder / "b.jsonl", "claude-code")
    c = tailer.ingest(tmp_path / "private" / "c.jsonl", "claude-code")
    assert (a.excluded, b.excluded, c.excluded) == ("secret-*", None, str(tmp_path / "private"))
    assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1
    statuses = {Path(r["path"]).name: r["status"] for r in tstore.all_sources(conn)}
    assert statuses == {"a.jsonl": "excluded", "b.jsonl": "active", "c.jsonl": "excluded"}
    # Once the rule is gone, the file is captured from its first line.
    assert Tailer(conn).ingest(folder / "a.jsonl", "claude-code").lines == 1


def test_two_readers_of_one_file_store_each_line_once(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "s1.jsonl"
    write(path, LINES[:3])
    first, second = Tailer(conn), Tailer(db.connect(tmp_path / "local.db"))
    assert first.ingest(path, "claude-code").lines == 3
    write(path, LINES)
    assert second.ingest(path, "claude-code").lines == 3  # it catches up from the stored offset
    assert first.ingest(path, "claude-code").lines == 0
    seqs = [r[0] for r in conn.execute("SELECT seq FROM entries ORDER BY seq")]
    assert seqs == [1, 2, 3, 4, 5, 6]


def test_a_vanished_file_is_marked_gone_and_keeps_its_lines(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "s1.jsonl"
    write(path, LINES[:3])
    tailer = Tailer(conn)
    tailer.ingest(path, "claude-code")
    path.unlink()
    assert tailer.ingest(path, "claude-code").gone
    source = tstore.get_source(conn, str(path))
    assert source is not None and source["status"] == tstore.GONE
    assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 3


def test_codex_rollouts_compressed_or_not(
    conn: sqlite3.Connection, fixtures: Path, tmp_path: Path
) -> None:
    import zstandard

    rollout = next((fixtures / "codex").rglob("rollout-*.jsonl"))
    packed = tmp_path / (rollout.name + ".zst")
    packed.write_bytes(zstandard.ZstdCompressor().compress(rollout.read_bytes()))
    assert detect(packed) == "codex"
    tailer = Tailer(conn)
    tailer.ingest(rollout)
    tailer.ingest(packed)
    keys = [r[0] for r in conn.execute("SELECT key FROM threads")]
    session = rollout.name.split(".")[0][-36:]
    assert keys == [f"codex:{session}"], "both files are the same session"
    for path in (rollout, packed):
        source = tstore.get_source(conn, str(path))
        assert source is not None
        assert stored_bytes(conn, source["stream_id"]) == rollout.read_bytes()
