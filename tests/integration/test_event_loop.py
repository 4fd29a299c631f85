"""The event loop against the reference subscriber over a real socket, on both stores: delivered
once and marked; a 500 deferred and sent again later with the same id and bytes; a refusal (401,
the wrong signing secret) dead-lettered, holding the dossier's later events, until a replay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

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


def test_a_refusal_is_a_dead_letter_until_replayed(
    store: SqlStore, clock: Clock, subscriber: SubscriberSimulator
) -> None:
    _dossier(store)
    wrong = _loop(store, clock, subscriber.url, secret=OTHER_SECRET)
    try:
        assert wrong.run_once() == 1
        assert wrong.run_once() == 0  # the dead received holds the submitted
    finally:
        wrong.close()
    assert subscriber.admin_state()["counts"]["bad_signatures"] >= 1
    figures = store.stats(clock()).subscribers["customs"]
    assert (figures.pending, figures.dead) == (1, 1)
    start = clock() - timedelta(days=1)
    assert store.replay_events(wrong.subscriber, start, clock() + timedelta(days=1)) == 2
    right = _loop(store, clock, subscriber.url)
    try:
        assert right.run_once() == 1
        assert right.run_once() == 1
    finally:
        right.close()
    assert [e["type"] for e in subscriber.events()] == ["dossier.received", "dossier.submitted"]
