"""Supplement requests through the worker's loops and the store, on SQLite and PostgreSQL (issue 18
item 1): one 25 per RequestNumber, the answer submitted with Supersedes and announced with a 21, a
second request on the new receipt its own 25, BG-SUPP-EXPIRED a 22, a cancellation crossing one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from nsw_adapter.clients.portal import (
    PortalState,
    Reason,
    Receipt,
    Status,
    SupplementRequest,
    parse_portal_time,
)
from nsw_adapter.console.store_model import StoreReadModel
from nsw_adapter.delivery import set_testing
from nsw_adapter.loops.cancel import CancelLoop
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.loops.outbox import OutboxLoop
from nsw_adapter.loops.poll import PollLoop
from nsw_adapter.loops.submit import SubmitLoop
from nsw_adapter.results import ResultContext, supplement_requested
from nsw_adapter.store import PollOutcome, SqlStore, SupplementRecord
from tests.support.fakes import RECEIVED, FakeNsw, FakePortal, make_context, translator
from tests.support.store import Clock, incoming

REFERENCE = "HPH-2026-000123"
FIRST, SECOND = "CKCHPG-2026-000001", "CKCHPG-2026-000002"


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def _request(number: str = "CKCHPG-2026-YC000001", *, field: str | None = "/x") -> SupplementRequest:
    return SupplementRequest(
        request_number=number,
        requested_at=parse_portal_time("12/03/2026 10:05"),
        respond_by=parse_portal_time("13/03/2026 17:00"),
        officer="Đại úy Lê Quang Huy",
        items=(
            Reason("BG-SUPP-DOC", "Kiểm tra lại giấy tờ.", field),
            Reason("BG-SUPP-OTHER", "Xác nhận.", None),
        ),
    )


def _requested(number: str, request: SupplementRequest | None = None) -> Status:
    return Status(number, PortalState.SUPPLEMENT_REQUESTED, supplement=request or _request())


class _Run:
    """One dossier through the loops: what the portal answers is set per receipt."""

    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.portal, self.nsw = FakePortal(), FakeNsw()
        self.answers: dict[str, Status] = {}
        self.portal.decide = lambda n: self.answers.get(n, Status(n, PortalState.PENDING))
        receipts = iter([FIRST, SECOND, "CKCHPG-2026-000003"])
        self.portal.submits = [lambda: Receipt(next(receipts), RECEIVED, duplicate=False)] * 3
        self.supersedes: list[str | None] = []
        translate = translator()

        def recording(
            documents: Sequence[bytes], *, client_message_id: str, supersedes: str | None = None
        ) -> Any:
            self.supersedes.append(supersedes)
            return translate(documents, client_message_id=client_message_id, supersedes=supersedes)

        self.context: LoopContext = make_context(store, self.portal, self.nsw, clock, translator=recording)
        store.receive(incoming("NSW000123050", "50"))
        store.receive(incoming("NSW000123051", "51", sent_minute=1))

    def step(self) -> None:
        self.clock.advance(seconds=1)
        for loop in (SubmitLoop, PollLoop, CancelLoop, OutboxLoop, OutboxLoop):
            loop(self.context).run_once()

    def sent(self) -> list[tuple[str, str]]:
        """(function, messageId) of every Result the NSW got, in order."""
        found = []
        for payload in self.nsw.sent:
            root = etree.fromstring(payload)
            found.append(
                (
                    root.findtext("Header/Subject/function") or "",
                    root.findtext("Header/Reference/messageId") or "",
                )
            )
        return found

    def functions(self) -> list[str]:
        return [f for f, _ in self.sent()]

    def state(self) -> str:
        [(state, _)] = [(s, n) for s, n in self.store.stats(self.clock()).dossiers_by_state.items() if n]
        return state

    def amend(self, minute: float) -> None:
        self.store.receive(incoming(f"NSW0001230{int(minute):02d}", "51", "02", sent_minute=minute))


def test_a_request_is_one_25_then_answered_by_an_amendment_and_cleared(store: SqlStore, clock: Clock) -> None:
    run = _Run(store, clock)
    run.step()
    assert run.functions() == ["21"]
    run.answers[FIRST] = _requested(FIRST)
    for _ in range(4):  # polled again and again: still the one 25
        run.step()
    assert run.state() == "supplement_requested"
    assert run.functions() == ["21", "25"]
    twenty_five = etree.fromstring(run.nsw.sent[1]).find("Body/Content/Result")
    assert twenty_five is not None
    assert twenty_five.findtext("ApprovalStatus") == "4"
    assert twenty_five.findtext("RequestNumber") == "CKCHPG-2026-YC000001"
    assert twenty_five.findtext("RespondBy") == "2026-03-13 17:00:00"
    assert twenty_five.findtext("ReceiptNumber") == FIRST
    polls = [c for c in run.portal.calls if c[0] == "status"]
    assert len(polls) >= 4  # the request did not stop the polling
    assert store.stats(clock()).supplement_requests == {"open": 1}

    run.amend(5)  # the agent answers with an amended Crew List
    run.answers[FIRST] = Status(FIRST, PortalState.SUPERSEDED)
    run.step()
    assert run.supersedes == [None, FIRST]  # the answer supersedes the requested receipt
    assert run.functions() == ["21", "25", "21"]  # the new receipt announced
    run.answers[SECOND] = Status(SECOND, PortalState.CLEARED, decided_at=RECEIVED, clearance_number="C1")
    run.step()
    assert run.state() == "cleared"
    assert run.functions() == ["21", "25", "21", "23"]
    assert store.stats(clock()).supplement_requests == {"answered": 1}
    [history] = store.history(reference=REFERENCE)
    moves = [(e.details["from"], e.details["to"]) for e in history.events if e.kind == "state"]
    assert ("submitted", "supplement_requested") in moves
    assert ("supplement_requested", "ready") in moves
    [request] = [e.details for e in history.events if e.kind == "request"]
    assert request["codes"] == ["BG-SUPP-DOC", "BG-SUPP-OTHER"]
    assert (request["receipt_number"], request["outcome"]) == (FIRST, "answered")
    assert datetime.fromisoformat(request["respond_by"]) == parse_portal_time("13/03/2026 17:00")
    model = StoreReadModel(store, str(store.engine.url))
    try:
        timeline = model.timeline(REFERENCE, "1")
    finally:
        model.close()
    assert timeline is not None
    [row] = timeline.requests
    assert (row.request_number, row.codes, row.outcome) == (
        "CKCHPG-2026-YC000001",
        ("BG-SUPP-DOC", "BG-SUPP-OTHER"),
        "answered",
    )
    assert row.respond_by == parse_portal_time("13/03/2026 17:00")


def test_a_second_request_on_the_new_receipt_is_a_new_25(store: SqlStore, clock: Clock) -> None:
    run = _Run(store, clock)
    run.step()
    run.answers[FIRST] = _requested(FIRST)
    run.step()
    run.amend(5)
    run.step()
    run.answers[SECOND] = _requested(SECOND, _request("CKCHPG-2026-YC000002"))
    run.step()
    run.step()
    sent = run.sent()
    assert [f for f, _ in sent] == ["21", "25", "21", "25"]
    assert sent[1][1] != sent[3][1]
    numbers = [etree.fromstring(p).findtext("Body/Content/Result/RequestNumber") for p in run.nsw.sent]
    assert numbers[1::2] == ["CKCHPG-2026-YC000001", "CKCHPG-2026-YC000002"]
    assert store.stats(clock()).supplement_requests == {"answered": 1, "open": 1}


def test_an_unanswered_request_expires_as_a_22_with_its_code(store: SqlStore, clock: Clock) -> None:
    run = _Run(store, clock)
    run.step()
    run.answers[FIRST] = _requested(FIRST)
    run.step()
    expiry = Reason("BG-SUPP-EXPIRED", "Không nhận được hồ sơ bổ sung.", None)
    run.answers[FIRST] = Status(FIRST, PortalState.REJECTED, decided_at=RECEIVED, reasons=(expiry,))
    run.step()
    assert run.state() == "rejected"
    assert run.functions() == ["21", "25", "22"]
    error = etree.fromstring(run.nsw.sent[2]).find("Body/Content/Result/Error")
    assert error is not None
    assert error.findtext("Code") == "BG-SUPP-EXPIRED"
    assert error.find("Field") is None
    assert error.find("DocumentType") is None
    assert store.stats(clock()).supplement_requests == {"expired": 1}


def test_a_cancellation_crossing_a_request_withdraws_the_receipt(store: SqlStore, clock: Clock) -> None:
    run = _Run(store, clock)
    run.step()
    run.answers[FIRST] = _requested(FIRST)
    run.step()
    store.receive(incoming("NSW000123099", "50", "03", sent_minute=9, reason="Voyage cancelled"))
    run.step()
    assert run.state() == "cancelled"
    assert ("cancel", FIRST) in run.portal.calls
    assert run.functions() == ["21", "25", "24"]
    assert store.stats(clock()).supplement_requests == {"cancelled": 1}


def test_an_amendment_older_than_the_documents_in_effect_does_not_answer(
    store: SqlStore, clock: Clock
) -> None:
    """The sendDate order rules still hold: a stale 02 arriving during a request changes nothing."""
    run = _Run(store, clock)
    store.receive(incoming("NSW000123052", "51", "02", sent_minute=3))
    run.step()
    run.answers[FIRST] = _requested(FIRST)
    run.step()
    run.amend(2)  # sent before the amendment already in effect
    run.step()
    assert run.state() == "supplement_requested"
    assert run.functions() == ["21", "25"]


def test_two_records_of_one_request_enqueue_one_25(store: SqlStore, clock: Clock) -> None:
    """Two pollers (or a poll repeated after a crash) that each built a 25 with its own messageId:
    the store keeps the first, so the NSW never gets two 25s for one RequestNumber."""
    run = _Run(store, clock)
    run.step()
    [poll] = store.claim_polls("w", 10, 30, clock())
    status = _requested(FIRST)
    context = ResultContext(REFERENCE, "1", "NSW000123050")
    request = status.supplement
    assert request is not None
    record = SupplementRecord(
        FIRST, request.request_number, request.requested_at, request.respond_by, ("BG-SUPP-DOC",)
    )
    outcomes = [
        PollOutcome(
            poll.dossier_id,
            next_poll_at=clock(),
            result=supplement_requested(context, status),
            supplement=record,
        )
        for _ in range(2)
    ]
    store.record_polls(outcomes[:1])
    store.record_polls(outcomes[1:])
    pending = store.claim_outbox("peek", 100, 1, clock() + timedelta(days=1))
    assert [item.function for item in pending].count("25") == 1
    assert [item.message_id for item in pending if item.function == "25"] == [outcomes[0].result.message_id]  # type: ignore[union-attr]
