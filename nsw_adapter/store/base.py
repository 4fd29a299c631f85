"""The store's contract: the records it hands out, and the Store protocol.

Two implementations (SQLite, PostgreSQL) pass one contract test suite. Every method is one
transaction: a state change is committed together with the change that caused it, its
history row, and any outgoing message it enqueues. Nothing is acknowledged to the NSW, and
nothing is sent to the portal, before the store has committed it. What a dossier's states
are and what each event does to them: `nsw_adapter.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from nsw_adapter.errors import NswAdapterError, Problem
from nsw_adapter.lifecycle import FINAL_STATES, DossierChanged, DossierState, IntakeOutcome


class UnknownRecord(NswAdapterError):
    """No dossier or outbox entry with that id."""


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """What the audit trail keeps of a pushed message's ds:Signature (nsw_adapter.signature).

    `outcome`: verified, failed, missing (required, absent) or unchecked (present, checking off);
    the signer's certificate (RFC 4514 subject and issuer, hex serial, SHA-256 thumbprint) when one
    was read. The subject may name a person: it is stored for audit and never logged.
    """

    outcome: str
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None
    sha256: str | None = None

    def columns(self) -> dict[str, str | None]:
        """The messages table's columns for it (tables.messages, v6)."""
        return {
            "signature": self.outcome,
            "signer_subject": self.subject,
            "signer_issuer": self.issuer,
            "signer_serial": self.serial,
            "signer_sha256": self.sha256,
        }


#: The v6 columns of a row with no signature record (unsigned and not required, or our own).
NO_SIGNATURE: dict[str, str | None] = dict.fromkeys(
    ("signature", "signer_subject", "signer_issuer", "signer_serial", "signer_sha256")
)


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
    pre_reference: str | None = None  # the messageId this one replaces (02) or cancels (03)
    reason: str | None = None  # for a cancellation: its Reason (sent on to the portal)
    signature: SignatureRecord | None = None  # its ds:Signature's check, when signed or required


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
    # When this version was first handed to the portal (None before); the worker gives up
    # (dead letter) once settings.portal.retry_budget_seconds have passed since.
    first_attempt_at: datetime | None = None


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
class SubmissionStart:
    """What begin_submission stores of one claimed dossier before the portal is called."""

    dossier_id: int
    submission: bytes
    lineage: bytes
    version: int | None = None  # the claim's: DossierChanged when the dossier moved on since


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    """What record_receipt records: the portal's receipt and the 21 Result; the first poll at
    `next_poll_at` (at once when None)."""

    dossier_id: int
    receipt_number: str
    duplicate: bool
    result: OutgoingMessage
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll learnt: still pending (ask again at `next_poll_at`), or decided with its Result."""

    dossier_id: int
    next_poll_at: datetime | None = None
    decision: DossierState | None = None
    result: OutgoingMessage | None = None


@dataclass(frozen=True, slots=True)
class PendingCancellation:
    """A dossier the NSW cancelled: CancelDeclaration (when `receipt_number`) then the 24 are owed.

    `receipt_number` None: the portal never held it; build the 24 without a ReceiptNumber.
    Finish with `record_decision(dossier_id, DossierState.CANCELLED, result_24)`.
    """

    dossier_id: int
    reference: str
    document_type: str
    receipt_number: str | None
    reason: str  # as CancelDeclaration sends it (one line, 1..1000 characters)
    cancellation_message_id: str
    general_declaration_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A leased outbox entry to send through sendAndGetMessage."""

    outbox_id: int
    dossier_id: int | None
    message_id: str
    function: str
    payload: bytes
    attempts: int
    # When the first send was tried (None before); past settings.nsw.retry_budget_seconds: dead letter.
    first_attempt_at: datetime | None = None


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


@dataclass(frozen=True, slots=True)
class Transition:
    """One state-history row: a dossier moved from one state to another, and why."""

    version: int
    from_state: str | None
    to_state: str
    at: datetime
    cause: str  # a messageId, a receipt, or a reason (never personal data)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One message received or sent, as the audit trail keeps it (payload None once purged)."""

    direction: str  # "in" | "out" (Results to the NSW) | "portal" (requests to the portal) | "refused"
    message_id: str | None
    type: str | None
    function: str | None
    at: datetime
    sha256: str
    payload: bytes | None
    signature: SignatureRecord | None = None  # pushed messages: their signature's check and signer


