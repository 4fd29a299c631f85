"""The workers' side in SQL: claims with leases, submission, decisions, cancellations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from lxml import etree
from sqlalchemy import BindParameter, ColumnElement, Connection, and_, bindparam, or_, select, union_all

from nsw_adapter import lifecycle, string_part
from nsw_adapter.errors import Problem
from nsw_adapter.lifecycle import DECISIONS, Dossier
from nsw_adapter.namespaces import PORTAL_NS
from nsw_adapter.store import tables as t
from nsw_adapter.store._intake import IntakeMixin
from nsw_adapter.store._sql import IDS, NOW
from nsw_adapter.store.base import (
    ClaimedDossier,
    DossierChanged,
    DossierState,
    OutgoingMessage,
    PendingCancellation,
    PendingPoll,
    PollOutcome,
    ReceiptRecord,
    SubmissionStart,
)

S = DossierState
d = t.dossiers
_Item = TypeVar("_Item")
log = structlog.get_logger(__name__)
DEFAULT_CANCEL_REASON = "Cancelled by the shipping agent through the NSW."

#: What a claim reads of its rows: everything but the blobs (claim_polls adds the lineage).
_CLAIM_COLUMNS = [column for column in d.c if column.name not in ("lineage", "problems")]


def portal_cancel_reason(reason: str | None) -> str:
    """The Reason CancelDeclaration sends: the agent's text on one line, within the portal's
    1..1000 characters, or a default when the agent gave none."""
    return " ".join((reason or "").split())[:1000] or DEFAULT_CANCEL_REASON


def cancel_request(receipt_number: str, reason: str) -> bytes:
    """The CancelDeclaration request as the audit trail keeps it (the portal's element, unsigned)."""
    request = etree.Element(f"{{{PORTAL_NS}}}CancelDeclaration", nsmap={"bgp": PORTAL_NS})
    etree.SubElement(request, f"{{{PORTAL_NS}}}ReceiptNumber").text = receipt_number
    etree.SubElement(request, f"{{{PORTAL_NS}}}Reason").text = reason
    return bytes(etree.tostring(request, encoding="utf-8"))


def lease_free(table: Any, now: Any) -> ColumnElement[bool]:
    """No lease, or an expired one (`now` a datetime or a bind parameter)."""
    return or_(table.c.lease_owner.is_(None), table.c.lease_expires_at < now)


# The claims' statements, built once (see SqlBase._cached) with the parameters NOW and IDS.
_LEASE = (
    d.update()
    .where(d.c.id.in_(IDS))
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("until", type_=t.UtcDateTime()))
)
_CLAIMED_DOCUMENTS = (
    select(t.documents.c.dossier_id, t.messages.c.payload)
    .select_from(t.documents.join(t.messages, t.documents.c.message_row == t.messages.c.id))
    .where(t.documents.c.dossier_id.in_(IDS), t.messages.c.payload.is_not(None))
    .order_by(t.documents.c.dossier_id, t.documents.c.type)
)


def _due(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column <= NOW)


@dataclass(frozen=True)
class _ClaimKind:
    """What one kind of claim leases: rows matching any condition, in `order`, reading `columns`."""

    name: str
    conditions: tuple[ColumnElement[bool], ...]
    order: Any
    columns: tuple[Any, ...] = tuple(_CLAIM_COLUMNS)


_READY = _ClaimKind(
    "ready",
    (
        and_(d.c.state == S.READY.value, lease_free(d, NOW), _due(d.c.next_attempt_at)),
        # Its worker died during the portal call: try again, same ClientMessageId.
        and_(d.c.state == S.SUBMITTING.value, lease_free(d, NOW)),
    ),
    d.c.id,
)
_POLLS = _ClaimKind(
    "polls",
    (and_(d.c.state == S.SUBMITTED.value, lease_free(d, NOW), _due(d.c.next_poll_at)),),
    d.c.next_poll_at,
    (*_CLAIM_COLUMNS, d.c.lineage),
)
_CANCELLATIONS = _ClaimKind(
    "cancellations",
    (
        and_(
            d.c.state == S.CANCELLED.value,
            d.c.cancel_owed.is_(True),
            lease_free(d, NOW),
            _due(d.c.next_attempt_at),
        ),
    ),
    d.c.id,
)


