"""Prometheus metrics of the daemon, in a registry of their own (tests build as many as they like).

Two kinds, and how to sum them across daemons:
* per process (counters, histograms, the breaker, the intake's counts): what this daemon did;
  sum them over the daemons sharing a store.
* store-wide gauges (`nsw_adapter_dossiers`, `_oldest_waiting_seconds`, `_dead_letters`,
  `_outbox_pending`): read from the shared store, so every daemon on it reports the same value;
  take max() (or one daemon's) over them, never sum() (their HELP says so).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nsw_adapter import cpu
from nsw_adapter.build import adapter_version
from nsw_adapter.delivery.breaker import BreakerState
from nsw_adapter.delivery.health import DependencyState, Health
from nsw_adapter.lifecycle import SupplementOutcome
from nsw_adapter.store import DossierState, StoreStats, SubscriberFigures
from nsw_adapter.store.engine import writer_figures

# Counters' `_created` samples (a timestamp per series) double the exposition and nobody reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STORE_WIDE = " Store-wide: every daemon on the store reports the same value (use max, not sum)."
#: What a refused UsernameToken's reason is counted as (WsseError's texts, soap/wsse.py).
AUTH_FAILURES = {
    "no WS-Security UsernameToken": "no_token",
    "a PasswordDigest is required": "not_digest",
    "Nonce and Created are required": "incomplete",
    "unreadable Nonce or Created": "unreadable",
    "stale Created timestamp": "stale",
    "Created timestamp in the future": "future",
    "wrong user name or password": "wrong_password",
    "replayed nonce": "replayed",
}


class _StageCpu(Collector):
    """The process's CPU seconds by stage of work (nsw_adapter.cpu), read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "nsw_adapter_cpu_seconds",
            "CPU seconds spent by the daemon's threads in each stage of work (stages nest: loop.submit "
            "includes translate and portal.submit).",
            labels=["stage"],
        )
        for name, seconds in sorted(cpu.totals().items()):
            family.add_metric([name], seconds)
        yield family


class _SqliteWriter(Collector):
    """SQLite's one writer as this process used it (store/engine.py's WriterQueue), read at each
    scrape; zero on PostgreSQL, which has no such lock."""

    def collect(self) -> Iterator[Metric]:
        figures = writer_figures()
        seconds = CounterMetricFamily(
            "nsw_adapter_sqlite_writer_seconds",
            "Seconds this process's write transactions spent queued for SQLite's writer lock "
            "(waiting, summed over threads) and holding it (holding, wall clock; holding_cpu, the "
            "holders' own CPU). A rate of holding near 1 summed over the daemons on one file: "
            "the store's one writer limits throughput.",
            labels=["phase"],
        )
        seconds.add_metric(["waiting"], figures.waiting)
        seconds.add_metric(["holding"], figures.holding)
        seconds.add_metric(["holding_cpu"], figures.holding_cpu)
        yield seconds
        yield CounterMetricFamily(
            "nsw_adapter_sqlite_write_transactions",
            "Write transactions this process committed or rolled back on SQLite.",
            value=figures.transactions,
        )


#: A supplement request's outcomes as counted: "open" until one of the lifecycle's.
SUPPLEMENT_OUTCOMES = ("open", *(o.value for o in SupplementOutcome))


class _Dependencies(Collector):
    """Each dependency's state as this process reports it (health.py), read at each scrape (a stale
    state turns `unknown` by time alone, with no event to set a gauge on)."""

    def __init__(self) -> None:
        self.health: Health | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "nsw_adapter_dependency_up",
            "1 while this process's last use of the dependency (store, portal, nsw, subscriber NAME) "
            "succeeded or it has not been used lately, 0 while it fails, is unreachable or refuses our "
            "credentials.",
            labels=["dependency"],
        )
        refused = GaugeMetricFamily(
            "nsw_adapter_dependency_refused",
            '1 while the portal, the NSW or an event subscriber ("subscriber NAME") refuses our'
            " credentials (its work paused, nothing dead-lettered).",
            labels=["dependency"],
        )
        for dependency in self.health or ():
            state = dependency.state
            up.add_metric(
                [dependency.name], 1 if state in (DependencyState.OK, DependencyState.UNKNOWN) else 0
            )
            if dependency.name != "store":
                refused.add_metric([dependency.name], 1 if state is DependencyState.REFUSED else 0)
        yield up
        yield refused


