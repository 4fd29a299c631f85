"""The store as each of its users sees it: one small protocol per role, and `Store`, all of them.

Every method is one transaction: a state change is committed with what caused it, its history
row and any Result it enqueues; nothing is acknowledged to the NSW, nor sent to the portal, before
the store has committed it. A worker whose dossier changed under it (cancelled, amended, lease
lost) gets `DossierChanged` from the method it calls: nothing was written, drop the work. What a
dossier's states are and what each event does to them: `nsw_adapter.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from nsw_adapter.errors import Problem
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.lifecycle import IntakeOutcome
from nsw_adapter.store.audit_chain import ChainReport
from nsw_adapter.store.events import EventDelivery, EventRecord
from nsw_adapter.store.history import DossierHistory
from nsw_adapter.store.incarnation import NameLock
from nsw_adapter.store.records import (
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
)
from nsw_adapter.store.reports import GateFigures


class IntakeStore(Protocol):
    """What the receiveMessage endpoint needs."""

    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        """Store a pushed message and apply it to its dossier, committed before returning."""

    def record_refused(
        self, raw: bytes, sha256: str, problems: Sequence[Problem], signature: SignatureRecord | None = None
    ) -> None:
        """Keep an unusable envelope (answered 22 E-ENVELOPE, or E-SIGNATURE with its `signature`
        record) for audit; it is never processed."""

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        """Record a used WS-Security nonce's digest until `expires_at`, atomically: True when it was
        new, False when it is already held (a replayed token). Committed before returning."""


class Dossiers(Protocol):
    """Giving up on a dossier, or trying it again later: every loop that works on dossiers."""

    def defer(self, dossier_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        """A transient failure: release the lease, try again at `retry_at`, count the attempt.
        `counted` False (its service refused our credentials): no attempt counted, its retry budget
        started afresh at the next attempt."""

    def dead_letter(self, dossier_id: int, reason: str) -> None:
        """Give up on a dossier (budget exhausted or permanent failure), keeping its payload."""

    def bring_forward_dossiers(self) -> int:
        """The portal is back after an outage: every dossier deferred for it (to submit, or a
        cancellation owed) is due now, its attempts and budget unchanged; how many."""


class SubmitStore(Dossiers, Protocol):
    """What the submit loop needs: READY dossiers, their submissions and receipts."""

    def claim_ready(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
        """Lease up to `limit` READY dossiers due now (SKIP LOCKED on PostgreSQL). A SUBMITTING one
        whose lease expired (its worker died mid-call) is handed out again, same client_message_id."""

    def reject_locally(
        self,
        dossier_id: int,
        problems: Sequence[Problem],
        result: OutgoingMessage,
        *,
        version: int | None = None,
    ) -> None:
        """READY (or SUBMITTING) -> REJECTED_LOCALLY with its 22 enqueued; with `version` (the
        claim's), DossierChanged when the dossier was amended since."""

    def begin_submissions(self, starts: Sequence[SubmissionStart]) -> list[Exception | None]:
        """READY -> SUBMITTING for each, the submission stored before the portal is called; one
        transaction; per start None or the exception it met (DossierChanged...), which costs the
        others nothing."""

    def record_receipts(self, receipts: Sequence[ReceiptRecord]) -> list[Exception | None]:
        """SUBMITTING -> SUBMITTED with each 21 enqueued, the first poll at `next_poll_at`; one
        transaction, as begin_submissions."""


class PollStore(Dossiers, Protocol):
    """What the poll loop needs: SUBMITTED dossiers and their decisions."""

    def claim_polls(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[PendingPoll]:
        """Lease up to `limit` (<= 100) SUBMITTED dossiers whose next poll is due."""

    def record_polls(self, outcomes: Sequence[PollOutcome]) -> list[Exception | None]:
        """Each outcome (still pending: poll again then; decided: CLEARED / REJECTED / CANCELLED with
        its Result enqueued) in one transaction; per outcome None or the exception it met."""


class CancelStore(Dossiers, Protocol):
    """What the cancel loop needs: cancellations owed."""

    def claim_cancellations(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[PendingCancellation]:
        """Lease cancellations owed (to the portal when receipt_number is set, then the 24 to the NSW)."""

    def finish_cancellation(self, dossier_id: int, result: OutgoingMessage, request: bytes | None) -> None:
        """The cancellation is done: its 24 enqueued, and the CancelDeclaration `request` sent (None
        when the portal never held the dossier) kept for audit."""


class OutboxStore(Protocol):
    """What the outbox loop needs: Results to send to the NSW."""

    def claim_outbox(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[OutboxItem]:
        """Lease due outbox entries, oldest first; one dossier's entries go out in order."""

    def mark_sent(self, *outbox_ids: int) -> None:
        """The NSW answered 99 (or a duplicate) to each: done (one transaction for all)."""

    def defer_outbox(self, outbox_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        """A transient failure sending a result: try again later (`counted` as for `defer`)."""

    def dead_letter_outbox(self, outbox_id: int, reason: str) -> None:
        """Give up on one result, keeping its payload."""

    def bring_forward_results(self) -> int:
        """The NSW is back after an outage: every Result deferred for it is due now; how many."""


class EventStore(Protocol):
    """What the event loops need: events fanned out to the subscribers, claimed, delivered."""

    def fan_out_events(self, subscribers: Sequence[SubscriberSettings], now: datetime) -> int:
        """Make each subscriber's delivery rows for events not fanned out yet; how many events."""

    def claim_events(
        self,
        subscriber: str,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        now: datetime,
        fan_out_to: Sequence[SubscriberSettings] = (),
    ) -> list[EventDelivery]:
        """Lease a subscriber's due deliveries, oldest first; one dossier's events go out in order.
        With `fan_out_to`, new events are fanned out to those subscribers first (same transaction)."""

    def mark_events_delivered(self, *delivery_ids: int) -> None:
        """The subscriber has each (one transaction for all)."""

    def defer_event(self, delivery_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        """A transient failure delivering an event: try again later (`counted` False: put back
        untried, the subscriber refusing our credentials)."""

    def dead_letter_event(self, delivery_id: int, reason: str) -> None:
        """Give up on one delivery (`events replay` sends it again)."""

    def bring_forward_events(self, subscriber: str) -> int:
        """The subscriber is back after an outage: every delivery deferred for it is due now; how many."""


class HousekeepingStore(Protocol):
    """What the housekeeping loop and the worker's shutdown need."""

    def expire_incomplete(self, now: datetime, reject: RejectionFactory) -> int:
        """Reject RECEIVING dossiers past their deadline (E-INCOMPLETE, E-UNKNOWN-DOSSIER); how many."""

    def heartbeat(self, worker_id: str, lease_seconds: float) -> int:
        """Extend every lease this worker holds to now + lease_seconds; returns how many."""

    def release(self, worker_id: str) -> int:
        """Drop every lease this worker holds (graceful shutdown); returns how many."""

    def hold_worker_name(self, name: str, timeout: float) -> NameLock:
        """Hold a worker name for the life of the process (store/incarnation.py); NameInUse when
        another live process keeps it past `timeout` seconds."""

    def take_over(self, name: str, worker_id: str, lock: NameLock) -> int:
        """Free the leases of this name's dead incarnations (the caller holds the name's `lock`,
        checked again before anything is freed); how many."""

    def take_over_peers(self, name: str) -> int:
        """Free the leases of other names' dead incarnations (no live process holds their name);
        how many."""

    def stats(self, now: datetime) -> StoreStats:
        """Dossiers by state, the oldest waiting, dead letters, outbox backlog."""

    def purge_payloads(self, older_than: datetime, *, dry_run: bool = False) -> Purged:
        """Remove payloads (personal data) of messages older than the horizon, keeping the audit rows:
        only messages no longer needed (of dossiers in a final state, or of none; not waiting in the
        outbox); and the bodies of events every subscriber has. How many of each lost (dry_run:
        would lose) theirs."""

    def purge_nonces(self, now: datetime) -> int:
        """Forget nonces that expired before `now`; returns how many."""


class OperationsStore(Protocol):
    """What operators' commands need: the schema, dead letters, one dossier, the audit chain."""

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent, safe to run from several processes)."""

    def dead_letters(self) -> list[DeadLetter]:
        """Everything in the dead-letter state."""

    def retry_dead_letter(self, kind: str, id: int) -> bool:
        """Bring one dead letter back to be tried again; False when there is none with that id."""

    def discard_dead_letter(self, kind: str, id: int, reason: str) -> bool:
        """Close one dead letter for good, the operator's reason kept in the audit trail; False when
        there is none with that id."""

    def describe(self, reference: str, document_type: str) -> DossierView | None:
        """One dossier with its documents in effect, state history and audit trail (None if unknown)."""

    def verify_audit_chain(self) -> ChainReport:
        """Walk the audit trail's hash chain: the first broken link, if any."""

    def history(
        self, *, reference: str | None = None, imo: str | None = None, vessel: str | None = None
    ) -> list[DossierHistory]:
        """Each dossier of a reference, an IMO number or a vessel name (part of it), with its timeline."""

    def report(self, start: datetime, end: datetime, gate: str | None = None) -> list[GateFigures]:
        """Each border gate's figures for the dossiers expected in [start, end) (reports.py)."""

    def events(self, subscriber: SubscriberSettings, start: datetime, end: datetime) -> list[EventRecord]:
        """The events in [start, end) the subscriber wants, with their delivery to it."""

    def replay_events(self, subscriber: SubscriberSettings, start: datetime, end: datetime) -> int:
        """Send the subscriber again the events in [start, end) it wants; how many."""

    def forget_subscriber(self, name: str) -> int:
        """Drop every delivery to a subscriber removed from the settings; how many undelivered."""


class WorkerStore(SubmitStore, PollStore, CancelStore, OutboxStore, EventStore, HousekeepingStore, Protocol):
    """What a worker's loops need, together."""


class Store(IntakeStore, WorkerStore, OperationsStore, Protocol):
    """The adapter's durable state, every role. Each method is one transaction."""

    def close(self) -> None:
        """Finish queued commits, then release connections."""
