"""``threadline user``, ``threadline token`` and ``threadline serve`` as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import zstandard

from tests.helpers.server import THREADLINE, ServerProcess, create_user_and_token


def run(
    home: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    environment.update(THREADLINE_HOME=str(home), **env)
    return subprocess.run(
        [THREADLINE, *args],
        input=stdin,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def serve_once(home: Path, database_url: str) -> None:
    """Set up the database as the first ``threadline serve`` does (admin commands never
    create one)."""
    with ServerProcess(home, database_url):
        pass


def test_user_and_token_commands(tmp_path: Path, server_db_url: str) -> None:
    home = tmp_path / "home"
    url = ["--database-url", server_db_url]
    serve_once(tmp_path / "server-home", server_db_url)
    created = run(home, "user", "create", "alice", "--password-stdin", *url, stdin="s3cret\n")
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stdout
    run(home, "user", "create", "root", "--admin", *url, THREADLINE_PASSWORD="x")
    listing = run(home, "user", "list", *url).stdout.splitlines()
    assert listing[0].split() == ["NAME", "ADMIN", "CREATED"]
    assert [line.split()[:2] for line in listing[1:]][2] == ["root", "yes"]
    assert [line.split()[0] for line in listing[1:]] == ["admin", "alice", "root"]

    token = run(home, "token", "create", "--user", "alice", "--name", "laptop", *url)
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    assert secret.startswith("tl_") and len(secret) == 46
    assert "shown only now" in token.stderr

    tokens = json.loads(run(home, "token", "list", "--json", "--user", "alice", *url).stdout)
    assert [(t["user"], t["name"], t["revoked_at"]) for t in tokens] == [("alice", "laptop", None)]
    assert secret not in json.dumps(tokens) and secret.startswith(tokens[0]["prefix"])

    revoked = run(home, "token", "revoke", str(tokens[0]["id"]), *url)
    assert revoked.returncode == 0, revoked.stderr
    tokens = json.loads(run(home, "token", "list", "--json", *url).stdout)
    assert tokens[0]["revoked_at"] is not None


def test_admin_errors_have_hints(tmp_path: Path) -> None:
    home = tmp_path / "home"
    serve_once(home, f"sqlite:///{home / 'server.db'}")
    missing = run(home, "token", "create", "--user", "ghost")
    assert missing.returncode == 1
    assert "Error: no user named 'ghost'" in missing.stderr and "Hint:" in missing.stderr
    dup = [run(home, "user", "create", "bob", THREADLINE_PASSWORD="pw") for _ in range(2)][1]
    assert dup.returncode == 1 and "already exists" in dup.stderr
    no_password = run(home, "user", "create", "carol", stdin="")
    assert no_password.returncode != 0 and "password" in no_password.stderr
    unknown = run(home, "token", "revoke", "999")
    assert unknown.returncode == 1 and "no token with id 999" in unknown.stderr
    assert (home / "server.db").exists(), "the default database is in THREADLINE_HOME"


def test_serve_on_port_0_first_run_and_real_traffic(tmp_path: Path, server_db_url: str) -> None:
    home = tmp_path / "server-home"
    env = {"THREADLINE_ADMIN_PASSWORD": "first-run-password"}
    with ServerProcess(home, server_db_url, env=env) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        output = "".join(server.output)
        assert "first-run-password" in output and "user:     admin" in output
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            health = http.get("/healthz")
            assert health.status_code == 200 and health.headers["Threadline-Protocol"] == "1"
            login = http.post(
                "/api/v1/auth/login",
                json={
                    "username": "admin",
                    "password": "first-run-password",
                    "device_id": str(uuid.uuid4()),
                    "device_name": "ci",
                },
            )
            assert login.status_code == 201, login.text
            headers = {
                "Authorization": f"Bearer {login.json()['token']}",
                "Content-Encoding": "zstd",
            }
            body = {
                "device_id": login.json()["device_id"],
                "streams": [
                    {
                        "stream_id": str(uuid.uuid4()),
                        "thread": {"key": "note:p:main", "name": "main", "project": "p"},
                        "entries": [
                            {
                                "seq": 1,
                                "id": str(uuid.uuid4()),
                                "ts": "2026-11-21T10:00:00Z",
                                "role": "user",
                                "text": "over a real socket",
                            }
                        ],
                    }
                ],
            }
            data = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
            pushed = http.post("/api/v1/sync/push", content=data, headers=headers)
            assert pushed.status_code == 200, pushed.text
            assert pushed.json()["streams"][0]["stored"] == 1
        assert server.stop() == 0, "SIGTERM shuts down cleanly"
        assert "Traceback" not in "".join(server.output)

    with ServerProcess(home, server_db_url, env=env) as again:
        assert "first-run-password" not in "".join(again.output), "credentials only on first run"
        assert httpx.get(f"{again.base_url}/healthz").status_code == 200


def test_helper_creates_accounts_for_a_running_server(tmp_path: Path, server_db_url: str) -> None:
    with ServerProcess(tmp_path / "home", server_db_url) as server:
        account = create_user_and_token(server_db_url, "dana")
        me = httpx.get(f"{server.base_url}/api/v1/me", headers=account.headers)
        assert me.status_code == 200 and me.json()["user"] == "dana"
