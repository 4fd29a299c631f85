"""Intake and assembly: pushed messages stored, their documents put in effect, their dossiers
moved by the lifecycle's rules; refused envelopes kept; dossiers past their deadline rejected."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import Connection, bindparam, select

from nsw_adapter import lifecycle
from nsw_adapter.envelope import CANCELLATION
from nsw_adapter.errors import Problem
from nsw_adapter.lifecycle import Dossier, IntakeOutcome, S
from nsw_adapter.store import audit, dossiers, events, facts, outbox
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import NO_SIGNATURE, IncomingMessage, RejectionFactory, SignatureRecord
from nsw_adapter.store.statements import LIMIT, NOW, Statement, insert, locked

log = structlog.get_logger(__name__)
d, m, documents = t.dossiers, t.messages, t.documents

_DOSSIER_BY_KEY = Statement(
    lambda dialect: locked(
        dialect,
        select(d).where(
            d.c.reference == bindparam("reference"), d.c.document_type == bindparam("document_type")
        ),
    )
)
_INSERT_DOSSIER = Statement(  # the whole new row back: no second read
    lambda dialect: (
        insert(dialect, d)
        .on_conflict_do_nothing(index_elements=["reference", "document_type"])
        .returning(*d.c)
    )
)
_INSERT_DOCUMENT = Statement(
    lambda dialect: (
        insert(dialect, documents)
        .on_conflict_do_nothing(index_elements=["dossier_id", "type"])
        .returning(documents.c.type)
    )
)
_DOCUMENT = Statement.of(
    select(documents).where(documents.c.dossier_id == bindparam("did"), documents.c.type == bindparam("type"))
)
_UPDATE_DOCUMENT = Statement.of(
    documents.update().where(
        documents.c.dossier_id == bindparam("did"), documents.c.type == bindparam("dtype")
    )
)
_HELD = Statement.of(select(m.c.id).where(m.c.dedup_key == bindparam("key")))
_FIRST_INCOMING = Statement.of(
    select(m.c.message_id)
    .where(m.c.dossier_id == bindparam("did"), m.c.direction == "in")
    .order_by(m.c.id)
    .limit(1)
)
_EXPIRED = Statement(
    lambda dialect: locked(
        dialect,
        select(d)
        .where(d.c.state == S.RECEIVING.value, d.c.deadline_at <= NOW)
        .order_by(d.c.deadline_at)
        .limit(LIMIT),
        skip_locked=True,
    )
)


class _Duplicate(Exception):
    """Raised inside a transaction to roll it back: the messageId is already held."""


def receive_batch(db: Database, messages: Sequence[IncomingMessage]) -> list[IntakeOutcome | BaseException]:
    """Apply messages in one transaction with one commit; if one fails, each again on its own."""
    now = db.now()
    if len(messages) == 1:
        try:
            with db.tx() as c:
                return [_receive_one(db, c, messages[0], now)]
        except _Duplicate:
            return [IntakeOutcome.DUPLICATE]
        except Exception as exc:
            return [exc]
    # Dossiers locked in one order (stable: one dossier's messages keep theirs), so that batches
    # of two daemons on PostgreSQL never wait for each other in a cycle.
    order = sorted(range(len(messages)), key=lambda i: (messages[i].reference, messages[i].document_type))
    try:
        results: dict[int, IntakeOutcome | BaseException] = {}
        with db.tx() as c:
            for i in order:
                message = messages[i]
                if db.run(c, _HELD, {"key": f"in:{message.message_id}"}).first() is not None:
                    results[i] = IntakeOutcome.DUPLICATE  # nothing written for it
                else:
                    results[i] = _receive_one(db, c, message, now)
        return [results[i] for i in range(len(messages))]
    except Exception:  # rolled back as a whole: one failure must not cost the others
        return [result for message in messages for result in receive_batch(db, [message])]


def _receive_one(db: Database, c: Connection, message: IncomingMessage, now: datetime) -> IntakeOutcome:
    # The dossier first (locking it orders pushes of one dossier); a messageId already held then
    # conflicts on insert and _Duplicate rolls back everything this message did.
    dossier = _dossier_for(db, c, message, now)
    row_id = _insert_incoming(db, c, message, dossier.id, now)
    if row_id is None:
        raise _Duplicate
    if message.function == CANCELLATION:
        step = lifecycle.cancellation_received(dossier, message, now)
    else:
        in_effect = lifecycle.takes_documents(dossier) and _put_in_effect(db, c, dossier, message, row_id)
        if in_effect and message.vessel is not None:
            facts.record_vessel(db, c, dossier.id, message.vessel)
        present = dossiers.present(db, c, dossier.id)
        step = lifecycle.document_received(dossier, message, in_effect, present, now, db.deadline)
    dossiers.apply(db, c, step, now)
    events.record(db, c, step, now)
    return step.outcome


def _dossier_for(db: Database, c: Connection, message: IncomingMessage, now: datetime) -> Dossier:
    """The message's dossier, locked; created RECEIVING (with its history row) when new."""
    key = {"reference": message.reference, "document_type": message.document_type}
    row = db.run(c, _DOSSIER_BY_KEY, key).first()
    if row is not None:
        return Dossier.from_row(row)
    values, entry = lifecycle.created(
        message.reference, message.document_type, message.message_id, now, db.deadline
    )
    created = db.run(c, _INSERT_DOSSIER, values).first()
    if created is None:  # made by a concurrent push since we looked
        return Dossier.from_row(db.run(c, _DOSSIER_BY_KEY, key).one())
    dossiers.history(db, c, created.id, entry, now)
    return Dossier.from_row(created)


