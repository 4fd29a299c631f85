"""SUBMITTED dossiers -> GetProcessingStatus in batches of up to 100 -> decisions and their Results."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from nsw_adapter.clients.portal import PortalState, Status
from nsw_adapter.errors import PermanentError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.loops.delivery import PortalLoop
from nsw_adapter.results import ResultContext, decided, is_supplement_expiry, supplement_requested
from nsw_adapter.store import DossierChanged, DossierState, PendingPoll, PollOutcome, SupplementRecord
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.poll")

_FINAL = {
    PortalState.CLEARED: DossierState.CLEARED,
    PortalState.REJECTED: DossierState.REJECTED,
    PortalState.CANCELLED: DossierState.CANCELLED,
}


class PollLoop(PortalLoop):
    """Asks the portal for decisions; one batch call for up to `poll_batch` dossiers."""

    name = "poll"
    wakes_on: Topic | None = None  # polls fall due by the clock, not by a ring
    rings: tuple[Topic, ...] = (Topic.OUTBOX, Topic.EVENTS)
    paced = False  # one call per batch: a batch costs what one dossier does

    def __init__(self, context: LoopContext) -> None:
        # Polls have no budget: a dossier is asked about until decided. A failed call is asked
        # again after a poll interval, not sooner.
        super().__init__(context, budget=False, backoff=lambda _attempts: self._interval())
        # PENDING answers per dossier, for the backoff (in memory: a restart starts it over).
        self._pending: dict[int, int] = {}
        self._calls = CallBudget(context.status_calls_per_minute, per_seconds=60.0)

    def _interval(self, answers: int = 0) -> float:
        """Seconds to the next poll: the interval, doubled per PENDING answer up to the maximum,
        with jitter so a burst of receipts is not polled in lockstep."""
        c = self.context
        delay = min(c.poll_max_interval_seconds, c.poll_interval_seconds * 2.0 ** max(0, answers - 1))
        return delay * random.uniform(0.8, 1.2)

    def _next_poll(self, dossier_id: int) -> datetime:
        """When to ask again about a dossier the portal has not decided yet."""
        answers = self._pending[dossier_id] = self._pending.get(dossier_id, 0) + 1
        return self.context.later(self._interval(answers))

    def batch(self) -> int:
        return min(100, self.context.poll_batch)

    def work(self, limit: int) -> int:
        c = self.context
        if not self._calls.available():  # the minute's calls are spent: the due polls wait
            return 0
        polls = c.store.claim_polls(c.worker_id, limit, c.lease_seconds, c.clock())
        if not polls:
            return 0
        self._calls.spend()
        self._poll(polls)
        c.gather(len(polls), limit)
        return len(polls)

    def _poll(self, polls: Sequence[PendingPoll]) -> None:
        numbers = [p.receipt_number for p in polls]
        batch = _Batch(self, polls)
        logger = log.bind(count=len(polls))
        statuses = self.delivery.send(
            batch, lambda: self.portal.statuses(numbers), logger, regroup=batch.regroup
        )
        if statuses is None:
            return  # deferred, dead-lettered, or asked again one at a time
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
        self.record(answered, outcomes)

    def record(self, polls: Sequence[PendingPoll], outcomes: Sequence[PollOutcome]) -> None:
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
            elif outcome.supplement is not None and outcome.result is not None:
                log.info(
                    "poll.supplement_requested",
                    dossier_id=poll.dossier_id,
                    reference=poll.reference,
                    receipt_number=poll.receipt_number,
                    request_number=outcome.supplement.request_number,
                    codes=",".join(outcome.supplement.codes),
                    respond_by=outcome.supplement.respond_by.isoformat(),
                    message_id=outcome.result.message_id,
                )
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

    def safely(self, poll: PendingPoll, action: Callable[[], object]) -> None:
        """One dossier's store action; its DossierChanged or failure logged, not raised."""
        try:
            action()
        except DossierChanged:
            log.info("poll.dossier_changed", dossier_id=poll.dossier_id, reference=poll.reference)
        except Exception as exc:  # one dossier's store error must not strand the rest of the batch
            log.error("poll.item_failed", dossier_id=poll.dossier_id, error=describe_error(exc), exc_info=exc)

    def _outcome(self, poll: PendingPoll, status: Status | None) -> PollOutcome | None:
        """What to record of one status: pending again, a decision and its Result, or None (superseded)."""
        c = self.context
        if status is not None and status.state is PortalState.UNKNOWN:
            return self._unknown(poll, status)
        if status is not None and status.state is PortalState.SUPPLEMENT_REQUESTED:
            return self._requested(poll, status)
        if status is None or status.state is PortalState.PENDING:
            return PollOutcome(poll.dossier_id, next_poll_at=self._next_poll(poll.dossier_id))
        self._pending.pop(poll.dossier_id, None)
        if status.state is PortalState.SUPERSEDED:
            # A later version holds a new receipt; the store moved on and this poll is stale.
            log.info("poll.superseded", dossier_id=poll.dossier_id, reference=poll.reference)
            return None
        context = ResultContext(poll.reference, poll.document_type, poll.general_declaration_message_id)
        locate = c.locator(poll.lineage) if status.state is PortalState.REJECTED and poll.lineage else None
        result = decided(context, status, locate, language=c.agent_language)
        if result is None:  # pragma: no cover - every final state has a Result
            return None
        return PollOutcome(
            poll.dossier_id,
            decision=_FINAL[status.state],
            result=result,
            expired=is_supplement_expiry(status),
        )

    def _requested(self, poll: PendingPoll, status: Status) -> PollOutcome:
        """SUPPLEMENT_REQUESTED: not final, polled on; the first poll that shows a request builds
        its 25 (one per RequestNumber: the store keeps the first and drops any other)."""
        c = self.context
        next_poll_at = self._next_poll(poll.dossier_id)
        request = status.supplement
        if request is None:  # the contract says it is there; without it there is nothing to tell
            log.warning("poll.request_without_details", dossier_id=poll.dossier_id, reference=poll.reference)
            return PollOutcome(poll.dossier_id, next_poll_at=next_poll_at)
        if request.request_number == poll.supplement_request:
            return PollOutcome(poll.dossier_id, next_poll_at=next_poll_at)  # announced already
        context = ResultContext(poll.reference, poll.document_type, poll.general_declaration_message_id)
        locate = c.locator(poll.lineage) if poll.lineage else None
        result = supplement_requested(context, status, locate, language=c.agent_language)
        record = SupplementRecord(
            receipt_number=status.receipt_number,
            request_number=request.request_number,
            requested_at=request.requested_at,
            respond_by=request.respond_by,
            codes=tuple(item.code for item in request.items),
        )
        return PollOutcome(poll.dossier_id, next_poll_at=next_poll_at, result=result, supplement=record)

    def _unknown(self, poll: PendingPoll, status: Status) -> PollOutcome:
        """A state this adapter's schema copy does not know (a newer portal): not final as far as
        we can tell, so the dossier is polled on, never dead-lettered for it; port IT is told
        (a warning, a count, and the state on the dossier for `status` and `show`)."""
        state = portal_state_label(status.raw_state)
        self.context.metrics.unknown_portal_states.labels(state=state).inc()
        log.warning(
            "poll.unknown_portal_state",
            dossier_id=poll.dossier_id,
            reference=poll.reference,
            receipt_number=poll.receipt_number,
            portal_state=state,
        )
        return PollOutcome(
            poll.dossier_id, next_poll_at=self._next_poll(poll.dossier_id), unknown_state=state
        )


