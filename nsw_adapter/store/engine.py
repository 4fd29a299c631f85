"""Engines for the two dialects: SQLite (WAL, FULL sync, BEGIN IMMEDIATE) and PostgreSQL (psycopg).

SQLite settings, and why:
* journal_mode=WAL: readers never block the writer, and a commit is one append to the log.
* synchronous=FULL: the log is fsynced at every commit, so a 99 answered after a commit
  survives a power cut, not only a process crash (NORMAL would lose the last commits on
  power loss, which is a message acknowledged and lost). Measured fast enough (benchmarks/intake.py).
* busy_timeout: writers queue for the lock instead of failing at once.
* Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so two
  transactions never both read and then fail to upgrade (SQLITE_BUSY mid-transaction), and a
  claim's read-then-update is exclusive across threads and processes. A transaction that only
  reads (execution option READ_ONLY) begins DEFERRED: WAL gives it a snapshot, and no writer waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: An execution option: this transaction only reads (SQLite then begins DEFERRED, not IMMEDIATE).
READ_ONLY = "nswa_read_only"


def normalise_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pinned to psycopg 3 (the driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create(url: str | URL, *, pool_size: int = 8) -> Engine:
    """An Engine for a `sqlite:///path` or `postgresql+psycopg://...` URL."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite(parsed, pool_size)
    if backend == "postgresql":
        return create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
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
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, not the driver's implicit deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
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
