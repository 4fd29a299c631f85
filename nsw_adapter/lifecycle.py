"""A dossier's lifecycle in one place: its states, what may follow what, and what each event does.

Pure functions, no SQL and no I/O: each takes the dossier as it stands (`Dossier`, the typed
row) and an event, and returns a `Step`: the dossier after the event, the columns it changed and
the history rows it adds, or raises `DossierChanged` when the event does not apply to the
dossier's state (the caller's view is stale). The store applies a Step inside the transaction
that holds the dossier locked, with any Result the event enqueues. Where a rule needs the
dossier's document types in effect, the event is handed a function that reads them: it is
called only when the rule needs them.

The rules:

* A dossier is one NSW dossier number (`reference`) and direction (`documentType`). Per
  document type, the document in effect is the 01/02 message with the latest `sendDate` (ties:
  the amendment, then the larger messageId: `precedence`); a stale message arriving late is
  stored for audit and changes nothing.
* A dossier is *seen* once it holds at least one 01 message. It becomes READY when it is seen,
  holds a General Declaration in effect and every type that declaration calls for.
* E-UNKNOWN-DOSSIER: an amendment or cancellation for a dossier that is not seen is stored and
  waits (its 01 messages may still be on their way). Still not seen at its deadline, the
  dossier is rejected with E-UNKNOWN-DOSSIER (REJECTED_LOCALLY, a 22 answering the first such
  message); seen but incomplete, with E-INCOMPLETE.
* Cancellation (03) of a seen dossier makes it CANCELLED at once, with a cancellation owed: to
  the portal first when it holds a receipt (`cancel_receipt`), then the 24 to the NSW. While a
  submission is in flight (SUBMITTING, or READY after an attempt whose outcome is unknown) the
  cancellation is remembered and takes effect once the receipt is recorded. A cancellation is
  final: messages after it are kept for audit only.
* Amendment (02) while RECEIVING: replaces the document. While READY and not yet handed to the
  portal: replaces it and bumps `version` (a claim made before is stale). While a submission is
  in flight: remembered; once the receipt is recorded a new version follows. After a receipt
  or a rejection: a new version, READY (or RECEIVING until complete), superseding the receipt,
  with a new ClientMessageId.
* Supplement request: a poll that first shows the portal's SUPPLEMENT_REQUESTED on the receipt
  moves SUBMITTED -> SUPPLEMENT_REQUESTED remembering the RequestNumber, with the one 25 for it;
  polling the same request again changes nothing (`supplement_requested` returns None). The
  dossier is still polled. An amendment answers it as after any receipt (a new version
  superseding the receipt, its 21 and decision as usual, a further request its own 25); a
  decision or cancellation ends it as from SUBMITTED. Each request's outcome (answered,
  expired, decided, cancelled) goes on the Step for the store's record of requests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from nsw_adapter.envelope import AMENDMENT, NEW
from nsw_adapter.errors import NswAdapterError, Problem
from nsw_adapter.texts import problem, word


class DossierChanged(NswAdapterError):
    """An event the dossier's current state does not allow (it changed under the caller)."""


class DossierState(StrEnum):
    """Where a dossier (one reference + direction) is in its life."""

    RECEIVING = "receiving"  # documents arriving; not all the General Declaration calls for yet
    READY = "ready"  # complete; waiting to be translated and submitted
    REJECTED_LOCALLY = "rejected_locally"  # failed translation/assembly; a 22 is in the outbox
    SUBMITTING = "submitting"  # submission + ClientMessageId committed; portal call under way
    SUBMITTED = "submitted"  # portal receipt held; polling for the decision
    # Receipt held, an officer's request for more sent to the agent (its 25); polled as SUBMITTED.
    SUPPLEMENT_REQUESTED = "supplement_requested"
    CLEARED = "cleared"  # final: CLEARED, 23 in the outbox
    REJECTED = "rejected"  # final: REJECTED by the portal, 22 in the outbox
    CANCELLED = "cancelled"  # final: withdrawn by a cancellation; 24 enqueued once the cancellation is done
    DEAD = "dead"  # dead letter: delivery exhausted its budget or failed permanently
    DISCARDED = "discarded"  # final: a dead letter an operator closed (`nsw-adapter dlq discard`)


