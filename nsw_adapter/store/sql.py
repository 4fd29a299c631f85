"""The SQL store: one implementation of the Store protocol for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from nsw_adapter.errors import StoreNotReady, StoreUnreachable
from nsw_adapter.store import _chain, migrations
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
    existing: bool = False,
    group_commit: bool | None = None,
) -> SqlStore:
    """A store on `sqlite:///path` (folder created) or `postgresql+psycopg://...`; migrate=True migrates.

    existing=True opens only a store that is there with this version's schema, creating and
    changing nothing (commands that read, and the daemon): StoreNotReady says what is missing or
    which version it holds, StoreUnreachable that its server does not answer.
    """
    if existing:
        check_existing(url)
    store = SqlStore(
        engines.create(url, pool_size=pool_size),
        clock=clock,
        deadline_minutes=deadline_minutes,
        group_commit=group_commit,
    )
    if migrate:
        store.migrate()
    return store


def check_existing(url: str | URL) -> None:
    """Raise StoreNotReady unless `url` holds a store at migrations.LATEST, without creating anything."""
    parsed = engines.normalise_url(url)
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or ""
        if not Path(where).is_file():  # before any engine: connecting would create the file
            raise StoreNotReady(f"no store at {where}")
    engine = engines.create(parsed, pool_size=1)
    try:
        with engine.connect() as connection:
            have = migrations.applied_version(connection)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise StoreUnreachable(f"cannot reach the store at {where}: {reason}") from None
    finally:
        engine.dispose()
    want = migrations.LATEST
    if have is None:
        raise StoreNotReady(f"no nsw-adapter store in {where}")
    if have < want:
        raise StoreNotReady(
            f"the store at {where} has schema version {have}, this nsw-adapter needs {want}: "
            "run `nsw-adapter db migrate`"
        )
    if have > want:
        raise StoreNotReady(
            f"the store at {where} has schema version {have}, newer than this nsw-adapter knows ({want}): "
            "upgrade nsw-adapter"
        )


def _implements_the_protocol(store: SqlStore) -> Store:
    """mypy checks here that SqlStore satisfies the Store protocol."""
    return store
