"""The store's contract: dossier states, the records it hands out, and the Store protocol.

Two implementations (SQLite, PostgreSQL) pass one contract test suite. Every method is one
transaction: a state change is committed together with the change that caused it, its
history row, and any outgoing message it enqueues. Nothing is acknowledged to the NSW, and
nothing is sent to the portal, before the store has committed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from nsw_adapter.errors import Problem


class DossierState(StrEnum):
    """Where a dossier (one reference + direction) is in its life."""

    RECEIVING = "receiving"  # documents arriving; not all the General Declaration calls for yet
    READY = "ready"  # complete; waiting to be translated and submitted
    REJECTED_LOCALLY = "rejected_locally"  # failed translation/assembly; a 22 is in the outbox
    SUBMITTING = "submitting"  # submission + ClientMessageId committed; portal call under way
    SUBMITTED = "submitted"  # portal receipt held; polling for the decision
    CLEARED = "cleared"  # final: CLEARED, 23 in the outbox
    REJECTED = "rejected"  # final: REJECTED by the portal, 22 in the outbox
    CANCELLED = "cancelled"  # final: withdrawn by a cancellation, 24 in the outbox when it was submitted
    DEAD = "dead"  # dead letter: delivery exhausted its budget or failed permanently


FINAL_STATES = frozenset(
    {
        DossierState.CLEARED,
        DossierState.REJECTED,
        DossierState.REJECTED_LOCALLY,
        DossierState.CANCELLED,
    }
)


class IntakeOutcome(StrEnum):
    """What `Store.receive` did with a pushed message."""

    STORED = "stored"  # new, committed: answer 99
    DUPLICATE = "duplicate"  # messageId already held: answer 99 again, nothing stored twice
    UNKNOWN_DOSSIER = "unknown_dossier"  # 02/03 for a dossier never seen: stored, a 22 enqueued


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One pushed NSW message as intake hands it to the store (raw bytes kept for audit)."""

    message_id: str
    reference: str  # NSW dossier number
    document_type: str  # "1" arrival / "2" departure
    type: str  # "50", "51", "52", "64", "65"
    function: str  # "01", "02", "03"
    send_date: datetime
    raw: bytes
    sha256: str
    called_for: frozenset[str] | None = None  # for a General Declaration: the types it calls for


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A Result envelope for the NSW, enqueued in the outbox with its own stable messageId."""

    message_id: str
    function: str  # "21", "22", "23", "24"
    payload: bytes


@dataclass(frozen=True, slots=True)
class ClaimedDossier:
    """A READY dossier leased to one worker, with the raw envelopes of its documents in effect."""

    dossier_id: int
    reference: str
    document_type: str
    version: int
    documents: Sequence[bytes]
    client_message_id: str  # fixed when the version became ready; the same on every attempt
    supersedes: str | None  # the receipt this version replaces, when amended after submission
    general_declaration_message_id: str
    attempts: int


@dataclass(frozen=True, slots=True)
class PendingPoll:
    """A SUBMITTED dossier whose decision is due to be asked for."""

    dossier_id: int
    reference: str
    document_type: str
    receipt_number: str
    lineage: bytes  # Translation lineage, serialised, to point portal errors back into NSW documents
    general_declaration_message_id: str


@dataclass(frozen=True, slots=True)
class PendingCancellation:
    """A submitted dossier the NSW cancelled: CancelDeclaration is owed to the portal."""

    dossier_id: int
    reference: str
    document_type: str
    receipt_number: str
    reason: str
    cancellation_message_id: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A leased outbox entry to send through sendAndGetMessage."""

    outbox_id: int
    dossier_id: int | None
    message_id: str
    function: str
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dossier or outbox entry given up on, with why and its original payload."""

    id: int
    kind: str  # "dossier" | "outbox"
    reference: str | None
    reason: str
    failed_at: datetime
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What `nsw-adapter status` and /metrics show."""

    dossiers_by_state: dict[str, int] = field(default_factory=dict)
    oldest_waiting_seconds: float | None = None
    dead_letters: int = 0
    outbox_pending: int = 0


