"""The event feed's transactional outbox on both stores: events written with their change (and
never without it), fanned out per subscriber, claimed in order per dossier, replayed, purged."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from nsw_adapter.dossier_facts import DecisionFacts, decision_facts
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.lifecycle import DossierState
from nsw_adapter.loops.events import event_channel
from nsw_adapter.resources import sample_path
from nsw_adapter.store import OutgoingMessage, SqlStore, SubmissionStart, records, tables
from nsw_adapter.store import intake as store_intake
from tests.support.events import schema_errors
from tests.support.fakes import FakeNsw, FakePortal, make_context
from tests.support.store import (
    Clock,
    RecordingRejections,
    begin_submission,
    incoming,
    record_decision,
    record_receipt,
    result,
)

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


def _subscriber(name: str, **options: Any) -> SubscriberSettings:
    return SubscriberSettings(
        name=name, kind="webhook", url=f"http://127.0.0.1:9/{name}", secret=SECRET, **options
    )


def _events(store: SqlStore) -> list[dict[str, Any]]:
    with store.engine.connect() as c:
        bodies = c.execute(select(tables.events.c.body).order_by(tables.events.c.id)).scalars()
        return [json.loads(b) for b in bodies]


def _ready(store: SqlStore, reference: str = "HPH-2026-000123", minute: float = 0) -> int:
    store.receive(incoming(f"{reference}-50", "50", reference=reference, sent_minute=minute))
    store.receive(incoming(f"{reference}-51", "51", reference=reference, sent_minute=minute))
    with store.engine.connect() as c:
        d = tables.dossiers
        return int(c.execute(select(d.c.id).where(d.c.reference == reference)).scalar_one())


def _cleared(store: SqlStore, dossier_id: int, receipt: str = "BG-2026-000001") -> None:
    begin_submission(store, dossier_id, b"<submission/>", b"lineage")
    record_receipt(store, dossier_id, receipt, False, result("21"))
    record_decision(store, dossier_id, DossierState.CLEARED, result("23"))


def test_each_change_writes_its_events_in_sequence(store: SqlStore) -> None:
    """received, submitted, cleared: one row each, sequence 1..3, every one valid by its schema."""
    dossier_id = _ready(store)
    assert [e["type"] for e in _events(store)] == ["dossier.received"]
    _cleared(store, dossier_id)
    events = _events(store)
    assert [e["type"] for e in events] == ["dossier.received", "dossier.submitted", "dossier.cleared"]
    assert [e["data"]["sequence"] for e in events] == [1, 2, 3]
    assert all(e["subject"] == "HPH-2026-000123" for e in events)
    assert events[0]["data"]["documents"] == ["50", "51"]
    assert events[1]["data"]["receipt_number"] == "BG-2026-000001"
    assert len({e["id"] for e in events}) == 3
    for event in events:
        assert schema_errors(event) == []


def test_a_clearance_is_read_from_its_result_once_for_its_facts_and_its_event(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract's 23 (two shore passes): the dossier's facts and the cleared event both take
    what they need from one reading of the Result, made before its transaction."""
    payload = sample_path("nsw", "results", "result-23-completed.xml").read_bytes()
    readings: list[bytes] = []

    def counted(envelope: bytes) -> DecisionFacts | None:
        readings.append(envelope)
        return decision_facts(envelope)

    monkeypatch.setattr(records, "decision_facts", counted)
    dossier_id = _ready(store)
    begin_submission(store, dossier_id, b"<submission/>", b"lineage")
    record_receipt(store, dossier_id, "BG-2026-000001", False, result("21"))
    record_decision(store, dossier_id, DossierState.CLEARED, OutgoingMessage("M-23", "23", payload))
    assert readings == [payload]
    cleared = _events(store)[-1]
    assert cleared["type"] == "dossier.cleared"
    assert cleared["data"]["clearance_number"] == "CKCHPG/NC/2026/001834"
    assert cleared["data"]["shore_passes"] == {
        "count": 2,
        "valid_from": "2026-03-14T01:00:00+00:00",  # 08:00 in Vietnam
        "valid_to": "2026-03-16T15:00:00+00:00",
    }
    with store.engine.connect() as c:
        f = tables.dossier_facts
        row = c.execute(
            select(f.c.clearance_number, f.c.shore_passes).where(f.c.dossier_id == dossier_id)
        ).one()
    assert tuple(row) == ("CKCHPG/NC/2026/001834", 2)


def test_a_submission_begun_or_deferred_writes_no_event(store: SqlStore) -> None:
    dossier_id = _ready(store)
    begin_submission(store, dossier_id, b"<submission/>", b"lineage")
    store.defer(dossier_id, "portal unavailable", store.now())
    assert [e["type"] for e in _events(store)] == ["dossier.received"]


