"""A small versioned migration runner: each step runs once, in order, in one transaction.

Why not Alembic: the schema is a handful of tables, both dialects are covered by SQLAlchemy
Core DDL, and the one hard part (two processes starting at once) is a lock: PostgreSQL takes a
transaction-level advisory lock, SQLite's BEGIN IMMEDIATE already serialises writers. Steps
are append-only: never edit a released step, add the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import Connection, Engine, select, text

from nsw_adapter.store import tables

log = structlog.get_logger(__name__)

_ADVISORY_LOCK_KEY = 0x4E535741  # "NSWA"


def _v1_initial(connection: Connection) -> None:
    tables.metadata.create_all(
        connection,
        tables=[tables.dossiers, tables.messages, tables.documents, tables.history, tables.outbox],
    )


#: (version, name, step) in order.
STEPS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1_initial),
]


def current_version(connection: Connection) -> int:
    """The highest applied version (0 on an empty database)."""
    tables.schema_version.create(connection, checkfirst=True)
    found = connection.execute(select(tables.schema_version.c.version)).scalars().all()
    return max(found, default=0)


def migrate(engine: Engine) -> list[int]:
    """Apply every missing step; returns the versions applied (empty when up to date)."""
    applied: list[int] = []
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        have = current_version(connection)
        for version, name, step in STEPS:
            if version <= have:
                continue
            step(connection)
            connection.execute(
                tables.schema_version.insert().values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
    if applied:
        log.info("store.migrated", versions=applied)
    return applied
