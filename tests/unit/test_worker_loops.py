"""The worker's loops against the real SQLite store, with scripted portal and NSW clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import event, select

from nsw_adapter.clients.errors import RemotePermanentError, RemoteTransientError
from nsw_adapter.clients.nsw import NswAnswer, Reject
from nsw_adapter.clients.portal import PortalState, Reason, Receipt, Status
from nsw_adapter.delivery import CircuitBreaker, RetryPolicy, set_testing
from nsw_adapter.delivery.breaker import BreakerState
from nsw_adapter.delivery.health import DependencyState, Health
from nsw_adapter.errors import AuthenticationRefused, Problem
from nsw_adapter.logging import get_logger
from nsw_adapter.loops.cancel import CancelLoop
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.loops.delivery import Delivery, portal_channel
from nsw_adapter.loops.outbox import OutboxLoop
from nsw_adapter.loops.poll import CallBudget, PollLoop
from nsw_adapter.loops.submit import SubmitLoop
from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import Settings
from nsw_adapter.store import SqlStore, open_store, tables
from nsw_adapter.worker import Worker, build_context
from tests.support.fakes import (
    RECEIVED,
    SUBMISSION,
    FakeLineage,
    FakeNsw,
    FakePortal,
    FakeTranslation,
    make_context,
    translator,
)
from tests.support.store import Clock, incoming

log = get_logger("tests.worker_loops")


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path}/worker.db", clock=clock, migrate=True)
    yield opened
    opened.close()


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def nsw() -> FakeNsw:
    return FakeNsw()


def ready_dossier(store: SqlStore, reference: str = "HPH-2026-000123") -> None:
    store.receive(incoming(f"NSW{reference[-6:]}50", "50", reference=reference))
    store.receive(incoming(f"NSW{reference[-6:]}51", "51", reference=reference, sent_minute=1))


def states(store: SqlStore, clock: Clock) -> dict[str, int]:
    return {k: v for k, v in store.stats(clock()).dossiers_by_state.items() if v}


def outbox_functions(store: SqlStore, clock: Clock) -> list[str]:
    return [item.function for item in store.claim_outbox("peek", 100, 1, clock() + timedelta(days=1))]


def test_ready_dossier_is_submitted_and_its_21_enqueued(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A READY dossier is translated, submitted once, and leaves a 21 Result in the outbox."""
    ready_dossier(store)
    assert SubmitLoop(make_context(store, portal, nsw, clock)).run_once() == 1
    assert [c[0] for c in portal.calls] == ["submit"]
    assert states(store, clock) == {"submitted": 1}
    assert outbox_functions(store, clock) == ["21"]