class Metrics:
    """Every metric the daemon exports; loops and the intake call these, /metrics renders them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        build = Info("nsw_adapter_build", "The running adapter's version.", registry=r)
        build.info({"version": adapter_version(), "python": platform.python_version()})
        ProcessCollector(registry=r)  # process_cpu_seconds_total, resident memory, open fds, start time
        r.register(_StageCpu())  # nsw_adapter_cpu_seconds_total{stage} (cpu.py)
        r.register(_SqliteWriter())  # nsw_adapter_sqlite_writer_seconds_total{phase} (store/engine.py)
        self.dossiers = Gauge(
            "nsw_adapter_dossiers", "Dossiers by state." + _STORE_WIDE, ["state"], registry=r
        )
        self.oldest_waiting = Gauge(
            "nsw_adapter_oldest_waiting_seconds",
            "Age of the oldest dossier not yet final." + _STORE_WIDE,
            registry=r,
        )
        self.dead_letters = Gauge(
            "nsw_adapter_dead_letters", "Dossiers and results given up on." + _STORE_WIDE, registry=r
        )
        self.outbox_pending = Gauge(
            "nsw_adapter_outbox_pending", "Results waiting to be sent." + _STORE_WIDE, registry=r
        )
        self.retries = Counter(
            "nsw_adapter_retries", "In-process retries of remote calls.", ["operation"], registry=r
        )
        self.deferred = Counter(
            "nsw_adapter_deferred", "Items put back in the store to retry later.", ["operation"], registry=r
        )
        self.dead_lettered = Counter(
            "nsw_adapter_dead_lettered", "Items given up on by this process.", ["kind"], registry=r
        )
        self.outcomes = Counter(
            "nsw_adapter_outcomes",
            "What the loops did, by loop and outcome.",
            ["loop", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "nsw_adapter_call_seconds",
            "Latency of remote calls (submit, cancel, poll, send), retries included.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.unknown_portal_states = Counter(
            "nsw_adapter_unknown_portal_states",
            "Polls the portal answered with a state this adapter does not know (a newer portal); the "
            "dossier is polled on.",
            ["state"],
            registry=r,
        )
        self.unknown_portal_dossiers = Gauge(
            "nsw_adapter_unknown_portal_state_dossiers",
            "Dossiers whose last poll found a portal state this adapter does not know." + _STORE_WIDE,
            registry=r,
        )
        self.supplement_requests = Gauge(
            "nsw_adapter_supplement_requests",
            "Supplement requests announced to the agents (25), by outcome: open, answered (amended), "
            "expired (BG-SUPP-EXPIRED), decided (cleared or rejected otherwise), cancelled." + _STORE_WIDE,
            ["outcome"],
            registry=r,
        )
        self.breaker = Gauge(
            "nsw_adapter_breaker_state",
            "Circuit state: 0 closed, 1 half-open, 2 open.",
            ["service"],
            registry=r,
        )
        self._dependencies = _Dependencies()  # nsw_adapter_dependency_up and _refused (watch_health)
        r.register(self._dependencies)
        self.auth_refused = Counter(
            "nsw_adapter_auth_refusals",
            "Calls the portal, the NSW or an event subscriber refused for our credentials"
            " (each a failed login there).",
            ["dependency"],
            registry=r,
        )
        self.intake_pushes = Counter(
            "nsw_adapter_intake_pushes",
            "Pushes answered by this process's intake: 99 received, 22 refused, fault (SOAP fault or "
            "HTTP error: the NSW pushes it again).",
            ["answer"],
            registry=r,
        )
        self.intake_problems = Counter(
            "nsw_adapter_intake_refusals",
            "Pushes answered 22, by rule code (a push with several codes counts once under each).",
            ["code"],
            registry=r,
        )
        self.intake_auth_failures = Counter(
            "nsw_adapter_intake_auth_failures",
            "Pushes refused for their WS-Security UsernameToken, by reason.",
            ["reason"],
            registry=r,
        )
        self.intake_bytes = Counter(
            "nsw_adapter_intake_received_bytes", "Request body bytes read by the intake.", registry=r
        )
        self.events_delivered = Counter(
            "nsw_adapter_events_delivered",
            "Events a subscriber has taken (a webhook's 2xx, the broker's confirm), by this process.",
            ["subscriber"],
            registry=r,
        )
        self.event_failures = Counter(
            "nsw_adapter_event_failures",
            "Event deliveries that failed (deferred or given up on), by this process.",
            ["subscriber"],
            registry=r,
        )
        self.events_pending = Gauge(
            "nsw_adapter_events_pending", "Events waiting for a subscriber." + _STORE_WIDE, ["subscriber"],
            registry=r,
        )  # fmt: skip
        self.events_oldest_pending = Gauge(
            "nsw_adapter_events_oldest_pending_seconds",
            "Age of the oldest event waiting for a subscriber." + _STORE_WIDE,
            ["subscriber"],
            registry=r,
        )
        self.events_dead = Gauge(
            "nsw_adapter_events_dead", "Events given up on, per subscriber." + _STORE_WIDE, ["subscriber"],
            registry=r,
        )  # fmt: skip
        for state in DossierState:
            self.dossiers.labels(state=state.value).set(0)
        for outcome in SUPPLEMENT_OUTCOMES:
            self.supplement_requests.labels(outcome=outcome).set(0)
        for service in ("portal", "nsw"):
            self.breaker.labels(service=service).set(0)
        for service in ("portal", "nsw"):
            self.auth_refused.labels(dependency=service)
        for answer in ("99", "22", "fault"):
            self.intake_pushes.labels(answer=answer)
        # Counters at zero are exported too: a dashboard's rate() over them reads 0, not "no data".
        for operation in ("submit", "cancel", "poll", "send"):
            self.retries.labels(operation=operation)
            self.deferred.labels(operation=operation)
        for kind in ("dossier", "outbox", "event"):
            self.dead_lettered.labels(kind=kind)
        self._subscribers: list[str] = []

    def breaker_changed(self, service: str, state: BreakerState) -> None:
        self.breaker.labels(service=service).set(_BREAKER_VALUE[state])

    def watch_health(self, health: Health) -> None:
        """Export these dependencies' states (the worker's LoopContext.health)."""
        self._dependencies.health = health

    def update_stats(self, stats: StoreStats) -> None:
        for state in DossierState:
            self.dossiers.labels(state=state.value).set(stats.dossiers_by_state.get(state.value, 0))
        self.oldest_waiting.set(stats.oldest_waiting_seconds or 0.0)
        self.dead_letters.set(stats.dead_letters)
        self.outbox_pending.set(stats.outbox_pending)
        self.unknown_portal_dossiers.set(sum(stats.unknown_portal_states.values()))
        for outcome in SUPPLEMENT_OUTCOMES:
            self.supplement_requests.labels(outcome=outcome).set(stats.supplement_requests.get(outcome, 0))
        for name in self._subscribers:
            figures = stats.subscribers.get(name, SubscriberFigures())
            self.events_pending.labels(subscriber=name).set(figures.pending)
            self.events_oldest_pending.labels(subscriber=name).set(figures.oldest_pending_seconds or 0.0)
            self.events_dead.labels(subscriber=name).set(figures.dead)

    @property
    def subscribers(self) -> tuple[str, ...]:
        """The event subscribers whose figures are exported."""
        return tuple(self._subscribers)

    def watch_subscribers(self, names: Iterable[str]) -> None:
        """Export the event figures of these subscribers (at zero until the store says otherwise)."""
        for name in names:
            if name not in self._subscribers:
                self._subscribers.append(name)
            self.events_delivered.labels(subscriber=name)
            self.event_failures.labels(subscriber=name)

    def intake_answered(self, function: str, codes: set[str] | frozenset[str] = frozenset()) -> None:
        """A push answered 99 or 22 (with the 22's rule codes)."""
        self.intake_pushes.labels(answer=function).inc()
        for code in codes:
            self.intake_problems.labels(code=code).inc()

    def intake_fault(self) -> None:
        """A push answered with a SOAP fault or an HTTP error."""
        self.intake_pushes.labels(answer="fault").inc()

    def intake_auth_failed(self, reason: str) -> None:
        """A UsernameToken refused; `reason` is WsseError's text."""
        self.intake_auth_failures.labels(reason=AUTH_FAILURES.get(reason, "other")).inc()

    def intake_received(self, size: int) -> None:
        self.intake_bytes.inc(size)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
