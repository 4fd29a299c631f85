"""The SQL store: one implementation of the Store protocol for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy.engine import URL

from nsw_adapter.store import _chain
from nsw_adapter.store import engine as engines
from nsw_adapter.store._chain import ChainReport
from nsw_adapter.store._nonces import NoncesMixin
from nsw_adapter.store._sql import Clock, utc_now
from nsw_adapter.store.base import Store


class SqlStore(NoncesMixin):
    """The adapter's durable state in SQLite (single writer, BEGIN IMMEDIATE) or PostgreSQL (SKIP LOCKED)."""

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._dialect

    def verify_audit_chain(self) -> ChainReport:
        """Walk the audit rows' hash chain from one consistent snapshot (read only): the first
        broken link, if any (`nsw-adapter audit verify`)."""
        if self._dialect != "postgresql":
            with self._read() as c:  # a WAL snapshot
                return _chain.verify(c)
        with self._engine.connect() as connection:
            snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
            with snapshot.begin():
                return _chain.verify(snapshot)


def open_store(
    url: str | URL,
    *,
    deadline_minutes: float = 30.0,
    clock: Clock = utc_now,
    pool_size: int = 8,
    migrate: bool = False,
    group_commit: bool | None = None,
) -> SqlStore:
    """A store on `sqlite:///path` (folder created) or `postgresql+psycopg://...`; migrate=True migrates."""
    store = SqlStore(
        engines.create(url, pool_size=pool_size),
        clock=clock,
        deadline_minutes=deadline_minutes,
        group_commit=group_commit,
    )
    if migrate:
        store.migrate()
    return store


def _implements_the_protocol(store: SqlStore) -> Store:
    """mypy checks here that SqlStore satisfies the Store protocol."""
    return store
