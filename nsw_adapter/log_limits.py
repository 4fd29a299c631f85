"""A bound on what the HTTP server logs per request, so that no client can flood the error log.

aiohttp logs "Error handling request" at ERROR, with a traceback, for every connection a client
abandons mid-request and for every malformed request: anyone who reaches the port can write as
many as they like, at the cost of a socket each. A filter on aiohttp's server logger lets a few
through per window (enough to see that something happens, and what) and counts the rest; the
first record of a later window is preceded by one warning saying how many were dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from nsw_adapter.logging import get_logger

log = get_logger("nsw_adapter.daemon")

#: The logger aiohttp's server protocol writes its per-request errors to.
SERVER_LOGGER = "aiohttp.server"


class RateLimit(logging.Filter):
    """At most `burst` records pass per `window_seconds`; the others are dropped and counted."""

    def __init__(
        self, *, burst: int = 10, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window_ends = float("-inf")
        self._passed = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self._clock()
            dropped = 0
            if now >= self._window_ends:
                self._window_ends = now + self.window_seconds
                self._passed = 0
                dropped, self._dropped = self._dropped, 0
            passes = self._passed < self.burst
            if passes:
                self._passed += 1
            else:
                self._dropped += 1
        if dropped:  # outside the lock: the warning goes through its own logger and handlers
            log.warning("daemon.server_errors_suppressed", count=dropped, seconds=self.window_seconds)
        return passes


def limit_server_errors(*, burst: int = 10, window_seconds: float = 60.0) -> RateLimit:
    """Install the limit on aiohttp's server logger (once: a second call returns the first filter)."""
    logger = logging.getLogger(SERVER_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, RateLimit):
            return existing
    limit = RateLimit(burst=burst, window_seconds=window_seconds)
    logger.addFilter(limit)
    return limit
