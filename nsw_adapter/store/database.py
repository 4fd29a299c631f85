"""What every part of the store works through: the engine, transactions, the clock, statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine

from nsw_adapter.store import audit_chain
from nsw_adapter.store import engine as engines
from nsw_adapter.store.prepared import PreparedCache, PreparedRows
from nsw_adapter.store.statements import Statement

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Database:
    """One store's engine (SQLite or PostgreSQL), its clock, its deadline, and how it runs statements."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, deadline_minutes: float = 30.0) -> None:
        self.engine = engine
        self._read_engine = engine.execution_options(**{engines.READ_ONLY: True})
        self.clock = clock
        self.deadline = timedelta(minutes=deadline_minutes)  # a dossier's, from its first message
        self.dialect = engine.dialect.name
        self._prepared = PreparedCache(engine.dialect)
        # SQLite has one writer: its writers queue (see WriterQueue). PostgreSQL needs no queue.
        self.writers = engines.WriterQueue(engine.url.database or "") if self.dialect == "sqlite" else None

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction (BEGIN IMMEDIATE on SQLite), committed on success with the audit rows it
        inserted chained (audit_chain.seal) just before the commit."""
        with self.writers or nullcontext(), self.engine.begin() as connection:
            yield connection
            audit_chain.seal(connection, self._prepared)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite a WAL snapshot, without the write lock."""
        with self._read_engine.begin() as connection:
            yield connection

    def run(self, c: Connection, statement: Statement, params: Mapping[str, Any]) -> PreparedRows:
        """A hot statement on the driver's cursor (prepared.py): same SQL, without Core's per-call cost."""
        return self._prepared.run(c, statement.on(self.dialect), params)

    def execute(
        self, c: Connection, statement: Statement, params: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        """A statement through Core: expanding IN lists, claims, operations and reports."""
        return c.execute(statement.on(self.dialect), dict(params or {}))

    def nothing_due(self, ids_query: Statement, now: datetime) -> bool:
        """True when a claim would find nothing, read on SQLite from a WAL snapshot without the
        write lock: idle loops then never queue behind intake's commits for nothing. (PostgreSQL
        claims lock rows, not the database: there it is always False.)"""
        if self.writers is None:
            return False
        # Idle loops ask this several times a second: one prepared SELECT on a pooled driver
        # connection in autocommit (its own snapshot), without Core's transaction and execution
        # set-up: 19 against 110 µs of CPU per check (benchmarks/README.md).
        params = {"now": now, "lim": 1}
        prepared = self._prepared.get(ids_query.on(self.dialect), params)
        connection = self.engine.raw_connection()
        try:
            return prepared.run_on(connection, params).first() is None
        finally:
            connection.close()

    def close(self) -> None:
        self.engine.dispose()
        if self.writers is not None:
            self.writers.close()
