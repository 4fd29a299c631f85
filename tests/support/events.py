"""Helpers for the event feed's tests: the schemas, one event of each type, reading what arrived."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from nsw_adapter.events.details import (
    ArmsDeclared,
    Cancelled,
    Cleared,
    DeadLettered,
    Details,
    Received,
    Rejected,
    ShorePasses,
    StowawaysReported,
    Submitted,
    Superseded,
)
from nsw_adapter.events.event import DossierEvent, new_event_id
from nsw_adapter.events.facts import DossierFacts, facts_from_declaration, read_declaration
from nsw_adapter.events.publisher import OutgoingEvent
from nsw_adapter.events.types import EventType
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.resources import schema_path

SCHEMAS = schema_path("events")
MOMENT = datetime(2026, 3, 17, 9, 30, tzinfo=UTC)
#: A valid signing secret that is not the reference subscriber's.
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


@cache
def validator(type_: str) -> Draft7Validator:
    """The Draft 7 validator of schemas/events/<type>.json (the schema itself checked first)."""
    schema = json.loads((SCHEMAS / f"{type_}.json").read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_errors(body: bytes | dict[str, Any]) -> list[str]:
    """What is wrong with an event against the schema of its own type ([] when valid)."""
    event = json.loads(body) if isinstance(body, bytes) else body
    type_ = event.get("type")
    if type_ not in {t.value for t in EventType}:
        return [f"unknown type {type_!r}"]
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(type_).iter_errors(event)
    ]


def every_details() -> list[Details]:
    """One details value of each event type, with every optional part filled."""
    return [
        Received(("50", "51", "52", "64", "65")),
        StowawaysReported(2),
        ArmsDeclared(3),
        Submitted("BG-2026-000001", supersedes="BG-2026-000000"),
        Cleared(
            "BG-2026-000001",
            "CLR-2026-000001",
            MOMENT,
            ShorePasses.of([(MOMENT, MOMENT.replace(day=18)), (MOMENT, MOMENT.replace(day=19))]),
        ),
        Rejected(
            "portal", Rejected.count(["BG-DOC-ALERT", "BG-DOC-ALERT", "BG-OTHER"]), "BG-2026-000001", MOMENT
        ),
        Cancelled("BG-2026-000001"),
        Superseded("BG-2026-000001", 2),
        DeadLettered("submitting", 7),
    ]


def events_for(facts: DossierFacts, details: Sequence[Details] | None = None) -> list[DossierEvent]:
    """The given details (default: one of each type) as one dossier's events, in sequence."""
    return [
        DossierEvent(new_event_id(), MOMENT, n, 1, facts, d)
        for n, d in enumerate(details or every_details(), start=1)
    ]


def facts_of(
    dossier: Sequence[tuple[str, bytes]], reference: str = "HPH-2026-000001", document_type: str = "1"
) -> DossierFacts:
    """The facts of a generated dossier, from its General Declaration (the first file)."""
    return facts_from_declaration(reference, document_type, read_declaration(dossier[0][1]))


def outgoing(count: int = 3) -> list[OutgoingEvent]:
    """The first `count` events of one generated dossier, as the outbox holds them."""
    events = events_for(facts_of(generate_dossier(crew=3, passengers=1, arms=1, stowaways=1, seed=9)))
    return [OutgoingEvent(e.id, e.type.value, e.routing_key, e.encode()) for e in events[:count]]