def test_translation_problems_reject_locally_with_a_22(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """Problems found in translation never reach the portal: REJECTED_LOCALLY and a 22 at once."""
    ready_dossier(store)
    problems = [
        Problem(
            "E-IMO",
            "The IMO number fails its check digit.",
            "/Envelope/Body/Content/GeneralDeclaration/IMONumber",
            "50",
        )
    ]
    context = make_context(store, portal, nsw, clock, translator=translator(problems))
    SubmitLoop(context).run_once()
    assert portal.calls == []
    assert states(store, clock) == {"rejected_locally": 1}
    [item] = store.claim_outbox("peek", 10, 1, clock() + timedelta(days=1))
    root = etree.fromstring(item.payload)
    assert root.findtext("Body/Content/Result/Error/Code") == "E-IMO"


def test_transient_failures_are_retried_in_process(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """Two transient failures then a receipt: submitted, with two retries counted."""
    ready_dossier(store)
    portal.submits = [
        RemoteTransientError("portal HTTP 503", status=503),
        RemoteTransientError("portal timed out"),
    ]
    context = make_context(store, portal, nsw, clock)
    SubmitLoop(context).run_once()
    assert len(portal.calls) == 3
    assert states(store, clock) == {"submitted": 1}
    assert context.metrics.retries.labels(operation="submit")._value.get() == 2


def test_persistent_transient_failure_defers_through_the_store(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """When in-process retries run out the dossier goes back to READY for later, attempt counted."""
    ready_dossier(store)
    portal.submits = [RemoteTransientError("portal HTTP 503", status=503)] * 3
    SubmitLoop(make_context(store, portal, nsw, clock)).run_once()
    assert states(store, clock) == {"ready": 1}
    [again] = store.claim_ready("w2", 10, 30)
    assert again.attempts == 1
    assert again.client_message_id  # the same ClientMessageId goes out on the retry


def test_retry_after_deferral_uses_the_same_client_message_id(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A deferred dossier is submitted again with the ClientMessageId fixed before the first call."""
    ready_dossier(store)
    seen: list[str] = []

    def translate(
        documents: Sequence[bytes], *, client_message_id: str, supersedes: str | None = None
    ) -> FakeTranslation:
        seen.append(client_message_id)
        return FakeTranslation(SUBMISSION, [], FakeLineage())

    portal.submits = [RemoteTransientError("portal HTTP 503", status=503)] * 3
    context = make_context(store, portal, nsw, clock, translator=translate)
    SubmitLoop(context).run_once()
    SubmitLoop(context).run_once()
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert states(store, clock) == {"submitted": 1}


def test_permanent_failure_is_dead_lettered_without_retry(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A SCHEMA fault is not retried: the dossier is dead-lettered with the reason and its payload kept."""
    ready_dossier(store)
    portal.submits = [
        RemotePermanentError("portal fault SCHEMA (HTTP 500)", code="SCHEMA", status=500, detail="bad")
    ]
    SubmitLoop(make_context(store, portal, nsw, clock)).run_once()
    assert len(portal.calls) == 1
    assert states(store, clock) == {"dead": 1}
    [letter] = store.dead_letters()
    assert "SCHEMA" in letter.reason
    assert store.retry_dead_letter(letter.kind, letter.id)
    assert states(store, clock) == {"ready": 1}


def test_exhausted_budget_is_dead_lettered(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A dossier deferred past its total retry budget is given up on, not tried again."""
    ready_dossier(store)
    portal.submits = [RemoteTransientError("portal HTTP 503", status=503)] * 3
    context = make_context(store, portal, nsw, clock, portal_budget_seconds=1.0)
    SubmitLoop(context).run_once()  # first attempt: deferred
    clock.advance(seconds=2)  # past the budget: one deferral costs 3 s of retries + 1 s of wait
    SubmitLoop(context).run_once()  # budget spent: dead
    assert states(store, clock) == {"dead": 1}
    assert "budget" in store.dead_letters()[0].reason


def test_open_breaker_claims_nothing(store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock) -> None:
    """While the portal's circuit is open nothing is claimed (no claim-and-defer churn in the store)."""
    ready_dossier(store)
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=60)
    breaker.record_failure()
    assert SubmitLoop(make_context(store, portal, nsw, clock, portal_breaker=breaker)).run_once() == 0
    assert portal.calls == []
    assert store.claim_ready("other", 10, 30)  # still there, not leased


def test_open_breaker_defers_without_calling(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """With the portal's circuit open no call is made; the dossier waits in the store."""
    ready_dossier(store)
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=60)
    loop = SubmitLoop(make_context(store, portal, nsw, clock, portal_breaker=breaker))
    [claimed] = store.claim_ready("test-worker", 1, 30)
    breaker.record_failure()  # opens between the claim and the call (another thread's failure)
    loop.process(claimed)
    assert portal.calls == []
    assert states(store, clock) == {"ready": 1}


def _next_attempts(store: SqlStore) -> list[datetime]:
    with store.engine.connect() as connection:
        found = connection.execute(select(tables.dossiers.c.next_attempt_at).order_by(tables.dossiers.c.id))
        return [moment for (moment,) in found]


def test_the_first_call_after_an_outage_brings_every_deferred_dossier_forward(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """While the portal is down each dossier tried is deferred along its back-off (a minute and
    more here). The first call that goes through once it is back (the probe, when the first of
    them falls due) makes the others due at once: they go out without waiting out their back-offs."""
    set_testing(False)  # the real back-off schedule (the fixture turns testing off again anyway)
    for index in range(3):
        ready_dossier(store, f"HPH-2026-{index + 200:06d}")
    monotonic = [0.0]
    breaker = CircuitBreaker("portal", failure_threshold=3, reset_seconds=30, clock=lambda: monotonic[0])
    policy = RetryPolicy(max_attempts=1, defer_initial=60, defer_max=600)
    context = make_context(
        store, portal, nsw, clock, portal_breaker=breaker, portal_policy=policy, claim_batch=1
    )
    loop = SubmitLoop(context)
    portal.submits = [RemoteTransientError("portal HTTP 503", status=503)] * 3
    for _ in range(3):  # one dossier a claim, ten seconds apart: each deferred to its own time
        assert loop.run_once() == 1
        clock.advance(seconds=10)
    assert breaker.state is BreakerState.OPEN
    deferred = _next_attempts(store)
    assert len(set(deferred)) == 3

    receipts = iter(range(1, 10))
    portal.submits = [lambda: Receipt(f"CKCHPG-2026-{next(receipts):06d}", RECEIVED, duplicate=False)] * 3
    monotonic[0] = 31.0  # half-open: one probe may go
    clock.now = min(deferred)  # the first deferred dossier falls due; the others are still waiting
    assert loop.run_once() == 1  # the probe goes through, and the others are due now
    assert loop.run_once() == 1  # the clock has not moved: brought forward, not waited out
    assert loop.run_once() == 1
    assert states(store, clock) == {"submitted": 3}
    assert len(portal.calls) == 6


def test_a_dependency_says_which_success_ended_its_outage(clock: Clock) -> None:
    """Only the success after the service was unreachable (or refused our credentials) ends an
    outage; a success after one failed call, or after another success, does not."""
    dependency = Health(clock=clock).of("portal")
    assert dependency.succeeded() is False  # first use
    dependency.failed("timeout", unreachable=False)
    assert dependency.succeeded() is False  # one failure, circuit closed: no outage
    dependency.failed("timeout", unreachable=True)
    assert dependency.succeeded() is True
    assert dependency.succeeded() is False
    dependency.refused("authentication failed")
    assert dependency.succeeded() is True


def _submitted(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, count: int = 1
) -> LoopContext:
    receipts = iter(range(1, 1000))
    portal.submits = [lambda: Receipt(f"CKCHPG-2026-{next(receipts):06d}", RECEIVED, duplicate=False)] * count
    for index in range(count):
        ready_dossier(store, f"HPH-2026-{index + 100:06d}")
    context = make_context(store, portal, nsw, clock, claim_batch=count)
    SubmitLoop(context).run_once()
    assert states(store, clock) == {"submitted": count}
    return context


def test_pending_then_cleared_enqueues_23_after_21(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """PENDING asks again later; CLEARED records the decision and enqueues the 23 after the 21."""
    context = _submitted(store, portal, nsw, clock)
    portal.decide = lambda n: Status(n, PortalState.PENDING)
    PollLoop(context).run_once()
    assert states(store, clock) == {"submitted": 1}
    portal.decide = lambda n: Status(
        n, PortalState.CLEARED, decided_at=RECEIVED, clearance_number="CKCHPG/NC/2026/1"
    )
    clock.advance(seconds=1)
    PollLoop(context).run_once()
    assert states(store, clock) == {"cleared": 1}
    OutboxLoop(context).run_once()
    OutboxLoop(context).run_once()
    functions = [etree.fromstring(p).findtext("Header/Subject/function") for p in nsw.sent]
    assert functions == ["21", "23"]


def test_rejection_points_into_nsw_documents(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A REJECTED status becomes a 22 whose Error Field comes from the lineage, not the portal's XPath."""
    context = _submitted(store, portal, nsw, clock)
    reason = Reason(
        "BG-DOC-ALERT",
        "Crew member 3: document recorded as lost.",
        "/bgp:Submission/bgp:Persons/bgp:Person[4]/bgp:DocNumber",
    )
    portal.decide = lambda n: Status(n, PortalState.REJECTED, decided_at=RECEIVED, reasons=(reason,))
    PollLoop(context).run_once()
    assert states(store, clock) == {"rejected": 1}
    OutboxLoop(context).run_once()
    OutboxLoop(context).run_once()
    error = etree.fromstring(nsw.sent[1]).find("Body/Content/Result/Error")
    assert error is not None
    assert error.findtext("Field") == "/Envelope/Body/Content/CrewLists/CrewList[3]/PassportNumber"
    assert error.findtext("DocumentType") == "51"


def test_unknown_receipt_in_a_batch_does_not_block_the_others(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """NOT_FOUND fails a whole batch; the loop asks one by one and dead-letters only the unknown one."""
    context = _submitted(store, portal, nsw, clock, count=3)
    unknown = "CKCHPG-2026-000002"

    def statuses(numbers: Sequence[str]) -> list[Status]:
        portal.calls.append(("status", list(numbers)))
        if unknown in numbers:
            raise RemotePermanentError("portal fault NOT_FOUND", code="NOT_FOUND", status=500)
        return [Status(n, PortalState.CLEARED, decided_at=RECEIVED, clearance_number="C1") for n in numbers]

    portal.statuses = statuses  # type: ignore[method-assign,assignment]
    PollLoop(context).run_once()
    assert states(store, clock) == {"cleared": 2, "dead": 1}


def test_outbox_refusal_is_dead_lettered_and_transient_is_deferred(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A 22 from the NSW dead-letters the Result with its reason; a transport failure defers it."""
    context = _submitted(store, portal, nsw, clock)
    nsw.answers = [RemoteTransientError("nsw HTTP 503", status=503)] * 3
    OutboxLoop(context).run_once()
    assert store.stats(clock()).outbox_pending == 1
    nsw.answers = [NswAnswer("22", "NSW2", (Reject("R-STATE", "already has a result"),))]
    OutboxLoop(context).run_once()
    [letter] = store.dead_letters()
    assert letter.kind == "outbox"
    assert "R-STATE" in letter.reason


def test_cancellation_of_a_submitted_dossier_calls_the_portal_then_enqueues_24(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A cancellation owed to the portal is sent with CancelDeclaration and answered with a 24."""
    context = _submitted(store, portal, nsw, clock)
    store.receive(
        incoming(
            "NSWCANCEL", "50", "03", reference="HPH-2026-000100", sent_minute=5, reason="Voyage cancelled."
        )
    )
    assert CancelLoop(context).run_once() == 1
    assert portal.calls[-1] == ("cancel", "CKCHPG-2026-000001")
    OutboxLoop(context).run_once()
    OutboxLoop(context).run_once()
    assert [etree.fromstring(p).findtext("Header/Subject/function") for p in nsw.sent] == ["21", "24"]


def test_a_cancellation_the_portal_keeps_refusing_backs_off_and_is_dead_lettered(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CancelDeclaration the portal keeps failing is deferred with its attempts counted (so each
    deferral waits longer), and dead-lettered once the portal's retry budget is spent."""
    context = _submitted(store, portal, nsw, clock)
    # Three deferrals cost 3 x 3 s of in-process retries + 1 + 2 + 4 s of waits = 16 s: past 15.
    context = make_context(store, portal, nsw, clock, portal_budget_seconds=15.0)
    store.receive(incoming("NSWCANCEL", "50", "03", reference="HPH-2026-000100", sent_minute=5, reason="x"))
    portal.cancels = [RemoteTransientError("portal HTTP 503", status=503)] * 20
    backoff: list[int] = []

    def recording_delay(policy: RetryPolicy, attempts: int, breaker: object = None) -> float:
        backoff.append(attempts)
        return 0.0

    monkeypatch.setattr("nsw_adapter.loops.delivery.next_attempt_delay", recording_delay)
    for _ in range(3):
        CancelLoop(context).run_once()
        clock.advance(seconds=10)
    assert backoff == [0, 1, 2]  # each deferral knows the attempts before it
    assert states(store, clock) == {"cancelled": 1}
    clock.advance(seconds=60)  # past the budget, in failures and since the first attempt
    calls = len(portal.calls)
    CancelLoop(context).run_once()
    assert len(portal.calls) == calls  # not called again
    assert states(store, clock) == {"dead": 1}
    [letter] = store.dead_letters()
    assert "budget" in letter.reason
    assert store.retry_dead_letter(letter.kind, letter.id)
    assert states(store, clock) == {"cancelled": 1}  # back to owing its cancellation, budget afresh


def test_one_cancellation_failing_does_not_strand_the_others(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error on one owed cancellation is logged and the rest of the batch is still cancelled."""
    context = _submitted(store, portal, nsw, clock, count=2)
    for index in range(2):
        reference = f"HPH-2026-{index + 100:06d}"
        store.receive(
            incoming(f"NSWCANCEL{index}", "50", "03", reference=reference, sent_minute=5, reason="x")
        )
    original = CancelLoop.process
    failures = iter([RuntimeError("store unavailable")])

    def flaky(self: CancelLoop, item: Any) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        original(self, item)

    monkeypatch.setattr(CancelLoop, "process", flaky)
    assert CancelLoop(context).run_once() == 2
    assert [call[0] for call in portal.calls].count("cancel") == 1


def test_worker_runs_every_loop_and_releases_on_stop(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """Started, the worker takes a dossier to its final Results; stopped, it holds no lease."""
    ready_dossier(store)
    portal.decide = lambda n: Status(n, PortalState.CLEARED, decided_at=RECEIVED, clearance_number="C1")
    worker = Worker(
        make_context(store, portal, nsw, clock), submit_threads=1, outbox_threads=1, idle_seconds=0.01
    )
    worker.start()
    try:
        import time

        deadline = time.monotonic() + 10
        while len(nsw.sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop(5)
    assert len(nsw.sent) == 2
    assert states(store, clock) == {"cleared": 1}
    assert store.release("test-worker") == 0


def test_a_worker_restarted_under_its_name_takes_over_its_predecessors_leases(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A SIGKILLed worker's leases run out even though its successor, same name, heartbeats."""
    ready_dossier(store)
    settings = Settings(worker_id="berth-1")
    killed = build_context(settings, store, portal_factory=lambda: portal, nsw_factory=lambda: nsw)
    assert [d.reference for d in store.claim_ready(killed.worker_id, 10, 30)] == ["HPH-2026-000123"]
    restarted = build_context(settings, store, portal_factory=lambda: portal, nsw_factory=lambda: nsw)
    assert killed.worker_id.startswith("berth-1/")
    assert restarted.worker_id.startswith("berth-1/")
    clock.advance(seconds=20)
    store.heartbeat(restarted.worker_id, 30)  # renews only what the new process holds
    clock.advance(seconds=11)
    assert [d.reference for d in store.claim_ready(restarted.worker_id, 10, 30)] == ["HPH-2026-000123"]


def test_pending_polls_back_off(store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock) -> None:
    """Each PENDING answer doubles that dossier's wait for its next poll, up to the maximum."""
    set_testing(False)
    context = make_context(store, portal, nsw, clock, poll_interval_seconds=5, poll_max_interval_seconds=30)
    loop = PollLoop(context)
    delays = [(loop._next_poll(7) - clock()).total_seconds() for _ in range(5)]
    for delay, expected in zip(delays, (5, 10, 20, 30, 30), strict=True):
        assert 0.8 * expected <= delay <= 1.2 * expected
    assert loop._pending == {7: 5}


def test_polls_due_beyond_the_minutes_call_budget_wait(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """However many polls fall due, the poll loop makes at most status_calls_per_minute calls a
    minute: with a budget of two, a third claim finds the budget spent and asks nothing."""
    for n in range(3):
        ready_dossier(store, f"HPH-2026-00090{n}")
    context = make_context(store, portal, nsw, clock, claim_batch=1, poll_batch=1, status_calls_per_minute=2)
    submit = SubmitLoop(context)
    while submit.run_once():
        pass
    portal.decide = lambda n: Status(n, PortalState.PENDING)
    loop = PollLoop(context)
    done = [loop.run_once() for _ in range(3)]
    assert done == [1, 1, 0]
    assert [call[0] for call in portal.calls].count("status") == 2


def test_a_call_budget_refills_over_its_period() -> None:
    now = [0.0]
    budget = CallBudget(2, per_seconds=60.0, clock=lambda: now[0])
    for _ in range(2):
        assert budget.available()
        budget.spend()
    assert not budget.available()
    now[0] = 29.0
    assert not budget.available()  # 0.97 of a call refilled
    now[0] = 31.0
    assert budget.available()
    budget.spend()
    now[0] = 1000.0
    assert budget.available()
    budget.spend()
    budget.spend()
    assert not budget.available()  # never more than the capacity saved up


def _eventually(condition: Any, timeout: float = 5.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds (asked every few milliseconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def test_each_result_is_marked_sent_while_the_claims_next_one_goes_out(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A Result the NSW accepted is committed as sent at once, not after the claim's last call
    (a daemon killed mid-claim has recorded what it sent); a refused one is left out."""
    for n in range(3):
        ready_dossier(store, f"HPH-2026-00012{n}")
    context = make_context(store, portal, nsw, clock)
    assert SubmitLoop(context).run_once() == 3
    seen: list[bool] = []

    def pending() -> int:
        return store.stats(clock()).outbox_pending

    def third() -> NswAnswer:
        seen.append(_eventually(lambda: pending() == 1))  # the first marked sent, the second refused
        return NswAnswer("99", "C")

    nsw.answers = [NswAnswer("99", "A"), NswAnswer("22", "B", (Reject("R-X", "no"),)), third]
    assert OutboxLoop(context).run_once() == 3
    assert seen == [True]
    assert store.stats(clock()).outbox_pending == 0
    assert [letter.kind for letter in store.dead_letters()] == ["outbox"]


def test_each_receipt_is_recorded_while_the_claims_next_dossier_is_sent(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A receipt is committed (the dossier SUBMITTED, its 21 enqueued) as soon as it is in hand,
    while the claim's next SubmitDeclaration is still under way."""
    for n in range(2):
        ready_dossier(store, f"HPH-2026-00013{n}")
    seen: list[bool] = []

    def second() -> Receipt:
        seen.append(_eventually(lambda: states(store, clock) == {"submitted": 1, "submitting": 1}))
        return Receipt("CKCHPG-2026-004518", RECEIVED, duplicate=False)

    portal.submits = [Receipt("CKCHPG-2026-004517", RECEIVED, duplicate=False), second]
    assert SubmitLoop(make_context(store, portal, nsw, clock)).run_once() == 2
    assert seen == [True]
    assert states(store, clock) == {"submitted": 2}


def test_claims_shrink_while_each_item_takes_long(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A claim takes about claim_seconds of work at the loop's recent pace: after items that took
    0.2 s or more each, a 0.5 s claim takes 1 or 2 dossiers, not claim_batch's 4."""
    for n in range(8):
        ready_dossier(store, f"HPH-2026-00014{n}")

    def slow() -> Receipt:
        time.sleep(0.2)
        return Receipt("CKCHPG-2026-004519", RECEIVED, duplicate=False)

    portal.submits = [slow] * 8
    loop = SubmitLoop(make_context(store, portal, nsw, clock, claim_batch=4, claim_seconds=0.5))
    assert loop.run_once() == 4  # no pace known yet: claim_batch
    assert loop.run_once() in (1, 2)
    assert loop.paced_limit(100) in (1, 2)


# --- batching: fewer commits per dossier -------------------------------------------------------


def test_a_claims_dossiers_share_one_commit_for_their_submissions(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """Three dossiers claimed together cost one write transaction for the claim and one for their
    submissions (on SQLite every one passes through the one write lock), then at most one per
    receipt (each committed as it comes, together with whatever else is waiting)."""
    for index in range(3):
        ready_dossier(store, f"HPH-2026-{index + 700:06d}")
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement == "BEGIN IMMEDIATE":  # how the store begins every write transaction
            writes.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert SubmitLoop(make_context(store, portal, nsw, clock, claim_batch=3)).run_once() == 3
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert 3 <= len(writes) <= 5
    assert [call[0] for call in portal.calls] == ["submit"] * 3
    assert states(store, clock) == {"submitted": 3}
    assert outbox_functions(store, clock) == ["21"] * 3


def test_the_first_poll_comes_one_poll_interval_after_the_receipt(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal's officers decide after a while: polling at the receipt would only hear PENDING."""
    monkeypatch.setattr("nsw_adapter.loops.context.is_testing", lambda: False)
    ready_dossier(store)
    SubmitLoop(make_context(store, portal, nsw, clock, poll_interval_seconds=30)).run_once()
    assert store.claim_polls("w", 100, 30, clock() + timedelta(seconds=20)) == []
    assert len(store.claim_polls("w", 100, 30, clock() + timedelta(seconds=40))) == 1


class _RecordingStop(threading.Event):
    """A stop event whose waits return at once and are remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False


def test_a_claim_that_was_not_full_waits_gather_seconds_before_the_next(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work arriving meanwhile joins the next claim; a full claim (a backlog) or an empty one
    (the worker's idle sleep applies) goes on at once."""
    monkeypatch.setattr("nsw_adapter.loops.context.is_testing", lambda: False)
    stop = _RecordingStop()
    context = make_context(store, portal, nsw, clock, gather_seconds=0.1, stop_event=stop)
    context.gather(3, 8)
    context.gather(8, 8)
    context.gather(0, 8)
    assert stop.waits == [0.1]
    for index in range(2):
        ready_dossier(store, f"HPH-2026-{index + 800:06d}")
    SubmitLoop(context).run_once()  # claims 2 of claim_batch 32
    assert stop.waits == [0.1, 0.1]


class Monotonic:
    """The breakers' clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sample(metrics: Metrics, name: str, dependency: str = "portal") -> float | None:
    value: float | None = metrics.registry.get_sample_value(name, {"dependency": dependency})
    return value


def _refused(service: str = "portal") -> AuthenticationRefused:
    return AuthenticationRefused(
        f"{service} refused our credentials (authentication failed, AUTH)", service=service, code="AUTH"
    )


def test_a_portal_refusing_our_credentials_pauses_every_dossier_until_they_work_again(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """AUTH from the portal: one call, every dossier of the claim put back (no attempt counted, no
    budget started, no dead letter), nothing claimed while the circuit is tripped, one probe per
    auth_probe_seconds; the first probe that goes through ends the pause and the rest follow."""
    for index in range(3):
        ready_dossier(store, f"HPH-2026-{index + 200:06d}")
    ticks = Monotonic()
    breaker = CircuitBreaker("portal", failure_threshold=100, reset_seconds=1, clock=ticks)
    metrics = Metrics()
    health = Health(clock=clock)
    metrics.watch_health(health)
    context = make_context(store, portal, nsw, clock, portal_breaker=breaker, claim_batch=3,
                           auth_probe_seconds=60, health=health, metrics=metrics)  # fmt: skip
    portal.submits = [_refused(), _refused()]
    loop = SubmitLoop(context)
    assert loop.run_once() == 3
    assert len(portal.calls) == 1  # the other two never called: the circuit tripped
    assert states(store, clock) == {"ready": 3}
    assert store.dead_letters() == []
    assert health.portal.state is DependencyState.REFUSED
    assert (
        health.report()["portal"]["last_error"]
        == "portal refused our credentials (authentication failed, AUTH)"
    )
    assert _sample(metrics, "nsw_adapter_dependency_refused") == 1
    assert _sample(metrics, "nsw_adapter_dependency_up") == 0
    assert loop.run_once() == 0  # paused: nothing claimed
    ticks.now = 59.0
    assert loop.run_once() == 0
    ticks.now = 60.0
    assert loop.run_once() == 1  # one probe, refused again
    assert len(portal.calls) == 2
    assert loop.run_once() == 0
    ticks.now = 120.0
    assert loop.run_once() == 1  # the probe goes through: the pause ends
    assert health.portal.state is DependencyState.OK  # type: ignore[comparison-overlap]  # mypy keeps the property narrowed
    assert loop.run_once() == 2
    assert states(store, clock) == {"submitted": 3}
    assert store.dead_letters() == []
    assert _sample(metrics, "nsw_adapter_dependency_refused") == 0
    assert _sample(metrics, "nsw_adapter_dependency_up") == 1
    assert metrics.auth_refused.labels(dependency="portal")._value.get() == 2


def test_a_paused_dossier_keeps_no_attempt_and_no_budget(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """A dossier put back for refused credentials is as if never tried: attempts and first attempt
    as before the refusal (none), so a long refusal dead-letters nothing once the password works."""
    ready_dossier(store)
    portal.submits = [_refused()]
    context = make_context(store, portal, nsw, clock, portal_budget_seconds=10.0)
    SubmitLoop(context).run_once()
    [again] = store.claim_ready("peek", 10, 30)
    assert (again.attempts, again.first_attempt_at) == (0, None)


class _Item:
    """A pending item as Delivery sees it, recording what was done to it."""

    def __init__(self, first_attempt_at: datetime | None) -> None:
        self.attempts = 100  # failures enough for any budget: the time since decides
        self.first_attempt_at = first_attempt_at
        self.count = 1
        self.done: list[str] = []

    def dead_letter(self, reason: str) -> None:
        self.done.append("dead")

    def defer(self, reason: str, retry_at: datetime) -> None:
        self.done.append("deferred")

    def pause(self, reason: str, retry_at: datetime) -> None:
        self.done.append("paused")


def test_no_budget_is_spent_while_refused_and_it_counts_from_the_credentials_working_again(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """An item deferred before the refusal began is not dead-lettered for time while the service
    refuses us, and its budget then counts from when our credentials worked again."""
    health = Health(clock=clock)
    context = make_context(store, portal, nsw, clock, portal_budget_seconds=10.0, health=health)
    delivery = Delivery(context, portal_channel(context, "submit"))
    item = _Item(first_attempt_at=clock())
    clock.advance(seconds=5)
    health.portal.refused("portal refused our credentials")
    clock.advance(seconds=3600)
    assert not delivery.spent(item, log)
    health.portal.succeeded()  # the credentials work again
    clock.advance(seconds=9)
    assert not delivery.spent(item, log)
    clock.advance(seconds=2)
    assert delivery.spent(item, log)
    assert item.done == ["dead"]


def test_the_nsw_refusing_our_credentials_pauses_the_outbox_without_dead_letters(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock
) -> None:
    """The NSW refusing our credentials: the Result is put back (no attempt, no dead letter), the
    NSW's dependency `refused`; once the NSW accepts them the Result is sent."""
    context = _submitted(store, portal, nsw, clock)
    ticks = Monotonic()
    context.nsw_breaker = CircuitBreaker("nsw", failure_threshold=100, clock=ticks)
    context.auth_probe_seconds = 30
    nsw.answers = [_refused("nsw")]
    loop = OutboxLoop(context)
    assert loop.run_once() == 1
    assert store.dead_letters() == []
    assert context.health.nsw.paused
    [item] = store.claim_outbox("peek", 10, 1, clock())
    assert (item.attempts, item.function) == (0, "21")
    clock.advance(seconds=2)  # the peek's lease runs out
    assert loop.run_once() == 0  # paused: nothing claimed
    ticks.now = 30.0
    assert loop.run_once() == 1  # the probe: accepted
    assert not context.health.nsw.paused
    assert store.stats(clock()).outbox_pending == 0
    assert len(nsw.sent) == 2


def test_a_degraded_dependency_nothing_uses_goes_stale_as_unknown(clock: Clock) -> None:
    """Unreachable or refused, then unused for stale_after_seconds: reported `unknown` (not degraded,
    up again in the metrics), its last error kept; the pause itself holds until a call succeeds."""
    health = Health(clock=clock, stale_after_seconds=900)
    metrics = Metrics()
    metrics.watch_health(health)
    health.portal.failed("portal connection failed", unreachable=True)
    health.nsw.refused("nsw refused our credentials (authentication failed, HTTP 401)")
    clock.advance(seconds=899)
    assert health.degraded() == ["portal", "nsw"]
    assert _sample(metrics, "nsw_adapter_dependency_up", "nsw") == 0
    clock.advance(seconds=2)
    assert health.degraded() == []
    assert health.report()["portal"]["state"] == "unknown"
    assert health.report()["portal"]["last_error"] == "portal connection failed"
    assert _sample(metrics, "nsw_adapter_dependency_up", "nsw") == 1
    assert _sample(metrics, "nsw_adapter_dependency_refused", "nsw") == 0
    assert health.nsw.paused
    health.portal.circuit_open()  # used again (a claim deferred behind the open circuit)
    assert health.degraded() == ["portal"]