S = DossierState

FINAL_STATES = frozenset({S.CLEARED, S.REJECTED, S.REJECTED_LOCALLY, S.CANCELLED, S.DISCARDED})

#: Every transition the state machine allows (a self-transition is listed when it is one).
TRANSITIONS: dict[DossierState, frozenset[DossierState]] = {
    S.RECEIVING: frozenset({S.READY, S.REJECTED_LOCALLY, S.CANCELLED}),
    S.READY: frozenset({S.RECEIVING, S.SUBMITTING, S.REJECTED_LOCALLY, S.CANCELLED, S.DEAD}),
    S.SUBMITTING: frozenset({S.READY, S.SUBMITTED, S.REJECTED_LOCALLY, S.DEAD}),
    S.SUBMITTED: frozenset(
        {S.RECEIVING, S.READY, S.SUPPLEMENT_REQUESTED, S.CLEARED, S.REJECTED, S.CANCELLED, S.DEAD}
    ),
    # SUPPLEMENT_REQUESTED -> itself: a receipt carries one request, but a second one is announced.
    S.SUPPLEMENT_REQUESTED: frozenset(
        {S.RECEIVING, S.READY, S.SUPPLEMENT_REQUESTED, S.CLEARED, S.REJECTED, S.CANCELLED, S.DEAD}
    ),
    # A receipt or a rejection can be followed by an amendment: a new version.
    S.CLEARED: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    S.REJECTED: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    S.REJECTED_LOCALLY: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    # CANCELLED -> CANCELLED: the owed cancellation was confirmed (24 enqueued).
    S.CANCELLED: frozenset({S.CANCELLED, S.DEAD}),
    S.DEAD: frozenset({S.READY, S.SUBMITTED, S.SUPPLEMENT_REQUESTED, S.CANCELLED, S.DISCARDED}),
    # Closed by an operator; a later cancellation still withdraws what the portal may hold.
    S.DISCARDED: frozenset({S.CANCELLED}),
}

#: States in which an amendment makes a new version (the portal has, or had, a version).
NEW_VERSION_STATES = frozenset(
    {S.SUBMITTED, S.SUPPLEMENT_REQUESTED, S.CLEARED, S.REJECTED, S.REJECTED_LOCALLY}
)
#: The states whose receipt is polled for a decision.
POLLED_STATES = frozenset({S.SUBMITTED, S.SUPPLEMENT_REQUESTED})
#: The states a portal decision moves a dossier to.
DECISIONS = frozenset({S.CLEARED, S.REJECTED, S.CANCELLED})
#: A lease dropped: the columns that say nobody works on the dossier.
RELEASED: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


class IntakeOutcome(StrEnum):
    """What receiving a pushed message did."""

    STORED = "stored"  # new, committed: answer 99
    # new, committed, and its dossier now has a version to submit (this push completed it, or
    # amended it into a new version): answer 99, and the submit loop has work
    READY = "ready"
    DUPLICATE = "duplicate"  # messageId already held: answer 99 again, nothing stored twice
    # 02/03 for a dossier not seen (no 01 yet): stored and answered 99; E-UNKNOWN-DOSSIER at
    # the deadline unless its 01 messages arrive first.
    UNKNOWN_DOSSIER = "unknown_dossier"


# --- the documents ----------------------------------------------------------------------

GENERAL_DECLARATION = "50"

#: Document type names for readable E-INCOMPLETE texts (no personal data).
DOCUMENT_NAMES: dict[str, str] = {
    "50": "General Declaration",
    "51": "Crew List",
    "52": "Passenger List",
    "64": "Arms Declaration",
    "65": "Stowaway Declaration",
}

Precedence = tuple[datetime, int, str]


def precedence(send_date: datetime, function: str, message_id: str) -> Precedence:
    """Ordering of documents of one type: sendDate, then an amendment over a new one, then messageId."""
    return (send_date, 1 if function == AMENDMENT else 0, message_id)


