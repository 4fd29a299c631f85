"""A thread pool that knows how many of its threads are busy, for /healthz.

The intake parses and commits every push on its pool's threads. When all of them are taken (a
burst, or requests that hold a thread a long time) new pushes only queue, so /healthz reports
the intake `degraded` rather than `ok`: the count is of jobs running, not of threads alive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from nsw_adapter import cpu

T = TypeVar("T")


class CountingExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor counting the jobs its threads are running right now."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self.threads = max_workers
        self._stage = thread_name_prefix or "pool"  # its jobs' CPU, counted under this name (cpu.py)
        self._busy = 0
        self._count_lock = threading.Lock()

    @property
    def busy(self) -> int:
        """How many jobs are running (at most `threads`)."""
        return self._busy

    def exhausted(self) -> bool:
        """True when every thread is running a job: anything submitted now waits."""
        return self._busy >= self.threads

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(self._counted, fn, *args, **kwargs)

    def _counted(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._count_lock:
            self._busy += 1
        try:
            with cpu.stage(self._stage):
                return fn(*args, **kwargs)
        finally:
            with self._count_lock:
                self._busy -= 1