def test_a_rolled_back_change_leaves_no_event(store: SqlStore) -> None:
    """The event is written in the change's transaction: rolled back with it."""
    db = store.database
    written: list[int] = []

    def change_then_fail() -> None:
        with db.tx() as c:
            now = db.now()
            store_intake._receive_one(db, c, incoming("m-50", "50", called_for=frozenset({"50"})), now)
            written.append(int(c.execute(select(func.count()).select_from(tables.events)).scalar() or 0))
            raise RuntimeError("after the change, before the commit")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert written == [1]
    assert _events(store) == []
    with store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(tables.dossiers)).scalar() == 0


def test_local_rejection_amendment_cancellation_and_dead_letter(store: SqlStore, clock: Clock) -> None:
    """rejected (by the adapter, with its codes), then an amendment's superseded and received,
    a dead letter, and a cancellation of another dossier."""
    from nsw_adapter.errors import Problem

    first = _ready(store)
    store.reject_locally(first, [Problem("E-IMO", "bad IMO number", None, "50")], result("22"))
    store.receive(incoming("amend-51", "51", "02", sent_minute=5))
    second = _ready(store, "HPH-2026-000124")
    [error] = store.begin_submissions([SubmissionStart(second, b"<s/>", b"l", None)])
    assert error is None
    store.dead_letter(second, "portal retry budget exhausted")
    third = _ready(store, "HPH-2026-000125")
    _cleared(store, third, "BG-2026-000009")
    store.receive(incoming("cancel", "50", "03", reference="HPH-2026-000125", sent_minute=9, reason="x"))
    by_reference: dict[str, list[dict[str, Any]]] = {}
    for event in _events(store):
        assert schema_errors(event) == []
        by_reference.setdefault(event["subject"], []).append(event)
    first_types = [e["type"] for e in by_reference["HPH-2026-000123"]]
    assert first_types == ["dossier.received", "dossier.rejected", "dossier.superseded", "dossier.received"]
    rejected = by_reference["HPH-2026-000123"][1]["data"]
    assert rejected["by"] == "adapter"
    assert [e["data"]["version"] for e in by_reference["HPH-2026-000123"]] == [1, 1, 1, 2]
    assert by_reference["HPH-2026-000123"][2]["data"]["new_version"] == 2
    dead = by_reference["HPH-2026-000124"][-1]
    assert dead["type"] == "dossier.dead-lettered"
    assert dead["data"]["stage"] == "submitting"
    cancelled = by_reference["HPH-2026-000125"][-1]
    assert cancelled["type"] == "dossier.cancelled"
    assert cancelled["data"]["receipt_number"] == "BG-2026-000009"


def test_deliveries_go_out_in_order_per_dossier_and_subscriber(store: SqlStore, clock: Clock) -> None:
    """Fanned out to the subscribers that want each event; a dossier's next event waits for its
    previous one to be delivered (a dead one holds it until replayed)."""
    customs = _subscriber("customs")
    port = _subscriber("port", types=["dossier.cleared"])
    one, two = _ready(store), _ready(store, "HPH-2026-000124")
    _cleared(store, one)
    now = store.now()
    assert store.fan_out_events([customs, port], now) == 4
    assert store.fan_out_events([customs, port], now) == 0
    claimed = store.claim_events("customs", "w1", 10, 30, now)
    # One per dossier: the first of each.
    assert [(d.dossier_id, d.sequence) for d in claimed] == [(one, 1), (two, 1)]
    assert store.claim_events("customs", "w2", 10, 30, now) == []  # leased
    store.mark_events_delivered(claimed[0].delivery_id)
    store.defer_event(claimed[1].delivery_id, "HTTP 500", now + timedelta(seconds=5))
    again = store.claim_events("customs", "w1", 10, 30, now)
    assert [(d.dossier_id, d.sequence) for d in again] == [(one, 2)]
    store.dead_letter_event(again[0].delivery_id, "HTTP 410")
    assert store.claim_events("customs", "w1", 10, 30, now) == []  # the dead one holds the dossier
    [cleared] = store.claim_events("port", "w1", 10, 30, now)
    assert cleared.event.type == "dossier.cleared"
    stats = store.stats(now)
    assert stats.subscribers["customs"].pending == 2  # two's received (deferred), one's cleared
    assert stats.subscribers["customs"].dead == 1
    listed = store.events(customs, now - timedelta(days=1), now + timedelta(days=1))
    assert [(r.sequence, r.status) for r in listed if r.reference == "HPH-2026-000123"] == [
        (1, "delivered"),
        (2, "dead"),
        (3, "pending"),
    ]
    assert store.replay_events(customs, now - timedelta(days=1), now + timedelta(days=1)) == 4
    replayed = store.claim_events("customs", "w1", 10, 30, now)
    assert [(d.dossier_id, d.sequence) for d in replayed] == [(one, 1), (two, 1)]
    assert replayed[0].event.event_id == claimed[0].event.event_id  # the same event, the same id


