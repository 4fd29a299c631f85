"""What the workers record of their dossiers: submissions begun, receipts, local rejections,
poll outcomes, cancellations done, deferrals and dead letters; each a lifecycle event applied."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy import Connection

from nsw_adapter import lifecycle
from nsw_adapter.errors import Problem
from nsw_adapter.lifecycle import DECISIONS, DossierChanged
from nsw_adapter.store import audit, dossiers, events, outbox, supplements
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import OutgoingMessage, PollOutcome, ReceiptRecord, SubmissionStart

log = structlog.get_logger(__name__)
_Item = TypeVar("_Item")


def each(
    db: Database, items: Sequence[_Item], apply: Callable[[Database, Connection, _Item, datetime], None]
) -> list[Exception | None]:
    """Apply a batch's items in one transaction (one commit, not one per item): per item None or
    the exception it met.

    An item refused before it wrote anything (DossierChanged: the dossier moved on) is reported
    and costs the others nothing; any other failure rolls the batch back and each item is applied
    again in a transaction of its own.
    """
    now = db.now()
    try:
        errors: list[Exception | None] = []
        with db.tx() as c:
            for item in items:
                try:
                    apply(db, c, item, now)
                    errors.append(None)
                except DossierChanged as exc:  # raised before this item wrote anything
                    errors.append(exc)
        return errors
    except Exception:
        if len(items) == 1:
            raise
    alone: list[Exception | None] = []
    for item in items:
        try:
            with db.tx() as c:
                apply(db, c, item, db.now())
            alone.append(None)
        except Exception as exc:
            alone.append(exc)
    return alone


def begin_submission(db: Database, c: Connection, start: SubmissionStart, now: datetime) -> None:
    """READY -> SUBMITTING, the submission kept (in the audit trail) before the portal is called."""
    dossier = dossiers.for_update(db, c, start.dossier_id)
    dossiers.apply(db, c, lifecycle.submission_begun(dossier, start.version, start.lineage, now), now)
    # The submission's one copy is its audit row: on the dossier's row, SQLite would rewrite the
    # blob with every later update of the row (leases, receipt, decision).
    audit.portal_request(db, c, dossier, dossier.client_message_id or "", start.submission, now)


def record_receipt(db: Database, c: Connection, receipt: ReceiptRecord, now: datetime) -> None:
    """SUBMITTING -> SUBMITTED with the 21 enqueued (nothing when recorded already)."""
    dossier = dossiers.for_update(db, c, receipt.dossier_id)
    present = dossiers.present(db, c, dossier.id)
    step = lifecycle.receipt_recorded(
        dossier,
        receipt.receipt_number,
        receipt.duplicate,
        receipt.next_poll_at,
        receipt.result.message_id,
        present,
        now,
        db.deadline,
    )
    if step is None:
        return  # recorded already (a retried call)
    dossiers.apply(db, c, step, now)
    outbox.enqueue(db, c, dossier, receipt.result, now)
    events.record(db, c, step, now)


def record_poll(db: Database, c: Connection, outcome: PollOutcome, now: datetime) -> None:
    """Still pending: poll again at `next_poll_at`; decided: the decision and its Result."""
    dossier = dossiers.for_update(db, c, outcome.dossier_id)
    if outcome.supplement is not None:
        _record_request(db, c, dossier, outcome, now)
        return
    if outcome.decision is None:
        assert outcome.next_poll_at is not None
        pending = lifecycle.still_pending(dossier, outcome.next_poll_at, outcome.unknown_state)
        dossiers.apply(db, c, pending, now)
        return
    assert outcome.result is not None
    step = lifecycle.decided(dossier, outcome.decision, now, expired=outcome.expired)
    if step is None:
        return  # decided already (a retried call)
    dossiers.apply(db, c, step, now)
    outbox.enqueue(db, c, dossier, outcome.result, now)
    events.record(db, c, step, now, outcome.result)


def _record_request(
    db: Database, c: Connection, dossier: lifecycle.Dossier, outcome: PollOutcome, now: datetime
) -> None:
    """A supplement request seen: SUPPLEMENT_REQUESTED with its one 25 enqueued; a request
    announced already (this poll repeated, or raced) only sets the next poll."""
    request = outcome.supplement
    assert request is not None
    assert outcome.result is not None
    assert outcome.next_poll_at is not None
    step = lifecycle.supplement_requested(dossier, request.request_number, outcome.next_poll_at, now)
    if step is None or supplements.announced(db, c, request.request_number) is not None:
        dossiers.apply(db, c, lifecycle.still_pending(dossier, outcome.next_poll_at), now)
        return
    dossiers.apply(db, c, step, now)
    supplements.record(db, c, dossier, request, outcome.result.message_id, now)
    outbox.enqueue(db, c, dossier, outcome.result, now)
    log.info(
        "store.supplement_requested",
        reference=dossier.reference,
        request_number=request.request_number,
        codes=",".join(request.codes),
    )


def with_decisions(outcomes: Sequence[PollOutcome]) -> list[PollOutcome]:
    """The outcomes with their final Results' facts read (OutgoingMessage.with_decision): before
    the transaction, so SQLite's one writer is not held while each Result is parsed."""
    return [_with_decision(o) for o in outcomes]


