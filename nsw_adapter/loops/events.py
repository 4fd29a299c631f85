"""The event feed to one subscriber (a webhook or an AMQP exchange): events from the store's outbox,
in order per dossier, at least once.

Each round fans out what is new (one delivery row per subscriber that wants an event) and claims
this subscriber's due deliveries, in one transaction, then publishes them one by one through the
one delivery path (loops/delivery.py: the same retry policy, a circuit breaker of the
subscriber's own, deferral and dead letters). Delivered ones are marked in one transaction at
the end of the round: a crash before that sends them again, with the same id, which the
subscriber deduplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nsw_adapter.delivery.health import SUBSCRIBER
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.publisher import Publisher
from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.loops.delivery import Channel, RemoteLoop, bring_forward_on_recovery
from nsw_adapter.store import EventDelivery, EventStore
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.events")


def event_channel(context: LoopContext, subscriber: SubscriberSettings) -> Channel:
    """A subscriber, as the event loop delivers to it: the workers' retry policy, its own breaker,
    its own dependency (shared by its senders: delivery/health.py)."""
    dependency = f"{SUBSCRIBER}{subscriber.name}"
    return Channel(
        "events",
        "publish",
        dependency,
        "event",
        context.nsw_policy,
        context.subscriber_breaker(subscriber.name),
        subscriber.retry_budget_seconds,
        setting=dependency,
        credentials=f"subscribers.{subscriber.name}.{'secret' if subscriber.kind == 'webhook' else 'url'}",
        recovered=bring_forward_on_recovery(
            context, dependency, lambda: context.store.bring_forward_events(subscriber.name), Topic.EVENTS
        ),
    )


@dataclass(slots=True)
class _Entry:
    """A delivery being made: its store actions."""

    store: EventStore
    item: EventDelivery
    count: int = 1

    @property
    def attempts(self) -> int:
        return self.item.attempts

    @property
    def first_attempt_at(self) -> datetime | None:
        return self.item.first_attempt_at

    def dead_letter(self, reason: str) -> None:
        self.store.dead_letter_event(self.item.delivery_id, reason)

    def defer(self, reason: str, retry_at: datetime) -> None:
        self.store.defer_event(self.item.delivery_id, reason, retry_at)

    def pause(self, reason: str, retry_at: datetime) -> None:
        self.store.defer_event(self.item.delivery_id, reason, retry_at, counted=False)


class EventLoop(RemoteLoop[Publisher]):
    """One subscriber's sender (owns its publisher: an HTTP pool or an AMQP connection)."""

    name = "events"
    wakes_on: Topic | None = Topic.EVENTS
    rings: tuple[Topic, ...] = ()

    def __init__(self, context: LoopContext, subscriber: SubscriberSettings) -> None:
        super().__init__(
            context, event_channel(context, subscriber), lambda: context.publisher_factory(subscriber)
        )
        self.subscriber = subscriber

    def work(self, limit: int) -> int:
        c, name = self.context, self.subscriber.name
        # New events fanned out to every subscriber in the claim's own transaction.
        items = c.store.claim_events(name, c.worker_id, limit, c.lease_seconds, c.clock(), c.subscribers)
        delivered: list[EventDelivery] = []
        for item in items:
            if c.stopping():
                break  # released by the worker on shutdown
            try:
                if self.process(item):
                    delivered.append(item)
                else:
                    c.metrics.event_failures.labels(subscriber=name).inc()
            except Exception as exc:  # one item's store error must not strand the rest of the batch
                log.error("events.item_failed", subscriber=name, error=describe_error(exc), exc_info=exc)
        if delivered:
            c.store.mark_events_delivered(*(item.delivery_id for item in delivered))
            c.metrics.events_delivered.labels(subscriber=name).inc(len(delivered))
            for item in delivered:
                log.debug("events.delivered", subscriber=name, event_id=item.event.event_id,
                          type=item.event.type, dossier_id=item.dossier_id)  # fmt: skip
        c.gather(len(items), limit)
        return len(items)

    def process(self, item: EventDelivery) -> bool:
        """Publish one event; True when the subscriber has it (the caller marks it delivered)."""
        bound = log.bind(subscriber=self.subscriber.name, event_id=item.event.event_id,
                         type=item.event.type, dossier_id=item.dossier_id)  # fmt: skip
        entry = _Entry(self.context.store, item)
        done = self.delivery.send(entry, lambda: self._publish(item), bound)
        return done is not None

    def _publish(self, item: EventDelivery) -> bool:
        self.client.publish(item.event)
        return True
