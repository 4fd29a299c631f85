"""The one way the loops deliver to a remote service: retry, defer, dead-letter, and what is measured.

Every loop (submit, poll, cancel, outbox) calls its service through `Delivery.send`, which
decides alike for all of them: an item past its retry budget is dead-lettered before any call;
the call is retried in process for transient failures (tenacity, through the service's circuit
breaker); a permanent failure dead-letters the item; a transient one that outlasts the in-process
retries defers it through the store, later with every attempt (the channel's backoff). The
call's latency, each retry, each deferral and each dead letter are counted, under the channel's
operation, and logged as `<loop>.retry`, `<loop>.deferred` (`<loop>.deferred_breaker_open`),
`<loop>.dead_letter`. What the store does for each item is the item's (`Pending`).

A refusal of our credentials (AuthenticationRefused) is the service's, not the item's: the
service's dependency turns `refused` (one `dependency.credentials_refused` error per refusal),
its circuit opens for `auth_probe_seconds`, and every item in hand is put back without its attempt
counted or its budget started (`Pending.pause`). While refused, nothing is claimed for the service
but one probe when the circuit lets one through, and no budget is spent; the first call that goes
through ends the pause and the items go on by themselves, their budgets counted from then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from nsw_adapter.clients.nsw import NswClient
from nsw_adapter.clients.portal import PortalClient
from nsw_adapter.delivery.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from nsw_adapter.delivery.retry import RetryPolicy, call_with_retry, next_attempt_delay
from nsw_adapter.errors import AuthenticationRefused, PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.store.roles import Dossiers
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.delivery")
T = TypeVar("T")


class _Closable(Protocol):
    def close(self) -> None: ...


Client = TypeVar("Client", bound=_Closable)


class Pending(Protocol):
    """An item (or a batch sharing one call) as a delivery sees it."""

    @property
    def attempts(self) -> int:
        """Deliveries tried and deferred so far."""

    @property
    def first_attempt_at(self) -> datetime | None:
        """When its first delivery was tried (None: not yet, or not recorded)."""

    @property
    def count(self) -> int:
        """How many items it stands for (a poll batch: its dossiers)."""

    def dead_letter(self, reason: str) -> None:
        """Give it up in the store, keeping why."""

    def defer(self, reason: str, retry_at: datetime) -> None:
        """Try it again at `retry_at`, the attempt counted."""

    def pause(self, reason: str, retry_at: datetime) -> None:
        """Put it back untried (its service refuses our credentials): due again at `retry_at`, no
        attempt counted, its retry budget not started."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One remote operation: how it is retried and measured, and when its items are given up on."""

    loop: str  # the loop's name: its log events' prefix
    operation: str  # the metrics' operation label (submit, poll, cancel, send)
    service: str  # who is called: "portal" or "NSW" (in a spent budget's reason)
    kind: str  # what a dead letter of it is: "dossier" or "outbox"
    policy: RetryPolicy
    breaker: CircuitBreaker
    budget_seconds: float | None  # since the first attempt; None: never spent (polls ask until decided)
    # Seconds from now until a deferred item is tried again, given its attempts (None: the
    # policy's exponential schedule, never before the breaker lets a probe through).
    backoff: Callable[[int], float] | None = None
    # The dependency it is (health.py: "portal", "nsw", "subscriber NAME"; None: `service`), and
    # the settings table holding its credentials unless `credentials` names them.
    setting: str | None = None
    # The setting to check when the service refuses our credentials (default: `<setting>.credentials`).
    credentials: str | None = None
    # Called once when a call ends an outage of the service: its deferred items are due now
    # (store/recovery.py), and the loops that take them are rung.
    recovered: Callable[[], None] | None = None


