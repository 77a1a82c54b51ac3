"""Hand-off against a real ``threadline serve`` on a socket, on both databases: the serve flags
(on SQLite) and environment variables (on PostgreSQL) of the limits, a blob upload above
``max_batch_bytes``, a body refused by its declared length, compressed transfers both ways, and
a save's whole life."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import zstandard

from tests.handoff_server.conftest import BLOBS, SAVES, save_body, sha
from tests.helpers.server import ServerProcess, create_user_and_token

PATCH = b"".join(b"-old line %d\n+new line %d\n" % (i, i) for i in range(15_000))

#: The limits as ``serve`` flags, and the same as environment variables (a flag wins over its
#: variable, so the variables of FLAGS' run say otherwise).
FLAGS = ["--max-batch-bytes", "100000", "--max-blob-bytes", "600000"]
FLAGS += ["--max-save-files", "3", "--max-save-message-chars", "50"]
ENV = {
    "THREADLINE_MAX_BATCH_BYTES": "100000",
    "THREADLINE_MAX_BLOB_BYTES": "600000",
    "THREADLINE_MAX_SAVE_FILES": "3",
    "THREADLINE_MAX_SAVE_MESSAGE_CHARS": "50",
}
OVERRIDDEN = {name: "7" for name in ENV}


def test_blobs_and_saves_through_a_real_server(tmp_path: Path, server_db_url: str) -> None:
    """The limits come from the flags on SQLite and from the environment on PostgreSQL: where
    they come from does not depend on the database, and one server start covers both."""
    on_sqlite = server_db_url.startswith("sqlite")
    flags, env = (FLAGS, OVERRIDDEN) if on_sqlite else ([], ENV)
    with ServerProcess(tmp_path / "home", server_db_url, *flags, env=env) as server:
        alice = create_user_and_token(server_db_url, "alice")
        bob = create_user_and_token(server_db_url, "bob")
        with httpx.Client(base_url=server.url, headers=alice.headers, timeout=30) as http:
            limits = http.get("/api/v1/capabilities").json()["limits"]
            assert (limits["max_batch_bytes"], limits["max_blob_bytes"]) == (100_000, 600_000)
            assert (limits["max_save_files"], limits["max_save_message_chars"]) == (3, 50)
            assert "handoff" in http.get("/api/v1/capabilities").json()["features"]

            assert len(PATCH) > 100_000
            name = sha(PATCH)
            put = http.put(f"{BLOBS}/{name}", content=PATCH)
            assert put.status_code == 201, put.text
            packed = zstandard.ZstdCompressor().compress(PATCH)
            again = http.put(
                f"{BLOBS}/{name}", content=packed, headers={"Content-Encoding": "zstd"}
            )
            assert again.status_code == 200, again.text

            big = os.urandom(600_001)
            refused = http.put(f"{BLOBS}/{sha(big)}", content=big)
            assert refused.status_code == 413
            assert refused.json()["error"]["code"] == "blob_too_large"
            assert refused.json()["error"]["detail"]["limit"] == 600_000

            with http.stream(
                "GET", f"{BLOBS}/{name}", headers={"Accept-Encoding": "zstd"}
            ) as answer:
                assert answer.headers["content-encoding"] == "zstd"
                wire = b"".join(answer.iter_raw())
            assert len(wire) < len(PATCH) // 5
            assert zstandard.ZstdDecompressor().decompress(wire) == PATCH
            plain = http.get(f"{BLOBS}/{name}", headers={"Accept-Encoding": "identity"})
            assert plain.content == PATCH
            assert plain.headers["content-length"] == str(len(PATCH))
            head = http.head(f"{BLOBS}/{name}")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["Threadline-Blob-Size"] == str(len(PATCH))

            body = save_body(blobs={"bundle": None, "patch": name, "untracked": None})
            created = http.post(SAVES, json=body)
            assert created.status_code == 201, created.text
            assert http.post(SAVES, json=body).status_code == 200
            long = http.post(SAVES, json=save_body(message="m" * 51))
            assert long.status_code == 413
            assert long.json()["error"]["code"] == "save_too_large"
            listed = http.get(SAVES, params={"remote_key": body["remote_key"]}).json()
            assert [s["save_id"] for s in listed["saves"]] == [body["save_id"]]

            for answer in (
                http.get(f"{SAVES}/{body['save_id']}", headers=bob.headers),
                http.delete(f"{SAVES}/{body['save_id']}", headers=bob.headers),
                http.get(f"{BLOBS}/{name}", headers=bob.headers),
                http.head(f"{BLOBS}/{name}", headers=bob.headers),
            ):
                assert answer.status_code == 404, answer.request.method
            assert http.get(SAVES, headers=bob.headers).json()["saves"] == []

            assert http.delete(f"{SAVES}/{body['save_id']}").status_code == 204
            assert http.head(f"{BLOBS}/{name}").status_code == 404, "its only save is gone"
