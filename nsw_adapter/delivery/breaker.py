"""A circuit breaker per remote service: closed, open, half-open with a few probes.

When a service keeps failing, calls stop at once (BreakerOpenError, transient) instead of
hammering it; after `reset_seconds` a limited number of probe calls go through, and their
outcome closes or re-opens the circuit. Thread-safe: one breaker is shared by every worker
thread that talks to the same service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from nsw_adapter.errors import TransientError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(TransientError):
    """The circuit is open: the call was not made. `retry_in` says when a probe may go."""

    def __init__(self, name: str, retry_in: float) -> None:
        self.retry_in = retry_in
        super().__init__(f"{name} circuit open; next probe in {retry_in:.1f}s")


class CircuitBreaker:
    """Counts consecutive transient failures; opens at `failure_threshold`."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 5.0,
        half_open_probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self._threshold = failure_threshold
        self._reset = reset_seconds
        self._probes = half_open_probes
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._open_for = reset_seconds  # this opening's length (trip() sets a longer one)
        self._probes_out = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._tick()
            return self._state

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(self.name, state)

    def _tick(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._open_for:
            self._set(BreakerState.HALF_OPEN)
            self._probes_out = 0

    def before_call(self) -> None:
        """Let a call through, or raise BreakerOpenError when the circuit does not allow it."""
        with self._lock:
            self._tick()
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.HALF_OPEN and self._probes_out < self._probes:
                self._probes_out += 1
                return
            retry_in = max(0.0, self._open_for - (self._clock() - self._opened_at))
            raise BreakerOpenError(
                self.name, retry_in if self._state is BreakerState.OPEN else self._open_for
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probes_out = 0
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A transient failure of the service (permanent ones say nothing about its health)."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._open(self._reset)

    def trip(self, seconds: float) -> None:
        """Open at once for `seconds` whatever the count (the service refused our credentials: one
        probe after that tells whether they work again)."""
        with self._lock:
            self._open(seconds)

    def _open(self, seconds: float) -> None:
        self._opened_at = self._clock()
        self._open_for = seconds
        self._probes_out = 0
        self._set(BreakerState.OPEN)

    def remaining_open(self) -> float:
        """Seconds until a probe may go (0 when closed or half-open)."""
        with self._lock:
            self._tick()
            if self._state is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self._open_for - (self._clock() - self._opened_at))
