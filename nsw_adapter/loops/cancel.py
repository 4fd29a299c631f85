"""Cancellations owed: CancelDeclaration at the portal (when it holds the dossier), then the 24."""

from __future__ import annotations

import time

from nsw_adapter.clients.cancellation import cancel_request, portal_reason
from nsw_adapter.delivery.retry import call_with_retry, next_attempt_delay
from nsw_adapter.errors import PermanentError, TransientError
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import PortalLoop
from nsw_adapter.loops.submit import dead_letter_reason
from nsw_adapter.results import ResultContext, cancelled
from nsw_adapter.store import DossierChanged, PendingCancellation

log = get_logger("nsw_adapter.cancel")


class CancelLoop(PortalLoop):
    """Finishes cancellations the NSW asked for."""

    name = "cancel"

    def run_once(self) -> int:
        c = self.context
        limit = c.claim_limit(c.portal_breaker, c.claim_batch)
        if limit == 0:
            return 0
        owed = c.store.claim_cancellations(c.worker_id, limit, c.lease_seconds)
        for item in owed:
            try:
                self.process(item)
            except DossierChanged:
                log.info("cancel.dossier_changed", dossier_id=item.dossier_id, reference=item.reference)
            except Exception as exc:  # one item's store error must not strand the rest of the batch
                log.error(
                    "cancel.item_failed", reference=item.reference, error=describe_error(exc), exc_info=exc
                )
        return len(owed)

    def process(self, item: PendingCancellation) -> None:
        c = self.context
        bound = log.bind(
            dossier_id=item.dossier_id, reference=item.reference, receipt_number=item.receipt_number
        )
        receipt_number = item.receipt_number
        at = c.clock()
        request = None
        if receipt_number is not None:
            reason = portal_reason(item.reason)
            request = cancel_request(receipt_number, reason)
            started = time.perf_counter()
            try:
                receipt = call_with_retry(
                    lambda: self.portal.cancel(item.receipt_number or "", reason),
                    policy=c.portal_policy,
                    breaker=c.portal_breaker,
                    on_retry=lambda _exc, _n: c.metrics.retries.labels(operation="cancel").inc(),
                )
            except PermanentError as exc:
                c.store.dead_letter(item.dossier_id, dead_letter_reason(exc))
                c.metrics.dead_lettered.labels(kind="dossier").inc()
                bound.error("cancel.dead_letter", error=describe_error(exc), error_code=exc.code)
                return
            except TransientError as exc:
                delay = next_attempt_delay(c.portal_policy, 1, c.portal_breaker)
                c.store.defer(item.dossier_id, dead_letter_reason(exc), c.later(delay))
                c.metrics.deferred.labels(operation="cancel").inc()
                bound.warning("cancel.deferred", delay=round(delay, 2), error=describe_error(exc))
                return
            finally:
                c.metrics.latency.labels(operation="cancel").observe(time.perf_counter() - started)
            receipt_number, at = receipt.number, receipt.received_at
        context = ResultContext(item.reference, item.document_type, item.cancellation_message_id)
        result = cancelled(context, receipt_number, at)
        c.store.finish_cancellation(item.dossier_id, result, request)
        c.metrics.outcomes.labels(loop=self.name, outcome="cancelled").inc()
        bound.info("cancel.done", message_id=result.message_id)
