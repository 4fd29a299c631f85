"""Group commit: many callers' small writes committed together, one fsync for the lot.

SQLite has one writer at a time and, with synchronous=FULL, one fsync per commit: committing
each push on its own caps intake at the disk's fsync rate. Callers hand their item to one
writer thread, which hands everything queued to `apply_batch` (one transaction, one commit; the
store's batch, when one item fails, rolls back and applies each item again on its own, so one
item's failure never costs another). Each caller gets its own result only after the commit:
still nothing is answered before it is durable.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from nsw_adapter import cpu

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()
_FLUSH = object()  # ends a linger: commit what is queued now


class GroupCommit(Generic[Item, Result]):
    """Runs `apply_batch(items) -> results-or-exceptions` on a writer thread for queued items."""

    def __init__(
        self,
        apply_batch: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        *,
        max_batch: int = 64,
        name: str = "group-commit",
        linger: float = 0.0,
    ) -> None:
        """`linger`: after the first item, wait up to this many seconds for more to join its
        commit (0: commit what is queued at once; callers who do not wait on the commit can
        afford a little, and save commits)."""
        self._apply = apply_batch
        self._max = max_batch
        self._linger = linger
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stage = name  # the commits' CPU, counted under the writer's name (cpu.py)
        self._lock = threading.Lock()
        self._started = False
        self._closed = False

    def submit(self, item: Item) -> Result:
        """Queue an item and wait for its committed result (or its exception)."""
        return self.submit_later(item).result()

    def submit_later(self, item: Item) -> Future[Result]:
        """Queue an item; its future holds the committed result (or the exception) once committed.
        The caller goes on meanwhile (a loop's next call while its last receipt commits)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if not self._started:
                self._thread.start()
                self._started = True
        future: Future[Result] = Future()
        self._queue.put((item, future))
        return future

    def flush(self) -> None:
        """Commit what is queued now, without lingering for more (a caller about to wait on it)."""
        with self._lock:
            if self._started and not self._closed:
                self._queue.put(_FLUSH)

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        with self._lock:
            self._closed = True
            started = self._started
        if started:
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if first is _FLUSH:
                continue
            batch = [first]
            stop = False
            until = time.monotonic() + self._linger
            while len(batch) < self._max:
                try:
                    left = until - time.monotonic()
                    more = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                if more is _FLUSH:
                    break
                batch.append(more)
            with cpu.stage(self._stage):
                self._run_batch(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _run_batch(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        try:
            results = self._apply([item for item, _ in batch])
        except BaseException as exc:  # the commit failed: nobody's item is stored
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
