"""Operations and reports: dead letters listed, retried or discarded; one dossier described;
stats for status and /metrics; payloads purged after retention; the audit chain verified."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import BindParameter, bindparam, func, not_, or_, select

from nsw_adapter import lifecycle
from nsw_adapter.lifecycle import FINAL_STATES, RELEASED, Dossier
from nsw_adapter.lifecycle import DossierState as S
from nsw_adapter.store import audit, audit_chain, dossiers, events, outbox
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import (
    AuditEntry,
    DeadLetter,
    DossierView,
    Purged,
    SignatureRecord,
    StoreStats,
    Transition,
)
from nsw_adapter.store.statements import NOW, Statement, locked

log = structlog.get_logger(__name__)
d, o, m, h = t.dossiers, t.outbox, t.messages, t.history
_WAITING = (
    S.RECEIVING.value,
    S.READY.value,
    S.SUBMITTING.value,
    S.SUBMITTED.value,
    S.SUPPLEMENT_REQUESTED.value,
)
_ID: BindParameter[int] = bindparam("row_id")

# A dead dossier's payload: the submission of its current version, from the audit trail (None
# when it died before one was made, or once purged).
_SUBMISSION = (
    select(m.c.payload)
    .where(m.c.dossier_id == d.c.id, m.c.direction == audit.PORTAL, m.c.message_id == d.c.client_message_id)
    .limit(1)
    .scalar_subquery()
)
_DEAD_DOSSIERS = Statement.of(
    select(d.c.id, d.c.reference, d.c.last_error, d.c.dead_at, _SUBMISSION.label("submission"))
    .where(d.c.state == S.DEAD.value)
    .order_by(d.c.dead_at)
)
_OUTBOX_WITH_MESSAGE = o.join(m, o.c.message_row == m.c.id)
_DEAD_OUTBOX = Statement.of(
    select(o.c.id, o.c.last_error, o.c.dead_at, m.c.reference, m.c.payload)
    .select_from(_OUTBOX_WITH_MESSAGE)
    .where(o.c.status == outbox.DEAD)
    .order_by(o.c.dead_at)
)
_RETRY_OUTBOX = Statement.of(
    o.update()
    .where(o.c.id == _ID, o.c.status == outbox.DEAD)
    .values(
        status=outbox.PENDING,
        attempts=0,
        first_attempt_at=None,
        next_attempt_at=NOW,
        dead_at=None,
        **RELEASED,
    )
)
_DEAD_DOSSIER = Statement(
    lambda dialect: locked(dialect, select(d).where(d.c.id == _ID, d.c.state == S.DEAD.value))
)
_DEAD_OUTBOX_ROW = Statement.of(
    select(o.c.id, o.c.dossier_id, m.c.reference, m.c.document_type)
    .select_from(_OUTBOX_WITH_MESSAGE)
    .where(o.c.id == _ID, o.c.status == outbox.DEAD)
)
_DISCARD_OUTBOX = Statement.of(o.update().where(o.c.id == _ID).values(status=outbox.DISCARDED, **RELEASED))
_DOSSIER_BY_KEY = Statement.of(
    select(d).where(d.c.reference == bindparam("reference"), d.c.document_type == bindparam("document_type"))
)
_DOCUMENTS = Statement.of(select(t.documents).where(t.documents.c.dossier_id == _ID))
_HISTORY = Statement.of(select(h).where(h.c.dossier_id == _ID).order_by(h.c.id))
_MESSAGES = Statement.of(select(m).where(m.c.dossier_id == _ID).order_by(m.c.id))
_BY_STATE = Statement.of(select(d.c.state, func.count().label("n")).group_by(d.c.state))
# One min() per state: each is a single probe of nswa_dossiers_waiting (an IN list scans).
_FIRST_WAITING = Statement.of(
    select(
        *(select(func.min(d.c.created_at)).where(d.c.state == s).scalar_subquery().label(s) for s in _WAITING)
    )
)
_UNKNOWN_STATES = Statement.of(
    select(d.c.unknown_portal_state, func.count().label("n"))
    .where(d.c.unknown_portal_state.is_not(None))
    .group_by(d.c.unknown_portal_state)
)
_SUPPLEMENTS = Statement.of(
    select(t.supplement_requests.c.outcome, func.count().label("n")).group_by(t.supplement_requests.c.outcome)
)
_OUTBOX_BY_STATUS = Statement.of(select(func.count()).select_from(o).where(o.c.status == bindparam("status")))


def _purgeable(older_than: Any) -> tuple[Any, ...]:
    """Messages whose payloads may go: older than the horizon, of a finished dossier (or none), not
    waiting in the outbox."""
    finished = [s.value for s in FINAL_STATES]
    unsent = (
        select(o.c.id)
        .where(o.c.message_row == m.c.id, o.c.status.not_in((outbox.SENT, outbox.DISCARDED)))
        .exists()
    )
    dossier_done = select(d.c.id).where(d.c.id == m.c.dossier_id, d.c.state.in_(finished)).exists()
    return (
        m.c.at < older_than,
        m.c.payload.is_not(None),
        or_(m.c.dossier_id.is_(None), dossier_done),
        not_(unsent),
    )


_HORIZON = bindparam("older_than", type_=t.UtcDateTime())
_PURGEABLE_COUNT = Statement.of(select(func.count()).select_from(m).where(*_purgeable(_HORIZON)))
_PURGE_PAYLOADS = Statement.of(m.update().where(*_purgeable(_HORIZON)).values(payload=None, purged_at=NOW))
_PURGE_LINEAGE = Statement.of(
    d.update()
    .where(
        d.c.state.in_([s.value for s in FINAL_STATES]), d.c.updated_at < _HORIZON, d.c.lineage.is_not(None)
    )
    .values(lineage=None)
)


def dead_letters(db: Database) -> list[DeadLetter]:
    """Everything in the dead-letter state."""
    with db.read() as c:
        dead_dossiers = db.execute(c, _DEAD_DOSSIERS).all()
        dead_outbox = db.execute(c, _DEAD_OUTBOX).all()
    letters = [
        DeadLetter(row.id, "dossier", row.reference, row.last_error or "", row.dead_at, row.submission)
        for row in dead_dossiers
    ]
    letters += [
        DeadLetter(row.id, "outbox", row.reference, row.last_error or "", row.dead_at, row.payload)
        for row in dead_outbox
    ]
    return letters


def retry_dead_letter(db: Database, kind: str, id: int) -> bool:
    """Bring one dead letter back to be tried again; False when there is none with that id."""
    now = db.now()
    with db.tx() as c:
        if kind == "outbox":
            return db.execute(c, _RETRY_OUTBOX, {"row_id": id, "now": now}).rowcount > 0
        if kind != "dossier":
            raise ValueError(f"unknown dead letter kind {kind!r}")
        dead = db.execute(c, _DEAD_DOSSIER, {"row_id": id}).first()
        if dead is None:
            return False
        dossiers.apply(db, c, lifecycle.dead_letter_retried(Dossier.from_row(dead), now), now)
        return True


def discard_dead_letter(db: Database, kind: str, id: int, reason: str) -> bool:
    """Close one dead letter for good, the operator's reason kept in the audit trail (a chained
    row, direction "operator"); False when there is no dead letter with that id."""
    now = db.now()
    with db.tx() as c:
        if kind == "outbox":
            row = db.execute(c, _DEAD_OUTBOX_ROW, {"row_id": id}).first()
            if row is None:
                return False
            db.execute(c, _DISCARD_OUTBOX, {"row_id": id})
            reference, document_type, dossier_id = row.reference, row.document_type, row.dossier_id
        elif kind == "dossier":
            dead = db.execute(c, _DEAD_DOSSIER, {"row_id": id}).first()
            if dead is None:
                return False
            dossier = dossiers.apply(db, c, lifecycle.discarded(Dossier.from_row(dead), now), now)
            reference, document_type, dossier_id = dossier.reference, dossier.document_type, dossier.id
        else:
            raise ValueError(f"unknown dead letter kind {kind!r}")
        action = {"action": "discard", "dead_letter": f"{kind}:{id}", "reason": reason}
        audit.operator_action(
            db, c, action, dossier_id=dossier_id, reference=reference, document_type=document_type, now=now
        )
    log.info("store.dead_letter_discarded", kind=kind, id=id, reference=reference)
    return True


def describe(db: Database, reference: str, document_type: str) -> DossierView | None:
    """One dossier with its documents in effect, state history and audit trail (None if unknown)."""
    with db.read() as c:
        row = db.execute(c, _DOSSIER_BY_KEY, {"reference": reference, "document_type": document_type}).first()
        if row is None:
            return None
        documents = {doc.type: doc.message_id for doc in db.execute(c, _DOCUMENTS, {"row_id": row.id})}
        history = [
            Transition(e.version, e.from_state, e.to_state, e.at, e.cause)
            for e in db.execute(c, _HISTORY, {"row_id": row.id})
        ]
        messages = [
            AuditEntry(
                e.direction, e.message_id, e.type, e.function, e.at, e.sha256, e.payload, _signature(e)
            )
            for e in db.execute(c, _MESSAGES, {"row_id": row.id})
        ]
    return DossierView(
        dossier_id=row.id,
        reference=row.reference,
        document_type=row.document_type,
        state=S(row.state),
        version=row.version,
        client_message_id=row.client_message_id,
        supersedes=row.supersedes,
        receipt_number=row.receipt_number,
        documents=documents,
        history=history,
        messages=messages,
    )


def _signature(row: Any) -> SignatureRecord | None:
    """A message row's signature record (v6 columns), None when it has none."""
    if row.signature is None:
        return None
    return SignatureRecord(
        row.signature, row.signer_subject, row.signer_issuer, row.signer_serial, row.signer_sha256
    )


