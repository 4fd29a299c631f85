"""What every loop shares: the store, client factories, breakers, policies, metrics and the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from nsw_adapter import cpu
from nsw_adapter.clients.nsw import NswClient
from nsw_adapter.clients.portal import PortalClient
from nsw_adapter.delivery.breaker import BreakerState, CircuitBreaker
from nsw_adapter.delivery.health import Health
from nsw_adapter.delivery.retry import RetryPolicy, is_testing
from nsw_adapter.errors import Problem
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.publisher import Publisher, publisher_for
from nsw_adapter.loops.recorder import Recorder, each_alone
from nsw_adapter.metrics import Metrics
from nsw_adapter.store import ReceiptRecord, WorkerStore
from nsw_adapter.texts import DEFAULT_LANGUAGE, Language
from nsw_adapter.wakeup import Bell


class LineageLike(Protocol):
    """The part of a translation's lineage the worker uses."""

    def to_bytes(self) -> bytes: ...


class TranslationLike(Protocol):
    """What `nsw_adapter.translate` returns, as far as the worker is concerned."""

    @property
    def submission(self) -> bytes | None: ...

    @property
    def problems(self) -> Sequence[Problem]: ...

    @property
    def lineage(self) -> LineageLike | None: ...


class Translator(Protocol):
    def __call__(
        self, documents: Sequence[bytes], *, client_message_id: str, supersedes: str | None = None
    ) -> TranslationLike: ...


#: Serialised lineage -> a function from a portal XPath to (NSW type, NSW XPath).
LocatorFactory = Callable[[bytes], Callable[[str], "tuple[str, str] | None"]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class LoopContext:
    """Shared by the loops of one worker process."""

    store: WorkerStore
    worker_id: str
    portal_factory: Callable[[], PortalClient]
    nsw_factory: Callable[[], NswClient]
    translator: Translator
    locator: LocatorFactory
    portal_breaker: CircuitBreaker
    nsw_breaker: CircuitBreaker
    portal_policy: RetryPolicy = field(default_factory=RetryPolicy)
    nsw_policy: RetryPolicy = field(default_factory=RetryPolicy)
    metrics: Metrics = field(default_factory=Metrics)
    portal_budget_seconds: float = 3600.0
    nsw_budget_seconds: float = 3600.0
    lease_seconds: float = 30.0
    claim_batch: int = 32
    claim_seconds: float = 2.0  # a claim takes about this much work at the loop's recent pace
    poll_batch: int = 100
    poll_interval_seconds: float = 5.0
    status_calls_per_minute: int = 60  # GetProcessingStatus calls per minute at most (the poll loop's)
    poll_max_interval_seconds: float = 300.0
    gather_seconds: float = 0.0
    agent_language: Language = DEFAULT_LANGUAGE  # of the texts in the Results (nsw_adapter.texts)
    # While a service refuses our credentials, one call tests them again this often.
    auth_probe_seconds: float = 60.0
    health: Health = field(default_factory=Health)  # what the loops observed of each dependency
    clock: Callable[[], datetime] = utcnow
    stop_event: threading.Event = field(default_factory=threading.Event)
    bell: Bell = field(default_factory=Bell)  # rung when work arrives (nsw_adapter/wakeup.py)
    # The event feed's subscribers ([[subscribers]]), a publisher for each (one per thread), and a
    # circuit breaker each: one subscriber down must not hold back the others.
    subscribers: Sequence[SubscriberSettings] = ()
    publisher_factory: Callable[[SubscriberSettings], Publisher] = publisher_for
    subscriber_breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def subscriber_breaker(self, name: str) -> CircuitBreaker:
        """The subscriber's breaker (made with the NSW's thresholds when none was given)."""
        found = self.subscriber_breakers.get(name)
        if found is None:
            found = self.subscriber_breakers[name] = CircuitBreaker(
                f"subscriber:{name}", failure_threshold=5, reset_seconds=30.0
            )
        return found

    # Receipts and sent Results committed as they come (loops/recorder.py), shared by the threads.
    receipts: Recorder[ReceiptRecord] = field(init=False, repr=False)
    sent: Recorder[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.receipts = Recorder(lambda items: self.store.record_receipts(items), "record-receipts")
        self.sent = Recorder(each_alone(lambda ids: self.store.mark_sent(*ids)), "record-sent")

    def close(self) -> None:
        """Commit what the recorders hold (the loops have stopped)."""
        self.receipts.close()
        self.sent.close()

    def claim_limit(self, breaker: CircuitBreaker, batch: int) -> int:
        """How much to claim given the service's circuit: nothing while open (claiming only to defer
        again would churn the store for every waiting item), one probe while half-open."""
        state = breaker.state
        if state is BreakerState.OPEN:
            return 0
        return 1 if state is BreakerState.HALF_OPEN else batch

    def stopping(self) -> bool:
        """True once the worker is shutting down: finish the item in hand, claim nothing more."""
        return self.stop_event.is_set()

    def gather(self, claimed: int, limit: int) -> None:
        """After a claim that came back less than full, wait `gather_seconds` before the next, so
        that work arriving meanwhile shares the next claim's transactions (and, polling, its call)
        instead of each item costing its own commits."""
        if 0 < claimed < limit and self.gather_seconds > 0 and not is_testing():
            self.stop_event.wait(self.gather_seconds)

    def later(self, seconds: float) -> datetime:
        return self.clock() + timedelta(seconds=0.0 if is_testing() else seconds)


def default_translator() -> Translator:
    """The mapping's `translate` (imported when the worker starts, not at import time)."""
    from nsw_adapter.translate import translate

    @cpu.counted("translate")
    def run(
        documents: Sequence[bytes], *, client_message_id: str, supersedes: str | None = None
    ) -> TranslationLike:
        return translate(documents, client_message_id=client_message_id, supersedes=supersedes)

    return run


def default_locator() -> LocatorFactory:
    """Lineage.from_bytes(...).locate: portal XPath -> (NSW type, NSW XPath)."""
    from nsw_adapter.mapping.lineage import Lineage

    def locate(data: bytes) -> Callable[[str], tuple[str, str] | None]:
        return Lineage.from_bytes(data).locate

    return locate
