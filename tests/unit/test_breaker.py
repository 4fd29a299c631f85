"""The circuit breaker: closed, open after repeated failures, half-open probes, closed again."""

from __future__ import annotations

import pytest

from nsw_adapter.delivery import BreakerOpenError, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_of_consecutive_failures() -> None:
    """Failures below the threshold keep it closed; reaching it opens it and calls are refused."""
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker("portal", failure_threshold=3, reset_seconds=5, clock=clock,
                             on_change=lambda _n, s: changes.append(s))  # fmt: skip
    breaker.record_failure()
    breaker.record_failure()
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpenError) as raised:
        breaker.before_call()
    assert raised.value.retry_in == pytest.approx(5)
    assert changes == [BreakerState.OPEN]


def test_success_resets_the_failure_count() -> None:
    """A success between failures means the service is not down."""
    breaker = CircuitBreaker("portal", failure_threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    """After the reset time one probe goes; a second concurrent call is refused; success closes."""
    clock = FakeClock()
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(BreakerOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the property narrowed
    breaker.before_call()


def test_a_failed_probe_opens_it_again() -> None:
    """A probe that fails re-opens the circuit for another reset period."""
    clock = FakeClock()
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now = 6.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.remaining_open() == pytest.approx(5)