def takes_effect(candidate: Precedence, current: Precedence | None) -> bool:
    """Whether a document replaces the one in effect (a stale one arriving late never does)."""
    return current is None or candidate > current


def missing_types(called_for: Collection[str] | None, present: Iterable[str]) -> list[str]:
    """Document types still missing: the General Declaration first, then what it calls for."""
    have = set(present)
    if GENERAL_DECLARATION not in have or called_for is None:
        wanted = {GENERAL_DECLARATION, "51"} | set(called_for or ())
    else:
        wanted = set(called_for)
    return sorted(t for t in wanted if t not in have)


def is_complete(seen: bool, called_for: Collection[str] | None, present: Iterable[str]) -> bool:
    """Complete: a 01 has arrived, a General Declaration is in effect, and all it calls for."""
    return seen and called_for is not None and not missing_types(called_for, present)


def incomplete_problems(missing: Iterable[str]) -> list[Problem]:
    """E-INCOMPLETE problems, one per missing document type."""
    key = {GENERAL_DECLARATION: "E-INCOMPLETE.deadline"}
    return [
        problem(
            "E-INCOMPLETE", key.get(t, "E-INCOMPLETE.deadline_called_for"), None, t, document=word(f"doc.{t}")
        )
        for t in missing
    ]


def unknown_dossier_problem(reference: str | None, type_: str | None) -> Problem:
    """The E-UNKNOWN-DOSSIER problem for an amendment or cancellation of a dossier never seen
    (the one wording, for the store's deadline and for translation alike)."""
    where = "/Envelope/Header/Subject/reference"
    if reference is None:
        return problem("E-UNKNOWN-DOSSIER", "E-UNKNOWN-DOSSIER", where, type_)
    return problem("E-UNKNOWN-DOSSIER", "E-UNKNOWN-DOSSIER.reference", where, type_, reference=reference)


