"""Cancellations owed: CancelDeclaration at the portal (when it holds the dossier), then the 24."""

from __future__ import annotations

from nsw_adapter.clients.cancellation import cancel_request, portal_reason
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.delivery import DossierDelivery, PortalLoop
from nsw_adapter.results import ResultContext, cancelled
from nsw_adapter.store import DossierChanged, PendingCancellation
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.cancel")


class CancelLoop(PortalLoop):
    """Finishes cancellations the NSW asked for; a cancellation the portal keeps refusing backs off
    and is dead-lettered once the portal's retry budget is spent, as a submission is."""

    name = "cancel"
    wakes_on: Topic | None = Topic.CANCEL
    rings: tuple[Topic, ...] = (Topic.OUTBOX, Topic.EVENTS)

    def work(self, limit: int) -> int:
        c = self.context
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
        receipt_number, at, request = item.receipt_number, c.clock(), None
        held = item.receipt_number
        if held is not None:  # the portal holds the dossier: CancelDeclaration first
            reason = portal_reason(item.reason)
            request = cancel_request(held, reason)
            pending = DossierDelivery(c.store, item.dossier_id, item.attempts, item.first_attempt_at)
            receipt = self.delivery.send(pending, lambda: self.portal.cancel(held, reason), bound)
            if receipt is None:
                return  # deferred or dead-lettered
            receipt_number, at = receipt.number, receipt.received_at
        context = ResultContext(item.reference, item.document_type, item.cancellation_message_id)
        result = cancelled(context, receipt_number, at)
        c.store.finish_cancellation(item.dossier_id, result, request)
        c.metrics.outcomes.labels(loop=self.name, outcome="cancelled").inc()
        bound.info("cancel.done", message_id=result.message_id)
