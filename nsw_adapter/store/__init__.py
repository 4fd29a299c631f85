"""Durable state: the Store protocol and its SQL implementation (SQLite by default, or PostgreSQL).

base.py        the contract: states, records, the Store protocol, assembly semantics
sql.py         SqlStore and open_store(url): one SQLAlchemy Core implementation, both dialects
_intake.py     receive / record_refused / expire_incomplete (assembly applied in SQL)
_work.py       claims with leases (SKIP LOCKED), submission, decisions, cancellations
_ops.py        outbox, heartbeat/release, dead letters, stats, describe, purge, migrate
_nonces.py     the durable replay cache of WS-Security nonces (remember_nonce, purge_nonces)
_sql.py        transactions, dialect upserts, history rows, outbox rows; _batch.py group commit
tables.py      the tables; migrations.py the versioned runner
engine.py      SQLite/PostgreSQL engines, and the SQLite writer queue (threads and processes)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nsw_adapter.store.base import (
    FINAL_STATES,
    AuditEntry,
    ClaimedDossier,
    DeadLetter,
    DossierChanged,
    DossierState,
    DossierView,
    IncomingMessage,
    IntakeOutcome,
    OutboxItem,
    OutgoingMessage,
    PendingCancellation,
    PendingPoll,
    PollOutcome,
    ReceiptRecord,
    RejectionFactory,
    Store,
    StoreStats,
    SubmissionStart,
    Transition,
    UnknownRecord,
)

if TYPE_CHECKING:
    from nsw_adapter.store.sql import SqlStore


def open_store(url: str, **options: Any) -> SqlStore:
    """A store on `sqlite:///path` or `postgresql+psycopg://...` (see `nsw_adapter.store.sql.open_store`)."""
    from nsw_adapter.store.sql import open_store as _open  # deferred: assembly imports store.base

    return _open(url, **options)


__all__ = [
    "FINAL_STATES",
    "AuditEntry",
    "ClaimedDossier",
    "DeadLetter",
    "DossierChanged",
    "DossierState",
    "DossierView",
    "IncomingMessage",
    "IntakeOutcome",
    "OutboxItem",
    "OutgoingMessage",
    "PendingCancellation",
    "PendingPoll",
    "PollOutcome",
    "ReceiptRecord",
    "RejectionFactory",
    "Store",
    "StoreStats",
    "SubmissionStart",
    "Transition",
    "UnknownRecord",
    "open_store",
]