def check_transition(current: DossierState, target: DossierState) -> None:
    """Raise DossierChanged unless the state machine allows current -> target."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise DossierChanged(f"a dossier in state {current} cannot become {target}")


def new_client_message_id() -> str:
    """A ClientMessageId for one dossier version (a UUID fits the portal's 1..64 pattern)."""
    return str(uuid.uuid4())


# --- the dossier and what an event returns ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Dossier:
    """A dossier row, typed (tables.dossiers): its state and every sub-state column."""

    id: int
    reference: str
    document_type: str
    state: DossierState
    version: int
    seen: bool  # a 01 message has arrived
    called_for: str | None  # comma-separated types, from the General Declaration in effect
    gd_message_id: str | None  # the General Declaration in effect
    first_orphan_message_id: str | None  # the first 02/03 while not seen (E-UNKNOWN-DOSSIER answers it)
    first_orphan_type: str | None
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime
    client_message_id: str | None
    supersedes: str | None
    receipt_number: str | None
    attempted: bool  # a submission of this version was begun
    amend_pending: bool  # an amendment arrived during a submission: a new version follows the receipt
    cancel_message_id: str | None
    cancel_reason: str | None
    cancel_requested: bool  # a cancellation arrived during a submission: it follows the receipt
    cancel_owed: bool  # CANCELLED, with CancelDeclaration (when cancel_receipt) and the 24 to send
    cancel_receipt: str | None  # the receipt to cancel at the portal (None: only the 24)
    attempts: int
    next_attempt_at: datetime | None
    next_poll_at: datetime | None
    first_attempt_at: datetime | None  # this delivery's first attempt (its retry budget)
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    dead_from: str | None
    dead_at: datetime | None
    supplement_request: str | None = None  # the RequestNumber announced (25) on the current receipt
    unknown_portal_state: str | None = None  # a newer portal's state, not known here: polled on
    lineage: bytes | None = None  # read by poll claims only
    problems: str | None = None  # JSON of the local rejection's problems (never read by claims)

    @classmethod
    def from_row(cls, row: Any) -> Dossier:
        """A database row (Core's or a prepared statement's) of some or all of the columns."""
        values = row._asdict()
        values["state"] = DossierState(values["state"])
        return cls(**values)

    def types_called_for(self) -> frozenset[str] | None:
        """The types the General Declaration in effect calls for (None before one)."""
        return None if self.called_for is None else frozenset(v for v in self.called_for.split(",") if v)


@dataclass(frozen=True, slots=True)
class Entry:
    """One state-history row an event adds."""

    version: int
    from_state: DossierState | None
    to_state: DossierState
    cause: str  # a messageId, a receipt or a reason (never personal data)


class SupplementOutcome(StrEnum):
    """How a supplement request ended (the store's record of requests; metrics count them)."""

    ANSWERED = "answered"  # an amendment made a new version superseding the receipt
    EXPIRED = "expired"  # the portal rejected the receipt with BG-SUPP-EXPIRED
    DECIDED = "decided"  # cleared or rejected otherwise
    CANCELLED = "cancelled"  # the agent withdrew the dossier


@dataclass(frozen=True, slots=True)
class Step:
    """What one event did: the dossier after it, the columns to write, the history rows to add.

    `changes` empty: nothing to write. `notes`: log events worth a line (no personal data).
    """

    dossier: Dossier
    changes: dict[str, Any] = field(default_factory=dict)
    history: tuple[Entry, ...] = ()
    notes: tuple[str, ...] = ()
    outcome: IntakeOutcome = IntakeOutcome.STORED  # for the intake's events
    # A supplement request this event ended: its RequestNumber and how it ended.
    supplement: tuple[str, SupplementOutcome] | None = None


class Message(Protocol):
    """What the lifecycle reads of a pushed message (store.IncomingMessage)."""

    @property
    def message_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def function(self) -> str: ...
    @property
    def called_for(self) -> frozenset[str] | None: ...
    @property
    def reason(self) -> str | None: ...


#: Reads the dossier's document types in effect (called only when a rule needs them).
PresentTypes = Callable[[], Collection[str]]


class _Change:
    """A Step being built: each change is applied to the record in hand and remembered."""

    def __init__(self, dossier: Dossier) -> None:
        self.dossier = dossier
        self.changes: dict[str, Any] = {}
        self.history: list[Entry] = []
        self.notes: list[str] = []
        self.supplement: tuple[str, SupplementOutcome] | None = None

    def set(self, **values: Any) -> None:
        self.changes.update(values)
        self.dossier = replace(self.dossier, **values)

    def move(
        self,
        target: DossierState,
        cause: str,
        now: datetime,
        *,
        history_version: int | None = None,
        **values: Any,
    ) -> None:
        """To `target` (or DossierChanged), with other column changes and a history row."""
        current = self.dossier.state
        check_transition(current, target)
        self.set(state=target, updated_at=now, **values)
        self.entry(history_version or self.dossier.version, current, target, cause)

    def entry(self, version: int, current: DossierState | None, target: DossierState, cause: str) -> None:
        self.history.append(Entry(version, current, target, cause[:200]))

    def end_request(self, outcome: SupplementOutcome) -> None:
        """The dossier leaves SUPPLEMENT_REQUESTED: its request ended so (call before moving)."""
        if self.dossier.state is S.SUPPLEMENT_REQUESTED and self.dossier.supplement_request:
            self.supplement = (self.dossier.supplement_request, outcome)

    def step(self, outcome: IntakeOutcome = IntakeOutcome.STORED) -> Step:
        changes = {k: (v.value if isinstance(v, DossierState) else v) for k, v in self.changes.items()}
        return Step(self.dossier, changes, tuple(self.history), tuple(self.notes), outcome, self.supplement)


# --- intake ------------------------------------------------------------------------------


def created(
    reference: str, document_type: str, cause: str, now: datetime, deadline: timedelta
) -> tuple[dict[str, Any], Entry]:
    """A new dossier's columns (RECEIVING until complete) and its first history row."""
    values: dict[str, Any] = {
        "reference": reference,
        "document_type": document_type,
        "state": S.RECEIVING.value,
        "version": 1,
        "seen": False,
        "created_at": now,
        "updated_at": now,
        "deadline_at": now + deadline,
        "attempted": False,
        "amend_pending": False,
        "cancel_requested": False,
        "cancel_owed": False,
        "attempts": 0,
    }
    return values, Entry(1, None, S.RECEIVING, cause)


def takes_documents(dossier: Dossier) -> bool:
    """Whether a 01/02 message may change the documents in effect (not after a cancellation)."""
    return dossier.state is not S.CANCELLED


def document_received(
    dossier: Dossier,
    message: Message,
    in_effect: bool,
    present: PresentTypes,
    now: datetime,
    deadline: timedelta,
) -> Step:
    """A 01/02 message was stored; `in_effect`: it became its type's document in effect."""
    change = _Change(dossier)
    if not takes_documents(dossier):
        return change.step()  # a cancellation is final: kept for audit only
    seen = dossier.seen or message.function == NEW
    newly_seen = seen and not dossier.seen
    if newly_seen:
        change.set(seen=True)
    if in_effect and message.type == GENERAL_DECLARATION:
        called = None if message.called_for is None else ",".join(sorted(message.called_for))
        change.set(called_for=called, gd_message_id=message.message_id)
    if not seen and dossier.first_orphan_message_id is None:
        change.set(first_orphan_message_id=message.message_id, first_orphan_type=message.type)
    if seen and dossier.cancel_message_id is not None:
        # The dossier's cancellation arrived first: now that the dossier is known, it applies.
        _cancel(change, dossier.cancel_message_id, now)
        return change.step()
    if not (in_effect or newly_seen):
        return change.step()  # stale: an older document than the one in effect
    _after_change(change, message.message_id, in_effect, present, now, deadline)
    if not seen:
        return change.step(IntakeOutcome.UNKNOWN_DOSSIER)
    ready = any(entry.to_state is S.READY for entry in change.history)
    return change.step(IntakeOutcome.READY if ready else IntakeOutcome.STORED)


def cancellation_received(dossier: Dossier, message: Message, now: datetime) -> Step:
    """A 03 message was stored: cancel a seen dossier, or remember it until the dossier is seen."""
    change = _Change(dossier)
    if dossier.state is S.CANCELLED or dossier.cancel_message_id is not None:
        return change.step()  # already cancelled (or cancelling): kept for audit
    change.set(cancel_message_id=message.message_id, cancel_reason=message.reason or "")
    if not dossier.seen:
        if dossier.first_orphan_message_id is None:
            change.set(first_orphan_message_id=message.message_id, first_orphan_type=message.type)
        return change.step(IntakeOutcome.UNKNOWN_DOSSIER)
    _cancel(change, message.message_id, now)
    return change.step()


@dataclass(frozen=True, slots=True)
class Expiry:
    """A dossier rejected at its deadline: the Step, its problems, and the code it is rejected with."""

    step: Step
    problems: list[Problem]
    code: str
    answers: str | None  # the messageId its 22 answers (None: the dossier's first message)


def deadline_passed(dossier: Dossier, present: Collection[str], now: datetime) -> Expiry:
    """A RECEIVING dossier past its deadline: E-INCOMPLETE, or E-UNKNOWN-DOSSIER when never seen."""
    if dossier.seen:
        problems = incomplete_problems(missing_types(dossier.types_called_for(), present))
        code, answers = "E-INCOMPLETE", dossier.gd_message_id
    else:
        problems = [unknown_dossier_problem(dossier.reference, dossier.first_orphan_type)]
        code, answers = "E-UNKNOWN-DOSSIER", dossier.first_orphan_message_id
    change = _Change(dossier)
    change.move(S.REJECTED_LOCALLY, code, now, problems=problems_json(problems), **RELEASED)
    return Expiry(change.step(), problems, code, answers)


# --- the workers' events ------------------------------------------------------------------


def check_version(dossier: Dossier, version: int | None) -> None:
    """DossierChanged when a claim's `version` is not the dossier's (amended since the claim)."""
    if version is not None and version != dossier.version:
        raise DossierChanged(f"dossier {dossier.reference} is at version {dossier.version}, not {version}")


def lease_expired(dossier: Dossier, now: datetime) -> Step:
    """A claim found the dossier SUBMITTING with its lease expired (its worker died mid-call):
    back to READY, to be sent again with the same ClientMessageId."""
    change = _Change(dossier)
    if dossier.state is S.SUBMITTING:
        change.move(S.READY, "lease expired during submission", now)
    return change.step()


def rejected_locally(
    dossier: Dossier,
    problems: Collection[Problem],
    version: int | None,
    cause: str,
    present: PresentTypes,
    now: datetime,
    deadline: timedelta,
) -> Step:
    """READY (or SUBMITTING) -> REJECTED_LOCALLY; then whatever arrived meanwhile (`cause`: its 22)."""
    check_version(dossier, version)
    if dossier.state not in (S.READY, S.SUBMITTING):
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}, not ready")
    change = _Change(dossier)
    codes = ",".join(sorted({p.code for p in problems}))
    change.move(
        S.REJECTED_LOCALLY, f"rejected locally: {codes}", now, problems=problems_json(problems), **RELEASED
    )
    _follow_up(change, cause, present, now, deadline)
    return change.step()


