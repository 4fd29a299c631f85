"""Wake on work: a dossier completed while every loop sleeps out a long idle back-off is submitted,
and its receipt's Result sent, at once; in one process (the intake rings the loops' bell) and
across an intake process and a worker process on PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from nsw_adapter.daemon import rings_for
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.intake import Intake
from nsw_adapter.resources import sample_path
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.store import IncomingMessage, IntakeOutcome, SqlStore
from nsw_adapter.store.wake_channel import WakeListener, WakeSender
from nsw_adapter.testing.pushes import soap_body
from nsw_adapter.wakeup import Topic
from tests.support.daemons import Daemon, adapter_env
from tests.support.intake_client import settings

VALID = sample_path("nsw", "valid")

#: Far longer than any wait below: a dossier handled within WITHIN was woken, not found by polling.
IDLE = "30"
WITHIN = 10.0


def receipt_announced(nsw: NswSimulator, reference: str) -> float:
    """Seconds until the NSW holds the dossier's 21 (its receipt's Result)."""
    started = time.monotonic()
    nsw.wait_until(
        lambda s: s["dossiers"].get(reference, {}).get("results", {}).get("21", 0) >= 1, timeout=WITHIN
    )
    return time.monotonic() - started


def slow_loops(env: dict[str, str]) -> dict[str, str]:
    # Idle sleeps of 30 s (up to 240 s with back-off); polls far apart; no deadline chores.
    return env | {"NSW_ADAPTER_WORKER__IDLE_SECONDS": IDLE, "NSW_ADAPTER_WORKER__GATHER_SECONDS": "0"}


def test_only_the_push_that_makes_a_dossier_ready_rings_the_submit_loop(store: SqlStore) -> None:
    """Each push rings for the work it made: the one completing a dossier (or amending it before
    anything reached the portal) the submit loop, a cancellation the cancel loop, the others only
    the event feed; a duplicate rings nothing."""
    heard: list[tuple[str, IntakeOutcome, tuple[Topic, ...]]] = []

    def on_stored(message: IncomingMessage, outcome: IntakeOutcome) -> None:
        heard.append((message.message_id, outcome, rings_for(message, outcome)))

    documents = ("50-general-declaration.xml", "51-crew-list.xml", "64-arms-declaration.xml")
    amended = [VALID / "arrival-amendment" / name for name in (*documents, "51-crew-list-amendment.xml")]
    cancelled = [VALID / "cancellation" / name for name in (*documents, "50-cancellation.xml")]
    pushes = [*amended, amended[-1], *cancelled]  # the amendment pushed twice
    intake = Intake(store, settings(), on_stored=on_stored)
    try:
        answers = [intake.handle(soap_body(path.read_bytes())) for path in pushes]
    finally:
        intake.close()
    assert [answer.status for answer in answers] == [200] * len(pushes)
    events, submit, cancel = (Topic.EVENTS,), (Topic.SUBMIT, Topic.EVENTS), (Topic.CANCEL, Topic.EVENTS)
    stored, ready = (IntakeOutcome.STORED, events), (IntakeOutcome.READY, submit)
    assert [(outcome, rings) for _, outcome, rings in heard] == [
        stored,  # the General Declaration: its Crew List and Arms Declaration are to come
        stored,
        ready,  # complete
        ready,  # amended while READY: a new version to submit (nothing was sent yet)
        # the amendment's repeat was a duplicate: nothing stored, nothing rung
        stored,
        stored,
        ready,
        (IntakeOutcome.STORED, cancel),  # the cancellation: the cancel loop's work, not the submit loop's
    ]


@pytest.mark.timeout(120)
def test_a_completed_dossier_wakes_the_submit_and_outbox_loops(tmp_path: Path) -> None:
    with PortalSimulator(decision_delay=60) as portal, NswSimulator(backoff_max=0.3) as nsw:
        env = slow_loops(adapter_env(f"sqlite:///{tmp_path}/adapter.db", portal.url, nsw.url))
        daemon = Daemon(tmp_path, "adapter-wake", env)
        daemon.start()
        try:
            time.sleep(1.0)  # every loop has looked once, found nothing and gone to sleep
            nsw.agency_url = daemon.intake_url
            for n, reference in enumerate(("HPH-2026-000951", "HPH-2026-000952")):
                nsw.push_dossier(generate_dossier(crew=3, seed=n, reference=reference))
                receipt_announced(nsw, reference)  # raises TimeoutError when nothing woke them
                time.sleep(0.5)  # the loops go back to sleep between the two
            portal_state = portal.admin_state()
        finally:
            daemon.terminate()
            daemon.ensure_stopped()
    submissions = [portal_state["dossiers"][r]["submissions"] for r in ("HPH-2026-000951", "HPH-2026-000952")]
    assert submissions == [1, 1]


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_an_intake_process_wakes_a_worker_process_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with PortalSimulator(decision_delay=60) as portal, NswSimulator(backoff_max=0.3) as nsw:
        env = slow_loops(adapter_env(pg_url, portal.url, nsw.url))
        intake = Daemon(tmp_path, "adapter-intake", env, args=("--role", "intake"))
        worker = Daemon(tmp_path, "adapter-worker", {**env, "NSW_ADAPTER_ROLES": '["worker"]'})
        intake.start()
        worker.start()
        try:
            time.sleep(1.5)  # the worker's loops have looked once and sleep; its listener listens
            nsw.agency_url = intake.intake_url
            nsw.push_dossier(generate_dossier(crew=3, seed=7, reference="HPH-2026-000953"))
            receipt_announced(nsw, "HPH-2026-000953")
        finally:
            intake.terminate()
            worker.terminate()
            intake.ensure_stopped()
            worker.ensure_stopped()


@pytest.mark.postgres
def test_a_ring_sent_by_one_connection_is_heard_by_a_listener(pg_url: str) -> None:
    heard: list[str] = []
    arrived = threading.Event()

    def on_ring(topic: str) -> None:
        heard.append(topic)
        arrived.set()

    listener = WakeListener(pg_url, on_ring)
    sender = WakeSender(pg_url)
    listener.start()
    sender.start()
    try:
        assert listener.listening.wait(10.0)
        for _ in range(50):  # a burst is coalesced: one notification per topic and slice
            sender.send("submit")
        assert arrived.wait(10.0)
        time.sleep(0.3)
    finally:
        sender.close()
        listener.close()
    assert set(heard) == {"submit"}
    assert 1 <= len(heard) < 50
