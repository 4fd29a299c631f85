"""Prometheus metrics of the daemon, in a registry of their own (tests build as many as they like)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nsw_adapter.delivery.breaker import BreakerState
from nsw_adapter.store.base import DossierState, StoreStats

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every metric the daemon exports; loops call these, /metrics renders them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.dossiers = Gauge("nsw_adapter_dossiers", "Dossiers by state.", ["state"], registry=r)
        self.oldest_waiting = Gauge(
            "nsw_adapter_oldest_waiting_seconds", "Age of the oldest dossier not yet final.", registry=r
        )
        self.dead_letters = Gauge("nsw_adapter_dead_letters", "Dossiers and results given up on.", registry=r)
        self.outbox_pending = Gauge("nsw_adapter_outbox_pending", "Results waiting to be sent.", registry=r)
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
        self.breaker = Gauge(
            "nsw_adapter_breaker_state",
            "Circuit state: 0 closed, 1 half-open, 2 open.",
            ["service"],
            registry=r,
        )
        for state in DossierState:
            self.dossiers.labels(state=state.value).set(0)
        for service in ("portal", "nsw"):
            self.breaker.labels(service=service).set(0)

    def breaker_changed(self, service: str, state: BreakerState) -> None:
        self.breaker.labels(service=service).set(_BREAKER_VALUE[state])

    def update_stats(self, stats: StoreStats) -> None:
        for state in DossierState:
            self.dossiers.labels(state=state.value).set(stats.dossiers_by_state.get(state.value, 0))
        self.oldest_waiting.set(stats.oldest_waiting_seconds or 0.0)
        self.dead_letters.set(stats.dead_letters)
        self.outbox_pending.set(stats.outbox_pending)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
