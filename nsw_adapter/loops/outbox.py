"""Results to the NSW through sendAndGetMessage, each with the messageId it was enqueued with.

99 (also the NSW's answer to a repeated messageId) marks it sent; a 22 is the NSW refusing
it for good (dead letter with the NSW's reason); transport trouble is retried, then deferred
through the store until the budget since the first attempt runs out (loops/delivery.py).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.delivery import NswLoop
from nsw_adapter.loops.recorder import outcome
from nsw_adapter.store import OutboxItem, OutboxStore
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.outbox")


@dataclass(slots=True)
class _Entry:
    """An outbox entry being delivered: its store actions."""

    store: OutboxStore
    item: OutboxItem
    count: int = 1

    @property
    def attempts(self) -> int:
        return self.item.attempts

    @property
    def first_attempt_at(self) -> datetime | None:
        return self.item.first_attempt_at

    def dead_letter(self, reason: str) -> None:
        self.store.dead_letter_outbox(self.item.outbox_id, reason)

    def defer(self, reason: str, retry_at: datetime) -> None:
        self.store.defer_outbox(self.item.outbox_id, reason, retry_at)

    def pause(self, reason: str, retry_at: datetime) -> None:
        self.store.defer_outbox(self.item.outbox_id, reason, retry_at, counted=False)


class OutboxLoop(NswLoop):
    """One thread's sender (owns its NSW client)."""

    name = "outbox"
    wakes_on: Topic | None = Topic.OUTBOX
    rings: tuple[Topic, ...] = ()

    def work(self, limit: int) -> int:
        c = self.context
        items = c.store.claim_outbox(c.worker_id, limit, c.lease_seconds, c.clock())
        sent: list[tuple[OutboxItem, Future[None]]] = []
        for item in items:
            if c.stopping():
                break  # released by the worker on shutdown
            try:
                if self.process(item):  # marked sent now, while the next Result goes out
                    sent.append((item, c.sent.later(item.outbox_id)))
            except Exception as exc:  # one item's store error must not strand the rest of the batch
                log.error("outbox.item_failed", error=describe_error(exc), exc_info=exc)
        self._marked(sent)
        c.gather(len(items), limit)
        return len(items)

    def _marked(self, sent: list[tuple[OutboxItem, Future[None]]]) -> None:
        """Each accepted Result's commit as sent awaited, counted and logged.

        Each is marked sent as soon as the NSW accepted it (loops/recorder.py: one commit for
        whatever the worker's threads marked meanwhile). Until then it stays leased: a crash in
        between sends it again, and the NSW answers a repeated messageId 99 as a duplicate. A
        claim never holds two Results of one dossier (the later waits for the earlier to be
        sent), so their order is kept.
        """
        if sent:
            self.context.sent.flush()
        for item, future in sent:
            error = outcome(future)
            if error is not None:
                log.error("outbox.item_failed", outbox_id=item.outbox_id, error=describe_error(error),
                          exc_info=error)  # fmt: skip
                continue
            self.context.metrics.outcomes.labels(loop=self.name, outcome="sent").inc()
            log.info("outbox.sent", outbox_id=item.outbox_id, dossier_id=item.dossier_id,
                     message_id=item.message_id, function=item.function)  # fmt: skip

    def process(self, item: OutboxItem) -> bool:
        """Send one Result; True when the NSW accepted it (the caller marks it sent)."""
        bound = log.bind(outbox_id=item.outbox_id, dossier_id=item.dossier_id, message_id=item.message_id,
                         function=item.function)  # fmt: skip
        entry = _Entry(self.context.store, item)
        answer = self.delivery.send(entry, lambda: self.nsw.send(item.payload), bound)
        if answer is None:
            return False  # deferred or dead-lettered
        if answer.accepted:
            return True
        reason = "; ".join(f"{r.code}: {r.reason}" for r in answer.rejects) or "refused without a reason"
        codes = ",".join(r.code for r in answer.rejects)
        self.delivery.give_up(entry, f"NSW answered 22: {reason}", bound, event="refused", error_code=codes)
        return False
