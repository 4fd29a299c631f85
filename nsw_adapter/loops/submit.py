"""READY dossiers -> translation -> SubmitDeclaration -> receipt and its 21 Result.

The submission and its ClientMessageId are committed (begin_submission) before the portal is
called, so a retry after a crash sends the same ClientMessageId and gets the portal's first
receipt back (Duplicate), never a second declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.delivery import DossierDelivery, PortalLoop
from nsw_adapter.loops.recorder import outcome
from nsw_adapter.results import ResultContext, accepted, rejected_locally, station_of_documents
from nsw_adapter.store import ClaimedDossier, DossierChanged, ReceiptRecord, SubmissionStart
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.submit")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Submission:
    """A claimed dossier translated and ready to be stored and sent."""

    dossier: ClaimedDossier
    start: SubmissionStart
    logger: Any  # bound to the dossier's ids


class SubmitLoop(PortalLoop):
    """One thread's submission loop (owns its portal client).

    A claim's submissions are stored together (one transaction) before the first call; each
    receipt is committed as soon as it is in hand (loops/recorder.py: one commit for whatever the
    worker's threads recorded meanwhile), not after the claim's last call. A crash leaves the
    dossiers not yet answered SUBMITTING with their ClientMessageIds, and the retry gets the
    portal's duplicate receipts.
    """

    name = "submit"
    wakes_on: Topic | None = Topic.SUBMIT
    # receipts (21) and local rejections (22) wait for the NSW, and their events for the subscribers
    rings: tuple[Topic, ...] = (Topic.OUTBOX, Topic.EVENTS)

    def work(self, limit: int) -> int:
        """Claim a batch of READY dossiers and take each one as far as it goes; returns how many."""
        c = self.context
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
        recorded: list[tuple[_Submission, ReceiptRecord, Future[None]]] = []
        for submission in self._begin(ready):
            if c.stopping():
                break  # SUBMITTING and released: the next claim sends the same ClientMessageId
            receipt = self._guarded(submission.logger, partial(self._submit, submission))
            if receipt is not None:  # committed now, while the next dossier is sent
                recorded.append((submission, receipt, c.receipts.later(receipt)))
        self._recorded(recorded)

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
        if self.delivery.spent(self._pending(dossier), logger):
            return None
        try:
            translation = c.translator(
                dossier.documents, client_message_id=dossier.client_message_id, supersedes=dossier.supersedes
            )
        except Exception as exc:  # a bug in translation must not loop forever on one dossier
            reason = f"translation failed: {type(exc).__name__}"
            self.delivery.give_up(self._pending(dossier), reason, logger, event="translation_failed",
                                  error=describe_error(exc), exc_info=exc)  # fmt: skip
            return None
        submission = translation.submission
        if submission is None or translation.lineage is None:
            context = ResultContext(
                dossier.reference,
                dossier.document_type,
                dossier.general_declaration_message_id,
                station=station_of_documents(dossier.documents),
            )
            result = rejected_locally(context, translation.problems, language=c.agent_language)
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

    def _pending(self, dossier: ClaimedDossier) -> DossierDelivery:
        return DossierDelivery(
            self.context.store, dossier.dossier_id, dossier.attempts, dossier.first_attempt_at
        )

    def _submit(self, submission: _Submission) -> ReceiptRecord | None:
        """SubmitDeclaration (loops/delivery.py): the receipt to record, or None (dead letter, deferred)."""
        c = self.context
        dossier, logger = submission.dossier, submission.logger
        call = partial(self.portal.submit, submission.start.submission)
        receipt = self.delivery.send(self._pending(dossier), call, logger, budget_checked=True)
        if receipt is None:
            return None
        result = accepted(ResultContext(dossier.reference, dossier.document_type,
                                        dossier.general_declaration_message_id), receipt)  # fmt: skip
        # The portal decides after its officers have looked: the first poll after one interval.
        first_poll = c.later(c.poll_interval_seconds)
        return ReceiptRecord(dossier.dossier_id, receipt.number, receipt.duplicate, result, first_poll)

    def _recorded(self, recorded: Sequence[tuple[_Submission, ReceiptRecord, Future[None]]]) -> None:
        """Each receipt's commit awaited, and its outcome counted and logged."""
        if recorded:
            self.context.receipts.flush()
        for submission, receipt, future in recorded:
            logger = submission.logger
            error = outcome(future)
            if error is not None and not isinstance(error, DossierChanged):
                # SUBMITTING until the lease runs out; the retry is a duplicate
                logger.error("submit.record_failed", error=describe_error(error), exc_info=error)
                continue
            if not self._report(logger, error):
                continue
            self.context.metrics.outcomes.labels(
                loop=self.name, outcome="duplicate" if receipt.duplicate else "submitted"
            ).inc()
            logger.info(
                "submit.receipt",
                receipt_number=receipt.receipt_number,
                duplicate=receipt.duplicate,
                message_id=receipt.result.message_id,
            )
