"""What every event says about its dossier: the ship and the call, read from the General Declaration.

Only what another agency needs to recognise the call: the dossier reference, entry or exit, the
border gate, the vessel (IMO number, name, call sign: a ship's, not a person's), the expected
time, and how many crew and passengers. Never a person's name or document number: the master's
and the agent's names in the declaration are left where they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from nsw_adapter.codelists import codelists
from nsw_adapter.envelope import read_message
from nsw_adapter.errors import EnvelopeError
from nsw_adapter.mapping.transforms import parse_nsw_time
from nsw_adapter.model import GeneralDeclaration, read_document

Procedure = Literal["entry", "exit"]

#: NSW documentType -> the procedure (1 arrival / entry, 2 departure / exit).
PROCEDURES: dict[str, Procedure] = {"1": "entry", "2": "exit"}


@dataclass(frozen=True, slots=True)
class Vessel:
    """The ship as the General Declaration names it."""

    imo: str
    name: str
    call_sign: str


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """A dossier as the feed describes it; the ship's fields are None before its declaration arrived."""

    reference: str
    procedure: Procedure
    gate: str | None = None  # the Border Guard station (border-gates.csv station_code), e.g. CKCHPG
    port: str | None = None  # the port of call's UN/LOCODE, e.g. VNHPH
    vessel: Vessel | None = None
    expected_at: datetime | None = None  # arrival (entry) or departure (exit), as declared
    crew_count: int | None = None
    passenger_count: int | None = None
    stowaway_count: int = 0  # what the declaration reports (dossier.stowaways-reported)
    arms_on_board: bool = False  # ... and whether it reports arms (dossier.arms-declared)

    def as_data(self) -> dict[str, Any]:
        """The fields every event's `data` carries (the schemas' common part)."""
        vessel = self.vessel
        when = None if self.expected_at is None else self.expected_at.isoformat()
        return {
            "reference": self.reference,
            "procedure": self.procedure,
            "gate": self.gate,
            "port": self.port,
            "vessel": None
            if vessel is None
            else {"imo": vessel.imo, "name": vessel.name, "call_sign": vessel.call_sign},
            "eta": when if self.procedure == "entry" else None,
            "etd": when if self.procedure == "exit" else None,
            "crew_count": self.crew_count,
            "passenger_count": self.passenger_count,
        }


def procedure_of(document_type: str) -> Procedure:
    """The procedure of an NSW documentType (ValueError for any other)."""
    try:
        return PROCEDURES[document_type]
    except KeyError:
        raise ValueError(f"documentType {document_type!r} is neither 1 (entry) nor 2 (exit)") from None


def facts_from_declaration(
    reference: str, document_type: str, declaration: GeneralDeclaration | None
) -> DossierFacts:
    """The facts of a dossier from its General Declaration in effect (None: not arrived yet)."""
    procedure = procedure_of(document_type)
    if declaration is None:
        return DossierFacts(reference, procedure)
    try:
        expected_at: datetime | None = parse_nsw_time(declaration.ArrivalOrDepartureTime)
    except ValueError:  # a time the pattern allows and the calendar does not: the rules reject it
        expected_at = None
    port = declaration.PortOfCallCode
    return DossierFacts(
        reference=reference,
        procedure=procedure,
        gate=codelists().station_by_locode.get(port),
        port=port,
        vessel=Vessel(declaration.IMONumber, declaration.NameOfShip, declaration.CallSign),
        expected_at=expected_at,
        crew_count=declaration.NumberOfCrew,
        passenger_count=declaration.NumberOfPassengers,
        stowaway_count=declaration.NumberOfStowaways,
        arms_on_board=declaration.ArmsOnBoard,
    )


def read_declaration(envelope: bytes) -> GeneralDeclaration | None:
    """The General Declaration a stored envelope holds (read by the hardened parser), or None when
    the envelope holds another document or cannot be read as one."""
    try:
        document = read_document(read_message(envelope).content)
    except (EnvelopeError, ValidationError):
        return None
    return document if isinstance(document, GeneralDeclaration) else None