def submission_begun(dossier: Dossier, version: int | None, lineage: bytes, now: datetime) -> Step:
    """READY -> SUBMITTING: the submission is stored before the portal is called."""
    check_version(dossier, version)
    change = _Change(dossier)
    change.move(
        S.SUBMITTING,
        f"submitting {dossier.client_message_id}",
        now,
        lineage=lineage,
        attempted=True,
        first_attempt_at=dossier.first_attempt_at or now,
    )
    return change.step()


def receipt_recorded(
    dossier: Dossier,
    receipt_number: str,
    duplicate: bool,
    next_poll_at: datetime | None,
    cause: str,
    present: PresentTypes,
    now: datetime,
    deadline: timedelta,
) -> Step | None:
    """SUBMITTING -> SUBMITTED (polling from `next_poll_at`), then whatever arrived meanwhile
    (`cause`: the 21's messageId); None when this receipt is recorded already (a retried call)."""
    if dossier.state in POLLED_STATES and dossier.receipt_number == receipt_number:
        return None
    if dossier.state is not S.SUBMITTING:
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}, not submitting")
    change = _Change(dossier)
    change.move(
        S.SUBMITTED,
        f"receipt {receipt_number}" + (" (duplicate)" if duplicate else ""),
        now,
        receipt_number=receipt_number,
        next_poll_at=next_poll_at or now,
        attempts=0,
        last_error=None,
        **RELEASED,
    )
    _follow_up(change, cause, present, now, deadline)
    return change.step()


