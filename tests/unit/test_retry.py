"""In-process retries with tenacity: which errors are retried, for how long, and the deferral schedule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nsw_adapter.delivery import (
    BreakerOpenError,
    CircuitBreaker,
    RetryPolicy,
    call_with_retry,
    next_attempt_delay,
    set_testing,
)
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.loops.delivery import budget_spent, failure_seconds


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


class Flaky:
    """Fails with the given errors, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_transient_errors_are_retried_until_success() -> None:
    """Transient failures within the attempt budget end in the call's result."""
    flaky = Flaky(TransientError("503"), TransientError("503"))
    retries: list[int] = []
    assert (
        call_with_retry(flaky, policy=RetryPolicy(max_attempts=3), on_retry=lambda _e, n: retries.append(n))
        == "ok"
    )
    assert flaky.calls == 3
    assert retries == [1, 2]


def test_permanent_errors_are_not_retried() -> None:
    """A permanent failure is raised at once after one call."""
    flaky = Flaky(PermanentError("SCHEMA", "SCHEMA"))
    with pytest.raises(PermanentError):
        call_with_retry(flaky, policy=RetryPolicy(max_attempts=5))
    assert flaky.calls == 1


def test_attempts_are_bounded() -> None:
    """Retrying stops after max_attempts and raises the last transient error."""
    flaky = Flaky(*[TransientError("503")] * 10)
    with pytest.raises(TransientError):
        call_with_retry(flaky, policy=RetryPolicy(max_attempts=4))
    assert flaky.calls == 4


def test_time_budget_bounds_retries_with_real_waits() -> None:
    """With real (jittered) waits, retries stop before the in-process budget would be overrun."""
    set_testing(False)
    flaky = Flaky(*[TransientError("503")] * 100)
    policy = RetryPolicy(in_process_seconds=0.3, max_attempts=100, initial_wait=0.05, max_wait=0.1)
    import time

    started = time.monotonic()
    with pytest.raises(TransientError):
        call_with_retry(flaky, policy=policy)
    assert time.monotonic() - started < 0.6
    assert 2 <= flaky.calls < 100


def test_open_breaker_is_not_retried_and_makes_no_call() -> None:
    """With the circuit open the call is not made and BreakerOpenError is raised at once."""
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=60)
    flaky = Flaky(TransientError("503"))
    with pytest.raises(TransientError):
        call_with_retry(flaky, policy=RetryPolicy(max_attempts=5), breaker=breaker)
    assert flaky.calls == 1  # the first failure opened the circuit
    with pytest.raises(BreakerOpenError):
        call_with_retry(flaky, policy=RetryPolicy(max_attempts=5), breaker=breaker)
    assert flaky.calls == 1


def test_deferral_grows_and_respects_the_breaker() -> None:
    """Deferral delays grow with attempts up to the cap and wait for an open breaker's probe."""
    set_testing(False)
    policy = RetryPolicy(defer_initial=1.0, defer_max=8.0)
    assert 1.0 <= next_attempt_delay(policy, 0) <= 1.0
    assert all(1.0 <= next_attempt_delay(policy, 10) <= 8.0 for _ in range(50))
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_seconds=30)
    breaker.record_failure()
    assert next_attempt_delay(policy, 0, breaker) >= 29.0


def test_testing_switch_zeroes_deferrals() -> None:
    """In testing mode deferred items are due at once."""
    assert next_attempt_delay(RetryPolicy(), 5) == 0.0


def test_only_the_services_failures_use_up_the_budget() -> None:
    """Deferrals (the service failing past the in-process retries) use up the budget along the
    schedule; time without them (crashed, waiting for a lease, our own trouble) uses none."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 3, 12, tzinfo=UTC)
    policy = RetryPolicy(in_process_seconds=1.0, defer_initial=1.0, defer_max=60.0)
    assert failure_seconds(3, policy) == 3 * 1.0 + 1 + 2 + 4
    long_ago = now - timedelta(hours=5)
    assert not budget_spent(long_ago, 0, 60, policy, now)  # five hours of crashes: nothing spent
    assert not budget_spent(long_ago, 4, 60, policy, now)  # 4 + 15 s of failures < 60
    assert budget_spent(long_ago, 6, 60, policy, now)  # 6 + 63 s of failures
    assert not budget_spent(now - timedelta(seconds=30), 6, 60, policy, now)  # ahead of the clock
    assert not budget_spent(None, 0, 60, policy, now)
    assert budget_spent(None, 6, 60, policy, now)