def portal_state_label(raw: str | None) -> str:
    """A portal's state word as we keep and show it: up to 40 of A-Z, 0-9 and _, else OTHER
    (it becomes a metric label and a column: nothing else of the portal's text gets there)."""
    word = (raw or "").strip()
    return word if _STATE_WORD.fullmatch(word) else "OTHER"


_STATE_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


class _Batch:
    """The dossiers of one GetProcessingStatus call, delivered together: a failed call defers or
    dead-letters each of them."""

    def __init__(self, loop: PollLoop, polls: Sequence[PendingPoll]) -> None:
        self.loop = loop
        self.polls = polls
        self.count = len(polls)
        self.attempts = 0  # polls keep no count: the channel asks again after a poll interval
        self.first_attempt_at: datetime | None = None

    def dead_letter(self, reason: str) -> None:
        store = self.loop.context.store
        for poll in self.polls:
            self.loop.safely(poll, partial(store.dead_letter, poll.dossier_id, reason))

    def defer(self, reason: str, retry_at: datetime) -> None:
        self.loop.record(self.polls, [PollOutcome(p.dossier_id, next_poll_at=retry_at) for p in self.polls])

    def pause(self, reason: str, retry_at: datetime) -> None:
        self.defer(reason, retry_at)  # polls keep no attempts and have no budget

    def regroup(self, error: PermanentError) -> bool:
        """One unknown receipt fails the whole call: find it by asking one at a time."""
        if self.count == 1 or error.code != "NOT_FOUND":
            return False
        for poll in self.polls:
            self.loop._poll([poll])
        return True


class CallBudget:
    """At most `calls` per `per_seconds`, spent one at a time and refilled smoothly (a token
    bucket): a burst of due polls is spread over the minute instead of hitting the portal at once."""

    def __init__(
        self, calls: int, *, per_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = float(calls)
        self._rate = calls / per_seconds
        self._clock = clock
        self._tokens = float(calls)
        self._at = clock()

    def available(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        return self._tokens >= 1.0

    def spend(self) -> None:
        self._tokens -= 1.0
