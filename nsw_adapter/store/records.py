"""What the store takes in and hands out: messages, claims, outcomes, views, dead letters, stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from nsw_adapter.dossier_facts import FINAL_FUNCTIONS, DecisionFacts, VesselFacts, decision_facts
from nsw_adapter.errors import NswAdapterError, Problem
from nsw_adapter.lifecycle import DossierState


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
    vessel: VesselFacts | None = None  # for a General Declaration: the facts history and reports use


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A Result envelope for the NSW, enqueued in the outbox with its own stable messageId."""

    message_id: str
    function: str  # "21", "22", "23", "24"
    payload: bytes
    # A final Result's facts (22, 23, 24), read from `payload` by `with_decision` before the
    # transaction that enqueues it, so that SQLite's one writer is not held while it is parsed.
    decision: DecisionFacts | None = field(default=None, compare=False)

    def with_decision(self) -> OutgoingMessage:
        """This Result with its decision's facts read (a final one's; others as they are)."""
        if self.decision is not None or self.function not in FINAL_FUNCTIONS:
            return self
        return replace(self, decision=decision_facts(self.payload))

    def decision_facts(self) -> DecisionFacts | None:
        """The decision's facts: as read before, else read now (None for a 21, 25 or unreadable)."""
        if self.decision is not None or self.function not in FINAL_FUNCTIONS:
            return self.decision
        return decision_facts(self.payload)


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
    supplement_request: str | None = None  # the RequestNumber announced already on this receipt


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
    unknown_state: str | None = None  # pending because the portal's state is not known here
    # SUPPLEMENT_REQUESTED seen: the request (its 25 is `result`), polled again at `next_poll_at`.
    supplement: SupplementRecord | None = None
    expired: bool = False  # the decision is the portal's BG-SUPP-EXPIRED rejection


@dataclass(frozen=True, slots=True)
class SupplementRecord:
    """An officer's request for more as the store keeps it: numbers, times and item codes only."""

    receipt_number: str
    request_number: str
    requested_at: datetime
    respond_by: datetime
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingCancellation:
    """A dossier the NSW cancelled: CancelDeclaration (when `receipt_number`) then the 24 are owed.

    `receipt_number` None: the portal never held it; build the 24 without a ReceiptNumber.
    Finish with `finish_cancellation(dossier_id, result_24, request)`.
    """

    dossier_id: int
    reference: str
    document_type: str
    receipt_number: str | None
    reason: str  # the agent's Reason as the 03 gave it ("" when none)
    cancellation_message_id: str
    general_declaration_message_id: str | None = None
    attempts: int = 0
    # When the cancellation was first claimed; past settings.portal.retry_budget_seconds: dead letter.
    first_attempt_at: datetime | None = None


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
class SubscriberFigures:
    """One event subscriber's backlog: deliveries waiting, the oldest one's age, those given up on."""

    pending: int = 0
    oldest_pending_seconds: float | None = None
    dead: int = 0


@dataclass(frozen=True, slots=True)
class Purged:
    """What retention removed (or, in a dry run, would remove): message payloads, and the bodies
    of delivered events (their rows, ids and sequences stay)."""

    messages: int = 0
    events: int = 0

    def __bool__(self) -> bool:
        return bool(self.messages or self.events)


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What `nsw-adapter status` and /metrics show."""

    dossiers_by_state: dict[str, int] = field(default_factory=dict)
    oldest_waiting_seconds: float | None = None
    dead_letters: int = 0
    outbox_pending: int = 0
    # Dossiers polled on in a portal state this adapter does not know, by that state.
    unknown_portal_states: dict[str, int] = field(default_factory=dict)
    # Supplement requests announced, by outcome ("open" while unanswered and undecided).
    supplement_requests: dict[str, int] = field(default_factory=dict)
    # Each event subscriber with deliveries not yet delivered (store/events.py).
    subscribers: dict[str, SubscriberFigures] = field(default_factory=dict)
    events_unfanned: int = 0  # events no worker has made deliveries of yet


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


class RejectionFactory(Protocol):
    """Builds the 22 Result for a dossier rejected inside the store (E-INCOMPLETE at the deadline)."""

    def __call__(
        self,
        reference: str,
        document_type: str,
        pre_reference: str | None,
        problems: Sequence[Problem],
    ) -> OutgoingMessage: ...
