"""What every benchmark shares: a real server process, client homes, logins, PostgreSQL
databases, statistics and tables.

The server is always ``threadline serve`` started as a subprocess of the installed console
script, on a loopback port picked by the kernel, in its own ``THREADLINE_HOME``. Clients talk to
it over real sockets.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from threadline.client.api import Api

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
THREADLINE = str(BIN / "threadline") if (BIN / "threadline").exists() else "threadline"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "benchmark-admin-password"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = "THREADLINE_TEST_DATABASE_URL"
_LISTENING = re.compile(r"listening on (http://[\d.]+:(\d+))")


# --- running the CLI -------------------------------------------------------------------------


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a client or server: its own ``THREADLINE_HOME``, nothing inherited
    from the caller's ``THREADLINE_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_HOME"] = str(home)
    env.update(extra)
    return env


def cli(
    home: Path,
    *args: str,
    input: str | None = None,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``threadline`` console script in ``home``, with ``env`` and ``extra`` set."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [THREADLINE, *args],
        cwd=home,
        env=clean_env(home, **{**(env or {}), **extra}),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- the server ------------------------------------------------------------------------------


class Server:
    """``threadline serve --port 0`` as a subprocess; the admin password comes from the env."""

    def __init__(self, home: Path, database_url: str, *extra_args: str) -> None:
        self.home = home
        self.database_url = database_url
        self.extra_args = extra_args
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 60.0) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        args = [THREADLINE, "serve", "--port", "0", "--database-url", self.database_url]
        env = clean_env(self.home, THREADLINE_ADMIN_PASSWORD=ADMIN_PASSWORD)
        self.proc = subprocess.Popen(
            [*args, *self.extra_args],
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
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.output))
        return self

    def _pump(self, proc: subprocess.Popen[str], found: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)
            match = _LISTENING.search(line)
            if match and not found.is_set():
                self.url = match.group(1)
                found.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        trouble = self.trouble()
        if trouble:
            note(f"the server logged errors ({len(trouble)} lines), first: {trouble[0].strip()}")

    def trouble(self) -> list[str]:
        """Lines of the server's output that report an error (it logs only warnings and up)."""
        markers = ("Traceback", "ERROR", "Exception", "CRITICAL")
        return [line for line in self.output if any(m in line for m in markers)]

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def api_login(
    server: Server, device_name: str = "bench", user: str = ADMIN_USER
) -> tuple[str, str]:
    """A token for a new device of ``user`` (whose password is :data:`ADMIN_PASSWORD`),
    through ``POST /api/v1/auth/login``. Returns ``(token, device_id)``."""
    device_id = str(uuid.uuid4())
    answer = Api(server.url, timeout=60).login(user, ADMIN_PASSWORD, device_id, device_name)
    return str(answer["token"]), device_id


def api_logins(
    server: Server, count: int, prefix: str = "bench", users: Sequence[str] = (ADMIN_USER,)
) -> list[tuple[str, str]]:
    """``count`` tokens of new devices, spread over ``users`` round-robin, logged in two at a
    time (a password check is a deliberately slow argon2 hash, ≈0.2 s)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> tuple[str, str]:
        return api_login(server, f"{prefix}-{i}", users[i % len(users)])

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, range(count)))


def create_users(server: Server, names: Sequence[str]) -> None:
    """Create users (password :data:`ADMIN_PASSWORD`) with the real ``threadline user create``
    on the server's database, two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(name: str) -> None:
        result = cli(
            server.home,
            "user",
            "create",
            name,
            "--password-stdin",
            "--database-url",
            server.database_url,
            input=ADMIN_PASSWORD + "\n",
        )
        if result.returncode != 0:
            raise RuntimeError(f"threadline user create {name} failed: {result.stderr.strip()}")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, names))


