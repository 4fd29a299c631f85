"""The event feed's outbox: events written with the state change that causes them, fanned out to
each subscriber, claimed in order per dossier, delivered, deferred, given up on, listed, replayed.

`record` runs inside the transaction that applied a lifecycle Step (intake.py, outcomes.py), after
the Result it enqueued, so a change is never committed without its events nor an event without
its change. An event's row holds the bytes every subscriber receives (its id never changes).
`fan_out` (the event loops, before they claim) makes one delivery row per subscriber that wants
the event; a subscriber's deliveries then go out like the NSW outbox's Results: a delivery waits
while an earlier one of the same dossier is not delivered, so each dossier's events arrive in
order at each subscriber, and a crash between sending and marking sends again (at least once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import structlog
from sqlalchemy import Connection, and_, bindparam, func, not_, select, text

from nsw_adapter import string_part
from nsw_adapter.dossier_facts import arms_item_count
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.derive import Decision, causes_events, events_of, facts_of_row
from nsw_adapter.events.details import ShorePasses
from nsw_adapter.events.event import DossierEvent, new_event_id
from nsw_adapter.events.publisher import OutgoingEvent
from nsw_adapter.events.types import EventType
from nsw_adapter.lifecycle import RELEASED, Step
from nsw_adapter.store import dossiers
from nsw_adapter.store import tables as t
from nsw_adapter.store.claims import lease_free
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import OutgoingMessage, SubscriberFigures, UnknownRecord
from nsw_adapter.store.statements import IDS, LIMIT, NOW, Statement, insert, locked

log = structlog.get_logger(__name__)
e, dl, f = t.events, t.event_deliveries, t.dossier_facts
#: A delivery's status: waiting, the subscriber has it, given up on.
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_FAN_OUT_LOCK = 0x4E535745  # "NSWE": one fan-out at a time across daemons (PostgreSQL)

_FACTS = Statement.of(select(f).where(f.c.dossier_id == bindparam("did")))
_LAST_SEQUENCE = Statement.of(
    select(func.coalesce(func.max(e.c.sequence), 0).label("n")).where(e.c.dossier_id == bindparam("did"))
)
_INSERT_EVENT = Statement.of(e.insert())
_ARMS_DECLARATION = Statement.of(
    select(t.messages.c.payload)
    .select_from(t.documents.join(t.messages, t.documents.c.message_row == t.messages.c.id))
    .where(t.documents.c.dossier_id == bindparam("did"), t.documents.c.type == "64")
)


# --- written with the change ---------------------------------------------------------------


def record(
    db: Database, c: Connection, step: Step, now: datetime, result: OutgoingMessage | None = None
) -> int:
    """Write the events `step` (just applied) causes; `result`: the final Result it enqueued (its
    shore passes). How many were written."""
    if not causes_events(step.history):
        return 0
    dossier = step.dossier
    facts_row = db.run(c, _FACTS, {"did": dossier.id}).first()
    facts = facts_of_row(dossier.reference, dossier.document_type, facts_row)

    @cache
    def decision() -> Decision:
        codes = () if facts_row is None or not facts_row.codes else tuple(facts_row.codes.split(","))
        facts_of_result = None if result is None else result.decision_facts()
        spans = () if facts_of_result is None else facts_of_result.shore_pass_spans
        clearance = None if facts_row is None else facts_row.clearance_number
        return Decision(clearance, codes, ShorePasses.of(spans))

    def documents() -> Collection[str]:
        return dossiers.present_types(db, c, dossier.id)

    def arms_items() -> int | None:
        payload = db.run(c, _ARMS_DECLARATION, {"did": dossier.id}).scalar()
        return None if payload is None else arms_item_count(string_part.from_store(payload))

    found = events_of(dossier, step.history, facts, documents, decision, now, arms_items)
    if not found:
        return 0
    sequence = int(db.run(c, _LAST_SEQUENCE, {"did": dossier.id}).scalar() or 0)
    for version, details in found:
        sequence += 1
        event = DossierEvent(new_event_id(), now, sequence, version, facts, details)
        db.run(
            c,
            _INSERT_EVENT,
            {
                "event_id": event.id,
                "dossier_id": dossier.id,
                "sequence": sequence,
                "type": event.type.value,
                "gate": facts.gate,
                "port": facts.port,
                "routing_key": event.routing_key,
                "created_at": now,
                "body": event.encode(),
                "fanned_out": False,
            },
        )
    return len(found)


# --- fanned out to the subscribers ----------------------------------------------------------

_UNFANNED = Statement(
    lambda dialect: locked(
        dialect,
        select(e.c.id, e.c.dossier_id, e.c.type, e.c.gate, e.c.port)
        .where(e.c.fanned_out.is_(False))
        .order_by(e.c.id)
        .limit(LIMIT),
    )
)
_ANY_UNFANNED = Statement.of(select(e.c.id).where(e.c.fanned_out.is_(False)).limit(1))
_FANNED = Statement.of(e.update().where(e.c.id.in_(IDS)).values(fanned_out=True))


def _insert_delivery(dialect: str) -> Any:
    return insert(dialect, dl).on_conflict_do_nothing(index_elements=["subscriber", "event_row"])


_INSERT_DELIVERY = Statement(_insert_delivery)


def fan_out(db: Database, subscribers: Sequence[SubscriberSettings], now: datetime, limit: int = 500) -> int:
    """Make the delivery rows of events not fanned out yet, one per subscriber that wants each;
    how many events were fanned out. Events are taken in id order by one fan-out at a time, so
    one dossier's deliveries are made in its events' order."""
    if not subscribers or not _any_unfanned(db):
        return 0
    with db.tx() as c:
        return _fan_out_in(db, c, subscribers, now, limit)


def _any_unfanned(db: Database) -> bool:
    """On SQLite, whether any event waits to be fanned out, read without the write lock (True
    on PostgreSQL, whose fan-out locks no more than it writes)."""
    if db.writers is None:
        return True
    with db.read() as c:
        return db.execute(c, _ANY_UNFANNED).first() is not None


def _fan_out_in(
    db: Database, c: Connection, subscribers: Sequence[SubscriberSettings], now: datetime, limit: int
) -> int:
    """The fan-out, in the caller's transaction."""
    if db.dialect == "postgresql":
        got = c.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _FAN_OUT_LOCK}).scalar()
        if not got:
            return 0  # another daemon is fanning out
    rows = db.execute(c, _UNFANNED, {"lim": limit}).all()
    if not rows:
        return 0
    deliveries = [
        {
            "event_row": row.id,
            "subscriber": s.name,
            "dossier_id": row.dossier_id,
            "status": PENDING,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for row in rows
        for s in subscribers
        if s.wants(EventType(row.type), row.gate, row.port)
    ]
    if deliveries:
        c.execute(_INSERT_DELIVERY.on(db.dialect), deliveries)
    db.execute(c, _FANNED, {"ids": [row.id for row in rows]})
    return len(rows)


# --- claimed, delivered, deferred, given up on ----------------------------------------------


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """One event claimed for one subscriber."""

    delivery_id: int
    dossier_id: int
    sequence: int
    attempts: int
    first_attempt_at: datetime | None
    event: OutgoingEvent


def _due_ids(dialect: str) -> Any:
    earlier = dl.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.subscriber == dl.c.subscriber,
            earlier.c.dossier_id == dl.c.dossier_id,
            earlier.c.event_row < dl.c.event_row,
            earlier.c.status != DELIVERED,
        )
        .exists()
    )
    query = (
        select(dl.c.id)
        .where(
            dl.c.subscriber == bindparam("subscriber"),
            dl.c.status == PENDING,
            dl.c.next_attempt_at <= NOW,
            lease_free(dl, NOW),
            not_(blocked),
        )
        .order_by(dl.c.id)
        .limit(LIMIT)
    )
    return locked(dialect, query, skip_locked=True)