class Store(Protocol):
    """Durable state of the adapter. Each method is one transaction; leases make claims exclusive."""

    # --- lifecycle
    def migrate(self) -> None:
        """Bring the schema up to date (idempotent, safe to run from several processes)."""

    def close(self) -> None:
        """Release connections."""

    # --- intake and assembly
    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        """Store a pushed message and apply it to its dossier, committed before returning."""

    def record_refused(self, raw: bytes, sha256: str, problems: Sequence[Problem]) -> None:
        """Keep an unusable envelope (answered 22 E-ENVELOPE) for audit; it is never processed."""

    def expire_incomplete(self, now: datetime, reject: RejectionFactory) -> int:
        """Reject RECEIVING dossiers past their deadline with E-INCOMPLETE; returns how many."""

    # --- submission
    def claim_ready(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
        """Lease up to `limit` READY dossiers (SKIP LOCKED on PostgreSQL)."""

    def reject_locally(self, dossier_id: int, problems: Sequence[Problem], result: OutgoingMessage) -> None:
        """READY -> REJECTED_LOCALLY with its 22 Result enqueued."""

    def begin_submission(self, dossier_id: int, submission: bytes, lineage: bytes) -> None:
        """READY -> SUBMITTING: the submission is stored before the portal is called."""

    def record_receipt(
        self, dossier_id: int, receipt_number: str, duplicate: bool, result: OutgoingMessage
    ) -> None:
        """SUBMITTING -> SUBMITTED with the 21 Result enqueued; polling becomes due."""

    def defer(self, dossier_id: int, reason: str, retry_at: datetime) -> None:
        """A transient failure: release the lease, try again at `retry_at`, count the attempt."""

    def dead_letter(self, dossier_id: int, reason: str) -> None:
        """Give up on a dossier (budget exhausted or permanent failure), keeping its payload."""

    # --- decisions
    def claim_polls(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[PendingPoll]:
        """Lease up to `limit` (<= 100) SUBMITTED dossiers whose next poll is due."""

    def record_pending(self, dossier_id: int, next_poll_at: datetime) -> None:
        """Still PENDING at the portal: ask again at `next_poll_at` (backoff)."""

    def record_decision(self, dossier_id: int, state: DossierState, result: OutgoingMessage) -> None:
        """SUBMITTED -> CLEARED / REJECTED / CANCELLED with its Result enqueued."""

    def claim_cancellations(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[PendingCancellation]:
        """Lease cancellations owed to the portal."""

    # --- results to the NSW
    def claim_outbox(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[OutboxItem]:
        """Lease due outbox entries, oldest first; one dossier's entries go out in order."""

    def mark_sent(self, outbox_id: int) -> None:
        """The NSW answered 99 (or a duplicate): done."""

    def defer_outbox(self, outbox_id: int, reason: str, retry_at: datetime) -> None:
        """A transient failure sending a result: try again later."""

    def dead_letter_outbox(self, outbox_id: int, reason: str) -> None:
        """Give up on one result, keeping its payload."""

    # --- operations
    def release(self, worker_id: str) -> int:
        """Drop every lease this worker holds (graceful shutdown); returns how many."""

    def dead_letters(self) -> list[DeadLetter]:
        """Everything in the dead-letter state."""

    def retry_dead_letter(self, kind: str, id: int) -> bool:
        """Bring one dead letter back to be tried again; False when there is none with that id."""

    def stats(self, now: datetime) -> StoreStats:
        """Dossiers by state, the oldest waiting, dead letters, outbox backlog."""

    def purge_payloads(self, older_than: datetime) -> int:
        """Remove payloads (personal data) of messages older than the horizon; keep audit rows."""


class RejectionFactory(Protocol):
    """Builds the 22 Result for a dossier rejected inside the store (E-INCOMPLETE at the deadline)."""

    def __call__(
        self,
        reference: str,
        document_type: str,
        pre_reference: str | None,
        problems: Sequence[Problem],
    ) -> OutgoingMessage: ...
