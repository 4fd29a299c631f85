"""Retrying one remote call in-process with tenacity, and when to come back for a deferred item.

In process: transient failures are retried with jittered exponential backoff for a short
budget (seconds), so a blip costs a retry and not a round trip through the store. Beyond
that the caller defers the item in the store (`next_attempt_delay`) and frees the thread;
the total budget since the first attempt decides when to give up (dead letter). Permanent
failures, an open circuit and a refusal of our credentials (each try a failed login) are never
retried here.

`set_testing(True)` zeroes every wait (tests assert on behaviour, not on sleeping).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
    wait_none,
)

from nsw_adapter.delivery.breaker import BreakerOpenError, CircuitBreaker
from nsw_adapter.errors import AuthenticationRefused, TransientError

T = TypeVar("T")

_testing = False


def set_testing(on: bool) -> None:
    """Zero all retry waits and deferral delays (for tests)."""
    global _testing
    _testing = on


def is_testing() -> bool:
    return _testing


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """In-process retries and the deferral schedule of one kind of delivery."""

    in_process_seconds: float = 3.0  # retry in the worker thread for at most this long
    max_attempts: int = 4  # ... and at most this many calls
    initial_wait: float = 0.1
    max_wait: float = 1.0
    defer_initial: float = 1.0  # first deferral through the store
    defer_max: float = 60.0  # deferrals grow exponentially up to this


def _retryable(exc: BaseException) -> bool:
    # An open circuit is a verdict on the service, not on this call: defer, don't spin. Refused
    # credentials are refused again at once.
    return isinstance(exc, TransientError) and not isinstance(exc, BreakerOpenError | AuthenticationRefused)


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker | None = None,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """Call `fn` (through the breaker), retrying transient failures within the policy's budget.

    Raises the last error: TransientError (defer it), BreakerOpenError, or PermanentError.
    """

    def attempt() -> T:
        if breaker is not None:
            breaker.before_call()
        try:
            result = fn()
        except TransientError:
            if breaker is not None:
                breaker.record_failure()
            raise
        if breaker is not None:
            breaker.record_success()
        return result

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(exc, state.attempt_number)

    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_before_delay(policy.in_process_seconds) | stop_after_attempt(policy.max_attempts),
        wait=wait_none()
        if _testing
        else wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        ),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)


def next_attempt_delay(policy: RetryPolicy, attempts: int, breaker: CircuitBreaker | None = None) -> float:
    """Seconds until a deferred item is tried again: exponential in `attempts`, full jitter, and
    never before the breaker would let a probe through."""
    if _testing:
        return 0.0
    ceiling = min(policy.defer_max, policy.defer_initial * (2 ** min(attempts, 20)))
    delay = random.uniform(policy.defer_initial, max(policy.defer_initial, ceiling))
    if breaker is not None:
        delay = max(delay, breaker.remaining_open() + random.uniform(0, policy.defer_initial))
    return delay