def still_pending(dossier: Dossier, next_poll_at: datetime, unknown_state: str | None = None) -> Step:
    """The portal has not decided: ask again at `next_poll_at`. `unknown_state`: the portal
    answered with a state this adapter does not know (a newer portal): remembered for port IT,
    and the dossier polled on, never given up on for it."""
    if dossier.state not in POLLED_STATES:
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}, not submitted")
    change = _Change(dossier)
    change.set(next_poll_at=next_poll_at, **RELEASED)
    if unknown_state != dossier.unknown_portal_state:
        change.set(unknown_portal_state=unknown_state)
        if unknown_state is not None:
            change.entry(
                dossier.version, dossier.state, dossier.state, f"portal state {unknown_state} unknown here"
            )
    return change.step()


def supplement_requested(
    dossier: Dossier, request_number: str, next_poll_at: datetime, now: datetime
) -> Step | None:
    """SUBMITTED -> SUPPLEMENT_REQUESTED: an officer's request seen for the first time (its 25
    goes with this Step); None when this request was announced already (one 25 per RequestNumber)."""
    if dossier.state is S.SUPPLEMENT_REQUESTED and dossier.supplement_request == request_number:
        return None
    if dossier.state not in POLLED_STATES:
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}: no request expected")
    change = _Change(dossier)
    change.move(
        S.SUPPLEMENT_REQUESTED,
        f"supplement request {request_number}",
        now,
        supplement_request=request_number,
        next_poll_at=next_poll_at,
        unknown_portal_state=None,
        **RELEASED,
    )
    return change.step()