def portal_channel(
    c: LoopContext, loop: str, *, budget: bool = True, backoff: Callable[[int], float] | None = None
) -> Channel:
    """The portal, as a loop delivers dossiers to it (`budget` False: never given up on for time)."""
    budget_seconds = c.portal_budget_seconds if budget else None
    recovered = bring_forward_on_recovery(
        c, "portal", c.store.bring_forward_dossiers, Topic.SUBMIT, Topic.CANCEL
    )
    return Channel(
        loop, loop, "portal", "dossier", c.portal_policy, c.portal_breaker, budget_seconds, backoff,
        "portal", recovered=recovered,
    )  # fmt: skip


def nsw_channel(c: LoopContext) -> Channel:
    """The NSW, as the outbox sends it Results."""
    recovered = bring_forward_on_recovery(c, "nsw", c.store.bring_forward_results, Topic.OUTBOX)
    return Channel(
        "outbox", "send", "NSW", "outbox", c.nsw_policy, c.nsw_breaker, c.nsw_budget_seconds,
        setting="nsw", recovered=recovered,
    )  # fmt: skip


def bring_forward_on_recovery(
    c: LoopContext, service: str, due_now: Callable[[], int], *topics: Topic
) -> Callable[[], None]:
    """A Channel's `recovered`: what was deferred for `service` due now (`due_now`, store/recovery.py),
    the loops that take it rung (`topics`)."""

    def recovered() -> None:
        try:
            count = due_now()
        except Exception as exc:  # the items stay deferred: they go out at the end of their back-off
            log.error(
                "delivery.bring_forward_failed", service=service, error=describe_error(exc), exc_info=exc
            )
            return
        log.info("delivery.brought_forward", service=service, count=count)
        c.bell.ring(*topics)

    return recovered


def dead_letter_reason(exc: BaseException) -> str:
    """The reason kept with a dead letter: our description plus the remote detail (not logged)."""
    detail = getattr(exc, "detail", "")
    return f"{exc}: {detail}" if detail else str(exc) or type(exc).__name__


def failure_seconds(attempts: int, policy: RetryPolicy) -> float:
    """The time `attempts` deferrals (each one the service's failure outlasting the in-process
    retries) cost along the policy's schedule: each attempt's in-process retries, then its wait
    before the next try."""
    return sum(
        policy.in_process_seconds + min(policy.defer_max, policy.defer_initial * float(1 << min(i, 62)))
        for i in range(attempts)
    )


def budget_spent(
    first_attempt_at: datetime | None,
    attempts: int,
    budget_seconds: float,
    policy: RetryPolicy,
    now: datetime,
) -> bool:
    """True when an item's failures have used up its budget.

    Only the service's failures count: an attempt counts when it was deferred (the service failed
    past the in-process retries, or its circuit was open), for the time that costs along the
    deferral schedule (`failure_seconds`). Time spent crashed, waiting for a dead worker's lease,
    or paused for trouble of our own (the store) defers nothing, so it costs nothing: a daemon in
    a crash loop longer than the budget dead-letters nothing the service never refused. The budget
    is spent when the failures' time is, and (when known) the time since the first attempt too:
    a failure schedule that runs ahead of the clock (the store's clock moved) never gives up early.
    """
    if failure_seconds(attempts, policy) < budget_seconds:
        return False
    return first_attempt_at is None or (now - first_attempt_at).total_seconds() >= budget_seconds


