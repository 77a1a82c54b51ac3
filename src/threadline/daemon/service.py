"""The capture daemon: watch the agents' transcript folders, read new lines into the local
store, upload them.

One main thread does all the reading and uploading, so there is a single writer of file
offsets in this process. Two helper threads feed it through a queue:

* the watcher (watchfiles: inotify, FSEvents, …) reports changed transcript files within
  ~50 ms; watchers can miss events, so a periodic rescan compares every file with what the
  store knows;
* the control socket takes requests from agent hooks (``flush`` a session now) and from the
  CLI (``ping``, ``stop``).

Uploads happen after each read while the server answers. When it does not, the daemon backs
off exponentially with jitter up to a cap, and keeps reading into the local store meanwhile;
a ``flush`` request tries again at once.

When the local store cannot be written (a full disk), the daemon keeps running: it reports the
error (``threadline daemon status`` asks it over the control socket, as the store may not take
even that), and rescans with the same backoff until the store takes writes again. A file's
offset only advances with the lines stored, so the rescan reads again what was not stored.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import queue
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline import config as config_mod
from threadline import paths
from threadline.daemon import control
from threadline.errors import AlreadyRunning, StoreError
from threadline.sources.model import Agent
from threadline.store import db, notes
from threadline.store import transcripts as tstore
from threadline.sync import deliver
from threadline.watch import roots as roots_mod
from threadline.watch.tail import Exclusions, Tailer

log = logging.getLogger("threadline.daemon")

LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
RETRY_BASE = 1.0


@dataclass
class Options:
    roots: list[roots_mod.Root]
    rescan_interval: float = 60.0
    retry_max: float = 60.0
    debounce_ms: int = 50


@dataclass
class _Flush:
    path: Path | None
    agent: Agent | None
    final: bool
    event: str | None = None
    reply: socket.socket | None = None


def setup_logging(quiet: bool) -> None:
    path = control.log_file()
    paths.ensure_dir(path.parent)
    handler = logging.handlers.RotatingFileHandler(
        path,
        maxBytes=LOG_BYTES,
        backupCount=LOG_BACKUPS,
        encoding="utf-8",
    )
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handler.setFormatter(fmt)
    root = logging.getLogger("threadline")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    if not quiet:
        console = logging.StreamHandler()
        console.setFormatter(fmt)
        root.addHandler(console)


class Backoff:
    """Exponential backoff with jitter and a cap: after ``n`` failures wait a random time
    between half and all of ``min(cap, base · 2ⁿ⁻¹)``."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self.next_at = 0.0

    def failed(self) -> float:
        self.failures += 1
        limit = min(self.cap, self.base * 2.0 ** min(self.failures - 1, 30))
        delay = limit / 2 + random.uniform(0, limit / 2)
        self.next_at = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_at = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.next_at