class WorkMixin(IntakeMixin):
    """claim_ready ... record_decision, claim_cancellations."""

    def _claim_ids_query(self, kind: _ClaimKind) -> Any:
        """The ids of up to `lim` claimable rows (rows others hold locked are skipped).

        Each condition fixes one state, so its ids come from an index range scan in `order` that
        stops at `lim`, never a scan of the rows (whose lease columns sit after the blobs). On
        SQLite the branches are a UNION ALL of such scans; on PostgreSQL one OR query, as FOR
        UPDATE SKIP LOCKED cannot lock through a UNION (nor skip rows beyond a branch's LIMIT).
        """

        def build() -> Any:
            limit: BindParameter[int] = bindparam("lim")
            if self._dialect == "postgresql" or len(kind.conditions) == 1:
                query = select(d.c.id).where(or_(*kind.conditions)).order_by(kind.order).limit(limit)
                return self._locked(query, skip_locked=True)
            branches = [
                select(d.c.id, kind.order.label("k")).where(condition).order_by(kind.order).limit(limit)
                .subquery()
                for condition in kind.conditions
            ]  # fmt: skip
            merged = union_all(*(select(b.c.id, b.c.k) for b in branches)).subquery()
            return select(merged.c.id).order_by(merged.c.k).limit(limit)

        return self._cached(f"claim_ids:{kind.name}", build)

    def _claim(
        self, c: Connection, kind: _ClaimKind, limit: int, worker_id: str, lease_seconds: float, now: datetime
    ) -> list[Dossier]:
        """Lease up to `limit` dossiers of this kind; only `kind.columns` are read for the claimed rows."""
        ids = list(c.execute(self._claim_ids_query(kind), {"now": now, "lim": limit}).scalars())
        if not ids:
            return []
        c.execute(_LEASE, {"ids": ids, "owner": worker_id, "until": now + timedelta(seconds=lease_seconds)})
        rows = self._cached(
            f"claimed:{kind.name}",
            lambda: select(*kind.columns).where(d.c.id.in_(IDS)).order_by(kind.order),
        )
        return [Dossier.from_row(r) for r in c.execute(rows, {"ids": ids})]

    def claim_ready(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
        """Lease up to `limit` READY dossiers due now (SKIP LOCKED on PostgreSQL)."""
        now = self._now()
        claimed: list[ClaimedDossier] = []
        if self._nothing_due(self._claim_ids_query(_READY), now):
            return claimed
        with self._tx() as c:
            rows = self._claim(c, _READY, limit, worker_id, lease_seconds, now)
            documents: dict[int, list[bytes]] = {row.id: [] for row in rows}
            if rows:
                for dossier_id, payload in c.execute(_CLAIMED_DOCUMENTS, {"ids": list(documents)}):
                    documents[dossier_id].append(string_part.from_store(payload))
            for row in rows:
                self._apply(c, lifecycle.lease_expired(row, now), now)
                claimed.append(
                    ClaimedDossier(
                        dossier_id=row.id,
                        reference=row.reference,
                        document_type=row.document_type,
                        version=row.version,
                        documents=documents[row.id],
                        client_message_id=row.client_message_id or "",
                        supersedes=row.supersedes,
                        general_declaration_message_id=row.gd_message_id or "",
                        attempts=row.attempts,
                        first_attempt_at=row.first_attempt_at,
                    )
                )
        if claimed:
            log.info("store.claimed_ready", worker=worker_id, count=len(claimed))
        return claimed

    def reject_locally(
        self,
        dossier_id: int,
        problems: Sequence[Problem],
        result: OutgoingMessage,
        *,
        version: int | None = None,
    ) -> None:
        """READY (or SUBMITTING) -> REJECTED_LOCALLY with its 22 Result enqueued."""
        now = self._now()
        with self._tx() as c:
            dossier = self._dossier_for_update(c, dossier_id)
            present = self._present(c, dossier)
            step = lifecycle.rejected_locally(
                dossier, problems, version, result.message_id, present, now, self._deadline
            )
            self._apply(c, step, now)
            self._enqueue(c, dossier, result, now)

    def begin_submission(
        self, dossier_id: int, submission: bytes, lineage: bytes, *, version: int | None = None
    ) -> None:
        """READY -> SUBMITTING: the submission is stored (in the audit trail) before the portal is called."""
        with self._tx() as c:
            self._begin_submission(c, SubmissionStart(dossier_id, submission, lineage, version), self._now())

    def begin_submissions(self, starts: Sequence[SubmissionStart]) -> list[Exception | None]:
        """A claim's begin_submission calls in one transaction (see _each)."""
        return self._each(starts, self._begin_submission)

    def _begin_submission(self, c: Connection, start: SubmissionStart, now: datetime) -> None:
        dossier = self._dossier_for_update(c, start.dossier_id)
        self._apply(c, lifecycle.submission_begun(dossier, start.version, start.lineage, now), now)
        # The submission's one copy is its audit row: on the dossier's row, SQLite would rewrite
        # the blob with every later update of the row (leases, receipt, decision).
        self._audit_portal_request(c, dossier, dossier.client_message_id or "", start.submission, now)

    def record_receipt(
        self,
        dossier_id: int,
        receipt_number: str,
        duplicate: bool,
        result: OutgoingMessage,
        *,
        next_poll_at: datetime | None = None,
    ) -> None:
        """SUBMITTING -> SUBMITTED with the 21 Result enqueued; polling becomes due at `next_poll_at`."""
        receipt = ReceiptRecord(dossier_id, receipt_number, duplicate, result, next_poll_at)
        with self._tx() as c:
            self._record_receipt(c, receipt, self._now())

    def record_receipts(self, receipts: Sequence[ReceiptRecord]) -> list[Exception | None]:
        """A claim's record_receipt calls in one transaction (see _each)."""
        return self._each(receipts, self._record_receipt)

    def _record_receipt(self, c: Connection, receipt: ReceiptRecord, now: datetime) -> None:
        dossier = self._dossier_for_update(c, receipt.dossier_id)
        step = lifecycle.receipt_recorded(
            dossier, receipt.receipt_number, receipt.duplicate, receipt.next_poll_at,
            receipt.result.message_id, self._present(c, dossier), now, self._deadline,
        )  # fmt: skip
        if step is None:
            return  # recorded already (a retried call)
        self._apply(c, step, now)
        self._enqueue(c, dossier, receipt.result, now)

    def _present(self, c: Connection, dossier: Dossier) -> lifecycle.PresentTypes:
        """Reads the dossier's document types in effect when a rule asks."""
        return lambda: self._present_types(c, dossier.id)

    def defer(self, dossier_id: int, reason: str, retry_at: datetime) -> None:
        """A transient failure: release the lease, try again at `retry_at`, count the attempt."""
        now = self._now()
        with self._tx() as c:
            dossier = self._apply(
                c, lifecycle.deferred(self._dossier_for_update(c, dossier_id), reason, retry_at, now), now
            )
            log.info("store.deferred", reference=dossier.reference, attempts=dossier.attempts)

    def dead_letter(self, dossier_id: int, reason: str) -> None:
        """Give up on a dossier (budget exhausted or permanent failure), keeping its payload."""
        now = self._now()
        with self._tx() as c:
            dossier = self._dossier_for_update(c, dossier_id)
            self._apply(c, lifecycle.dead_lettered(dossier, reason, now), now)
        log.warning("store.dead_letter", reference=dossier.reference, state=dossier.state.value)

    def claim_polls(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[PendingPoll]:
        """Lease up to `limit` (<= 100) SUBMITTED dossiers whose next poll is due."""
        if self._nothing_due(self._claim_ids_query(_POLLS), now):
            return []
        with self._tx() as c:
            rows = self._claim(c, _POLLS, min(limit, 100), worker_id, lease_seconds, now)
        return [
            PendingPoll(
                dossier_id=row.id,
                reference=row.reference,
                document_type=row.document_type,
                receipt_number=row.receipt_number or "",
                lineage=row.lineage or b"",
                general_declaration_message_id=row.gd_message_id or "",
            )
            for row in rows
        ]

    def record_pending(self, dossier_id: int, next_poll_at: datetime) -> None:
        """Still PENDING at the portal: ask again at `next_poll_at` (backoff)."""
        with self._tx() as c:
            self._record_pending(c, dossier_id, next_poll_at)

    def record_decision(self, dossier_id: int, state: DossierState, result: OutgoingMessage) -> None:
        """SUBMITTED -> CLEARED / REJECTED / CANCELLED, Result enqueued (or an owed cancellation done)."""
        if state not in DECISIONS:
            raise ValueError(f"{state} is not a decision")
        with self._tx() as c:
            self._record_decision(c, dossier_id, state, result, self._now())

    def record_polls(self, outcomes: Sequence[PollOutcome]) -> list[Exception | None]:
        """A poll batch's outcomes in one transaction (see _each)."""
        for outcome in outcomes:
            if outcome.decision is not None and outcome.decision not in DECISIONS:
                raise ValueError(f"{outcome.decision} is not a decision")
        return self._each(outcomes, self._record_poll)

    def _each(
        self, items: Sequence[_Item], apply: Callable[[Connection, _Item, datetime], None]
    ) -> list[Exception | None]:
        """Apply a batch's items in one transaction (one commit, not one per item): per item None
        or the exception it met.

        An item refused before it wrote anything (DossierChanged: the dossier moved on) is
        reported and costs the others nothing; any other failure rolls the batch back and each
        item is applied again in a transaction of its own.
        """
        now = self._now()
        try:
            errors: list[Exception | None] = []
            with self._tx() as c:
                for item in items:
                    try:
                        apply(c, item, now)
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
                with self._tx() as c:
                    apply(c, item, self._now())
                alone.append(None)
            except Exception as exc:
                alone.append(exc)
        return alone

    def _record_poll(self, c: Connection, outcome: PollOutcome, now: datetime) -> None:
        if outcome.decision is None:
            assert outcome.next_poll_at is not None
            self._record_pending(c, outcome.dossier_id, outcome.next_poll_at)
        else:
            assert outcome.result is not None
            self._record_decision(c, outcome.dossier_id, outcome.decision, outcome.result, now)

    def _record_pending(self, c: Connection, dossier_id: int, next_poll_at: datetime) -> None:
        dossier = self._dossier_for_update(c, dossier_id)
        self._apply(c, lifecycle.still_pending(dossier, next_poll_at), self._now())

    def _record_decision(
        self, c: Connection, dossier_id: int, state: DossierState, result: OutgoingMessage, now: datetime
    ) -> None:
        dossier = self._dossier_for_update(c, dossier_id)
        if state is S.CANCELLED and dossier.state is S.CANCELLED:
            step = lifecycle.cancellation_done(dossier, now)
            if step is not None and dossier.cancel_receipt:  # the portal held it: CancelDeclaration was sent
                request = cancel_request(dossier.cancel_receipt, portal_cancel_reason(dossier.cancel_reason))
                self._audit_portal_request(c, dossier, f"cancel-{dossier.cancel_receipt}", request, now)
        else:
            step = lifecycle.decided(dossier, state, now)
        if step is None:
            return  # decided already (a retried call)
        self._apply(c, step, now)
        self._enqueue(c, dossier, result, now)
        log.info("store.decision", reference=dossier.reference, state=state.value)

    def claim_cancellations(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[PendingCancellation]:
        """Lease cancellations owed (to the portal when receipt_number is set, then the 24 to the NSW)."""
        now = self._now()
        if self._nothing_due(self._claim_ids_query(_CANCELLATIONS), now):
            return []
        with self._tx() as c:
            rows = self._claim(c, _CANCELLATIONS, limit, worker_id, lease_seconds, now)
        return [
            PendingCancellation(
                dossier_id=row.id,
                reference=row.reference,
                document_type=row.document_type,
                receipt_number=row.cancel_receipt,
                reason=portal_cancel_reason(row.cancel_reason),
                cancellation_message_id=row.cancel_message_id or "",
                general_declaration_message_id=row.gd_message_id,
            )
            for row in rows
        ]
