"""The usage log: one SQLite row per request, written off the request's thread.

``usage.sqlite`` in the byok home holds, per request: when (UTC), profile, provider type, model,
a key fingerprint (a short one-way hash, never the key), token counts, time to first token,
total time, status (``ok``, an error kind, or ``interrupted``), finish reason, thread, and, only
when the user turns it on (``[settings] log_text = true`` in profiles.toml, or
``BYOK_MAGIC_LOG_TEXT=1``), the prompt and answer text.

Writes go through one background thread per process, so a slow or locked disk never delays an
answer; a write that fails is reported once as a warning on the ``byok_magic`` logger and never
raised. The database runs in WAL mode and writers retry while another kernel holds the lock.
Each batch opens and closes its own connection, so the file may be deleted at any time: the
next request creates it again. ``sqlite3`` is imported when the first request finishes.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .router import Answer, Router

LOG_NAME = "usage.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT = 5.0  # seconds SQLite itself waits for another writer, per attempt
ATTEMPTS = 6
COLUMNS = (
    "time",
    "profile",
    "provider",
    "model",
    "key_fingerprint",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "ttft",
    "total",
    "status",
    "finish",
    "thread",
    "prompt",
    "answer",
)
_CREATE = """CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    profile TEXT, provider TEXT, model TEXT, key_fingerprint TEXT,
    input_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER, cached_tokens INTEGER,
    ttft REAL, total REAL,
    status TEXT NOT NULL, finish TEXT, thread TEXT,
    prompt TEXT, answer TEXT
)"""
_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")

log = logging.getLogger("byok_magic")


def utc_iso(when: datetime) -> str:
    """The one time format in the log: ``2025-06-01T12:00:00.000+00:00`` (sorts as text)."""
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def log_text_enabled(config: Config | None) -> bool:
    """Whether prompt and answer text are logged: ``BYOK_MAGIC_LOG_TEXT`` wins over the file."""
    env = os.environ.get("BYOK_MAGIC_LOG_TEXT")
    if env is not None and env.strip().lower() in _TRUE + _FALSE:
        return env.strip().lower() in _TRUE
    if config is None:
        return False
    try:
        config.refresh()
        value = config.settings.get("log_text", False)
    except Exception:  # a broken profile file must not break logging, nor turn text on
        return False
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


def row_from(answer: Answer, log_text: bool = False) -> tuple[Any, ...]:
    """The log row for one finished answer (plain values, in :data:`COLUMNS` order)."""
    now = time.monotonic()
    started = datetime.now(timezone.utc) - timedelta(seconds=max(0.0, now - answer.started))
    u = answer.usage
    ttft = None if answer.first_token is None else answer.first_token - answer.started
    total = (answer.ended or now) - answer.started
    return (
        utc_iso(started),
        answer.profile,
        answer.provider,
        answer.model,
        answer.key_fingerprint,
        u.input_tokens if u else None,
        u.output_tokens if u else None,
        u.reasoning_tokens if u else None,
        u.cached_tokens if u else None,
        None if ttft is None else round(ttft, 4),
        round(total, 4),
        answer.status,
        answer.finish.reason if answer.finish else None,
        getattr(answer, "thread", None),
        getattr(answer, "prompt", None) if log_text else None,
        answer.text if log_text else None,
    )


# ---------------------------------------------------------------------------------------------
# the background writer (one per process)


class _Writer:
    """Queue + daemon thread that writes batches; :meth:`flush` waits for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reset()
        self._warned: set[str] = set()
        self._atexit = False

    def _reset(self) -> None:
        self._q: queue.SimpleQueue[tuple[Path, tuple[Any, ...]]] = queue.SimpleQueue()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def put(self, path: Path, row: tuple[Any, ...]) -> None:
        with self._cond:
            if self._pid != os.getpid():  # forked: the parent's queue and thread are not ours
                self._reset()
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="byok-usage-writer", daemon=True
                )
                self._thread.start()
                if not self._atexit:
                    atexit.register(self.flush, 3.0)
                    self._atexit = True
        self._q.put((path, row))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written (or dropped); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        q = self._q
        while True:
            batch = [q.get()]
            while len(batch) < 1000:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            by_path: dict[Path, list[tuple[Any, ...]]] = {}
            for path, row in batch:
                by_path.setdefault(path, []).append(row)
            for path, rows in by_path.items():
                self._write(path, rows)
            with self._cond:
                self._pending -= len(batch)
                self._cond.notify_all()

    def _write(self, path: Path, rows: list[tuple[Any, ...]]) -> None:
        try:
            for attempt in range(ATTEMPTS):
                try:
                    with connect(path, create=True) as con:
                        con.execute("BEGIN IMMEDIATE")
                        con.executemany(_INSERT, rows)
                        con.execute("COMMIT")
                    return
                except Exception as exc:  # another kernel holds the lock: wait, try again
                    if not _busy(exc) or attempt == ATTEMPTS - 1:
                        raise
                    time.sleep(0.05 * 2**attempt)
        except Exception as exc:  # never raised: a request must not fail for its log
            key = str(path)
            if key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "usage log: cannot write %s (%s: %s); answers are unaffected, but usage is "
                    "not recorded (fix or delete the file)",
                    path,
                    type(exc).__name__,
                    exc,
                )