def test_delivered_events_go_with_the_payloads(store: SqlStore, clock: Clock) -> None:
    """Retention: a delivered event's body is purged with the payloads; a pending one is kept."""
    customs = _subscriber("customs")
    _ready(store)
    _ready(store, "HPH-2026-000124")
    store.fan_out_events([customs], store.now())
    first, second = store.claim_events("customs", "w1", 10, 30, store.now())
    store.mark_events_delivered(first.delivery_id)
    clock.advance(days=100)
    horizon = store.now() - timedelta(days=90)
    assert store.purge_payloads(horizon, dry_run=True).events == 1  # counted, nothing removed
    assert store.purge_payloads(horizon).events == 1
    with store.engine.connect() as c:
        e = tables.events
        kept: dict[int, bool] = {
            row[0]: bool(row[1]) for row in c.execute(select(e.c.dossier_id, e.c.body.is_not(None)))
        }
    assert kept == {first.dossier_id: False, second.dossier_id: True}
    listed = store.events(customs, store.now() - timedelta(days=200), store.now())
    assert [r.purged for r in listed] == [True, False]
    assert store.replay_events(customs, store.now() - timedelta(days=200), store.now()) == 1


def test_expiry_rejects_with_an_event(store: SqlStore, clock: Clock) -> None:
    store.receive(incoming("m-50", "50", called_for=frozenset({"50", "51", "52"})))
    clock.advance(minutes=31)
    assert store.expire_incomplete(store.now(), RecordingRejections()) == 1
    [event] = _events(store)
    assert event["type"] == "dossier.rejected"
    assert schema_errors(event) == []


def test_a_claim_can_fan_out_first_in_its_own_transaction(store: SqlStore) -> None:
    """claim_events(fan_out_to=...): new events fanned out to every subscriber, then claimed."""
    customs, port = _subscriber("customs"), _subscriber("port", types=["dossier.cleared"])
    _ready(store)
    now = store.now()
    [claimed] = store.claim_events("customs", "w1", 10, 30, now, [customs, port])
    assert claimed.event.type == "dossier.received"
    assert store.stats(now).events_unfanned == 0
    assert store.claim_events("port", "w1", 10, 30, now, [customs, port]) == []  # not its type
    assert store.fan_out_events([customs, port], now) == 0


def test_a_forgotten_subscribers_deliveries_go_and_no_one_elses(store: SqlStore, clock: Clock) -> None:
    """`events forget`: every delivery to the removed subscriber goes (delivered, dead, pending),
    counted by those undelivered; another subscriber's, and the events, stay."""
    customs, port = _subscriber("customs"), _subscriber("port")
    for n in range(3):
        _ready(store, f"HPH-2026-00012{n}")
    store.fan_out_events([customs, port], store.now())
    delivered, dead, _pending = store.claim_events("port", "w1", 10, 30, store.now())
    store.mark_events_delivered(delivered.delivery_id)
    store.dead_letter_event(dead.delivery_id, "refused")
    assert set(store.stats(store.now()).subscribers) == {"customs", "port"}
    assert store.forget_subscriber("port") == 2  # the dead one and the pending one
    assert set(store.stats(store.now()).subscribers) == {"customs"}
    assert store.stats(store.now()).subscribers["customs"].pending == 3
    assert store.claim_events("port", "w1", 10, 30, store.now()) == []
    assert len(_events(store)) == 3


def test_a_subscribers_deferred_deliveries_are_brought_forward_when_it_is_back(
    store: SqlStore, clock: Clock
) -> None:
    """Brought forward: that subscriber's deferred deliveries, due now with their attempts kept;
    another subscriber's stay deferred."""
    customs, port = _subscriber("customs"), _subscriber("port")
    _ready(store)
    now = store.now()
    store.fan_out_events([customs, port], now)
    for name in ("customs", "port"):
        [delivery] = store.claim_events(name, "w1", 10, 30, now)
        store.defer_event(delivery.delivery_id, "HTTP 503", now + timedelta(minutes=2))
    assert store.claim_events("customs", "w1", 10, 30, now) == []

    # What the subscriber's channel does when a call ends its outage (loops/delivery.py).
    recovered = event_channel(make_context(store, FakePortal(), FakeNsw(), clock), customs).recovered
    assert recovered is not None
    recovered()
    [again] = store.claim_events("customs", "w1", 10, 30, store.now())
    assert again.attempts == 1
    assert store.claim_events("port", "w1", 10, 30, store.now()) == []
