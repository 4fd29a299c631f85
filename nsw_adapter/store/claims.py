"""Claims and leases: the dossiers a worker takes (READY to submit, SUBMITTED to poll, CANCELLED
with a cancellation owed), leased so no other worker does; heartbeats renew leases, shutdown drops them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, union_all

from nsw_adapter import lifecycle, string_part
from nsw_adapter.lifecycle import RELEASED, Dossier
from nsw_adapter.lifecycle import DossierState as S
from nsw_adapter.store import dossiers
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import ClaimedDossier, PendingCancellation, PendingPoll
from nsw_adapter.store.statements import IDS, LIMIT, NOW, Statement, locked

log = structlog.get_logger(__name__)
d, o = t.dossiers, t.outbox
#: What a claim reads of its rows: everything but the blobs (poll claims add the lineage).
_COLUMNS = tuple(column for column in d.c if column.name not in ("lineage", "problems"))


def lease_free(table: Any, now: Any) -> ColumnElement[bool]:
    """No lease, or an expired one (`now` a datetime or a bind parameter)."""
    return or_(table.c.lease_owner.is_(None), table.c.lease_expires_at < now)


def _due(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column <= NOW)


_LEASE_VALUES: dict[str, Any] = {
    "lease_owner": bindparam("owner"),
    "lease_expires_at": bindparam("until", type_=t.UtcDateTime()),
}
_LEASE = Statement.of(d.update().where(d.c.id.in_(IDS)).values(**_LEASE_VALUES))
# A cancellation's delivery starts its retry budget when first claimed (as an outbox row's does).
_LEASE_FIRST_ATTEMPT = Statement.of(
    d.update()
    .where(d.c.id.in_(IDS))
    .values(**_LEASE_VALUES, first_attempt_at=func.coalesce(d.c.first_attempt_at, NOW))
)
_CLAIMED_DOCUMENTS = Statement.of(
    select(t.documents.c.dossier_id, t.messages.c.payload)
    .select_from(t.documents.join(t.messages, t.documents.c.message_row == t.messages.c.id))
    .where(t.documents.c.dossier_id.in_(IDS), t.messages.c.payload.is_not(None))
    .order_by(t.documents.c.dossier_id, t.documents.c.type)
)


@dataclass(frozen=True)
class _Kind:
    """One kind of claim: rows matching any condition, leased in `order`, `columns` read back."""

    conditions: tuple[ColumnElement[bool], ...]
    order: Any
    columns: tuple[Any, ...] = _COLUMNS
    lease: Statement = _LEASE

    def ids(self, dialect: str) -> Any:
        """The ids of up to `lim` claimable rows (rows others hold locked are skipped).

        Each condition fixes one state, so its ids come from an index range scan in `order` that
        stops at `lim`, never a scan of the rows (whose lease columns sit after the blobs). On
        SQLite the branches are a UNION ALL of such scans; on PostgreSQL one OR query, as FOR
        UPDATE SKIP LOCKED cannot lock through a UNION (nor skip rows beyond a branch's LIMIT).
        """
        if dialect == "postgresql" or len(self.conditions) == 1:
            query = select(d.c.id).where(or_(*self.conditions)).order_by(self.order).limit(LIMIT)
            return locked(dialect, query, skip_locked=True)
        branches = [
            select(d.c.id, self.order.label("k"))
            .where(condition)
            .order_by(self.order)
            .limit(LIMIT)
            .subquery()
            for condition in self.conditions
        ]
        merged = union_all(*(select(b.c.id, b.c.k) for b in branches)).subquery()
        return select(merged.c.id).order_by(merged.c.k).limit(LIMIT)

    def rows(self, _dialect: str) -> Any:
        return select(*self.columns).where(d.c.id.in_(IDS)).order_by(self.order)


@dataclass(frozen=True)
class _Claim:
    """A kind's statements, built once per dialect."""

    ids: Statement
    rows: Statement
    lease: Statement

    @classmethod
    def of(cls, kind: _Kind) -> _Claim:
        return cls(Statement(kind.ids), Statement(kind.rows), kind.lease)


_READY = _Claim.of(
    _Kind(
        (
            and_(d.c.state == S.READY.value, lease_free(d, NOW), _due(d.c.next_attempt_at)),
            # Its worker died during the portal call: try again, same ClientMessageId.
            and_(d.c.state == S.SUBMITTING.value, lease_free(d, NOW)),
        ),
        d.c.id,
    )
)
_POLLS = _Claim.of(
    _Kind(
        (
            and_(d.c.state == S.SUBMITTED.value, lease_free(d, NOW), _due(d.c.next_poll_at)),
            and_(d.c.state == S.SUPPLEMENT_REQUESTED.value, lease_free(d, NOW), _due(d.c.next_poll_at)),
        ),
        d.c.next_poll_at,
        (*_COLUMNS, d.c.lineage),
    )
)
_CANCELLATIONS = _Claim.of(
    _Kind(
        (
            and_(
                d.c.state == S.CANCELLED.value,
                d.c.cancel_owed.is_(True),
                lease_free(d, NOW),
                _due(d.c.next_attempt_at),
            ),
        ),
        d.c.id,
        lease=_LEASE_FIRST_ATTEMPT,
    )
)


def _claim(
    db: Database, c: Any, claim: _Claim, limit: int, worker_id: str, lease_seconds: float, now: datetime
) -> list[Dossier]:
    """Lease up to `limit` dossiers of this kind; only the kind's columns are read back."""
    ids = list(db.execute(c, claim.ids, {"now": now, "lim": limit}).scalars())
    if not ids:
        return []
    until = now + timedelta(seconds=lease_seconds)
    db.execute(c, claim.lease, {"ids": ids, "owner": worker_id, "until": until, "now": now})
    return [Dossier.from_row(row) for row in db.execute(c, claim.rows, {"ids": ids})]


def ready(db: Database, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
    """Lease up to `limit` READY dossiers due now, with the envelopes of their documents in effect."""
    now = db.now()
    claimed: list[ClaimedDossier] = []
    if db.nothing_due(_READY.ids, now):
        return claimed
    with db.tx() as c:
        rows = _claim(db, c, _READY, limit, worker_id, lease_seconds, now)
        documents: dict[int, list[bytes]] = {row.id: [] for row in rows}
        if rows:
            for document in db.execute(c, _CLAIMED_DOCUMENTS, {"ids": list(documents)}):
                documents[document.dossier_id].append(string_part.from_store(document.payload))
        for row in rows:
            dossiers.apply(db, c, lifecycle.lease_expired(row, now), now)
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


def polls(db: Database, worker_id: str, limit: int, lease_seconds: float, now: datetime) -> list[PendingPoll]:
    """Lease up to `limit` (<= 100) SUBMITTED or SUPPLEMENT_REQUESTED dossiers whose next poll is due."""
    if db.nothing_due(_POLLS.ids, now):
        return []
    with db.tx() as c:
        rows = _claim(db, c, _POLLS, min(limit, 100), worker_id, lease_seconds, now)
    return [
        PendingPoll(
            dossier_id=row.id,
            reference=row.reference,
            document_type=row.document_type,
            receipt_number=row.receipt_number or "",
            lineage=row.lineage or b"",
            general_declaration_message_id=row.gd_message_id or "",
            supplement_request=row.supplement_request,
        )
        for row in rows
    ]


def cancellations(
    db: Database, worker_id: str, limit: int, lease_seconds: float
) -> list[PendingCancellation]:
    """Lease cancellations owed (to the portal when receipt_number is set, then the 24 to the NSW)."""
    now = db.now()
    if db.nothing_due(_CANCELLATIONS.ids, now):
        return []
    with db.tx() as c:
        rows = _claim(db, c, _CANCELLATIONS, limit, worker_id, lease_seconds, now)
    return [
        PendingCancellation(
            dossier_id=row.id,
            reference=row.reference,
            document_type=row.document_type,
            receipt_number=row.cancel_receipt,
            reason=row.cancel_reason or "",
            cancellation_message_id=row.cancel_message_id or "",
            general_declaration_message_id=row.gd_message_id,
            attempts=row.attempts,
            first_attempt_at=row.first_attempt_at,
        )
        for row in rows
    ]


_RENEW = {
    table.name: Statement.of(table.update().where(table.c.lease_owner == bindparam("owner")))
    for table in (d, o, t.event_deliveries)
}


def heartbeat(db: Database, worker_id: str, lease_seconds: float) -> int:
    """Extend every lease this worker holds (dossiers, outbox, event deliveries) to now +
    lease_seconds; how many."""
    until = db.now() + timedelta(seconds=lease_seconds)
    with db.tx() as c:
        return sum(
            db.execute(c, s, {"owner": worker_id, "lease_expires_at": until}).rowcount
            for s in _RENEW.values()
        )


def release(db: Database, worker_id: str) -> int:
    """Drop every lease this worker holds (graceful shutdown); how many."""
    with db.tx() as c:
        return sum(db.execute(c, s, {"owner": worker_id, **RELEASED}).rowcount for s in _RENEW.values())