_DUE_IDS = Statement(_due_ids)
_LEASE = Statement.of(
    dl.update()
    .where(dl.c.id.in_(IDS))
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=t.UtcDateTime()),
        first_attempt_at=func.coalesce(dl.c.first_attempt_at, NOW),
    )
)
_CLAIMED = Statement.of(
    select(dl, e.c.event_id, e.c.type, e.c.routing_key, e.c.body, e.c.sequence)
    .select_from(dl.join(e, dl.c.event_row == e.c.id))
    .where(dl.c.id.in_(IDS))
    .order_by(dl.c.id)
)
_MARK_DELIVERED = Statement.of(
    dl.update()
    .where(dl.c.id.in_(IDS))
    .values(status=DELIVERED, delivered_at=bindparam("at", type_=t.UtcDateTime()), **RELEASED)
)
_DEFER = Statement.of(
    dl.update()
    .where(dl.c.id == bindparam("did"))
    .values(
        attempts=dl.c.attempts + 1,
        last_error=bindparam("reason"),
        next_attempt_at=bindparam("retry_at", type_=t.UtcDateTime()),
        **RELEASED,
    )
)
_PAUSE = Statement.of(  # as the outbox's: no attempt counted, its budget not started
    dl.update()
    .where(dl.c.id == bindparam("did"))
    .values(
        first_attempt_at=None,
        last_error=bindparam("reason"),
        next_attempt_at=bindparam("retry_at", type_=t.UtcDateTime()),
        **RELEASED,
    )
)
_DEAD = Statement.of(
    dl.update()
    .where(dl.c.id == bindparam("did"))
    .values(status=DEAD, dead_at=NOW, last_error=bindparam("reason"), **RELEASED)
)


