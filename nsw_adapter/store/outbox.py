"""The outbox: Results for the NSW enqueued with the change that made them, claimed in order,
marked sent, deferred, or given up on."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection, bindparam, func, not_, or_, select

from nsw_adapter.lifecycle import RELEASED, Dossier
from nsw_adapter.store import audit, facts
from nsw_adapter.store import tables as t
from nsw_adapter.store.claims import lease_free
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import OutboxItem, OutgoingMessage, UnknownRecord
from nsw_adapter.store.statements import IDS, LIMIT, NOW, Statement, locked

log = structlog.get_logger(__name__)
o, m = t.outbox, t.messages
#: An outbox row's status: waiting, accepted by the NSW, given up on, closed by an operator.
PENDING, SENT, DEAD, DISCARDED = "pending", "sent", "dead", "discarded"

_INSERT = Statement.of(o.insert())


def _due_ids(dialect: str) -> object:
    earlier = o.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(earlier.c.dossier_id == o.c.dossier_id, earlier.c.id < o.c.id, earlier.c.status != SENT)
        .exists()
    )
    query = (
        select(o.c.id)
        .where(
            o.c.status == PENDING,
            o.c.next_attempt_at <= NOW,
            lease_free(o, NOW),
            or_(o.c.dossier_id.is_(None), not_(blocked)),
        )
        .order_by(o.c.id)
        .limit(LIMIT)
    )
    return locked(dialect, query, skip_locked=True)


_DUE_IDS = Statement(_due_ids)
_LEASE = Statement.of(
    o.update()
    .where(o.c.id.in_(IDS))
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=t.UtcDateTime()),
        first_attempt_at=func.coalesce(o.c.first_attempt_at, NOW),
    )
)
_CLAIMED = Statement.of(
    select(o, m.c.payload)
    .select_from(o.join(m, o.c.message_row == m.c.id))
    .where(o.c.id.in_(IDS))
    .order_by(o.c.id)
)
_UPDATE = Statement.of(o.update().where(o.c.id == bindparam("oid")))
_MARK_SENT = Statement.of(
    o.update()
    .where(o.c.id.in_(IDS))
    .values(status=SENT, sent_at=bindparam("sent_at", type_=t.UtcDateTime()), **RELEASED)
)
_DEFER = Statement.of(
    o.update()
    .where(o.c.id == bindparam("oid"))
    .values(
        attempts=o.c.attempts + 1,
        last_error=bindparam("reason"),
        next_attempt_at=bindparam("retry_at", type_=t.UtcDateTime()),
        **RELEASED,
    )
)

_PAUSE = Statement.of(
    o.update()
    .where(o.c.id == bindparam("oid"))
    .values(
        first_attempt_at=None,
        last_error=bindparam("reason"),
        next_attempt_at=bindparam("retry_at", type_=t.UtcDateTime()),
        **RELEASED,
    )
)


def enqueue(
    db: Database, c: Connection, dossier: Dossier | None, result: OutgoingMessage, now: datetime
) -> None:
    """Put a Result in the outbox (and the audit trail); the same messageId is never enqueued twice."""
    row_id = audit.result(db, c, dossier, result.message_id, result.function, result.payload, now)
    if row_id is None:
        return
    db.run(
        c,
        _INSERT,
        {
            "dossier_id": None if dossier is None else dossier.id,
            "message_row": row_id,
            "message_id": result.message_id,
            "function": result.function,
            "status": PENDING,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
    )
    if dossier is not None:
        facts.record_result(db, c, dossier.id, result, now)


def claim(db: Database, worker_id: str, limit: int, lease_seconds: float, now: datetime) -> list[OutboxItem]:
    """Lease due outbox entries, oldest first; one dossier's entries go out in order."""
    if db.nothing_due(_DUE_IDS, now):
        return []
    with db.tx() as c:
        ids = list(db.execute(c, _DUE_IDS, {"now": now, "lim": limit}).scalars())
        if not ids:
            return []
        until = now + timedelta(seconds=lease_seconds)
        db.execute(c, _LEASE, {"ids": ids, "owner": worker_id, "now": now, "until": until})
        rows = db.execute(c, _CLAIMED, {"ids": ids}).all()
    return [
        OutboxItem(
            outbox_id=row.id,
            dossier_id=row.dossier_id,
            message_id=row.message_id,
            function=row.function,
            payload=row.payload or b"",
            attempts=row.attempts,
            first_attempt_at=row.first_attempt_at,
        )
        for row in rows
    ]


def mark_sent(db: Database, outbox_ids: tuple[int, ...]) -> None:
    """The NSW answered 99 (or a duplicate) to each: done, in one transaction."""
    if not outbox_ids:
        return
    with db.tx() as c:
        found = db.execute(c, _MARK_SENT, {"ids": list(outbox_ids), "sent_at": db.now()})
        if found.rowcount != len(set(outbox_ids)):
            raise UnknownRecord(f"no outbox entry among {sorted(outbox_ids)}")


def defer(db: Database, outbox_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
    """A transient failure sending a Result: the attempt counted, tried again at `retry_at`. Not
    `counted` (the NSW refused our credentials): no attempt counted, its budget started afresh."""
    statement = _DEFER if counted else _PAUSE
    with db.tx() as c:
        if db.execute(c, statement, {"oid": outbox_id, "reason": reason, "retry_at": retry_at}).rowcount == 0:
            raise UnknownRecord(f"no outbox entry {outbox_id}")


def dead_letter(db: Database, outbox_id: int, reason: str) -> None:
    """Give up on one Result, keeping its payload."""
    values = {"oid": outbox_id, "status": DEAD, "dead_at": db.now(), "last_error": reason, **RELEASED}
    with db.tx() as c:
        if db.execute(c, _UPDATE, values).rowcount == 0:
            raise UnknownRecord(f"no outbox entry {outbox_id}")
    log.warning("store.dead_letter_outbox", outbox_id=outbox_id)
