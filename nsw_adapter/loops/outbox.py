"""Results to the NSW through sendAndGetMessage, each with the messageId it was enqueued with.

99 (also the NSW's answer to a repeated messageId) marks it sent; a 22 is the NSW refusing
it for good (dead letter with the NSW's reason); transport trouble is retried, then deferred
through the store until the budget since the first attempt runs out.
"""

from __future__ import annotations

import time
from typing import Any

from nsw_adapter.clients.nsw import NswClient
from nsw_adapter.delivery.retry import call_with_retry, next_attempt_delay
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import LoopContext, budget_spent
from nsw_adapter.loops.submit import dead_letter_reason
from nsw_adapter.store import OutboxItem

log = get_logger("nsw_adapter.outbox")


class OutboxLoop:
    """One thread's sender (owns its NSW client)."""

    name = "outbox"

    def __init__(self, context: LoopContext) -> None:
        self.context = context
        self._nsw: NswClient | None = None

    @property
    def nsw(self) -> NswClient:
        if self._nsw is None:
            self._nsw = self.context.nsw_factory()
        return self._nsw

    def close(self) -> None:
        if self._nsw is not None:
            self._nsw.close()

    def run_once(self) -> int:
        c = self.context
        limit = c.claim_limit(c.nsw_breaker, c.claim_batch)
        if limit == 0:
            return 0
        items = c.store.claim_outbox(c.worker_id, limit, c.lease_seconds, c.clock())
        sent: list[OutboxItem] = []
        for item in items:
            if c.stopping():
                break  # released by the worker on shutdown
            try:
                if self.process(item):
                    sent.append(item)
            except Exception as exc:  # one item's store error must not strand the rest of the batch
                log.error("outbox.item_failed", error=describe_error(exc), exc_info=exc)
        self._mark_sent(sent)
        c.gather(len(items), limit)
        return len(items)

    def _mark_sent(self, sent: list[OutboxItem]) -> None:
        """Mark the batch's accepted Results sent in one transaction (one commit, not one each).

        Until then they stay leased: a crash in between sends them again, and the NSW answers a
        repeated messageId 99 as a duplicate. A claim never holds two Results of one dossier
        (the later waits for the earlier to be sent), so their order is kept.
        """
        if not sent:
            return
        self.context.store.mark_sent(*(item.outbox_id for item in sent))
        self.context.metrics.outcomes.labels(loop=self.name, outcome="sent").inc(len(sent))
        for item in sent:
            log.info("outbox.sent", outbox_id=item.outbox_id, dossier_id=item.dossier_id,
                     message_id=item.message_id, function=item.function)  # fmt: skip

    def process(self, item: OutboxItem) -> bool:
        """Send one Result; True when the NSW accepted it (the caller marks it sent)."""
        c = self.context
        bound = log.bind(outbox_id=item.outbox_id, dossier_id=item.dossier_id, message_id=item.message_id,
                         function=item.function)  # fmt: skip
        if budget_spent(item.first_attempt_at, item.attempts, c.nsw_budget_seconds, c.nsw_policy, c.clock()):
            c.store.dead_letter_outbox(item.outbox_id, "NSW retry budget exhausted")
            c.metrics.dead_lettered.labels(kind="outbox").inc()
            bound.error("outbox.dead_letter", error="retry budget exhausted", attempts=item.attempts)
            return False
        started = time.perf_counter()
        try:
            answer = call_with_retry(
                lambda: self.nsw.send(item.payload),
                policy=c.nsw_policy,
                breaker=c.nsw_breaker,
                on_retry=lambda exc, n: self._on_retry(bound, exc, n),
            )
        except PermanentError as exc:
            c.store.dead_letter_outbox(item.outbox_id, dead_letter_reason(exc))
            c.metrics.dead_lettered.labels(kind="outbox").inc()
            bound.error("outbox.dead_letter", error=describe_error(exc))
            return False
        except TransientError as exc:
            delay = next_attempt_delay(c.nsw_policy, item.attempts, c.nsw_breaker)
            c.store.defer_outbox(item.outbox_id, dead_letter_reason(exc), c.later(delay))
            c.metrics.deferred.labels(operation="send").inc()
            bound.warning("outbox.deferred", delay=round(delay, 2), error=describe_error(exc))
            return False
        finally:
            c.metrics.latency.labels(operation="send").observe(time.perf_counter() - started)
        if answer.accepted:
            return True
        reason = "; ".join(f"{r.code}: {r.reason}" for r in answer.rejects) or "refused without a reason"
        c.store.dead_letter_outbox(item.outbox_id, f"NSW answered 22: {reason}")
        c.metrics.dead_lettered.labels(kind="outbox").inc()
        bound.error("outbox.refused", error_code=",".join(r.code for r in answer.rejects))
        return False

    def _on_retry(self, bound: Any, exc: BaseException, attempt: int) -> None:
        self.context.metrics.retries.labels(operation="send").inc()
        bound.info("outbox.retry", attempt=attempt, error=describe_error(exc))
