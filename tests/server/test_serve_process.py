"""``threadline serve`` as a real process: a port in use is an ``Error:``/``Hint:`` pair, workers
stop quietly on SIGTERM, and connections that never finish their headers are closed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import THREADLINE, ServerProcess

pytestmark = pytest.mark.timeout(120)


def run_serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    environment["THREADLINE_HOME"] = str(tmp_path / "home")
    environment.update(env or {})
    command = [THREADLINE, "serve", "--database-url", f"sqlite:///{tmp_path / 'server.db'}"]
    return subprocess.run(
        [*command, *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_is_an_error_and_a_hint(tmp_path: Path, workers: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_serve(tmp_path, "--port", str(port), "--workers", workers)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert f"Error: cannot listen on 127.0.0.1:{port}: the port is already in use" in lines
    assert any(line.startswith("Hint: ") and f"port {port}" in line for line in lines)
    assert "listening" not in result.stdout


def test_address_not_of_this_machine_is_an_error(tmp_path: Path) -> None:
    result = run_serve(tmp_path, "--host", "192.0.2.1", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot listen on 192.0.2.1:0: ")
    assert "Hint: Check --host" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "61", "soon"])
def test_header_timeout_from_the_environment_is_checked(tmp_path: Path, value: str) -> None:
    result = run_serve(tmp_path, "--port", "0", env={"THREADLINE_HEADER_TIMEOUT": value})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: THREADLINE_HEADER_TIMEOUT must be")


def test_header_timeout_flag_is_at_most_60(tmp_path: Path) -> None:
    result = run_serve(tmp_path, "--port", "0", "--header-timeout", "61")
    assert result.returncode == 2 and "--header-timeout" in result.stderr


def test_workers_stop_quietly_on_sigterm(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "home", f"sqlite:///{tmp_path / 'server.db'}", "--workers", "2"
    )
    with server:
        for _ in range(4):
            assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert server.stop() is None  # stopped by the block
    output = "".join(server.output)
    assert "Traceback" not in output and "SystemExit" not in output, output
    assert server.proc is None


def test_workers_exit_status_is_0_after_sigterm(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "home", f"sqlite:///{tmp_path / 'server.db'}", "--workers", "2"
    )
    server.start()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert server.stop() == 0
    output = "".join(server.output)
    assert "Traceback" not in output and "SystemExit" not in output, output


def partial(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(20)  # a bound on the wait, far above the 1 s being tested
    if data:
        sock.sendall(data)
    return sock


def test_connections_without_complete_headers_are_closed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    with ServerProcess(tmp_path / "home", url, "--header-timeout", "1") as server:
        socks = [partial(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(5)]
        socks.append(partial(server.port, b"GET /heal"))
        socks.append(partial(server.port, b""))
        keep_alive = partial(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b'"status":"ok"' not in answer:
            answer += keep_alive.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        keep_alive.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request, never finished
        socks.append(keep_alive)
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").status_code == 200
        for sock in socks:
            with sock:
                assert sock.recv(65536) == b""  # closed by the server, not timed out here
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/v1/capabilities").status_code == 200
    assert "Traceback" not in "".join(server.output)