def cli_login(home: Path, server: Server) -> None:
    """Log the client in ``home`` into ``server`` with the real ``threadline login``."""
    result = cli(
        home,
        "login",
        "--server",
        server.url,
        "--user",
        ADMIN_USER,
        "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )
    if result.returncode != 0:
        raise RuntimeError(f"threadline login failed: {result.stderr.strip()}")


# --- databases -------------------------------------------------------------------------------


def postgres_base_url(explicit: str | None) -> tuple[str | None, str]:
    """The PostgreSQL URL to benchmark against and why (or why not)."""
    if explicit:
        return explicit, "--postgres"
    env = os.environ.get(POSTGRES_ENV)
    if env:
        return env, f"${POSTGRES_ENV}"
    if postgres_reachable(DEFAULT_POSTGRES):
        return DEFAULT_POSTGRES, "default, reachable"
    return None, f"not run: no --postgres, no ${POSTGRES_ENV}, {DEFAULT_POSTGRES} unreachable"


def postgres_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


@contextlib.contextmanager
def database(backend: str, workdir: Path, postgres: str | None) -> Iterator[str]:
    """A database URL nobody else uses, for the duration of the block: a fresh SQLite file,
    or a fresh schema in the PostgreSQL database (dropped afterwards)."""
    if backend == "sqlite":
        path = workdir / f"server-{secrets.token_hex(4)}.db"
        yield f"sqlite:///{path}"
        return
    assert postgres is not None
    import psycopg

    schema = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres else "?"
    try:
        yield f"{postgres}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --- statistics and tables -------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99, min and max of durations in seconds, as milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "min_ms": round(min(ms), 2),
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def ratio(value: float, base: float) -> float:
    return round(value / base, 2) if base else float("nan")


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if 0 < abs(value) < 0.1:
            return f"{value:.2g}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table: text left-aligned, numbers right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def note(text: str) -> None:
    print(f"  {text}", flush=True)


# --- the run context -------------------------------------------------------------------------


@dataclass
class Context:
    """What ``run.py`` hands every benchmark."""

    quick: bool
    postgres: str | None
    workdir: Path
    #: Environment variables as the caller had them, where ``run.py`` changed them.
    inherited_env: dict[str, str] = field(default_factory=dict)
    #: ``False`` with ``--no-sqlite``: PostgreSQL only.
    sqlite: bool = True
    #: ``--search-database URL``: the search benchmark's corpus, built there once and kept.
    search_database: str | None = None
    #: ``--index-pairs N``: ingest runs only the search index's cost, as N interleaved pairs.
    index_pairs: int = 0

    def backends(self) -> list[str]:
        return [b for b, on in (("sqlite", self.sqlite), ("postgres", bool(self.postgres))) if on]

    def home(self, name: str) -> Path:
        """A fresh folder under the run's working directory."""
        path = self.workdir / f"{name}-{secrets.token_hex(3)}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path


def text_of_size(n: int, rng: Any) -> str:
    """About ``n`` characters of prose-like text (words from a small vocabulary)."""
    words = []
    size = 0
    while size < n:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:n]


_VOCABULARY = (
    "the order service retries payment with optimistic locking see models py chose "
    "index on user id cursor stream tail seq entry thread note agent decided found test "
    "failing because migration missing column added fallback for timeout in client http "
    "refactor parse config toml walk up folders project remote git origin deploy staging"
)
_WORDS = _VOCABULARY.split()


def now() -> float:
    return time.perf_counter()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process ``pid`` and its live children (the server's
    workers), from Linux ``/proc``; NaN elsewhere."""
    total = 0.0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if stat_file.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total if total or Path(f"/proc/{pid}").exists() else float("nan")


# --- the web UI --------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class WebClient:
    """A browser's requests, for the web UI benchmarks: one keep-alive HTTP connection with
    its own cookie jar (the session cookie), accepting gzip; ``wire_bytes`` is the size of the
    last answer's body as sent (compressed), the returned body is decoded."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, 60)
        self.cookies: dict[str, str] = {}
        self.wire_bytes = 0

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {"Accept-Encoding": "gzip", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=sent)
        response = self.conn.getresponse()
        data = response.read()
        self.wire_bytes = len(data)
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        if response.getheader("content-encoding") == "gzip":
            import gzip

            data = gzip.decompress(data)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def sign_in(self, user: str, password: str) -> None:
        status, _, page = self.request("GET", "/login")
        match = _CSRF.search(page.decode())
        if status != 200 or not match:
            raise RuntimeError(f"GET /login answered {status}")
        form = urlencode({"username": user, "password": password, "csrf": match.group(1)})
        status, headers, _ = self.request(
            "POST",
            "/login",
            form.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 303 or "threadline_session" not in self.cookies:
            raise RuntimeError(f"signing in failed: {status} {headers.get('location')}")

    def close(self) -> None:
        self.conn.close()