class _Either:
    """Set when either event is (watchfiles polls ``is_set``)."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class Daemon:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.stop = threading.Event()
        self.queue: queue.Queue[_Flush | Path] = queue.Queue()
        self.backoff = Backoff(RETRY_BASE, options.retry_max)
        #: Retries of a local store that failed (a full disk); ``store_error`` says why.
        self.store_backoff = Backoff(RETRY_BASE, options.retry_max)
        self.store_error: str | None = None
        self.extra_files: dict[Path, Agent | None] = {}
        self._lock_fh: Any = None
        self._server: socket.socket | None = None
        self._watch_restart = threading.Event()
        self._watched: list[Path] = []
        self._reconciled = False

    # --- life cycle ------------------------------------------------------------------------

    def run(self) -> int:
        self._acquire()
        try:
            self.conn = db.connect()
            cfg = config_mod.load()
            self.tailer = Tailer(self.conn, Exclusions(cfg.exclude))
            self._write_pid()
            self._serve_control()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())
            watcher = threading.Thread(target=self._watch, name="watcher", daemon=True)
            watcher.start()
            try:
                db.set_state(self.conn, {"daemon_started": notes.utc_now()})
            except StoreError as exc:
                self._store_failed(exc)
            log.info(
                "started (pid %s), watching %s",
                os.getpid(),
                ", ".join(f"{r.path} ({r.agent})" for r in self.options.roots),
            )
            self._loop()
            log.info("stopped")
            return 0
        finally:
            self._cleanup()

    def _acquire(self) -> None:
        import fcntl

        path = control.lock_file()
        paths.ensure_dir(path.parent)
        self._lock_fh = open(path, "a+b")  # noqa: SIM115 - held while the daemon runs
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise AlreadyRunning(
                f"the daemon is already running (pid {control.read_pid() or '?'})"
            ) from None

    def _write_pid(self) -> None:
        paths.write_atomic(control.pid_file(), f"{os.getpid()}\n")

    def _cleanup(self) -> None:
        self.stop.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(OSError):
                os.unlink(control.socket_path())
        if self._lock_fh is not None:
            try:
                if control.pid_file().read_text(encoding="ascii").strip() == str(os.getpid()):
                    control.pid_file().unlink()
            except OSError:
                pass
            self._lock_fh.close()

    # --- the main loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        next_rescan = 0.0
        while not self.stop.is_set():
            try:
                next_rescan = self._turn(next_rescan)
            except StoreError as exc:  # the store fails: rescan (and so re-read) after a wait
                next_rescan = time.monotonic() + self._store_failed(exc)

    def _turn(self, next_rescan: float) -> float:
        """One pass of the loop: rescan when due, else wait for work; the next rescan time."""
        if time.monotonic() >= next_rescan:
            self.rescan()
            next_rescan = time.monotonic() + self.options.rescan_interval
            self._deliver_if_due()
        wait = next_rescan - time.monotonic()
        if self.backoff.failures and self._pending():
            wait = min(wait, self.backoff.next_at - time.monotonic())
        try:
            first = self.queue.get(timeout=max(0.01, min(wait, 1.0)))
        except queue.Empty:
            if not self.stop.is_set():  # a backoff ran out, or a `push` queued entries
                self._deliver_if_due()
            return next_rescan
        batch = [first]
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        self._handle(batch)  # reads, delivers and answers
        return next_rescan

    def _store_failed(self, exc: StoreError) -> float:
        """Note that the local store failed; returns the seconds to wait before trying again."""
        self.store_error = f"{notes.utc_now()} {exc.message}"
        delay = self.store_backoff.failed()
        log.warning("the local store failed (%s); trying again in %.1f s", exc.message, delay)
        with contextlib.suppress(StoreError):  # a full disk may not take even this
            db.set_state(self.conn, {"last_error": self.store_error})
        return delay

    def _store_works(self) -> None:
        if self.store_error is not None:
            log.info("the local store takes writes again")
            self.store_error = None
            self.store_backoff.succeeded()

    def _handle(self, batch: list[_Flush | Path]) -> None:
        flushes = [item for item in batch if isinstance(item, _Flush)]
        changed = {item for item in batch if isinstance(item, Path)}
        try:
            lines, error = self._read_and_deliver(flushes, changed)
        except StoreError as exc:  # answered here, then handled by the loop
            for flush in flushes:
                self._answer(flush, {"ok": False, "lines": 0, "error": exc.message})
            raise
        for flush in flushes:
            if flush.final and flush.path is not None:
                self.tailer.forget(flush.path)  # the session ended: drop its parser state
            self._answer(flush, {"ok": error is None, "lines": lines, "error": error})

    def _read_and_deliver(
        self, flushes: list[_Flush], changed: set[Path]
    ) -> tuple[int, str | None]:
        """Read what the hooks and the watcher named; the lines read and why the upload
        failed, if it did."""
        if any(flush.path is None for flush in flushes):
            self.rescan()
        for flush in flushes:
            if flush.event:
                log.info("hook %s for %s", flush.event, flush.path)
                db.set_state(self.conn, {f"hook:{flush.agent}:{flush.event}": notes.utc_now()})
            if flush.path is not None:
                changed.add(flush.path)
                if roots_mod.agent_of_path(flush.path, self.options.roots) is None:
                    self.extra_files.setdefault(flush.path, flush.agent)
        lines = sum(self._ingest(path) for path in sorted(changed))
        if flushes:
            self.backoff.succeeded()  # a hook asked: try the server now
        return lines, self._deliver_if_due()

    def _ingest(self, path: Path) -> int:
        agent = roots_mod.agent_of_path(path, self.options.roots) or self.extra_files.get(path)
        try:
            result = self.tailer.ingest(path, agent)
        except StoreError:
            self.tailer.forget(path)  # its parser read lines that were not stored
            raise
        except Exception as exc:  # one bad file must not stop the capture of the others
            log.warning("cannot read %s: %s: %s", path, type(exc).__name__, exc)
            db.set_state(self.conn, {"last_error": f"{notes.utc_now()} cannot read {path}: {exc}"})
            return 0
        if result.new_generation:
            log.info("%s was rewritten: new generation", path)
        if result.lines:
            log.info("%s: %d new lines", path, result.lines)
        return result.lines

    def rescan(self) -> None:
        """Compare every transcript file with what the store knows; read those that changed."""
        known = {
            row["path"]: (row["size"], row["mtime_ns"], row["inode"], row["status"])
            for row in tstore.all_sources(self.conn)
        }
        files = [f for root in self.options.roots for f in roots_mod.walk(root.path)]
        files += list(self.extra_files)
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            seen = known.get(str(path))
            if (
                seen is None
                or seen[:3] != (st.st_size, st.st_mtime_ns, st.st_ino)
                or seen[3] == (tstore.GONE)
            ):
                self._ingest(path)
        self._check_watch_roots()
        db.set_state(self.conn, {"daemon_last_scan": notes.utc_now()})
        self._store_works()

    # --- uploading ---------------------------------------------------------------------------

    def _pending(self) -> bool:
        return notes.pending_count(self.conn) > 0

    def _deliver_if_due(self) -> str | None:
        """Deliver what is pending unless backing off; the reason it failed, if it did."""
        if not self.backoff.due() or not self._pending():
            return None
        result = deliver.deliver_pending(
            self.conn,
            config_mod.load(),
            timeout=30.0,
            lock_timeout=30.0,
            reconcile=not self._reconciled,  # the server may hold more, or less, than we think
        )
        self._reconciled = result.finished
        if not result.finished:
            if result.reason == deliver.NOT_LOGGED_IN:
                db.set_state(self.conn, {"last_error": f"{notes.utc_now()} {result.message}"})
            elif isinstance(result.error, StoreError):
                self._store_failed(result.error)
            delay = self.backoff.failed()
            log.warning("upload failed (%s); next try in %.1f s", result.message, delay)
            return result.message
        self.backoff.succeeded()
        if result.sent:
            log.info("uploaded %d entries in %d batches", result.sent, result.batches)
        for reason in result.blocked:
            log.error("a stream was refused by the server: %s", reason)
        return None

    # --- watching ----------------------------------------------------------------------------

    def _existing_roots(self) -> list[Path]:
        return [r.path for r in self.options.roots if r.path.is_dir()]

    def _check_watch_roots(self) -> None:
        if self._existing_roots() != self._watched:
            self._watch_restart.set()

    def _watch(self) -> None:
        import watchfiles

        while not self.stop.is_set():
            self._watch_restart.clear()
            self._watched = self._existing_roots()
            if not self._watched:
                self._wait_restart()
                continue
            try:
                for changes in watchfiles.watch(
                    *self._watched,
                    stop_event=_Either(self.stop, self._watch_restart),
                    debounce=self.options.debounce_ms,
                    step=self.options.debounce_ms,
                    rust_timeout=1000,
                    yield_on_timeout=False,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    for change, name in changes:
                        if roots_mod.is_transcript(os.path.basename(name)):
                            self.queue.put(Path(name))
                        elif change == watchfiles.Change.added and os.path.isdir(name):
                            # A new folder may hold files written before it was watched.
                            for found in roots_mod.walk(Path(name)):
                                self.queue.put(found)
            except (OSError, RuntimeError) as exc:
                log.warning("watching failed (%s); relying on rescans", exc)
                self._wait_restart()

    def _wait_restart(self) -> None:
        deadline = time.monotonic() + self.options.rescan_interval
        while not self.stop.is_set() and not self._watch_restart.is_set():
            if time.monotonic() >= deadline:
                return
            self.stop.wait(0.5)

    # --- the control socket ------------------------------------------------------------------

    def _serve_control(self) -> None:
        path = control.socket_path()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            server.bind(path)
        finally:
            os.umask(old)
        server.listen(64)
        server.settimeout(0.5)
        self._server = server
        threading.Thread(target=self._accept, name="control", daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self.stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            message = control.recv_line(conn)
        except (OSError, ValueError):
            conn.close()
            return
        op = message.get("op") if isinstance(message, dict) else None
        if op == "ping":
            self._send(conn, {"ok": True, "pid": os.getpid(), "store_error": self.store_error})
        elif op == "stop":
            self._send(conn, {"ok": True})
            self.stop.set()
        elif op == "flush":
            raw_path = message.get("path")
            flush = _Flush(
                path=Path(os.path.abspath(raw_path)) if isinstance(raw_path, str) else None,
                agent=message.get("agent")
                if message.get("agent") in ("claude-code", "codex")
                else None,
                final=bool(message.get("final")),
                event=str(message["event"])[:40] if message.get("event") else None,
            )
            if message.get("wait"):
                flush.reply = conn
                self.queue.put(flush)
                return  # answered by the main loop
            self._send(conn, {"ok": True, "queued": True})
            self.queue.put(flush)
        else:
            self._send(conn, {"ok": False, "error": f"unknown op {op!r}"})

    def _answer(self, flush: _Flush, answer: dict[str, Any]) -> None:
        if flush.reply is not None:
            self._send(flush.reply, answer)

    @staticmethod
    def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
        try:
            control.send_line(conn, answer)
        except OSError:
            pass
        finally:
            conn.close()
