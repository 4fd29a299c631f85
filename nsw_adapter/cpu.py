"""CPU seconds per stage of the daemon's work, so that where a dossier's cost goes is measured, not guessed.

Each stage counts its thread's CPU time (`time.thread_time`: waiting on the network, a lock or the
disk costs nothing), about a microsecond per measurement. Stages nest: `loop.submit` includes the
`translate` and `portal.submit` it calls. The totals are the process's (every Metrics registry
exports the same), as `nsw_adapter_cpu_seconds_total{stage}` on /metrics; benchmarks/cost.py
prints them per dossier. What no stage covers (the asyncio thread's HTTP, the idle loops' sleep
bookkeeping, the garbage collector on other threads) is the process's CPU less the top-level
stages.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

_totals: dict[str, float] = {}
_lock = threading.Lock()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the CPU this thread spends in the block under `name`."""
    started = time.thread_time()
    try:
        yield
    finally:
        spent = time.thread_time() - started
        with _lock:
            _totals[name] = _totals.get(name, 0.0) + spent


def counted(name: str) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """A decorator: the function's calls counted under `name`."""

    def decorate(function: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(function)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            with stage(name):
                return function(*args, **kwargs)

        return run

    return decorate


def totals() -> dict[str, float]:
    """CPU seconds by stage since the process started."""
    with _lock:
        return dict(_totals)
