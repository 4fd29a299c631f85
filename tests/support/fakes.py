"""Fakes of the portal, the NSW and translation for the worker's loops, and a LoopContext over them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsw_adapter.clients.nsw import NswAnswer
from nsw_adapter.clients.portal import Receipt, Status, parse_portal_time
from nsw_adapter.delivery import CircuitBreaker, RetryPolicy
from nsw_adapter.errors import Problem
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.metrics import Metrics
from nsw_adapter.store import SqlStore
from tests.support.store import Clock

SUBMISSION = (
    Path(__file__).resolve().parents[2] / "fixtures/samples/bgp/submissions/arrival-general-cargo.xml"
).read_bytes()


RECEIVED = parse_portal_time("12/03/2026 09:16")


Script = list[Any]  # each entry: a value to return or an exception to raise


def _next(script: Script, default: Any) -> Any:
    item = script.pop(0) if script else default
    if isinstance(item, BaseException):
        raise item
    return item(*()) if callable(item) else item


@dataclass
class FakePortal:
    """Answers from scripts; records every call."""

    submits: Script = field(default_factory=list)
    polls: Script = field(default_factory=list)
    cancels: Script = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    decide: Callable[[str], Status] | None = None

    def submit(self, submission: bytes) -> Receipt:
        self.calls.append(("submit", submission))
        return _next(self.submits, Receipt("CKCHPG-2026-004517", RECEIVED, duplicate=False))  # type: ignore[no-any-return]

    def cancel(self, receipt_number: str, reason: str) -> Receipt:
        self.calls.append(("cancel", receipt_number))
        return _next(self.cancels, Receipt(receipt_number, RECEIVED, duplicate=False))  # type: ignore[no-any-return]

    def statuses(self, receipt_numbers: Sequence[str]) -> list[Status]:
        self.calls.append(("status", list(receipt_numbers)))
        if self.polls:
            return _next(self.polls, None)  # type: ignore[no-any-return]
        assert self.decide is not None
        return [self.decide(n) for n in receipt_numbers]

    def close(self) -> None:
        pass


@dataclass
class FakeNsw:
    answers: Script = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def send(self, envelope: bytes) -> NswAnswer:
        self.sent.append(envelope)
        return _next(self.answers, NswAnswer("99", "NSW1"))  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


@dataclass
class FakeLineage:
    def to_bytes(self) -> bytes:
        return b"lineage"


@dataclass
class FakeTranslation:
    submission: bytes | None
    problems: list[Problem]
    lineage: FakeLineage | None


def translator(problems: list[Problem] | None = None) -> Any:
    def translate(
        documents: Sequence[bytes], *, client_message_id: str, supersedes: str | None = None
    ) -> FakeTranslation:
        if problems:
            return FakeTranslation(None, problems, None)
        return FakeTranslation(SUBMISSION, [], FakeLineage())

    return translate


def locator(_data: bytes) -> Callable[[str], tuple[str, str] | None]:
    return lambda xpath: ("51", "/Envelope/Body/Content/CrewLists/CrewList[3]/PassportNumber")


def make_context(
    store: SqlStore, portal: FakePortal, nsw: FakeNsw, clock: Clock, **overrides: Any
) -> LoopContext:
    options: dict[str, Any] = {
        "store": store,
        "worker_id": "test-worker",
        "portal_factory": lambda: portal,
        "nsw_factory": lambda: nsw,
        "translator": translator(),
        "locator": locator,
        "portal_breaker": CircuitBreaker("portal", failure_threshold=100),
        "nsw_breaker": CircuitBreaker("nsw", failure_threshold=100),
        "portal_policy": RetryPolicy(max_attempts=3),
        "nsw_policy": RetryPolicy(max_attempts=3),
        "metrics": Metrics(),
        "clock": clock,
        "poll_interval_seconds": 0,
    }
    options.update(overrides)
    return LoopContext(**options)
