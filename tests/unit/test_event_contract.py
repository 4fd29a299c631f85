"""The feed's contract: every event built validates against its type's JSON Schema, the schemas
agree with one another and with the AsyncAPI document, and no event carries personal data."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from nsw_adapter.events.details import Received, Rejected
from nsw_adapter.events.event import SOURCE, DossierEvent, decode, schema_uri
from nsw_adapter.events.facts import DossierFacts, facts_from_declaration
from nsw_adapter.events.types import ALL_TYPES, EventType, routing_key
from nsw_adapter.fixtures import generate_dossier
from tests.support.e2e import personal_data
from tests.support.events import MOMENT, SCHEMAS, events_for, facts_of, schema_errors


def _schema(type_: EventType) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{type_.value}.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("document_type", ["1", "2"])
def test_every_event_type_built_from_a_real_declaration_validates_against_its_schema(
    document_type: str,
) -> None:
    """One event of each type, built from a generated dossier's General Declaration, is valid."""
    dossier = generate_dossier(crew=4, passengers=2, arms=1, stowaways=1, seed=3, document_type=document_type)
    events = events_for(facts_of(dossier, document_type=document_type))
    assert {e.type for e in events} == set(ALL_TYPES)
    for event in events:
        body = event.encode()
        assert schema_errors(body) == [], event.type
        parsed = json.loads(body)
        assert parsed["subject"] == event.facts.reference
        assert parsed["source"] == SOURCE
        assert parsed["dataschema"] == _schema(event.type)["$id"] == schema_uri(event.type)
        assert parsed["data"]["procedure"] == ("entry" if document_type == "1" else "exit")


def test_events_of_a_dossier_without_its_declaration_validate_with_the_ship_unknown() -> None:
    """A dossier rejected or cancelled before its General Declaration arrived still makes valid events."""
    facts = facts_from_declaration("HPH-2026-000009", "2", None)
    for event in events_for(facts):
        data = json.loads(event.encode())["data"]
        assert schema_errors(event.encode()) == []
        assert data["vessel"] is None
        assert data["gate"] is None
    assert events_for(facts)[0].routing_key.endswith(".unknown")


def test_a_schema_refuses_another_types_event_and_an_unknown_field() -> None:
    """The schemas are strict: a cleared event is not a received one, and no field is added unnoticed."""
    facts = facts_of(generate_dossier(crew=2, seed=1))
    cleared = next(e for e in events_for(facts) if e.type is EventType.CLEARED)
    body = json.loads(cleared.encode())
    body["type"] = EventType.RECEIVED.value
    assert schema_errors(body) != []
    extra = json.loads(cleared.encode())
    extra["data"]["master"] = "someone"
    assert schema_errors(extra) != []


def test_every_schema_shares_the_envelope_and_the_common_data() -> None:
    """The nine schema files describe the same CloudEvents attributes and common data fields."""
    schemas = {t: _schema(t) for t in ALL_TYPES}
    first = schemas[ALL_TYPES[0]]
    common = set(DossierFacts("X", "entry").as_data()) | {"sequence", "version"}
    for type_, schema in schemas.items():
        assert schema["title"] == type_.value
        assert schema["properties"]["type"] == {"const": type_.value}
        assert schema["properties"]["dataschema"] == {"const": schema["$id"]}
        for name in ("specversion", "id", "source", "subject", "time", "datacontenttype"):
            assert schema["properties"][name] == first["properties"][name], (type_, name)
        data = schema["properties"]["data"]["properties"]
        for name in common:
            assert data[name] == first["properties"]["data"]["properties"][name], (type_, name)
        assert set(schema["properties"]["data"]["required"]) == set(data)


def test_the_asyncapi_document_names_every_type_and_its_schema_file() -> None:
    """schemas/events/asyncapi.yaml has a message per event type whose payload is that type's schema file."""
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"].startswith("3.")
    messages = document["components"]["messages"]
    named = {m["name"]: m for m in messages.values()}
    assert set(named) == {t.value for t in ALL_TYPES}
    for type_, message in named.items():
        reference = message["payload"]["schema"]["$ref"]
        assert (SCHEMAS / reference).resolve() == (SCHEMAS / f"{type_}.json").resolve()
    actions = document["channels"]["dossierEvents"]["parameters"]["action"]["enum"]
    assert actions == [t.action for t in ALL_TYPES]


def test_no_name_or_document_number_of_the_input_is_in_any_event() -> None:
    """Events built from dossiers full of names and document numbers carry none of them."""
    dossiers = [generate_dossier(crew=12, passengers=8, arms=2, stowaways=2, seed=seed) for seed in range(4)]
    secrets = personal_data(dossiers)
    assert len(secrets) > 50  # the check looks for something
    bodies = [e.encode().decode() for d in dossiers for e in events_for(facts_of(d))]
    for body in bodies:
        text = json.dumps(json.loads(body), ensure_ascii=False)  # escaped non-ASCII read back
        assert not [s for s in secrets if s in text]


def test_the_sdk_reads_back_what_was_built() -> None:
    """The structured JSON reads back through the CloudEvents SDK with the same attributes and data."""
    facts = facts_of(generate_dossier(crew=2, seed=2))
    event = DossierEvent("e-1", MOMENT, 4, 2, facts, Rejected("adapter", Rejected.count(["E-IMO"])))
    read = decode(event.encode())
    assert read.get_id() == "e-1"
    assert read.get_type() == "dossier.rejected"
    assert read.get_subject() == facts.reference
    assert read.get_time() == MOMENT
    assert read.get_data() == json.loads(json.dumps(event.data()))


def test_an_event_needs_an_aware_time_and_decode_refuses_what_is_not_an_event() -> None:
    """A naive time is refused when building; a body without CloudEvents attributes when reading."""
    facts = DossierFacts("HPH-1", "entry")
    naive = DossierEvent("e", MOMENT.replace(tzinfo=None), 1, 1, facts, Received(("50",)))
    with pytest.raises(ValueError, match="timezone"):
        naive.encode()
    with pytest.raises(ValueError, match="CloudEvents"):
        decode(b'{"hello": "world"}')


def test_routing_keys_name_the_action_and_the_gate() -> None:
    """dossier.<action>.<gate>, for a topic exchange's bindings."""
    assert routing_key(EventType.DEAD_LETTERED, "CKCHPG") == "dossier.dead-lettered.CKCHPG"
    assert routing_key(EventType.CLEARED, None) == "dossier.cleared.unknown"


def test_a_dead_letter_from_any_state_a_dossier_can_die_in_validates() -> None:
    """Every state the lifecycle lets a dossier be dead-lettered from, as derive.py reports it
    (SUPPLEMENT_REQUESTED is a submitted dossier to the feed, which has no supplement type)."""
    from nsw_adapter.events.derive import dead_letter_stage
    from nsw_adapter.events.details import DeadLettered
    from nsw_adapter.lifecycle import TRANSITIONS, DossierState

    facts = facts_of(generate_dossier(crew=2, seed=1))
    dying = [state for state, targets in TRANSITIONS.items() if DossierState.DEAD in targets]
    assert DossierState.SUPPLEMENT_REQUESTED in dying
    for state in dying:
        [event] = events_for(facts, [DeadLettered(dead_letter_stage(state), 1)])
        assert schema_errors(event.encode()) == [], state
