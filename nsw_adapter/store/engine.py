"""Engines for the two dialects: SQLite (WAL, FULL sync, BEGIN IMMEDIATE) and PostgreSQL (psycopg).

SQLite settings, and why:
* journal_mode=WAL: readers never block the writer, and a commit is one append to the log.
* synchronous=FULL: the log is fsynced at every commit, so a 99 answered after a commit
  survives a power cut, not only a process crash (NORMAL would lose the last commits on
  power loss, which is a message acknowledged and lost). Measured fast enough (benchmarks/intake.py).
* Writers queue before BEGIN IMMEDIATE (WriterQueue: a lock for threads, an flock of
  `<database>-writer` for processes), so the lock passes at once to the next one;
  busy_timeout remains for anything outside the queue.
* Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so two
  transactions never both read and then fail to upgrade (SQLITE_BUSY mid-transaction), and a
  claim's read-then-update is exclusive across threads and processes. A transaction that only
  reads (execution option READ_ONLY) begins DEFERRED: WAL gives it a snapshot, and no writer waits.

PostgreSQL connections carry libpq's TCP settings (DEAD_PEER below) unless the URL sets its own:
a database host that vanishes without closing its connections (a power cut, a firewall dropping
them) fails a statement in about a minute instead of the kernel's ~15 minutes of retransmissions,
so the store shows failing, the name lock's check notices (store/incarnation.py), and the loops
back off and come back with the database.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a writer waits in the WriterQueue before it fails with "database is locked".
WRITER_QUEUE_TIMEOUT_SECONDS = 30.0
#: An execution option: this transaction only reads (SQLite then begins DEFERRED, not IMMEDIATE).
READ_ONLY = "nswa_read_only"


def normalise_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pinned to psycopg 3 (the driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


#: libpq parameters for a peer that is gone: keepalive probes on an idle connection (after 30 s,
#: every 10 s, 3 unanswered: dead) and at most 30 s for sent data to be acknowledged.
DEAD_PEER: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def dead_peer_params(url: str | URL) -> dict[str, int]:
    """DEAD_PEER but what the URL's query sets itself (an operator's own choice wins)."""
    query = make_url(url).query
    return {name: value for name, value in DEAD_PEER.items() if name not in query}


def create(url: str | URL, *, pool_size: int = 8) -> Engine:
    """An Engine for a `sqlite:///path` or `postgresql+psycopg://...` URL."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite(parsed, pool_size)
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            hide_parameters=True,  # an error's text must not carry crew data
            connect_args=dead_peer_params(parsed),
        )
    raise ValueError(f"unsupported store backend {backend!r}: use sqlite or postgresql")


def _sqlite(url: URL, pool_size: int) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:"):
        raise ValueError("the SQLite store needs a file (an in-memory database is not durable)")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,  # an error's text must not carry crew data
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, not the driver's implicit deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only transaction (READ_ONLY) reads a WAL snapshot without taking the write lock.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so): a no-op once it is.

    Turning a new file to WAL needs its exclusive lock, and SQLite answers "database is locked"
    at once, without the busy handler, to a connection that asks while another holds it (seen
    when several processes open a fresh store together): so, a few short retries.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.01)


@dataclass(frozen=True, slots=True)
class WriterFigures:
    """This process's write transactions on SQLite since it started (zero on PostgreSQL).

    waiting: seconds its threads spent queued for the writer lock, summed over threads (a thread
    per queued writer, so it can pass the wall clock); holding: seconds the lock was held, on the
    wall clock; holding_cpu: the holders' own CPU while they held it. holding near the elapsed
    time means the store's one writer is what limits throughput; holding well above holding_cpu
    means the holders were waiting meanwhile: for the GIL (this process's other threads) or the
    disk's fsync.
    """

    transactions: int = 0
    waiting: float = 0.0
    holding: float = 0.0
    holding_cpu: float = 0.0


# transactions, waiting, holding, holding_cpu: summed in place (about 1.6 µs per transaction).
_totals = [0, 0.0, 0.0, 0.0]
_totals_lock = threading.Lock()


def writer_figures() -> WriterFigures:
    """The process's SQLite writer figures so far (every WriterQueue's, every database's)."""
    with _totals_lock:
        transactions, waiting, holding, holding_cpu = _totals
    return WriterFigures(int(transactions), waiting, holding, holding_cpu)


def _count_write(waited: float, held: float, held_cpu: float) -> None:
    with _totals_lock:
        _totals[0] += 1
        _totals[1] += waited
        _totals[2] += held
        _totals[3] += held_cpu


class WriterQueue:
    """Queues the writers of one SQLite database: this process's threads on a lock, other
    processes on an flock of a file beside the database.

    Writers that meet SQLite's lock wait in its busy handler, which sleeps 1, 2, 5 ... 100 ms
    between tries, so the lock sits idle while they sleep (measured: a mean wait of 27.6 ms per
    write transaction at 50 dossiers/s). Here a thread is woken as soon as the lock is free, and
    a process tries again within 2 ms. Reentrant, so that a nested transaction meets
    busy_timeout as before instead of hanging. A writer that cannot get through the queue
    within WRITER_QUEUE_TIMEOUT_SECONDS (another process stuck in a transaction) fails as
    SQLite would, with "database is locked", rather than hang unseen. Each outermost hold is
    counted (writer_figures: about 1.6 µs per transaction).
    """

    def __init__(self, database: str) -> None:
        self._path = f"{database}-writer"
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        # When the current outermost hold began (perf_counter, the holder's thread_time) and how
        # long its holder queued: set and read by the holder only.
        self._held_since = self._held_cpu_since = self._waited = 0.0

    def __enter__(self) -> None:
        timeout = WRITER_QUEUE_TIMEOUT_SECONDS
        queued = time.perf_counter()
        if not self._threads.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked (this process's writers queue)")
        try:
            if self._depth == 0:
                self._lock_file(time.monotonic() + timeout)
                self._held_since = time.perf_counter()
                self._held_cpu_since = time.thread_time()
                self._waited = self._held_since - queued
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise

    def _lock_file(self, deadline: float) -> None:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        # Non-blocking tries, a fraction of a millisecond apart (SQLite's handler sleeps up to
        # 100 ms): only one thread per process waits here, the others wait on the thread lock.
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (another process writes)") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        outermost = self._depth == 0
        if outermost:
            held = time.perf_counter() - self._held_since
            held_cpu = time.thread_time() - self._held_cpu_since
            waited = self._waited
        try:
            if outermost and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()
        if outermost:
            _count_write(waited, held, held_cpu)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