def claim(
    db: Database,
    subscriber: str,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    fan_out_to: Sequence[SubscriberSettings] = (),
) -> list[EventDelivery]:
    """Lease a subscriber's due deliveries, oldest first; never one whose dossier has an earlier
    event not yet delivered to it. With `fan_out_to`, new events are fanned out to those
    subscribers first, in the same transaction (one commit, not two, per round)."""
    params = {"now": now, "lim": limit, "subscriber": subscriber}
    fanning = bool(fan_out_to) and _any_unfanned(db)
    if db.writers is not None and not fanning:
        with db.read() as c:
            if db.execute(c, _DUE_IDS, {**params, "lim": 1}).first() is None:
                return []
    with db.tx() as c:
        if fanning:
            _fan_out_in(db, c, fan_out_to, now, 500)
        ids = list(db.execute(c, _DUE_IDS, params).scalars())
        if not ids:
            return []
        until = now + timedelta(seconds=lease_seconds)
        db.execute(c, _LEASE, {"ids": ids, "owner": worker_id, "now": now, "until": until})
        rows = db.execute(c, _CLAIMED, {"ids": ids}).all()
    return [
        EventDelivery(
            row.id,
            row.dossier_id,
            row.sequence,
            row.attempts,
            row.first_attempt_at,
            OutgoingEvent(row.event_id, row.type, row.routing_key, row.body),
        )
        for row in rows
        if row.body is not None
    ]


def mark_delivered(db: Database, delivery_ids: Sequence[int]) -> None:
    """The subscriber has each (a 2xx, a broker's confirm): delivered, in one transaction."""
    if not delivery_ids:
        return
    with db.tx() as c:
        found = db.execute(c, _MARK_DELIVERED, {"ids": list(delivery_ids), "at": db.now()})
        if found.rowcount != len(set(delivery_ids)):
            raise UnknownRecord(f"no event delivery among {sorted(delivery_ids)}")


