"""Work recorded as it is done: each portal receipt and each Result the NSW accepted is committed
as soon as it is in hand, not at the end of its claim.

A loop hands what it got to its worker's Recorder and goes on with its next call; the Recorder's
writer thread commits everything handed to it within LINGER_SECONDS (by any of the worker's
threads) in one transaction (store.group_commit.GroupCommit). So a receipt waits a fraction of a
second at most, never for the rest of its claim's portal calls: a daemon killed mid-claim has
recorded every receipt it got but the last fraction of a second's (before this, a claim of 32
under faults took 3-10 s, longer than a crash-looping daemon lived, and 40 of 45 restarts
recorded nothing). Commits stay grouped (several threads' receipts per commit: SQLite has one
writer, and fsyncs every commit), and a loop still waits for its claim's commits before it claims
again (`flush`, then each item's future), to report each item's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from nsw_adapter.store.group_commit import GroupCommit

Item = TypeVar("Item")

#: A recorded item waits at most this long for others to share its commit (SQLite fsyncs each
#: commit under its one write lock: a commit per receipt cost a third of the throughput).
LINGER_SECONDS = 0.2


class Recorder(Generic[Item]):
    """Commits items on a writer thread: `later(item)` queues one, its future says how it went."""

    def __init__(self, apply: Callable[[Sequence[Item]], Sequence[Exception | None]], name: str) -> None:
        self._apply, self._name = apply, name
        self._group = self._new()

    def _new(self) -> GroupCommit[Item, None]:
        return GroupCommit(self._apply, name=self._name, max_batch=128, linger=LINGER_SECONDS)

    def later(self, item: Item) -> Future[None]:
        """Queue an item for the next commit."""
        return self._group.submit_later(item)

    def flush(self) -> None:
        """Commit what is queued now (the caller is about to wait for it)."""
        self._group.flush()

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread (a later item starts another: a
        worker may be started again)."""
        group, self._group = self._group, self._new()
        group.close()


def outcome(future: Future[None]) -> Exception | None:
    """The exception an item's commit met (None: committed); waits for the commit."""
    error = future.exception()
    if error is not None and not isinstance(error, Exception):
        raise error
    return error


def each_alone(apply: Callable[[Sequence[Item]], None]) -> Callable[[Sequence[Item]], list[Exception | None]]:
    """A batch writer that reports per item: all at once, or when that fails, each on its own."""

    def run(items: Sequence[Item]) -> list[Exception | None]:
        try:
            apply(items)
            return [None] * len(items)
        except Exception:
            if len(items) == 1:
                raise
        errors: list[Exception | None] = []
        for item in items:
            try:
                apply([item])
                errors.append(None)
            except Exception as exc:
                errors.append(exc)
        return errors

    return run
