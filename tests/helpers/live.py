"""A real ``threadline serve`` process on a loopback port, for end-to-end tests.

It can be stopped (SIGTERM), killed (SIGKILL) and started again on the same port and database,
which is what the outage and crash tests need.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers import cli

ADMIN_PASSWORD = "admin-password-for-tests"
_LISTENING = re.compile(r"listening on (http://[\d.]+:(\d+))")


class LiveServer:
    def __init__(self, home: Path, database_url: str, *extra_args: str) -> None:
        self.home = home
        self.database_url = database_url
        self.extra_args = extra_args
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> LiveServer:
        args = [cli.THREADLINE, "serve", "--port", str(self.port)]
        args += ["--database-url", self.database_url, *self.extra_args]
        env = cli.clean_env(self.home, THREADLINE_ADMIN_PASSWORD=ADMIN_PASSWORD)
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        found = threading.Event()
        threading.Thread(target=self._pump, args=(self.proc, found), daemon=True).start()
        if not found.wait(timeout):
            self.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        return self

    def _pump(self, proc: subprocess.Popen[str], found: threading.Event) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.output.append(line)
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.url, self.port = match.group(1), int(match.group(2))
                    found.set()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Start again on the same port (retrying while the old socket lingers)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def login(
    home: Path, server: LiveServer, user: str = "admin", password: str = ADMIN_PASSWORD
) -> None:
    """Log the client in ``home`` into ``server`` with the real CLI."""
    result = cli.run(
        home,
        "login",
        "--server",
        server.url,
        "--user",
        user,
        "--password-stdin",
        input=password + "\n",
    )
    assert result.returncode == 0, result.stderr
