"""The event feed under SIGKILL: the daemon killed again and again while its subscribers flap (the
webhook answering 500 at random, the AMQP connection cut under it), two senders for each: at
the end no event is
missing at either subscriber, none differs between deliveries of the same id, and what each
received is exactly what the store holds and the NSW's results imply, in order per dossier."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nsw_adapter import demo_events
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.simulators.subscriber import DEMO_SECRET, AmqpSource, SubscriberSimulator
from nsw_adapter.store import open_store, tables
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from tests.support.amqp import DroppingProxy, Names
from tests.support.daemons import Daemon, adapter_env
from tests.support.e2e import sent_at

pytestmark = pytest.mark.slow

DOSSIERS = 60
KILLS = 5
WEBHOOK_FLAPS = "seed=31,unavailable=0.3"


def _dossiers(prefix: str) -> list[list[tuple[str, bytes]]]:
    return [
        generate_dossier(
            crew=3 + i % 4,
            arms=1 if i % 7 == 0 else 0,
            stowaways=1 if i % 11 == 3 else 0,
            seed=i,
            reference=f"{prefix}-2026-{i:06d}",
            sent_at=sent_at(i),
        )
        for i in range(DOSSIERS)
    ]


class _Flapping:
    """Cuts every AMQP connection through the proxy at random moments until stopped."""

    def __init__(self, proxy: DroppingProxy, seed: int) -> None:
        self._proxy, self._rng = proxy, random.Random(seed)
        self._stop = threading.Event()
        self.cuts = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._rng.uniform(0.3, 1.2)):
            self.cuts += self._proxy.drop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _stored_events(store_url: str) -> dict[str, str]:
    store = open_store(store_url)
    try:
        with store.engine.connect() as c:
            rows = c.execute(select(tables.events.c.event_id, tables.events.c.body)).all()
    finally:
        store.close()
    return {event_id: hashlib.sha256(body).hexdigest() for event_id, body in rows}


def _undelivered(store_url: str) -> list[tuple[Any, ...]]:
    """The deliveries not delivered: subscriber, status, attempts, last error (for a failure's text)."""
    store = open_store(store_url)
    try:
        dl = tables.event_deliveries
        with store.engine.connect() as c:
            query = select(dl.c.subscriber, dl.c.status, dl.c.attempts, dl.c.last_error, dl.c.lease_owner)
            return [tuple(row) for row in c.execute(query.where(dl.c.status != "delivered"))]
    finally:
        store.close()


def _wait_delivered(
    subscribers: dict[str, SubscriberSimulator], want: int, store_url: str, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(s.events()) >= want for s in subscribers.values()):
            return
        time.sleep(0.25)
    got = {name: len(s.events()) for name, s in subscribers.items()}
    pytest.fail(f"not every event delivered within {timeout} s: {got} of {want}; {_undelivered(store_url)}")


def _crash_run(
    tmp_path: Path, store_url: str, amqp_url: str, names: Names, daemons: int, prefix: str
) -> None:
    generated = _dossiers(prefix)
    flags = {
        f"{prefix}-2026-{i:06d}": demo_events.declared(d for _, d in files)
        for i, files in enumerate(generated)
    }
    queue = names.queue()
    proxy = DroppingProxy()
    with (
        PortalSimulator(decision_delay=0.2, faults="seed=21,http503=0.03") as portal,
        NswSimulator(push_timeout=3, backoff_initial=0.05, backoff_max=0.5) as nsw,
        SubscriberSimulator(secret=DEMO_SECRET, faults=WEBHOOK_FLAPS) as webhook,
        SubscriberSimulator(amqp=AmqpSource(amqp_url, queue, names.exchange)) as consumer,
    ):
        subscribers = [
            {"name": "customs", "kind": "webhook", "url": webhook.url, "secret": DEMO_SECRET,
             "timeout_seconds": 2, "threads": 2},
            {"name": "port", "kind": "amqp", "url": proxy.url(amqp_url), "exchange": names.exchange,
             "queue": queue, "timeout_seconds": 2, "threads": 2},
        ]  # fmt: skip
        env = adapter_env(store_url, portal.url, nsw.url) | {
            "NSW_ADAPTER_SUBSCRIBERS": json.dumps(subscribers)
        }
        running = [Daemon(tmp_path, f"adapter-{prefix.lower()}-{n}", env) for n in range(daemons)]
        flapping = _Flapping(proxy, seed=5)
        rng = random.Random(11)
        try:
            for daemon in running:
                daemon.start()
            nsw.agency_urls = [daemon.intake_url for daemon in running]
            for files in generated:
                nsw.push_dossier(files)
            for kill in range(KILLS):
                time.sleep(rng.uniform(0.5, 2.0))
                victim = running[kill % len(running)]
                victim.kill()
                victim.start(wait=False)
            for daemon in running:
                daemon.wait_healthy()
            state = nsw.wait_all_final(timeout=90, interval=0.25)
            implied = sum(
                sum(demo_events.implied(d, flags[r]).values()) for r, d in state["dossiers"].items()
            )
            flapping.stop()  # the subscribers recover; every event must then arrive
            webhook.set_faults(None)
            listening = {"customs": webhook, "port": consumer}
            _wait_delivered(listening, implied, store_url)
            for daemon in running:
                assert daemon.terminate() == 0
        finally:
            flapping.stop()
            proxy.close()
            for daemon in running:
                daemon.ensure_stopped()
        assert flapping.cuts > 0
        assert webhook.admin_state()["injected"]  # the webhook did answer 500s
        stored = _stored_events(store_url)
        assert len(stored) == implied
        for name, listener in listening.items():
            received = listener.admin_state()
            events = [e["event"] for e in received["events"]]
            assert received["counts"]["conflicts"] == 0, name  # never two bodies for one id
            assert demo_events.check(name, events, state, flags, received["counts"]) == [], name
            assert {e["id"] for e in events} == set(stored), name  # none missing, none unknown


@pytest.mark.timeout(240)
def test_sigkill_while_subscribers_flap_on_sqlite(tmp_path: Path, amqp_url: str, amqp_names: Names) -> None:
    _crash_run(tmp_path, f"sqlite:///{tmp_path}/adapter.db", amqp_url, amqp_names, 1, "HPH")


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_sigkill_two_daemons_while_subscribers_flap_on_postgresql(
    tmp_path: Path, amqp_url: str, amqp_names: Names, pg_available: bool
) -> None:
    if not pg_available:
        pytest.skip("no PostgreSQL")
    url = create_pg_database()
    try:
        _crash_run(tmp_path, url, amqp_url, amqp_names, 2, "SGN")
    finally:
        drop_pg_database(url)