def stats(db: Database, now: datetime) -> StoreStats:
    """Dossiers by state, the oldest waiting, dead letters, outbox backlog (reads only: no write lock)."""
    with db.read() as c:
        by_state = {row.state: row.n for row in db.execute(c, _BY_STATE)}
        firsts = db.execute(c, _FIRST_WAITING).one()
        dead_outbox = db.execute(c, _OUTBOX_BY_STATUS, {"status": outbox.DEAD}).scalar()
        pending = db.execute(c, _OUTBOX_BY_STATUS, {"status": outbox.PENDING}).scalar()
        unknown = {row.unknown_portal_state: row.n for row in db.execute(c, _UNKNOWN_STATES)}
        supplements = {row.outcome or "open": row.n for row in db.execute(c, _SUPPLEMENTS)}
        subscribers = events.figures(db, c, now)
        unfanned = events.unfanned(db, c)
    oldest = min((first for first in firsts if first is not None), default=None)
    if isinstance(oldest, datetime) and oldest.tzinfo is None:  # SQLite aggregates lose the type
        oldest = oldest.replace(tzinfo=now.tzinfo)
    elif isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
    return StoreStats(
        dossiers_by_state=by_state,
        oldest_waiting_seconds=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        dead_letters=by_state.get(S.DEAD.value, 0) + int(dead_outbox or 0),
        outbox_pending=int(pending or 0),
        unknown_portal_states=unknown,
        supplement_requests=supplements,
        subscribers=subscribers,
        events_unfanned=unfanned,
    )