def _with_decision(outcome: PollOutcome) -> PollOutcome:
    if outcome.result is None:
        return outcome
    try:
        return replace(outcome, result=outcome.result.with_decision())
    except Exception:  # left to its own transaction, where what it meets fails it alone
        return outcome


def check_decisions(outcomes: Sequence[PollOutcome]) -> None:
    """ValueError for an outcome whose decision is not one (before anything is written)."""
    for outcome in outcomes:
        if outcome.decision is not None and outcome.decision not in DECISIONS:
            raise ValueError(f"{outcome.decision} is not a decision")


def reject_locally(
    db: Database, dossier_id: int, problems: Sequence[Problem], result: OutgoingMessage, version: int | None
) -> None:
    """READY (or SUBMITTING) -> REJECTED_LOCALLY with its 22 enqueued."""
    result = result.with_decision()
    now = db.now()
    with db.tx() as c:
        dossier = dossiers.for_update(db, c, dossier_id)
        present = dossiers.present(db, c, dossier.id)
        step = lifecycle.rejected_locally(
            dossier, problems, version, result.message_id, present, now, db.deadline
        )
        dossiers.apply(db, c, step, now)
        outbox.enqueue(db, c, dossier, result, now)
        events.record(db, c, step, now)


def finish_cancellation(
    db: Database, dossier_id: int, result: OutgoingMessage, request: bytes | None
) -> None:
    """The owed cancellation done: the 24 enqueued, the CancelDeclaration sent kept for audit."""
    result = result.with_decision()
    now = db.now()
    with db.tx() as c:
        dossier = dossiers.for_update(db, c, dossier_id)
        step = lifecycle.cancellation_done(dossier, now)
        if step is None:
            return  # done already (a retried call)
        if request is not None and dossier.cancel_receipt:  # the portal held it: CancelDeclaration was sent
            audit.portal_request(db, c, dossier, f"cancel-{dossier.cancel_receipt}", request, now)
        dossiers.apply(db, c, step, now)
        outbox.enqueue(db, c, dossier, result, now)
    log.info("store.decision", reference=dossier.reference, state="cancelled")


def defer(db: Database, dossier_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
    """A transient failure: the lease released, the attempt counted (unless not `counted`: a refusal
    of our credentials, its budget started afresh), tried again at `retry_at`."""
    now = db.now()
    with db.tx() as c:
        dossier = dossiers.for_update(db, c, dossier_id)
        step = lifecycle.deferred(dossier, reason, retry_at, now, counted=counted)
        after = dossiers.apply(db, c, step, now)
    log.info("store.deferred", reference=after.reference, attempts=after.attempts)


def dead_letter(db: Database, dossier_id: int, reason: str) -> None:
    """Give up on a dossier (budget spent, or a permanent failure), keeping its payload."""
    now = db.now()
    with db.tx() as c:
        dossier = dossiers.for_update(db, c, dossier_id)
        step = lifecycle.dead_lettered(dossier, reason, now)
        dossiers.apply(db, c, step, now)
        events.record(db, c, step, now)
    log.warning("store.dead_letter", reference=dossier.reference, state=dossier.state.value)
