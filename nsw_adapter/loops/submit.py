"""READY dossiers -> translation -> SubmitDeclaration -> receipt and its 21 Result.

The submission and its ClientMessageId are committed (begin_submission) before the portal is
called, so a retry after a crash sends the same ClientMessageId and gets the portal's first
receipt back (Duplicate), never a second declaration.
"""

from __future__ import annotations

import time
from typing import Any

from nsw_adapter.delivery.breaker import BreakerOpenError
from nsw_adapter.delivery.retry import call_with_retry, next_attempt_delay
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import PortalLoop, budget_spent
from nsw_adapter.results import ResultContext, accepted, rejected_locally, station_of_documents
from nsw_adapter.store.base import ClaimedDossier, DossierChanged

log = get_logger("nsw_adapter.submit")


def dead_letter_reason(exc: BaseException) -> str:
    """The reason kept with a dead letter: our description plus the remote detail (not logged)."""
    detail = getattr(exc, "detail", "")
    return f"{exc}: {detail}" if detail else str(exc) or type(exc).__name__


class SubmitLoop(PortalLoop):
    """One thread's submission loop (owns its portal client)."""

    name = "submit"

    def run_once(self) -> int:
        """Claim a batch of READY dossiers and take each one as far as it goes; returns how many."""
        c = self.context
        limit = c.claim_limit(c.portal_breaker, c.claim_batch)
        if limit == 0:
            return 0
        claimed = c.store.claim_ready(c.worker_id, limit, c.lease_seconds)
        for dossier in claimed:
            if c.stopping():
                break  # released by the worker on shutdown
            try:
                self.process(dossier)
            except Exception as exc:  # one item's store error must not strand the rest of the batch
                log.error("submit.item_failed", error=describe_error(exc), exc_info=exc)
        return len(claimed)

    def process(self, dossier: ClaimedDossier) -> None:
        c = self.context
        bound = log.bind(
            dossier_id=dossier.dossier_id,
            reference=dossier.reference,
            client_message_id=dossier.client_message_id,
            version=dossier.version,
        )
        try:
            self._process(dossier, bound)
        except DossierChanged:
            # Amended, cancelled or lease lost under us: nothing was written; the new state rules.
            c.metrics.outcomes.labels(loop=self.name, outcome="changed").inc()
            bound.info("submit.dossier_changed")

    def _process(self, dossier: ClaimedDossier, bound: Any) -> None:
        c = self.context
        logger = bound
        now = c.clock()
        if budget_spent(
            dossier.first_attempt_at, dossier.attempts, c.portal_budget_seconds, c.portal_policy, now
        ):
            c.store.dead_letter(dossier.dossier_id, "portal retry budget exhausted")
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.dead_letter", attempts=dossier.attempts, error="retry budget exhausted")
            return
        try:
            translation = c.translator(
                dossier.documents, client_message_id=dossier.client_message_id, supersedes=dossier.supersedes
            )
        except Exception as exc:  # a bug in translation must not loop forever on one dossier
            c.store.dead_letter(dossier.dossier_id, f"translation failed: {type(exc).__name__}")
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.translation_failed", error=describe_error(exc), exc_info=exc)
            return
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
            return
        c.store.begin_submission(
            dossier.dossier_id, submission, translation.lineage.to_bytes(), version=dossier.version
        )
        started = time.perf_counter()
        try:
            receipt = call_with_retry(
                lambda: self.portal.submit(submission),
                policy=c.portal_policy,
                breaker=c.portal_breaker,
                on_retry=lambda exc, n: self._on_retry(logger, exc, n),
            )
        except PermanentError as exc:
            c.store.dead_letter(dossier.dossier_id, dead_letter_reason(exc))
            c.metrics.dead_lettered.labels(kind="dossier").inc()
            logger.error("submit.dead_letter", error=describe_error(exc), error_code=exc.code)
            return
        except TransientError as exc:
            self._defer(dossier, exc, logger)
            return
        finally:
            c.metrics.latency.labels(operation="submit").observe(time.perf_counter() - started)
        result = accepted(ResultContext(dossier.reference, dossier.document_type,
                                        dossier.general_declaration_message_id), receipt)  # fmt: skip
        c.store.record_receipt(dossier.dossier_id, receipt.number, receipt.duplicate, result)
        c.metrics.outcomes.labels(
            loop=self.name, outcome="duplicate" if receipt.duplicate else "submitted"
        ).inc()
        logger.info(
            "submit.receipt",
            receipt_number=receipt.number,
            duplicate=receipt.duplicate,
            message_id=result.message_id,
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
