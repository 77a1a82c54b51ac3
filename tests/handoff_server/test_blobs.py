"""Blobs over the real app: stored once per user, compressed at rest, checked against their
name, held to their own size limit (as sent and as decoded), and never another user's."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable

import zstandard

from tests.handoff_server.conftest import BLOBS, error_code, sha, upload
from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from threadline.services import blobs
from threadline.services.auth import authenticate
from threadline.storage.database import Database

#: Compressible: the kind of text a patch holds.
PATCH = b"".join(b"+    line %d of the change, much like its neighbours\n" % i for i in range(4000))


def test_round_trip_compressed_at_rest(client: AsgiClient, alice: Account, db: Database) -> None:
    name = sha(PATCH)
    put = client.put(f"{BLOBS}/{name}", content=PATCH, headers=alice.headers)
    assert put.status_code == 201, put.text
    assert put.json() == {"sha256": name, "size": len(PATCH)}
    again = client.put(f"{BLOBS}/{name}", content=PATCH, headers=alice.headers)
    assert again.status_code == 200 and again.json() == put.json()

    head = client.head(f"{BLOBS}/{name}", headers=alice.headers)
    assert head.status_code == 200 and head.headers["Threadline-Blob-Size"] == str(len(PATCH))
    assert head.content == b""

    plain = client.get(f"{BLOBS}/{name}", headers=alice.headers | {"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-length"] == str(len(PATCH))
    assert plain.content == PATCH

    raw = client.get(f"{BLOBS}/{name}", headers=alice.headers | {"Accept-Encoding": "zstd"})
    assert raw.headers["content-encoding"] == "zstd"
    assert raw.content == PATCH  # httpx decodes it
    assert raw.headers["ETag"] == f'"{name}"'

    user_id = authenticate(db, f"Bearer {alice.token}").user_id
    with db.read() as conn:
        stored = blobs.stored_bytes(conn, user_id, name)
    assert stored is not None and stored < len(PATCH) // 10, "kept zstd-compressed"


def test_compressed_uploads_are_decoded_first(client: AsgiClient, alice: Account) -> None:
    data = os.urandom(3000) + PATCH
    name = upload(client, alice, data)
    for encoding, body in (
        ("zstd", zstandard.ZstdCompressor().compress(data)),
        ("gzip", gzip.compress(data)),
    ):
        answer = client.put(
            f"{BLOBS}/{name}", content=body, headers=alice.headers | {"Content-Encoding": encoding}
        )
        assert answer.status_code == 200, answer.text
    fresh = os.urandom(5000)
    answer = client.put(
        f"{BLOBS}/{sha(fresh)}",
        content=zstandard.ZstdCompressor().compress(fresh),
        headers=alice.headers | {"Content-Encoding": "zstd"},
    )
    assert answer.status_code == 201, answer.text
    assert client.get(f"{BLOBS}/{sha(fresh)}", headers=alice.headers).content == fresh


def test_a_body_that_does_not_hash_to_the_name_is_refused(
    client: AsgiClient, alice: Account
) -> None:
    name = sha(b"what was meant")
    answer = client.put(f"{BLOBS}/{name}", content=b"what was sent", headers=alice.headers)
    assert error_code(answer, 422) == "sha256_mismatch"
    detail = answer.json()["error"]["detail"]
    assert detail["expected"] == name and detail["actual"] == sha(b"what was sent")
    assert client.head(f"{BLOBS}/{name}", headers=alice.headers).status_code == 404
    assert client.head(f"{BLOBS}/{sha(b'what was sent')}", headers=alice.headers).status_code == (
        404
    )


def test_a_name_that_is_not_a_sha256_is_refused(client: AsgiClient, alice: Account) -> None:
    data = b"x"
    for bad in (sha(data).upper(), sha(data)[:63], sha(data) + "0", "g" * 64, "..%2F..%2Fetc"):
        for method in ("PUT", "HEAD", "GET"):
            answer = client.request(method, f"{BLOBS}/{bad}", content=data, headers=alice.headers)
            assert answer.status_code in (404, 422), (method, bad, answer.status_code)
            if method != "HEAD" and answer.status_code == 422:
                assert error_code(answer, 422) == "invalid_request"
    answer = client.put(f"{BLOBS}/{sha(data).upper()}", content=data, headers=alice.headers)
    assert error_code(answer, 422) == "invalid_request"


def test_blob_size_limit_as_sent_and_as_decoded(
    make_client: Callable[..., AsgiClient], alice: Account
) -> None:
    client = make_client(max_blob_bytes=1000, max_batch_bytes=500)
    exact = os.urandom(1000)
    assert client.put(
        f"{BLOBS}/{sha(exact)}", content=exact, headers=alice.headers
    ).status_code == (201), "a blob is held to its own limit, not to max_batch_bytes"

    over = os.urandom(1001)
    answer = client.put(f"{BLOBS}/{sha(over)}", content=over, headers=alice.headers)
    assert error_code(answer, 413) == "blob_too_large"
    assert answer.json()["error"]["detail"]["limit"] == 1000

    bomb = b"\0" * 100_000  # a few dozen bytes compressed, 100 kB decoded
    small = zstandard.ZstdCompressor().compress(bomb)
    assert len(small) < 100
    answer = client.put(
        f"{BLOBS}/{sha(bomb)}", content=small, headers=alice.headers | {"Content-Encoding": "zstd"}
    )
    assert error_code(answer, 413) == "blob_too_large"
    assert answer.json()["error"]["detail"]["limit"] == 1000
    answer = client.put(
        f"{BLOBS}/{sha(bomb)}",
        content=gzip.compress(bomb),
        headers=alice.headers | {"Content-Encoding": "gzip"},
    )
    assert error_code(answer, 413) == "blob_too_large"

    # Incompressible bytes at the limit grow a little when compressed: still accepted.
    edge = os.urandom(1000)
    packed = zstandard.ZstdCompressor().compress(edge)
    assert len(packed) > 1000
    answer = client.put(
        f"{BLOBS}/{sha(edge)}", content=packed, headers=alice.headers | {"Content-Encoding": "zstd"}
    )
    assert answer.status_code == 201, answer.text

    # Other bodies keep max_batch_bytes.
    answer = client.post("/api/v1/saves", content=b"{" + b" " * 600 + b"}", headers=alice.headers)
    assert error_code(answer, 413) == "batch_too_large"
    limits = client.get("/api/v1/capabilities").json()["limits"]
    assert limits["max_blob_bytes"] == 1000 and limits["max_batch_bytes"] == 500


def test_another_users_blob_is_not_found(
    client: AsgiClient, alice: Account, bob: Account, db: Database
) -> None:
    name = upload(client, alice, PATCH)
    assert client.head(f"{BLOBS}/{name}", headers=bob.headers).status_code == 404
    assert error_code(client.get(f"{BLOBS}/{name}", headers=bob.headers), 404) == "not_found"
    # Bob's upload of the same bytes is his own copy: new to him.
    answer = client.put(f"{BLOBS}/{name}", content=PATCH, headers=bob.headers)
    assert answer.status_code == 201
    assert client.get(f"{BLOBS}/{name}", headers=bob.headers).content == PATCH


def test_blob_routes_need_a_token(client: AsgiClient) -> None:
    name = sha(b"x")
    assert client.put(f"{BLOBS}/{name}", content=b"x").status_code == 401
    assert client.head(f"{BLOBS}/{name}").status_code == 401
    assert error_code(client.get(f"{BLOBS}/{name}"), 401) == "unauthorized"