class Delivery:
    """Delivers items over one channel for one loop."""

    def __init__(self, context: LoopContext, channel: Channel) -> None:
        self.context = context
        self.channel = channel
        self.dependency = context.health.of(channel.setting or channel.service)

    def spent(self, item: Pending, logger: Any) -> bool:
        """Dead-letter the item when its retry budget is spent; True when it was. Never while its
        service refuses our credentials, and counted from when it accepted them again at the earliest."""
        ch, c, dep = self.channel, self.context, self.dependency
        if ch.budget_seconds is None or dep.paused:
            return False
        first, resumed = item.first_attempt_at, dep.resumed_at
        if first is not None and resumed is not None and resumed > first:
            first = resumed
        if not budget_spent(first, item.attempts, ch.budget_seconds, ch.policy, c.clock()):
            return False
        reason = f"{ch.service} retry budget exhausted"
        self.give_up(item, reason, logger, error="retry budget exhausted", attempts=item.attempts)
        return True

    def send(
        self,
        item: Pending,
        call: Callable[[], T],
        logger: Any,
        *,
        regroup: Callable[[PermanentError], bool] | None = None,
        budget_checked: bool = False,
    ) -> T | None:
        """The call's value, or None when the item was dead-lettered or deferred instead.

        `regroup`: for a batch, asked first about a permanent failure one member may cause (the
        portal's NOT_FOUND for one receipt among many); True when it delivered the members again on
        their own, and nothing is given up. `budget_checked`: `spent` was asked already, just before.
        """
        ch, c = self.channel, self.context
        if not budget_checked and self.spent(item, logger):
            return None
        dep = self.dependency
        started = time.perf_counter()
        try:
            value = call_with_retry(
                call,
                policy=ch.policy,
                breaker=ch.breaker,
                on_retry=lambda exc, n: self._retried(logger, exc, n),
            )
        except AuthenticationRefused as exc:
            self._refused(item, exc, logger)
            return None
        except PermanentError as exc:
            self._succeeded()  # it answered, and accepted our credentials: the item is at fault
            if regroup is None or not regroup(exc):
                self.give_up(
                    item, dead_letter_reason(exc), logger, error=describe_error(exc), error_code=exc.code
                )
            return None
        except TransientError as exc:
            if dep.paused:  # the circuit opened for a refusal of our credentials meanwhile
                self._pause(item, logger)
                return None
            if isinstance(exc, BreakerOpenError):
                dep.circuit_open()
            else:
                dep.failed(describe_error(exc), unreachable=ch.breaker.state is not BreakerState.CLOSED)
            self._defer(item, exc, logger)
            return None
        finally:
            c.metrics.latency.labels(operation=ch.operation).observe(time.perf_counter() - started)
        self._succeeded()
        return value

    def _succeeded(self) -> None:
        """The service answered; when that ended its outage, what waits for it is brought forward."""
        if self.dependency.succeeded() and self.channel.recovered is not None:
            self.channel.recovered()

    def give_up(
        self, item: Pending, reason: str, logger: Any, *, event: str = "dead_letter", **fields: Any
    ) -> None:
        """Dead-letter the item (a permanent failure, a spent budget, or a refusal the call returned)."""
        ch = self.channel
        item.dead_letter(reason)
        self.context.metrics.dead_lettered.labels(kind=ch.kind).inc(item.count)
        logger.error(f"{ch.loop}.{event}", **fields)

    def _refused(self, item: Pending, exc: AuthenticationRefused, logger: Any) -> None:
        """The service refused our credentials: pause it for every item (one error logged), put this
        item back untried."""
        ch, c = self.channel, self.context
        ch.breaker.trip(c.auth_probe_seconds)
        c.metrics.auth_refused.labels(dependency=self._name).inc()
        if self.dependency.refused(str(exc)):
            logger.error(
                "dependency.credentials_refused",
                service=self._name,
                error=str(exc),
                setting=ch.credentials or f"{self._name}.credentials",
                retry_in=c.auth_probe_seconds,
            )
        self._pause(item, logger)

    @property
    def _name(self) -> str:
        """The dependency's name, as logged and counted ("portal", "nsw", "subscriber NAME")."""
        return self.channel.setting or self.channel.service

    def _pause(self, item: Pending, logger: Any) -> None:
        ch, c = self.channel, self.context
        item.pause(f"{ch.service} refused our credentials (authentication)", c.later(c.auth_probe_seconds))
        logger.info(f"{ch.loop}.paused", service=self._name, retry_in=c.auth_probe_seconds)

    def _defer(self, item: Pending, exc: TransientError, logger: Any) -> None:
        ch, c = self.channel, self.context
        if ch.backoff is not None:
            delay = ch.backoff(item.attempts)
        else:
            delay = next_attempt_delay(ch.policy, item.attempts, ch.breaker)
        item.defer(dead_letter_reason(exc), c.later(delay))
        c.metrics.deferred.labels(operation=ch.operation).inc()
        event = "deferred_breaker_open" if isinstance(exc, BreakerOpenError) else "deferred"
        logger.warning(
            f"{ch.loop}.{event}", delay=round(delay, 2), attempts=item.attempts + 1, error=describe_error(exc)
        )

    def _retried(self, logger: Any, exc: BaseException, attempt: int) -> None:
        self.context.metrics.retries.labels(operation=self.channel.operation).inc()
        logger.info(f"{self.channel.loop}.retry", attempt=attempt, error=describe_error(exc))


