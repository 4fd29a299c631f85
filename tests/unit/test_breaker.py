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


def test_trip_opens_at_once_for_its_own_length_then_lets_one_probe_through() -> None:
    """trip(60) (credentials refused) opens a closed circuit whatever the failure count, for 60 s and
    not the reset time; then one probe; its success closes it and the next opening is the usual one."""
    clock = FakeClock()
    breaker = CircuitBreaker("portal", failure_threshold=5, reset_seconds=5, clock=clock)
    breaker.trip(60)
    assert breaker.state is BreakerState.OPEN
    clock.now = 30.0
    assert breaker.state is BreakerState.OPEN  # past the reset time, within the trip
    assert breaker.remaining_open() == pytest.approx(30)
    clock.now = 60.0
    breaker.before_call()  # the probe
    with pytest.raises(BreakerOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]  # mypy keeps the property narrowed
    for _ in range(5):
        breaker.record_failure()
    assert breaker.remaining_open() == pytest.approx(5)
