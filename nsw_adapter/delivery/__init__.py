"""Delivery policy: in-process retries (tenacity), deferral schedule, circuit breakers."""

from nsw_adapter.delivery.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from nsw_adapter.delivery.retry import (
    RetryPolicy,
    call_with_retry,
    is_testing,
    next_attempt_delay,
    set_testing,
)

__all__ = [
    "BreakerOpenError",
    "BreakerState",
    "CircuitBreaker",
    "RetryPolicy",
    "call_with_retry",
    "is_testing",
    "next_attempt_delay",
    "set_testing",
]
