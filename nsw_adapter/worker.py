"""The daemon's worker: every loop on its own thread(s), started and stopped together.

Loops are small objects with `run_once() -> int` (how much they did) and `close()`; the
worker runs each on a thread that sleeps `idle_seconds` when there was nothing to do. Stop
is graceful: threads finish the item in hand, skip the rest of their batch, and the store
releases every lease the worker still holds, so another worker (or this one after a
restart) picks them up at once instead of after the lease runs out. A worker killed without a
stop leaves its leases behind: restarted under the same name, it holds the name and takes them
over at once (store/incarnation.py says why that is safe).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable
from functools import partial
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from nsw_adapter import cpu
from nsw_adapter.clients.nsw import NswClient, ZeepNswClient
from nsw_adapter.clients.portal import PortalClient, ZeepPortalClient
from nsw_adapter.clients.transport import Network
from nsw_adapter.delivery.breaker import CircuitBreaker
from nsw_adapter.delivery.health import Health
from nsw_adapter.delivery.retry import RetryPolicy
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.cancel import CancelLoop
from nsw_adapter.loops.context import (
    LocatorFactory,
    LoopContext,
    Translator,
    default_locator,
    default_translator,
)
from nsw_adapter.loops.events import EventLoop
from nsw_adapter.loops.housekeeping import HousekeepingLoop
from nsw_adapter.loops.outbox import OutboxLoop
from nsw_adapter.loops.poll import PollLoop
from nsw_adapter.loops.submit import SubmitLoop
from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import Settings
from nsw_adapter.store import Store
from nsw_adapter.store.incarnation import NameLock
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.worker")


class Loop(Protocol):
    name: str
    wakes_on: Topic | None  # the bell that ends this loop's idle sleep (nsw_adapter/wakeup.py)
    rings: tuple[Topic, ...]  # the bells it rings after doing something

    def run_once(self) -> int: ...

    def close(self) -> None: ...


#: How long a starting worker waits for its name (a killed predecessor's database session may take
#: a moment to end) before it gives up with NameInUse.
NAME_TIMEOUT_SECONDS = 10.0
#: How often a worker checks that its name's lock is still its own (store/incarnation.py).
NAME_CHECK_SECONDS = 0.25
#: How often a worker looks for leases that killed peers left (store/incarnation.py).
PEER_CHECK_SECONDS = 1.0


def _exit_at_once() -> None:
    """The name is lost: stop working now, mid-call if need be (the supervisor starts us again)."""
    os._exit(75)


def lease_owner(worker_id: str | None) -> str:
    """The name this process incarnation leases work under: the worker's name plus a fresh token.

    Heartbeats renew every lease held under this name. If a worker restarted under the same
    configured name (or the same host and pid, as a container's pid 1 is) reused it, the new
    process would keep its killed predecessor's leases alive forever without working on them.
    """
    return f"{worker_id or f'{socket.gethostname()}:{os.getpid()}'}/{secrets.token_hex(4)}"


def build_context(
    settings: Settings,
    store: Store,
    *,
    metrics: Metrics | None = None,
    translator: Translator | None = None,
    locator: LocatorFactory | None = None,
    portal_factory: Callable[[], PortalClient] | None = None,
    nsw_factory: Callable[[], NswClient] | None = None,
) -> LoopContext:
    """A LoopContext from settings: zeep clients, breakers reporting to metrics, retry policies."""
    metrics = metrics or Metrics()
    metrics.watch_subscribers(s.name for s in settings.subscribers)
    w = settings.worker
    portal, nsw = settings.portal, settings.nsw

    def make_portal() -> PortalClient:
        return ZeepPortalClient(
            portal.url,
            portal.credentials.username,
            portal.credentials.password.get_secret_value(),
            timeout_seconds=portal.timeout_seconds,
            network=Network(portal.ca_bundle, portal.client_certificate, portal.client_key, portal.proxy),
        )

    def make_nsw() -> NswClient:
        return ZeepNswClient(
            nsw.url,
            nsw.credentials.username,
            nsw.credentials.password.get_secret_value(),
            timeout_seconds=nsw.timeout_seconds,
            network=Network(nsw.ca_bundle, nsw.client_certificate, nsw.client_key, nsw.proxy),
        )

    def policy() -> RetryPolicy:
        return RetryPolicy(
            in_process_seconds=w.in_process_retry_seconds,
            defer_initial=w.defer_initial_seconds,
            defer_max=w.defer_max_seconds,
        )

    def breaker(name: str) -> CircuitBreaker:
        return CircuitBreaker(
            name,
            failure_threshold=w.breaker_failures,
            reset_seconds=w.breaker_reset_seconds,
            on_change=metrics.breaker_changed,
        )

    # A degraded dependency that nothing has used for three times the longest wait between two
    # uses of it (a deferral, a probe, a poll) is reported unknown again (health.py).
    longest = max(
        w.defer_max_seconds, w.auth_probe_seconds, w.breaker_reset_seconds, w.poll_max_interval_seconds
    )
    health = Health(stale_after_seconds=3 * longest)
    metrics.watch_health(health)
    return LoopContext(
        store=store,
        worker_id=lease_owner(settings.worker_id),
        portal_factory=portal_factory or make_portal,
        nsw_factory=nsw_factory or make_nsw,
        translator=translator or default_translator(),
        locator=locator or default_locator(),
        portal_breaker=breaker("portal"),
        nsw_breaker=breaker("nsw"),
        portal_policy=policy(),
        nsw_policy=policy(),
        metrics=metrics,
        portal_budget_seconds=portal.retry_budget_seconds,
        nsw_budget_seconds=nsw.retry_budget_seconds,
        lease_seconds=settings.store.lease_seconds,
        claim_batch=w.claim_batch,
        claim_seconds=w.claim_seconds,
        poll_batch=portal.poll_batch,
        status_calls_per_minute=portal.status_calls_per_minute,
        poll_interval_seconds=w.poll_interval_seconds,
        poll_max_interval_seconds=w.poll_max_interval_seconds,
        gather_seconds=w.gather_seconds,
        agent_language=settings.agent_language,
        subscribers=tuple(settings.subscribers),
        subscriber_breakers={s.name: breaker(f"subscriber:{s.name}") for s in settings.subscribers},
        auth_probe_seconds=w.auth_probe_seconds,
        health=health,
    )


def unrung_topics(settings: Settings) -> frozenset[Topic]:
    """The topics whose rings cannot reach this process: a worker-only process on SQLite hears no
    intake (PostgreSQL carries rings across processes, nsw_adapter/store/wake_channel.py)."""
    if "intake" in settings.roles or settings.store.url.startswith("postgresql"):
        return frozenset()
    return frozenset({Topic.SUBMIT, Topic.CANCEL, Topic.EVENTS})


class Worker:
    """Runs the loops of one process on threads."""

    def __init__(
        self,
        context: LoopContext,
        *,
        submit_threads: int = 4,
        outbox_threads: int = 4,
        idle_seconds: float = 0.2,
        expiry_interval: float = 10.0,
        retention_days: int = 90,
        unrung: frozenset[Topic] = frozenset(),
        on_name_lost: Callable[[], None] = _exit_at_once,
    ) -> None:
        self.context = context
        self._unrung = unrung
        self._name: NameLock | None = None
        self._on_name_lost = on_name_lost
        self._idle = idle_seconds
        self._stop = context.stop_event
        self._threads: list[threading.Thread] = []
        self._taking_over: threading.Thread | None = None
        self._factories: list[Callable[[], Loop]] = [
            *([lambda: SubmitLoop(context)] * submit_threads),
            *([lambda: OutboxLoop(context)] * outbox_threads),
            lambda: PollLoop(context),
            lambda: CancelLoop(context),
            lambda: HousekeepingLoop(context, expiry_interval=expiry_interval, retention_days=retention_days),
            # `threads` senders per subscriber: each dossier's events still reach it in order.
            *[partial(EventLoop, context, s) for s in context.subscribers for _ in range(s.threads)],
        ]

    @classmethod
    def from_settings(cls, settings: Settings, context: LoopContext) -> Worker:
        w = settings.worker
        return cls(
            context,
            submit_threads=w.submit_threads,
            outbox_threads=w.outbox_threads,
            idle_seconds=w.idle_seconds,
            expiry_interval=w.expiry_interval_seconds,
            retention_days=settings.store.retention_days,
            unrung=unrung_topics(settings),
        )

    @property
    def name(self) -> str:
        """The worker's name: its lease owner without the incarnation's token."""
        return self.context.worker_id.rsplit("/", 1)[0]

    def hold_name(self, timeout: float = NAME_TIMEOUT_SECONDS) -> None:
        """Hold the worker's name (NameInUse when another live process holds it). Done by `start`
        if not before (the daemon does it before it serves, so that a refusal is a clean exit)."""
        if self._name is None:
            self._name = self.context.store.hold_worker_name(self.name, timeout)

    def _take_over(self, lock: NameLock) -> None:
        """Free the leases the name's dead incarnations left (after PostgreSQL's grace: the loops
        work on whatever else is free meanwhile), then ring the loops to claim them."""
        try:
            freed = self.context.store.take_over(self.name, self.context.worker_id, lock)
        except Exception as exc:  # their leases run out as before
            log.error("worker.take_over_failed", error=describe_error(exc), exc_info=exc)
            return
        log.info("worker.took_over", worker_id=self.context.worker_id, count=freed)
        if freed:
            self.context.bell.ring_all_here()

    def _watch_peers(self) -> None:
        """Free what killed peers left while they restart (store/incarnation.py), then ring."""
        while not self._stop.wait(PEER_CHECK_SECONDS):
            try:
                freed = self.context.store.take_over_peers(self.name)
            except Exception as exc:  # their leases run out, or their successor frees them
                log.warning("worker.peer_take_over_failed", error=describe_error(exc))
                continue
            if freed:
                self.context.bell.ring_all_here()

    def _watch_name(self, lock: NameLock) -> None:
        """Stop working at once if the name's lock is lost (a PostgreSQL session ended under us)."""
        while not self._stop.wait(NAME_CHECK_SECONDS):
            if not lock.held():
                log.critical("worker.name_lost", worker_id=self.context.worker_id)
                self._stop.set()
                self._on_name_lost()
                return

    def start(self) -> None:
        self._stop.clear()
        self.hold_name()
        assert self._name is not None
        if self._name.exclusive:
            watcher = threading.Thread(
                target=self._watch_name, args=(self._name,), name="name-watch", daemon=True
            )
            watcher.start()
            self._threads.append(watcher)
            # Not among the loop threads: it ends once done (alive() asks about those).
            self._taking_over = threading.Thread(
                target=self._take_over, args=(self._name,), name="take-over", daemon=True
            )
            self._taking_over.start()
            peers = threading.Thread(target=self._watch_peers, name="peer-watch", daemon=True)
            peers.start()
            self._threads.append(peers)
        for index, factory in enumerate(self._factories):
            thread = threading.Thread(target=self._run, args=(factory,), name=f"loop-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker.started", worker_id=self.context.worker_id, count=len(self._threads))

    def _run(self, factory: Callable[[], Loop]) -> None:
        loop = factory()
        bell = self.context.bell
        idle = self._idle
        store = self.context.health.store  # every run_once asks the store first: its health, observed
        try:
            while not self._stop.is_set():
                if loop.wakes_on is not None:
                    bell.arm(loop.wakes_on)  # a ring from here on ends the sleep below
                try:
                    with cpu.stage(f"loop.{loop.name}"):
                        done = loop.run_once()
                except Exception as exc:
                    # A store or programming error: log it safely, back off, keep the loop alive.
                    log.error("loop.failed", loop=loop.name, error=describe_error(exc), exc_info=exc)
                    if isinstance(exc, SQLAlchemyError):
                        store.failed(describe_error(exc), unreachable=False)
                    self._stop.wait(max(self._idle, 1.0))
                    continue
                store.succeeded()
                if done:
                    bell.ring(*loop.rings)
                    idle = self._idle
                    continue
                # Nothing to do: sleep until rung, or ask the store less and less often (up to 8x),
                # not 20 times a second; but work whose ring cannot reach this process (`unrung`)
                # is looked for every `idle_seconds`, without back-off.
                if loop.wakes_on is None:
                    self._stop.wait(idle)
                else:
                    bell.wait(loop.wakes_on, idle)
                if loop.wakes_on not in self._unrung:
                    idle = min(idle * 2, self._idle * 8)
        finally:
            loop.close()

    def alive(self) -> bool:
        """True while every loop thread runs."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self, grace_seconds: float = 10.0) -> int:
        """Stop every loop (finishing the item in hand), then release what is still leased."""
        self._stop.set()
        self.context.bell.ring_all_here()  # sleepers wake, see the stop and end
        for thread in self._threads:
            thread.join(timeout=grace_seconds)
        if self._taking_over is not None:  # it must not free anything once the name is let go
            self._taking_over.join(timeout=grace_seconds)
            self._taking_over = None
        self.context.close()  # what was recorded is committed before the leases go
        released = self.context.store.release(self.context.worker_id)
        if self._name is not None:
            self._name.release()
            self._name = None
        alive = sum(t.is_alive() for t in self._threads)
        log.info("worker.stopped", worker_id=self.context.worker_id, released=released, count=alive)
        self._threads.clear()
        return released
