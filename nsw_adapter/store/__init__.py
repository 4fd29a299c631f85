"""Durable state: the Store (SQLite by default, or PostgreSQL), its roles and the records it hands out.

roles.py      the Store protocol, split by the role that uses it (intake, submit, poll, cancel,
              outbox, housekeeping, operations)
records.py    what it takes and hands out; facade.py SqlStore over the parts it lists, open_store
"""

from __future__ import annotations

from nsw_adapter.lifecycle import FINAL_STATES, DossierChanged, DossierState, IntakeOutcome
from nsw_adapter.store.events import EventDelivery, EventRecord
from nsw_adapter.store.facade import SqlStore, open_store
from nsw_adapter.store.records import (
    NO_SIGNATURE,
    AuditEntry,
    ClaimedDossier,
    DeadLetter,
    DossierView,
    IncomingMessage,
    OutboxItem,
    OutgoingMessage,
    PendingCancellation,
    PendingPoll,
    PollOutcome,
    Purged,
    ReceiptRecord,
    RejectionFactory,
    SignatureRecord,
    StoreStats,
    SubmissionStart,
    SubscriberFigures,
    SupplementRecord,
    Transition,
    UnknownRecord,
)
from nsw_adapter.store.roles import (
    CancelStore,
    EventStore,
    HousekeepingStore,
    IntakeStore,
    OperationsStore,
    OutboxStore,
    PollStore,
    Store,
    SubmitStore,
    WorkerStore,
)

__all__ = [
    "FINAL_STATES",
    "NO_SIGNATURE",
    "AuditEntry",
    "CancelStore",
    "ClaimedDossier",
    "DeadLetter",
    "DossierChanged",
    "DossierState",
    "DossierView",
    "EventDelivery",
    "EventRecord",
    "EventStore",
    "HousekeepingStore",
    "IncomingMessage",
    "IntakeOutcome",
    "IntakeStore",
    "OperationsStore",
    "OutboxItem",
    "OutboxStore",
    "OutgoingMessage",
    "PendingCancellation",
    "PendingPoll",
    "PollOutcome",
    "PollStore",
    "Purged",
    "ReceiptRecord",
    "RejectionFactory",
    "SignatureRecord",
    "SqlStore",
    "Store",
    "StoreStats",
    "SubmissionStart",
    "SubmitStore",
    "SubscriberFigures",
    "SupplementRecord",
    "Transition",
    "UnknownRecord",
    "WorkerStore",
    "open_store",
]