def _insert_incoming(
    db: Database, c: Connection, message: IncomingMessage, dossier_id: int, now: datetime
) -> int | None:
    """The message's audit row; None when its messageId is held already."""
    called = None if message.called_for is None else ",".join(sorted(message.called_for))
    row_id: int | None = db.run(
        c,
        audit.INSERT,
        {
            "direction": "in",
            "dedup_key": f"in:{message.message_id}",
            "message_id": message.message_id,
            "dossier_id": dossier_id,
            "reference": message.reference,
            "document_type": message.document_type,
            "type": message.type,
            "function": message.function,
            "pre_reference": message.pre_reference,
            "send_date": message.send_date,
            "at": now,
            "sha256": message.sha256,
            "size": len(message.raw),
            "payload": message.raw,
            "called_for": called,
            **(NO_SIGNATURE if message.signature is None else message.signature.columns()),
        },
    ).scalar()
    return row_id


def _put_in_effect(
    db: Database, c: Connection, dossier: Dossier, message: IncomingMessage, row_id: int
) -> bool:
    """Make the message the document of its type in effect, unless a newer one is; True if it did."""
    values = {
        "message_row": row_id,
        "message_id": message.message_id,
        "function": message.function,
        "send_date": message.send_date,
    }
    if (
        db.run(c, _INSERT_DOCUMENT, {"dossier_id": dossier.id, "type": message.type, **values}).first()
        is not None
    ):
        return True  # the first document of its type
    current = db.run(c, _DOCUMENT, {"did": dossier.id, "type": message.type}).one()
    candidate = lifecycle.precedence(message.send_date, message.function, message.message_id)
    existing = lifecycle.precedence(current.send_date, current.function, current.message_id)
    if not lifecycle.takes_effect(candidate, existing):
        log.info("assembly.stale", message_id=message.message_id, reference=dossier.reference)
        return False
    db.run(c, _UPDATE_DOCUMENT, {"did": dossier.id, "dtype": message.type, **values})
    return True


def record_refused(
    db: Database, raw: bytes, sha256: str, problems: Sequence[Problem], signature: SignatureRecord | None
) -> None:
    """Keep an unusable envelope (answered 22 E-ENVELOPE, or E-SIGNATURE with its `signature`
    record) for audit; it is never processed."""
    with db.tx() as c:
        audit.refused(db, c, raw, sha256, problems, signature, db.now())


def expire_incomplete(db: Database, now: datetime, reject: RejectionFactory) -> int:
    """Reject RECEIVING dossiers past their deadline (up to 500 a call); returns how many."""
    count = 0
    with db.tx() as c:
        for dossier in map(Dossier.from_row, db.execute(c, _EXPIRED, {"now": now, "lim": 500}).all()):
            expiry = lifecycle.deadline_passed(dossier, dossiers.present_types(db, c, dossier.id), now)
            answers = expiry.answers
            if answers is None and dossier.seen:  # no General Declaration: the dossier's first message
                answers = db.run(c, _FIRST_INCOMING, {"did": dossier.id}).scalar()
            result = reject(dossier.reference, dossier.document_type, answers, expiry.problems)
            dossiers.apply(db, c, expiry.step, now)
            outbox.enqueue(db, c, dossier, result, now)
            events.record(db, c, expiry.step, now)
            log.info("assembly.expired", reference=dossier.reference, code=expiry.code)
            count += 1
    return count
