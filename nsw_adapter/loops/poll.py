"""SUBMITTED dossiers -> GetProcessingStatus in batches of up to 100 -> decisions and their Results."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from nsw_adapter.clients.portal import PortalState, Status
from nsw_adapter.delivery.retry import call_with_retry
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import LoopContext, PortalLoop
from nsw_adapter.loops.submit import dead_letter_reason
from nsw_adapter.results import ResultContext, decided
from nsw_adapter.store import DossierChanged, DossierState, PendingPoll, PollOutcome

log = get_logger("nsw_adapter.poll")

_FINAL = {
    PortalState.CLEARED: DossierState.CLEARED,
    PortalState.REJECTED: DossierState.REJECTED,
    PortalState.CANCELLED: DossierState.CANCELLED,
}


class PollLoop(PortalLoop):
    """Asks the portal for decisions; one batch call for up to `poll_batch` dossiers."""

    name = "poll"

    def __init__(self, context: LoopContext) -> None:
        super().__init__(context)
        # PENDING answers per dossier, for the backoff (in memory: a restart starts it over).
        self._pending: dict[int, int] = {}

    def _next_poll(self, dossier_id: int | None = None) -> Any:
        """Exponential backoff per dossier (x1.5 per PENDING answer, capped), with jitter so a burst
        of receipts is not polled in lockstep."""
        c = self.context
        answers = 0
        if dossier_id is not None:
            answers = self._pending[dossier_id] = self._pending.get(dossier_id, 0) + 1
        delay = min(c.poll_max_interval_seconds, c.poll_interval_seconds * 1.5 ** max(0, answers - 1))
        return c.later(delay * random.uniform(0.8, 1.2))

    def run_once(self) -> int:
        c = self.context
        limit = c.claim_limit(c.portal_breaker, min(100, c.poll_batch))
        if limit == 0:
            return 0
        polls = c.store.claim_polls(c.worker_id, limit, c.lease_seconds, c.clock())
        if not polls:
            return 0
        self._poll(polls)
        c.gather(len(polls), limit)
        return len(polls)

    def _ask(self, polls: Sequence[PendingPoll]) -> list[Status]:
        c = self.context
        numbers = [p.receipt_number for p in polls]
        started = time.perf_counter()
        try:
            return call_with_retry(
                lambda: self.portal.statuses(numbers),
                policy=c.portal_policy,
                breaker=c.portal_breaker,
                on_retry=lambda _exc, _n: c.metrics.retries.labels(operation="poll").inc(),
            )
        finally:
            c.metrics.latency.labels(operation="poll").observe(time.perf_counter() - started)

    def _poll(self, polls: Sequence[PendingPoll]) -> None:
        c = self.context
        try:
            statuses = self._ask(polls)
        except TransientError as exc:
            c.metrics.deferred.labels(operation="poll").inc()
            log.warning("poll.deferred", count=len(polls), error=describe_error(exc))
            self._record(polls, [PollOutcome(p.dossier_id, next_poll_at=self._next_poll()) for p in polls])
            return
        except PermanentError as exc:
            if len(polls) > 1 and exc.code == "NOT_FOUND":
                # One unknown receipt fails the whole call: find it by asking one at a time.
                for poll in polls:
                    self._poll([poll])
                return
            reason = dead_letter_reason(exc)
            for poll in polls:
                self._safely(poll, lambda p=poll: c.store.dead_letter(p.dossier_id, reason))
                c.metrics.dead_lettered.labels(kind="dossier").inc()
                log.error(
                    "poll.dead_letter",
                    dossier_id=poll.dossier_id,
                    reference=poll.reference,
                    receipt_number=poll.receipt_number,
                    error=describe_error(exc),
                )
            return
        by_number = {s.receipt_number: s for s in statuses}
        answered: list[PendingPoll] = []
        outcomes: list[PollOutcome] = []
        for poll in polls:
            try:
                outcome = self._outcome(poll, by_number.get(poll.receipt_number))
            except Exception as exc:  # one dossier's Result failing to build must not strand the rest
                log.error(
                    "poll.item_failed", dossier_id=poll.dossier_id, error=describe_error(exc), exc_info=exc
                )
                continue
            if outcome is not None:
                answered.append(poll)
                outcomes.append(outcome)
        self._record(answered, outcomes)

    def _record(self, polls: Sequence[PendingPoll], outcomes: Sequence[PollOutcome]) -> None:
        """Record a batch's outcomes in one transaction; then log and count each."""
        if not outcomes:
            return
        c = self.context
        try:
            errors = c.store.record_polls(outcomes)
        except Exception as exc:  # the store failed: the leases run out and the batch is polled again
            log.error("poll.record_failed", count=len(outcomes), error=describe_error(exc), exc_info=exc)
            return
        for poll, outcome, error in zip(polls, outcomes, errors, strict=True):
            if isinstance(error, DossierChanged):
                log.info("poll.dossier_changed", dossier_id=poll.dossier_id, reference=poll.reference)
            elif error is not None:
                log.error("poll.item_failed", dossier_id=poll.dossier_id, error=describe_error(error))
            elif outcome.decision is not None and outcome.result is not None:
                c.metrics.outcomes.labels(loop=self.name, outcome=outcome.decision.value).inc()
                log.info(
                    "poll.decision",
                    dossier_id=poll.dossier_id,
                    reference=poll.reference,
                    receipt_number=poll.receipt_number,
                    portal_state=outcome.decision.value.upper(),
                    message_id=outcome.result.message_id,
                )

    def _safely(self, poll: PendingPoll, action: Any) -> None:
        try:
            action()
        except DossierChanged:
            log.info("poll.dossier_changed", dossier_id=poll.dossier_id, reference=poll.reference)
        except Exception as exc:  # one dossier's store error must not strand the rest of the batch
            log.error("poll.item_failed", dossier_id=poll.dossier_id, error=describe_error(exc), exc_info=exc)

    def _outcome(self, poll: PendingPoll, status: Status | None) -> PollOutcome | None:
        """What to record of one status: pending again, a decision and its Result, or None (superseded)."""
        c = self.context
        if status is None or status.state is PortalState.PENDING:
            return PollOutcome(poll.dossier_id, next_poll_at=self._next_poll(poll.dossier_id))
        self._pending.pop(poll.dossier_id, None)
        if status.state is PortalState.SUPERSEDED:
            # A later version holds a new receipt; the store moved on and this poll is stale.
            log.info("poll.superseded", dossier_id=poll.dossier_id, reference=poll.reference)
            return None
        context = ResultContext(poll.reference, poll.document_type, poll.general_declaration_message_id)
        locate = c.locator(poll.lineage) if status.state is PortalState.REJECTED and poll.lineage else None
        result = decided(context, status, locate)
        if result is None:  # pragma: no cover - every final state has a Result
            return None
        return PollOutcome(poll.dossier_id, decision=_FINAL[status.state], result=result)
