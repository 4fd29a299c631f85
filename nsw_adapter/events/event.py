"""One event of the feed, and its CloudEvents 1.0 JSON (structured mode), built with the `cloudevents` SDK.

An event is written once, when the state change that causes it commits (the outbox), and its
bytes are what every subscriber receives on every attempt: the `id` never changes, so consumers
deduplicate by it. `data` holds the dossier's facts, the per-dossier `sequence` (consumers
order by it) and the version, then what the type adds (nsw_adapter.events.details).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from nsw_adapter.events.details import Details
from nsw_adapter.events.facts import DossierFacts
from nsw_adapter.events.types import EventType, routing_key

#: The CloudEvents `source` of every event: this adapter's dossier feed.
SOURCE = "urn:vn:bienphong:nsw-adapter:dossiers"
#: Structured mode: the whole event (attributes and data) as one JSON document.
CONTENT_TYPE = JSONFormat.CONTENT_TYPE  # application/cloudevents+json
_FORMAT = JSONFormat()


def schema_uri(type_: EventType) -> str:
    """The event's `dataschema`: the `$id` of schemas/events/<type>.json."""
    return f"urn:vn:bienphong:nsw-adapter:schema:{type_.value}:1"


def new_event_id() -> str:
    """A fresh event id (a UUID), drawn once when the event is written."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class DossierEvent:
    """What happened to one dossier (`facts`), when, and what the type adds (`details`)."""

    id: str
    time: datetime  # when the state change committed (aware)
    sequence: int  # 1, 2, ... per dossier (reference and procedure): the order to apply them in
    version: int  # the dossier's version the event is about
    facts: DossierFacts
    details: Details

    @property
    def type(self) -> EventType:
        return self.details.TYPE

    @property
    def routing_key(self) -> str:
        return routing_key(self.type, self.facts.gate)

    def data(self) -> dict[str, Any]:
        """The event's `data`: the common part, then the type's own fields."""
        return {
            **self.facts.as_data(),
            "sequence": self.sequence,
            "version": self.version,
            **self.details.as_data(),
        }

    def to_cloudevent(self) -> CloudEvent:
        """The CloudEvent (the SDK checks the attributes: id, source, type, time, subject)."""
        if self.time.tzinfo is None:
            raise ValueError("an event's time must be timezone-aware")
        attributes: dict[str, Any] = {
            "id": self.id,
            "source": SOURCE,
            "type": self.type.value,
            "specversion": "1.0",
            "subject": self.facts.reference,
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": schema_uri(self.type),
        }
        return CloudEvent(attributes, self.data())

    def encode(self) -> bytes:
        """The structured-mode JSON every subscriber receives (webhook body, AMQP message body)."""
        return _FORMAT.write(self.to_cloudevent())


def decode(body: bytes) -> CloudEvent:
    """A received structured-mode event (the reference subscriber, tests); ValueError when it is not one."""
    try:
        event = _FORMAT.read(CloudEvent, body)
    except Exception as exc:  # the SDK raises its own errors and json's; one answer for all
        raise ValueError(f"not a CloudEvents 1.0 JSON event: {type(exc).__name__}") from None
    if not isinstance(event, CloudEvent):
        raise ValueError("not a CloudEvents 1.0 event")
    return event