def decided(dossier: Dossier, decision: DossierState, now: datetime, *, expired: bool = False) -> Step | None:
    """SUBMITTED (or SUPPLEMENT_REQUESTED) -> CLEARED / REJECTED / CANCELLED; None when decided
    already (a retried call). `expired`: the rejection is the portal's BG-SUPP-EXPIRED."""
    if decision not in DECISIONS:
        raise ValueError(f"{decision} is not a decision")
    if dossier.state is decision:
        return None
    if dossier.state not in POLLED_STATES:
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}: no decision expected")
    change = _Change(dossier)
    if decision is S.CANCELLED:
        change.end_request(SupplementOutcome.CANCELLED)
    else:
        change.end_request(SupplementOutcome.EXPIRED if expired else SupplementOutcome.DECIDED)
    change.move(decision, f"decision {decision.value}", now, unknown_portal_state=None, **RELEASED)
    return change.step()


def cancellation_done(dossier: Dossier, now: datetime) -> Step | None:
    """The owed cancellation was done (CancelDeclaration, when the portal held the dossier): the 24
    follows. None when done already (a retried call)."""
    if dossier.state is S.CANCELLED and not dossier.cancel_owed:
        return None
    if dossier.state is not S.CANCELLED:
        raise DossierChanged(f"dossier {dossier.reference} is {dossier.state}: no cancellation owed")
    change = _Change(dossier)
    change.move(S.CANCELLED, "cancellation confirmed", now, cancel_owed=False, **RELEASED)
    return change.step()


def deferred(
    dossier: Dossier, reason: str, retry_at: datetime, now: datetime, *, counted: bool = True
) -> Step:
    """A transient failure: the lease released, the attempt counted, tried again at `retry_at`.
    Not `counted` (the service refused our credentials, not the dossier): no attempt counted and
    its retry budget started afresh by its next attempt."""
    change = _Change(dossier)
    values: dict[str, Any] = {
        "attempts": dossier.attempts + 1 if counted else dossier.attempts,
        "last_error": reason,
        "next_attempt_at": retry_at,
        **RELEASED,
    }
    if not counted:
        values["first_attempt_at"] = None
    if dossier.state in POLLED_STATES:
        values["next_poll_at"] = retry_at
    if dossier.state is S.SUBMITTING:
        change.move(S.READY, f"deferred: {reason}", now, **values)
    else:
        change.set(updated_at=now, **values)
    return change.step()


def dead_lettered(dossier: Dossier, reason: str, now: datetime) -> Step:
    """Given up on (budget spent, or a permanent failure): DEAD, remembering the state it left."""
    change = _Change(dossier)
    change.move(
        S.DEAD,
        f"dead letter: {reason}",
        now,
        dead_from=dossier.state.value,
        dead_at=now,
        last_error=reason,
        **RELEASED,
    )
    return change.step()


def dead_letter_retried(dossier: Dossier, now: datetime) -> Step:
    """An operator brought a dead letter back: to the state it died in (SUBMITTING: READY, and the
    same ClientMessageId, so the portal answers a duplicate if it had it), its budget afresh."""
    back = S(dossier.dead_from or S.READY.value)
    if back is S.SUBMITTING:
        back = S.READY
    change = _Change(dossier)
    change.move(
        back,
        "dead letter retried",
        now,
        attempts=0,
        first_attempt_at=None,
        next_attempt_at=now,
        next_poll_at=now,
        dead_at=None,
        dead_from=None,
        **RELEASED,
    )
    return change.step()


def discarded(dossier: Dossier, now: datetime) -> Step:
    """An operator closed a dead letter for good (DEAD -> DISCARDED)."""
    change = _Change(dossier)
    change.move(S.DISCARDED, "dead letter discarded", now, **RELEASED)
    return change.step()


# --- the rules the events share -----------------------------------------------------------