@dataclass(slots=True)
class DossierDelivery:
    """A dossier being delivered (submitted, or its cancellation sent): its store actions."""

    store: Dossiers
    dossier_id: int
    attempts: int
    first_attempt_at: datetime | None
    count: int = 1

    def dead_letter(self, reason: str) -> None:
        self.store.dead_letter(self.dossier_id, reason)

    def defer(self, reason: str, retry_at: datetime) -> None:
        self.store.defer(self.dossier_id, reason, retry_at)

    def pause(self, reason: str, retry_at: datetime) -> None:
        self.store.defer(self.dossier_id, reason, retry_at, counted=False)


class RemoteLoop(Generic[Client]):
    """A loop that delivers to one service over its channel, through a client of its own made on
    first use (one per thread: zeep clients are not shared)."""

    name: str  # the loop's name (its channel's, its log events' prefix)
    paced = True  # claims sized by the recent seconds per item (a poll's one call per batch: not)

    def __init__(self, context: LoopContext, channel: Channel, factory: Callable[[], Client]) -> None:
        self.context = context
        self.delivery = Delivery(context, channel)
        self._factory = factory
        self._client: Client | None = None
        self._per_item: float | None = None  # seconds per item claimed, a moving average

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def run_once(self) -> int:
        """Claim as much as the service's circuit allows (LoopContext.claim_limit) and the loop's
        pace (`paced_limit`), and work on it; returns how many items were claimed."""
        limit = self.context.claim_limit(self.delivery.channel.breaker, self.batch())
        if limit == 0:
            return 0
        if not self.paced:
            return self.work(limit)
        started = time.perf_counter()
        claimed = self.work(self.paced_limit(limit))
        if claimed:
            seconds = (time.perf_counter() - started) / claimed
            previous = self._per_item
            self._per_item = seconds if previous is None else 0.7 * previous + 0.3 * seconds
        return claimed

    def paced_limit(self, limit: int) -> int:
        """At most `limit`, and no more than about `claim_seconds` of work at the recent pace: when
        each item takes long (a failing service, retried in process) a claim takes few, so that a
        daemon killed a few seconds after its claim leaves little of it undone (and a healthy
        service's calls still share a claim's transactions)."""
        per_item = self._per_item
        if per_item is None or per_item <= 0:
            return limit
        return max(1, min(limit, int(self.context.claim_seconds / per_item)))

    def batch(self) -> int:
        """How many items a claim takes at most."""
        return self.context.claim_batch

    def work(self, limit: int) -> int:
        """Claim up to `limit` items and deliver them; how many were claimed."""
        raise NotImplementedError

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class PortalLoop(RemoteLoop[PortalClient]):
    """A loop delivering dossiers to the portal (submit, poll, cancel)."""

    def __init__(
        self, context: LoopContext, *, budget: bool = True, backoff: Callable[[int], float] | None = None
    ) -> None:
        channel = portal_channel(context, self.name, budget=budget, backoff=backoff)
        super().__init__(context, channel, context.portal_factory)

    @property
    def portal(self) -> PortalClient:
        return self.client


class NswLoop(RemoteLoop[NswClient]):
    """A loop delivering Results to the NSW (the outbox)."""

    def __init__(self, context: LoopContext) -> None:
        super().__init__(context, nsw_channel(context), context.nsw_factory)

    @property
    def nsw(self) -> NswClient:
        return self.client