def purge_payloads(db: Database, older_than: datetime, *, dry_run: bool = False) -> Purged:
    """Remove payloads (personal data) of messages older than the horizon, and delivered events'
    bodies; keep audit rows. dry_run: only count what would go."""
    if dry_run:
        with db.read() as c:
            return Purged(
                messages=int(db.execute(c, _PURGEABLE_COUNT, {"older_than": older_than}).scalar() or 0),
                events=events.purgeable(db, c, older_than),
            )
    with db.tx() as c:
        messages = int(db.execute(c, _PURGE_PAYLOADS, {"older_than": older_than, "now": db.now()}).rowcount)
        db.execute(c, _PURGE_LINEAGE, {"older_than": older_than})
        purged_events = events.purge(db, c, older_than)  # delivered events go with the payloads
    log.info("store.purged", messages=messages, events=purged_events, older_than=older_than.isoformat())
    return Purged(messages=messages, events=purged_events)


def verify_audit_chain(db: Database) -> audit_chain.ChainReport:
    """Walk the audit rows' hash chain from one consistent snapshot (read only): the first broken
    link, if any (`nsw-adapter audit verify`)."""
    if db.dialect != "postgresql":
        with db.read() as c:  # a WAL snapshot
            return audit_chain.verify(c)
    with db.engine.connect() as connection:
        snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.begin():
            return audit_chain.verify(snapshot)