@dataclass(frozen=True, slots=True)
class DossierView:
    """A dossier as operations and tests see it: state, version, submission ids, history, messages."""

    dossier_id: int
    reference: str
    document_type: str
    state: DossierState
    version: int
    client_message_id: str | None
    supersedes: str | None
    receipt_number: str | None
    documents: dict[str, str]  # type -> messageId of the document in effect
    history: list[Transition]
    messages: list[AuditEntry]


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

    def record_refused(
        self,
        raw: bytes,
        sha256: str,
        problems: Sequence[Problem],
        signature: SignatureRecord | None = None,
    ) -> None:
        """Keep an unusable envelope (answered 22 E-ENVELOPE, or E-SIGNATURE with its `signature`
        record) for audit; it is never processed."""

    def expire_incomplete(self, now: datetime, reject: RejectionFactory) -> int:
        """Reject RECEIVING dossiers past their deadline with E-INCOMPLETE; returns how many."""

    # --- submission
    def claim_ready(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
        """Lease up to `limit` READY dossiers due now (SKIP LOCKED on PostgreSQL).

        A SUBMITTING dossier whose lease expired (its worker died mid-call) goes back to READY
        and is handed out again with the same client_message_id.
        """

    def reject_locally(
        self,
        dossier_id: int,
        problems: Sequence[Problem],
        result: OutgoingMessage,
        *,
        version: int | None = None,
    ) -> None:
        """READY (or SUBMITTING) -> REJECTED_LOCALLY with its 22 Result enqueued.

        With `version` (the claim's), DossierChanged when the dossier was amended since.
        """

    def begin_submission(
        self, dossier_id: int, submission: bytes, lineage: bytes, *, version: int | None = None
    ) -> None:
        """READY -> SUBMITTING: the submission is stored before the portal is called.

        With `version` (the claim's), DossierChanged when the dossier was amended or cancelled since.
        """

    def begin_submissions(self, starts: Sequence[SubmissionStart]) -> list[Exception | None]:
        """Each start as begin_submission would, all in one transaction; per start None or the
        exception it met (DossierChanged...), which costs the others nothing."""

    def record_receipt(
        self,
        dossier_id: int,
        receipt_number: str,
        duplicate: bool,
        result: OutgoingMessage,
        *,
        next_poll_at: datetime | None = None,
    ) -> None:
        """SUBMITTING -> SUBMITTED with the 21 Result enqueued; the first poll is due at
        `next_poll_at` (at once when None)."""

    def record_receipts(self, receipts: Sequence[ReceiptRecord]) -> list[Exception | None]:
        """Each receipt as record_receipt would, all in one transaction (as begin_submissions)."""

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
        """SUBMITTED -> CLEARED / REJECTED / CANCELLED with its Result enqueued.

        Also finishes an owed cancellation: CANCELLED (owed) -> CANCELLED with the 24 enqueued.
        """

    def record_polls(self, outcomes: Sequence[PollOutcome]) -> list[Exception | None]:
        """Each outcome as record_pending / record_decision would, all in one transaction; per
        outcome None or the exception it met (DossierChanged...), which costs the others nothing."""

    def claim_cancellations(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[PendingCancellation]:
        """Lease cancellations owed (to the portal when receipt_number is set, then the 24 to the NSW)."""

    # --- results to the NSW
    def claim_outbox(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[OutboxItem]:
        """Lease due outbox entries, oldest first; one dossier's entries go out in order."""

    def mark_sent(self, *outbox_ids: int) -> None:
        """The NSW answered 99 (or a duplicate) to each: done (one transaction for all)."""

    def defer_outbox(self, outbox_id: int, reason: str, retry_at: datetime) -> None:
        """A transient failure sending a result: try again later."""

    def dead_letter_outbox(self, outbox_id: int, reason: str) -> None:
        """Give up on one result, keeping its payload."""

    # --- operations
    def heartbeat(self, worker_id: str, lease_seconds: float) -> int:
        """Extend every lease this worker holds to now + lease_seconds; returns how many."""

    def release(self, worker_id: str) -> int:
        """Drop every lease this worker holds (graceful shutdown); returns how many."""

    def dead_letters(self) -> list[DeadLetter]:
        """Everything in the dead-letter state."""

    def retry_dead_letter(self, kind: str, id: int) -> bool:
        """Bring one dead letter back to be tried again; False when there is none with that id."""

    def describe(self, reference: str, document_type: str) -> DossierView | None:
        """One dossier with its documents in effect, state history and audit trail (None if unknown)."""

    def stats(self, now: datetime) -> StoreStats:
        """Dossiers by state, the oldest waiting, dead letters, outbox backlog."""

    def purge_payloads(self, older_than: datetime) -> int:
        """Remove payloads (personal data) of messages older than the horizon; keep audit rows.

        Only messages no longer needed: of dossiers in a final state (not DEAD) or of none, and
        not waiting in the outbox. Returns how many messages lost their payload.
        """

    # --- replay protection (WS-Security nonces, shared by every daemon on the store)
    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        """Record a used nonce's digest until `expires_at`, atomically: True when it was new,
        False when it is already held (a replayed token). Committed before returning."""

    def purge_nonces(self, now: datetime) -> int:
        """Forget nonces that expired before `now` (housekeeping); returns how many."""


class RejectionFactory(Protocol):
    """Builds the 22 Result for a dossier rejected inside the store (E-INCOMPLETE at the deadline)."""

    def __call__(
        self,
        reference: str,
        document_type: str,
        pre_reference: str | None,
        problems: Sequence[Problem],
    ) -> OutgoingMessage: ...


__all__ = ["FINAL_STATES", "DossierChanged", "DossierState", "IntakeOutcome"]