def _after_change(
    change: _Change, cause: str, in_effect: bool, present: PresentTypes, now: datetime, deadline: timedelta
) -> None:
    """What a change of the documents in effect (or the first 01) does in each state."""
    dossier = change.dossier
    state = dossier.state
    complete = is_complete(dossier.seen, dossier.types_called_for(), present())
    if state is S.RECEIVING:
        if complete:
            change.move(
                S.READY,
                cause,
                now,
                client_message_id=dossier.client_message_id or new_client_message_id(),
                next_attempt_at=now,
            )
        return
    if not in_effect:
        return
    if state is S.READY and not dossier.attempted:
        # Nothing reached the portal: the claim (if any) is stale; start this version again.
        values: dict[str, Any] = {
            "version": dossier.version + 1,
            "client_message_id": new_client_message_id(),
            "next_attempt_at": now,
            **RELEASED,
        }
        if complete:
            change.set(**values)
            change.entry(dossier.version + 1, state, S.READY, f"{cause} amended")
        else:
            change.move(S.RECEIVING, cause, now, deadline_at=now + deadline, **values)
        return
    if state in (S.READY, S.SUBMITTING):
        # A submission may be in flight: never lose it. The new version follows its receipt.
        change.set(amend_pending=True)
        change.notes.append("assembly.amend_pending")
        return
    if state in NEW_VERSION_STATES:
        _new_version(change, cause, complete, now, deadline)


def _new_version(change: _Change, cause: str, complete: bool, now: datetime, deadline: timedelta) -> None:
    """The dossier's next version: READY (or RECEIVING) superseding the current receipt."""
    dossier = change.dossier
    version = dossier.version + 1
    change.end_request(SupplementOutcome.ANSWERED)
    change.entry(
        dossier.version, dossier.state, dossier.state, f"version {dossier.version} superseded by {cause}"
    )
    change.move(
        S.READY if complete else S.RECEIVING,
        cause,
        now,
        history_version=version,
        version=version,
        supersedes=dossier.receipt_number or dossier.supersedes,
        client_message_id=new_client_message_id(),
        attempted=False,
        amend_pending=False,
        attempts=0,
        first_attempt_at=None,
        next_attempt_at=now,
        next_poll_at=None,
        supplement_request=None,
        unknown_portal_state=None,
        problems=None,
        lineage=None,
        deadline_at=now + deadline,
        # Still not seen: E-UNKNOWN-DOSSIER at the new deadline answers this message.
        first_orphan_message_id=dossier.first_orphan_message_id if dossier.seen else cause,
        **RELEASED,
    )


def _cancel(change: _Change, cause: str, now: datetime) -> None:
    """Withdraw a seen dossier: CANCELLED with the cancellation owed, or remembered while in flight."""
    dossier = change.dossier
    state = dossier.state
    if state is S.SUBMITTING or (state is S.READY and dossier.attempted):
        change.set(cancel_requested=True)
        change.notes.append("assembly.cancel_pending")
        return
    change.end_request(SupplementOutcome.CANCELLED)
    holds = state in (S.SUBMITTED, S.SUPPLEMENT_REQUESTED, S.CLEARED) or (
        state in (S.DEAD, S.DISCARDED) and bool(dossier.receipt_number)
    )
    # The cancellation's own delivery starts afresh: its attempts and retry budget.
    change.move(
        S.CANCELLED,
        cause,
        now,
        cancel_receipt=dossier.receipt_number if holds else None,
        cancel_owed=True,
        cancel_requested=False,
        next_attempt_at=now,
        attempts=0,
        first_attempt_at=None,
        **RELEASED,
    )


def _follow_up(
    change: _Change, cause: str, present: PresentTypes, now: datetime, deadline: timedelta
) -> None:
    """Apply what arrived while the submission was in flight: a cancellation, else an amendment."""
    dossier = change.dossier
    if dossier.cancel_requested:
        _cancel(change, dossier.cancel_message_id or cause, now)
    elif dossier.amend_pending:
        complete = is_complete(dossier.seen, dossier.types_called_for(), present())
        _new_version(change, "amendment received during submission", complete, now, deadline)


def problems_json(problems: Iterable[Problem]) -> str:
    """Problems as JSON for the dossier's and the audit's columns (texts carry no personal data)."""
    return json.dumps([p.as_dict() for p in problems], ensure_ascii=False)
