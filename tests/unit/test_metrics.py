"""Prometheus metrics: store statistics, breaker state and counters in the text format."""

from __future__ import annotations

from nsw_adapter.delivery import BreakerState
from nsw_adapter.metrics import Metrics
from nsw_adapter.store import StoreStats


def test_stats_and_breaker_state_are_exported() -> None:
    """Dossiers by state, the oldest waiting age, dead letters and the breaker state appear in /metrics."""
    metrics = Metrics()
    metrics.update_stats(StoreStats({"ready": 3, "cleared": 7}, oldest_waiting_seconds=12.5, dead_letters=2))
    metrics.breaker_changed("portal", BreakerState.OPEN)
    metrics.retries.labels(operation="submit").inc()
    metrics.latency.labels(operation="submit").observe(0.02)
    text = metrics.render().decode()
    assert 'nsw_adapter_dossiers{state="ready"} 3.0' in text
    assert 'nsw_adapter_dossiers{state="cleared"} 7.0' in text
    assert 'nsw_adapter_dossiers{state="dead"} 0.0' in text
    assert "nsw_adapter_oldest_waiting_seconds 12.5" in text
    assert "nsw_adapter_dead_letters 2.0" in text
    assert 'nsw_adapter_breaker_state{service="portal"} 2.0' in text
    assert 'nsw_adapter_retries_total{operation="submit"} 1.0' in text
    assert 'nsw_adapter_call_seconds_count{operation="submit"} 1.0' in text


def test_each_instance_has_its_own_registry() -> None:
    """Two Metrics objects (two workers in one test process) do not clash."""
    first = Metrics()
    first.retries.labels(operation="send").inc()
    assert 'nsw_adapter_retries_total{operation="send"} 1.0' in first.render().decode()
    assert 'nsw_adapter_retries_total{operation="send"} 0.0' in Metrics().render().decode()


def test_supplement_requests_and_unknown_portal_states_are_exported_by_outcome() -> None:
    """Store-wide: supplement requests by outcome (every outcome exported, 0 when none), and the
    dossiers in a portal state this adapter does not know."""
    metrics = Metrics()
    metrics.update_stats(
        StoreStats(
            supplement_requests={"answered": 2, "expired": 1, "open": 1}, unknown_portal_states={"ON_HOLD": 3}
        )
    )
    text = metrics.render().decode()
    assert 'nsw_adapter_supplement_requests{outcome="answered"} 2.0' in text
    assert 'nsw_adapter_supplement_requests{outcome="expired"} 1.0' in text
    assert 'nsw_adapter_supplement_requests{outcome="open"} 1.0' in text
    assert 'nsw_adapter_supplement_requests{outcome="cancelled"} 0.0' in text
    assert "nsw_adapter_unknown_portal_state_dossiers 3.0" in text