_writer = _Writer()


def flush(timeout: float = 10.0) -> bool:
    """Wait for queued usage rows to reach the disk (tests, ``%byok usage``, process exit)."""
    return _writer.flush(timeout)


# ---------------------------------------------------------------------------------------------
# the database


class _Connection:
    """A short-lived connection in WAL mode (schema created when ``create``).

    SQLite waits up to :data:`BUSY_TIMEOUT` for another process's lock; the writer retries on
    top of that. Closing at once lets a deleted file be recreated by the next batch.
    """

    def __init__(self, path: Path, create: bool) -> None:
        self.path, self.create = path, create
        self.con: Any = None

    def __enter__(self) -> Any:
        import sqlite3

        try:
            return self._open(sqlite3)
        except BaseException:
            self.__exit__()
            raise

    def _open(self, sqlite3: Any) -> Any:
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # private from the start: it may hold prompts
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.con = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        if self.create:
            self.con.execute(_CREATE)
            self.con.execute("CREATE INDEX IF NOT EXISTS requests_time ON requests(time)")
            if self.con.execute("PRAGMA user_version").fetchone()[0] == 0:
                self.con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return self.con

    def __exit__(self, *exc: Any) -> None:
        if self.con is not None:
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            self.con.close()


def connect(path: Path, create: bool = False) -> _Connection:
    """``with connect(path) as con:`` — see :class:`_Connection`."""
    return _Connection(path, create)


def _busy(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class UsageLog:
    """One usage database file: record answers, read rows, export, clear."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, router: Router) -> UsageLog:
        """The log that belongs to a router: ``usage.sqlite`` next to its profile file."""
        return cls(router.config.home / LOG_NAME)

    def record(self, answer: Answer, log_text: bool = False) -> None:
        """Queue one answer's row; returns at once and never raises."""
        try:
            _writer.put(self.path, row_from(answer, log_text))
        except Exception as exc:
            log.warning("usage log: cannot record a request (%s)", type(exc).__name__)

    def rows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Logged requests, oldest first (pending writes of this process included)."""
        flush()
        if not self.path.exists():
            return []
        query = f"SELECT {', '.join(COLUMNS)} FROM requests"
        params: tuple[Any, ...] = ()
        if since is not None:
            query, params = query + " WHERE time >= ?", (utc_iso(since),)
        with connect(self.path) as con:
            try:
                cur = con.execute(query + " ORDER BY time, id", params)
            except Exception as exc:
                if "no such table" in str(exc):
                    return []
                raise
            return [dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()]

    def clear(self, before: datetime | None = None) -> int:
        """Delete all rows, or those before ``before``; deleted text is overwritten on disk."""
        flush()
        if not self.path.exists():
            return 0
        with connect(self.path, create=True) as con:
            con.execute("PRAGMA secure_delete=ON")
            if before is None:
                n = con.execute("DELETE FROM requests").rowcount
            else:
                n = con.execute("DELETE FROM requests WHERE time < ?", (utc_iso(before),)).rowcount
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.execute("VACUUM")
        return int(n)


class UsageListener:
    """A router listener that logs every answer to the router's usage log."""

    def __init__(self, router: Router, usage_log: UsageLog | None = None) -> None:
        self.router = router
        self.usage_log = usage_log

    def __call__(self, answer: Answer) -> None:
        try:
            config = self.router.config
            target = self.usage_log or UsageLog(config.home / LOG_NAME)
            target.record(answer, log_text_enabled(config))
        except Exception as exc:  # the router would warn on every request; say it once here
            if "listener" not in _writer._warned:
                _writer._warned.add("listener")
                log.warning("usage log: not recording (%s)", type(exc).__name__)


def attach(router: Router, usage_log: UsageLog | None = None) -> UsageListener:
    """Log every request ``router`` makes (once: a second call returns the first listener)."""
    for existing in router.listeners:
        if isinstance(existing, UsageListener):
            return existing
    listener = UsageListener(router, usage_log)
    router.listeners.append(listener)
    return listener
