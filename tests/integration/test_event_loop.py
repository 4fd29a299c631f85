"""The event loop against the reference subscriber over a real socket, on both stores: delivered
once and marked; a 500 deferred and sent again later with the same id and bytes; a 401 (the wrong
signing secret) pauses the subscriber, giving nothing up; any other refusal is dead-lettered,
holding the dossier's later events, until a replay."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.loops.events import EventLoop
from nsw_adapter.simulators.subscriber import DEMO_SECRET, SubscriberSimulator
from nsw_adapter.store import SqlStore, tables
from tests.support.events import OTHER_SECRET
from tests.support.fakes import FakeNsw, FakePortal, make_context
from tests.support.store import Clock, begin_submission, incoming, record_receipt, result


@pytest.fixture
def subscriber() -> Iterator[SubscriberSimulator]:
    with SubscriberSimulator(secret=DEMO_SECRET) as running:
        yield running


def _loop(store: SqlStore, clock: Clock, url: str, secret: str = DEMO_SECRET) -> EventLoop:
    settings = SubscriberSettings(name="customs", kind="webhook", url=url, secret=secret, timeout_seconds=2)
    context = make_context(store, FakePortal(), FakeNsw(), clock, subscribers=(settings,))
    return EventLoop(context, settings)


def _dossier(store: SqlStore) -> None:
    store.receive(incoming("m-50", "50"))
    store.receive(incoming("m-51", "51"))
    with store.engine.connect() as c:
        dossier_id = int(c.execute(select(tables.dossiers.c.id)).scalar_one())
    begin_submission(store, dossier_id, b"<s/>", b"l")
    record_receipt(store, dossier_id, "BG-2026-000001", False, result("21"))


def _both_delivered(store: SqlStore, clock: Clock, subscriber: SubscriberSimulator) -> None:
    """A loop with the right URL and secret delivers the dossier's two events, in order."""
    right = _loop(store, clock, subscriber.url)
    try:
        assert right.run_once() == 1  # received; submitted waits for it
        assert right.run_once() == 1
    finally:
        right.close()
    assert [e["type"] for e in subscriber.events()] == ["dossier.received", "dossier.submitted"]


def test_delivered_in_order_and_marked(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    _dossier(store)
    loop = _loop(store, clock, subscriber.url)
    try:
        assert loop.run_once() == 1  # received; submitted waits for it
        assert loop.run_once() == 1
        assert loop.run_once() == 0
    finally:
        loop.close()
    events = subscriber.events()
    assert [e["type"] for e in events] == ["dossier.received", "dossier.submitted"]
    assert subscriber.admin_state()["counts"]["duplicates"] == 0
    assert store.stats(clock()).subscribers == {}  # nothing waits
    delivered = loop.context.metrics.events_delivered.labels(subscriber="customs")._value.get()
    assert delivered == 2


def test_a_500_is_deferred_and_sent_again_unchanged(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    _dossier(store)
    subscriber.set_faults("unavailable=1.0")
    loop = _loop(store, clock, subscriber.url)
    try:
        assert loop.run_once() == 1
        figures = store.stats(clock()).subscribers["customs"]
        assert (figures.pending, figures.dead) == (2, 0)
        assert subscriber.events() == []
        subscriber.set_faults(None)
        clock.advance(minutes=10)
        assert loop.run_once() == 1
        assert loop.run_once() == 1
    finally:
        loop.close()
    assert [e["type"] for e in subscriber.events()] == ["dossier.received", "dossier.submitted"]
    assert subscriber.admin_state()["counts"]["conflicts"] == 0
    assert loop.context.metrics.event_failures.labels(subscriber="customs")._value.get() == 1


def test_a_refused_signature_pauses_the_subscriber_and_gives_nothing_up(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    """A 401 (the wrong signing secret) is our credentials refused, not the event's fault: one
    error naming the setting to check, the delivery put back untried (no attempt counted, nothing
    dead), nothing more sent while the circuit is open; with the right secret it goes on by itself."""
    _dossier(store)
    wrong = _loop(store, clock, subscriber.url, secret=OTHER_SECRET)
    try:
        with capture_logs() as logs:
            assert wrong.run_once() == 1
            assert wrong.run_once() == 0  # paused: the circuit lets no second login through
    finally:
        wrong.close()
    assert subscriber.admin_state()["counts"]["bad_signatures"] == 1
    refusals = [e for e in logs if e["event"] == "dependency.credentials_refused"]
    assert [(e["service"], e["setting"]) for e in refusals] == [
        ("subscriber customs", "subscribers.customs.secret")
    ]
    assert not [e for e in logs if e["event"].endswith("dead_letter")]
    with store.engine.connect() as c:
        dl = tables.event_deliveries
        rows = c.execute(select(dl.c.status, dl.c.attempts, dl.c.first_attempt_at).order_by(dl.c.id)).all()
    assert [tuple(row) for row in rows] == [("pending", 0, None), ("pending", 0, None)]
    assert wrong.context.metrics.auth_refused.labels(dependency="subscriber customs")._value.get() == 1
    clock.advance(minutes=2)  # past auth_probe_seconds: the put-back delivery is due again
    _both_delivered(store, clock, subscriber)


def test_a_refused_event_is_a_dead_letter_until_replayed(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    """Any other 4xx (here a 404: the wrong path) refuses the event for good: dead-lettered,
    holding the dossier's later events, until a replay sends them again."""
    _dossier(store)
    wrong = _loop(store, clock, subscriber.url.replace("/hooks/nsw", "/hooks/missing"))
    try:
        assert wrong.run_once() == 1
        assert wrong.run_once() == 0  # the dead received holds the submitted
    finally:
        wrong.close()
    figures = store.stats(clock()).subscribers["customs"]
    assert (figures.pending, figures.dead) == (1, 1)
    start = clock() - timedelta(days=1)
    assert store.replay_events(wrong.subscriber, start, clock() + timedelta(days=1)) == 2
    _both_delivered(store, clock, subscriber)


def test_two_senders_keep_each_dossiers_order(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    """`threads` = 2: two loops share the subscriber's deliveries, a dossier's next event waiting
    for its previous one, so every dossier's events still arrive in sequence order."""
    for n in range(12):
        reference = f"HPH-2026-{n:06d}"
        store.receive(incoming(f"{reference}-50", "50", reference=reference))
        store.receive(incoming(f"{reference}-51", "51", reference=reference))
        with store.engine.connect() as c:
            d = tables.dossiers
            dossier_id = int(c.execute(select(d.c.id).where(d.c.reference == reference)).scalar_one())
        begin_submission(store, dossier_id, b"<s/>", b"l")
        record_receipt(store, dossier_id, f"BG-2026-{n:06d}", False, result("21"))
    subscriber.set_faults("seed=3,latency=0.001-0.01")
    loops = [_loop(store, clock, subscriber.url) for _ in range(2)]

    def drain(loop: EventLoop) -> None:
        try:
            while loop.run_once() or store.stats(clock()).subscribers:
                pass
        finally:
            loop.close()

    threads = [threading.Thread(target=drain, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = subscriber.events()
    assert len(events) == 24
    by_dossier: dict[str, list[int]] = {}
    for event in events:
        by_dossier.setdefault(event["subject"], []).append(event["data"]["sequence"])
    assert all(sequences == [1, 2] for sequences in by_dossier.values())
    delivered = [
        loop.context.metrics.events_delivered.labels(subscriber="customs")._value.get() for loop in loops
    ]
    assert sum(delivered) == 24
