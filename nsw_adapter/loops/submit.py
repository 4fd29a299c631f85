"""READY dossiers -> translation -> SubmitDeclaration -> receipt and its 21 Result.

The submission and its ClientMessageId are committed (begin_submission) before the portal is
called, so a retry after a crash sends the same ClientMessageId and gets the portal's first
receipt back (Duplicate), never a second declaration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from nsw_adapter.delivery.breaker import BreakerOpenError
from nsw_adapter.delivery.retry import call_with_retry, next_attempt_delay
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import PortalLoop, budget_spent
from nsw_adapter.results import ResultContext, accepted, rejected_locally, station_of_documents
from nsw_adapter.store import ClaimedDossier, DossierChanged, ReceiptRecord, SubmissionStart

log = get_logger("nsw_adapter.submit")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Submission:
    """A claimed dossier translated and ready to be stored and sent."""

    dossier: ClaimedDossier
    start: SubmissionStart
    logger: Any  # bound to the dossier's ids


def dead_letter_reason(exc: BaseException) -> str:
    """The reason kept with a dead letter: our description plus the remote detail (not logged)."""
    detail = getattr(exc, "detail", "")
    return f"{exc}: {detail}" if detail else str(exc) or type(exc).__name__


class SubmitLoop(PortalLoop):
    """One thread's submission loop (owns its portal client).

    A claim's dossiers share two transactions: their submissions are stored together before
    the first call, and their receipts recorded together after the last (on SQLite every commit
    passes through the one write lock). A crash in between leaves them SUBMITTING with their
    ClientMessageIds, and the retry gets the portal's duplicate receipts.
    """

    name = "submit"

    def run_once(self) -> int:
        """Claim a batch of READY dossiers and take each one as far as it goes; returns how many."""
        c = self.context
        limit = c.claim_limit(c.portal_breaker, c.claim_batch)
        if limit == 0:
            return 0
        claimed = c.store.claim_ready(c.worker_id, limit, c.lease_seconds)
        self._process_batch(claimed)
        c.gather(len(claimed), limit)
        return len(claimed)

    def process(self, dossier: ClaimedDossier) -> None:
        """Take one claimed dossier as far as it goes."""
        self._process_batch([dossier])

    def _process_batch(self, claimed: Sequence[ClaimedDossier]) -> None:
        c = self.context
        ready: list[_Submission] = []
        for dossier in claimed:
            if c.stopping():
                return  # released by the worker on shutdown
            # One item's failure (a store error, a bug) must not strand the rest of the batch.
            logger = self._bound(dossier)
            submission = self._guarded(logger, partial(self._prepare, dossier, logger))
            if submission is not None:
                ready.append(submission)
        receipts: list[tuple[_Submission, ReceiptRecord]] = []
        for submission in self._begin(ready):
            if c.stopping():
                break  # SUBMITTING and released: the next claim sends the same ClientMessageId
            receipt = self._guarded(submission.logger, partial(self._submit, submission))
            if receipt is not None:
                receipts.append((submission, receipt))
        self._record(receipts)

    def _bound(self, dossier: ClaimedDossier) -> Any:
        return log.bind(
            dossier_id=dossier.dossier_id,
            reference=dossier.reference,
            client_message_id=dossier.client_message_id,
            version=dossier.version,
        )

    def _guarded(self, logger: Any, step: Callable[[], _T]) -> _T | None:
        """One dossier's step; its DossierChanged or failure reported, not raised."""
        try:
            return step()
        except Exception as exc:
            self._report(logger, exc, exc_info=exc)
        return None

    def _report(self, logger: Any, error: Exception | None, **extra: Any) -> bool:
        """True when a dossier's step went through (`error` None); else its outcome logged."""
        if isinstance(error, DossierChanged):
            # Amended, cancelled or lease lost under us: nothing was written; the new state rules.
            self.context.metrics.outcomes.labels(loop=self.name, outcome="changed").inc()
            logger.info("submit.dossier_changed")
        elif error is not None:
            logger.error("submit.item_failed", error=describe_error(error), **extra)
        return error is None

    def _prepare(self, dossier: ClaimedDossier, logger: Any) -> _Submission | None:
        """The dossier's submission, or None when it ends here (dead letter, local rejection)."""
        c = self.context
        now = c.clock()
        if budget_spent(
            dossier.first_attempt_at, dossier.attempts, c.portal_budget_seconds, c.portal_policy, now
        ):
            c.store.dead_letter(dossier.dossier_id, "portal retry budget exhausted")
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.dead_letter", attempts=dossier.attempts, error="retry budget exhausted")
            return None
        try:
            translation = c.translator(
                dossier.documents, client_message_id=dossier.client_message_id, supersedes=dossier.supersedes
            )
        except Exception as exc:  # a bug in translation must not loop forever on one dossier
            c.store.dead_letter(dossier.dossier_id, f"translation failed: {type(exc).__name__}")
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.translation_failed", error=describe_error(exc), exc_info=exc)
            return None
        submission = translation.submission
        if submission is None or translation.lineage is None:
            context = ResultContext(
                dossier.reference,
                dossier.document_type,
                dossier.general_declaration_message_id,
                station=station_of_documents(dossier.documents),
            )
            result = rejected_locally(context, translation.problems)
            c.store.reject_locally(dossier.dossier_id, translation.problems, result, version=dossier.version)
            c.metrics.outcomes.labels(loop=self.name, outcome="rejected_locally").inc()
            logger.info(
                "submit.rejected_locally",
                problems=sorted({p.code for p in translation.problems}),
                message_id=result.message_id,
            )
            return None
        start = SubmissionStart(
            dossier.dossier_id, submission, translation.lineage.to_bytes(), dossier.version
        )
        return _Submission(dossier, start, logger)

    def _begin(self, ready: Sequence[_Submission]) -> list[_Submission]:
        """Store the batch's submissions in one transaction; those that may now be sent."""
        if not ready:
            return []
        try:
            errors = self.context.store.begin_submissions([s.start for s in ready])
        except Exception as exc:  # the store failed: the leases run out and the batch is tried again
            log.error("submit.begin_failed", count=len(ready), error=describe_error(exc), exc_info=exc)
            return []
        return [s for s, error in zip(ready, errors, strict=True) if self._report(s.logger, error)]

    def _submit(self, submission: _Submission) -> ReceiptRecord | None:
        """SubmitDeclaration with retries: the receipt to record, or None (dead letter, deferred)."""
        c = self.context
        dossier, logger = submission.dossier, submission.logger
        started = time.perf_counter()
        try:
            receipt = call_with_retry(
                lambda: self.portal.submit(submission.start.submission),
                policy=c.portal_policy,
                breaker=c.portal_breaker,
                on_retry=lambda exc, n: self._on_retry(logger, exc, n),
            )
        except PermanentError as exc:
            c.store.dead_letter(dossier.dossier_id, dead_letter_reason(exc))
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.dead_letter", error=describe_error(exc), error_code=exc.code)
            return None
        except TransientError as exc:
            self._defer(dossier, exc, logger)
            return None
        finally:
            c.metrics.latency.labels(operation="submit").observe(time.perf_counter() - started)
        result = accepted(ResultContext(dossier.reference, dossier.document_type,
                                        dossier.general_declaration_message_id), receipt)  # fmt: skip
        # The portal decides after its officers have looked: the first poll after one interval.
        first_poll = c.later(c.poll_interval_seconds)
        return ReceiptRecord(dossier.dossier_id, receipt.number, receipt.duplicate, result, first_poll)

    def _record(self, receipts: Sequence[tuple[_Submission, ReceiptRecord]]) -> None:
        """Record the batch's receipts (and enqueue their 21 Results) in one transaction."""
        if not receipts:
            return
        c = self.context
        try:
            errors = c.store.record_receipts([receipt for _, receipt in receipts])
        except Exception as exc:  # SUBMITTING until the leases run out; the retry is a duplicate
            log.error("submit.record_failed", count=len(receipts), error=describe_error(exc), exc_info=exc)
            return
        for (submission, receipt), error in zip(receipts, errors, strict=True):
            logger = submission.logger
            if not self._report(logger, error):
                continue
            c.metrics.outcomes.labels(
                loop=self.name, outcome="duplicate" if receipt.duplicate else "submitted"
            ).inc()
            logger.info(
                "submit.receipt",
                receipt_number=receipt.receipt_number,
                duplicate=receipt.duplicate,
                message_id=receipt.result.message_id,
            )

    def _on_retry(self, logger: Any, exc: BaseException, attempt: int) -> None:
        self.context.metrics.retries.labels(operation="submit").inc()
        logger.info("submit.retry", attempt=attempt, error=describe_error(exc))

    def _defer(self, dossier: ClaimedDossier, exc: TransientError, logger: Any) -> None:
        c = self.context
        delay = next_attempt_delay(c.portal_policy, dossier.attempts, c.portal_breaker)
        c.store.defer(dossier.dossier_id, dead_letter_reason(exc), c.later(delay))
        c.metrics.deferred.labels(operation="submit").inc()
        event = "submit.deferred_breaker_open" if isinstance(exc, BreakerOpenError) else "submit.deferred"
        logger.warning(event, delay=round(delay, 2), attempts=dossier.attempts + 1, error=describe_error(exc))
