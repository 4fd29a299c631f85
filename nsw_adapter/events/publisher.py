"""What a subscriber's publisher does, whatever carries it: send one stored event, or raise.

`publish` returns once the subscriber has the event (a webhook's 2xx, the broker's confirm) and
raises TransientError (try again later: connection, timeout, 5xx, no queue bound) or
PermanentError (retrying cannot help: the subscriber refuses it, or we may not publish there).
One publisher per thread: its connection is not shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nsw_adapter.events.config import SubscriberSettings


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event as the outbox holds it: its id, type and routing key, and the bytes sent every time."""

    event_id: str
    type: str  # e.g. dossier.cleared
    routing_key: str  # e.g. dossier.cleared.CKCHPG
    body: bytes  # the structured-mode CloudEvent (nsw_adapter.events.event)


class Publisher(Protocol):
    """Sends events to one subscriber."""

    def publish(self, event: OutgoingEvent) -> None:
        """Deliver `event`, or raise TransientError / PermanentError."""
        ...

    def close(self) -> None:
        """Drop the connection (a later publish opens another)."""
        ...


def publisher_for(subscriber: SubscriberSettings) -> Publisher:
    """The publisher of the subscriber's kind (its TLS and proxy settings applied)."""
    if subscriber.kind == "webhook":
        from nsw_adapter.events.webhook import WebhookPublisher

        return WebhookPublisher(subscriber)
    from nsw_adapter.events.amqp import AmqpPublisher

    return AmqpPublisher(subscriber)
