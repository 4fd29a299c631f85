"""Durable state: the Store protocol and its SQL implementation (SQLite by default, or PostgreSQL)."""

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
    RejectionFactory,
    Store,
    StoreStats,
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
    "RejectionFactory",
    "Store",
    "StoreStats",
    "Transition",
    "UnknownRecord",
    "open_store",
]