def defer(db: Database, delivery_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
    """A transient failure: tried again at `retry_at`, the attempt counted (`counted` False: the
    subscriber refused our credentials, not the event: put back untried, its budget not started)."""
    with db.tx() as c:
        params = {"did": delivery_id, "reason": reason, "retry_at": retry_at}
        if db.execute(c, _DEFER if counted else _PAUSE, params).rowcount == 0:
            raise UnknownRecord(f"no event delivery {delivery_id}")


def dead_letter(db: Database, delivery_id: int, reason: str) -> None:
    """Give up on one delivery (budget spent, or refused for good); `events replay` sends it again."""
    with db.tx() as c:
        if db.execute(c, _DEAD, {"did": delivery_id, "reason": reason, "now": db.now()}).rowcount == 0:
            raise UnknownRecord(f"no event delivery {delivery_id}")
    log.warning("store.dead_letter_event", delivery_id=delivery_id)


# --- listed and replayed (nsw-adapter events list|replay) -----------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as `events list` shows it, with its delivery to one subscriber (if any)."""

    event_id: str
    type: str
    reference: str
    document_type: str
    sequence: int
    gate: str | None
    port: str | None
    created_at: datetime
    status: str | None  # pending | delivered | dead; None: not fanned out to it (yet, or filtered)
    attempts: int
    delivered_at: datetime | None
    purged: bool  # its body went with the other payloads (retention): it cannot be replayed


def _listed(dialect: str) -> Any:
    d = t.dossiers
    joined = e.join(d, d.c.id == e.c.dossier_id).outerjoin(
        dl, and_(dl.c.event_row == e.c.id, dl.c.subscriber == bindparam("subscriber"))
    )
    return (
        select(
            e.c.id.label("row"),
            e.c.dossier_id,
            e.c.event_id,
            e.c.type,
            d.c.reference,
            d.c.document_type,
            e.c.sequence,
            e.c.gate,
            e.c.port,
            e.c.created_at,
            dl.c.status,
            dl.c.attempts,
            dl.c.delivered_at,
            (e.c.body.is_(None)).label("purged"),
        )
        .select_from(joined)
        .where(
            e.c.created_at >= bindparam("start", type_=t.UtcDateTime()),
            e.c.created_at < bindparam("end", type_=t.UtcDateTime()),
        )
        .order_by(e.c.id)
    )


_LISTED = Statement(_listed)


def listed(db: Database, subscriber: SubscriberSettings, start: datetime, end: datetime) -> list[EventRecord]:
    """The events in [start, end) the subscriber wants, with their delivery to it."""
    with db.read() as c:
        rows = db.execute(c, _LISTED, {"subscriber": subscriber.name, "start": start, "end": end}).all()
    return [
        EventRecord(
            row.event_id,
            row.type,
            row.reference,
            row.document_type,
            row.sequence,
            row.gate,
            row.port,
            row.created_at,
            row.status,
            row.attempts or 0,
            row.delivered_at,
            bool(row.purged),
        )
        for row in rows
        if subscriber.wants(EventType(row.type), row.gate, row.port)
    ]


def _replay(dialect: str) -> Any:
    statement = insert(dialect, dl)
    return statement.on_conflict_do_update(
        index_elements=["subscriber", "event_row"],
        set_={
            "status": PENDING,
            "next_attempt_at": statement.excluded.next_attempt_at,
            "attempts": 0,
            "first_attempt_at": None,
            "last_error": None,
            "delivered_at": None,
            "dead_at": None,
            **RELEASED,
        },
    )


_REPLAY = Statement(_replay)


def replay(db: Database, subscriber: SubscriberSettings, start: datetime, end: datetime) -> int:
    """Send the subscriber again every event in [start, end) it wants (ids unchanged: it
    deduplicates), in order per dossier; purged ones cannot be. How many will be sent."""
    now = db.now()
    with db.tx() as c:
        rows = db.execute(c, _LISTED, {"subscriber": subscriber.name, "start": start, "end": end}).all()
        again = [
            {
                "event_row": row.row,
                "subscriber": subscriber.name,
                "dossier_id": row.dossier_id,
                "status": PENDING,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
            }
            for row in rows
            if not row.purged and subscriber.wants(EventType(row.type), row.gate, row.port)
        ]
        if again:
            c.execute(_REPLAY.on(db.dialect), again)
    log.info("store.events_replayed", subscriber=subscriber.name, count=len(again))
    return len(again)


_FORGET_UNDELIVERED = Statement.of(
    dl.delete().where(dl.c.subscriber == bindparam("subscriber"), dl.c.status != DELIVERED)
)
_FORGET_DELIVERED = Statement.of(dl.delete().where(dl.c.subscriber == bindparam("subscriber")))


def forget(db: Database, name: str) -> int:
    """Drop every delivery to a subscriber no longer configured (`events forget`): nothing is
    sent to it any more, and its backlog leaves status and the metrics. The events themselves
    stay (other subscribers', and the audit's). How many undelivered ones were dropped."""
    with db.tx() as c:
        dropped = int(db.execute(c, _FORGET_UNDELIVERED, {"subscriber": name}).rowcount)
        db.execute(c, _FORGET_DELIVERED, {"subscriber": name})
    log.warning("store.subscriber_forgotten", subscriber=name, count=dropped)
    return dropped


# --- measured and purged --------------------------------------------------------------------


_BACKLOG = Statement.of(
    select(dl.c.subscriber, dl.c.status, func.count(), func.min(dl.c.created_at))
    .where(dl.c.status != DELIVERED)
    .group_by(dl.c.subscriber, dl.c.status)
)


def figures(db: Database, c: Connection, now: datetime) -> dict[str, SubscriberFigures]:
    """Each subscriber with deliveries not delivered: how many wait, since when, how many died."""
    found: dict[str, dict[str, Any]] = {}
    for row in db.execute(c, _BACKLOG):
        subscriber, status, count, oldest = tuple(row)
        entry = found.setdefault(subscriber, {"pending": 0, "oldest": None, "dead": 0})
        if status == PENDING:
            entry["pending"], entry["oldest"] = int(count), _aware(oldest, now)
        elif status == DEAD:
            entry["dead"] = int(count)
    return {
        name: SubscriberFigures(
            v["pending"],
            None if v["oldest"] is None else max(0.0, (now - v["oldest"]).total_seconds()),
            v["dead"],
        )
        for name, v in found.items()
    }


_UNFANNED_COUNT = Statement.of(select(func.count()).select_from(e).where(e.c.fanned_out.is_(False)))


def unfanned(db: Database, c: Connection) -> int:
    """How many events no worker has fanned out yet."""
    return int(db.execute(c, _UNFANNED_COUNT).scalar() or 0)


def _aware(value: Any, now: datetime) -> datetime | None:
    """SQLite's aggregates lose the column's type: a naive datetime or a string comes back."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=now.tzinfo) if value.tzinfo is None else value


_UNDELIVERED = select(dl.c.id).where(dl.c.event_row == e.c.id, dl.c.status != DELIVERED).exists()
#: Events past the horizon that still have a body and that no subscriber waits for.
_PURGEABLE = (
    e.c.created_at < bindparam("older_than", type_=t.UtcDateTime()),
    e.c.body.is_not(None),
    not_(_UNDELIVERED),
)
_PURGE_EVENTS = Statement.of(e.update().where(*_PURGEABLE).values(body=None, fanned_out=True))
_PURGE_DELIVERIES = Statement.of(
    dl.delete().where(
        dl.c.status == DELIVERED,
        dl.c.event_row.in_(
            select(e.c.id).where(
                e.c.created_at < bindparam("older_than", type_=t.UtcDateTime()), e.c.body.is_(None)
            )
        ),
    )
)


_PURGEABLE_EVENTS = Statement.of(select(func.count()).select_from(e).where(*_PURGEABLE))


def purgeable(db: Database, c: Connection, older_than: datetime) -> int:
    """How many events `purge` would strip of their body now (a dry run)."""
    return int(db.execute(c, _PURGEABLE_EVENTS, {"older_than": older_than}).scalar() or 0)


def purge(db: Database, c: Connection, older_than: datetime) -> int:
    """Retention: events older than the horizon that no subscriber still waits for lose their body
    (their rows stay: ids and sequences are never reused) and their delivered rows go."""
    purged = int(db.execute(c, _PURGE_EVENTS, {"older_than": older_than}).rowcount)
    db.execute(c, _PURGE_DELIVERIES, {"older_than": older_than})
    return purged
