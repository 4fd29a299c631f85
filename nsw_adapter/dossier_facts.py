"""What port IT looks a ship up by, and what the Border Guard's reports count, read from documents.

Two kinds of facts, none of them personal data: the vessel's (IMO number, name, call sign, the
border gate, when it is expected, the declared numbers of crew and passengers) from the General
Declaration in effect, and the decision's (clearance number, shore passes issued, rejection
codes) from the Result the adapter sends to the NSW. Pure functions over parsed or own XML: the
store keeps what they return (store/facts.py), the migration that backfills old rows reads
stored payloads with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from nsw_adapter.envelope import collapse
from nsw_adapter.mapping.transforms import border_gate, parse_nsw_time
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

#: The Result functions that carry a decision (rejected, cleared, cancelled): what decision_facts reads.
FINAL_FUNCTIONS = ("22", "23", "24")


@dataclass(frozen=True, slots=True)
class VesselFacts:
    """A General Declaration's facts about the ship and its call."""

    imo: str | None
    vessel_name: str | None
    call_sign: str | None
    gate: str | None  # the border gate station (CKCHPG...), as the submission's BorderGate
    expected_at: datetime | None  # ETA (entry) or ETD (exit), UTC
    crew: int | None
    passengers: int | None
    stowaways: int | None
    arms: bool | None
    port: str | None = None  # the port of call's UN/LOCODE (VNHPH...)


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    """A final Result's facts: what was decided, and for a clearance the passes issued."""

    function: str  # 22 rejected, 23 cleared, 24 cancelled
    clearance_number: str | None
    shore_passes: int
    codes: tuple[str, ...]  # rule codes of the rejection's Error items, in order
    # Each shore pass's (ValidFrom, ValidTo) in UTC, a pass without both left out (numbers and
    # names never read: the event feed counts the passes and their span).
    shore_pass_spans: tuple[tuple[datetime, datetime], ...] = ()


def vessel_facts(general_declaration: etree._Element) -> VesselFacts:
    """The facts of a (schema-valid) GeneralDeclaration element; a field that is missing is None."""

    def text(name: str) -> str | None:
        return collapse(general_declaration.findtext(name)) or None

    def number(name: str) -> int | None:
        value = text(name)
        return int(value) if value is not None and value.isdigit() else None

    port = text("PortOfCallCode")
    try:
        gate = border_gate(port) if port else None
    except KeyError:  # not a border gate port (the rules reject such a dossier: E-PORT)
        gate = None
    arms = text("ArmsOnBoard")
    return VesselFacts(
        imo=text("IMONumber"),
        vessel_name=text("NameOfShip"),
        call_sign=text("CallSign"),
        gate=gate,
        expected_at=_utc(text("ArrivalOrDepartureTime")),
        crew=number("NumberOfCrew"),
        passengers=number("NumberOfPassengers"),
        stowaways=number("NumberOfStowaways"),
        arms=None if arms is None else arms in ("1", "true"),
        port=port,
    )


def _stored_document(envelope: bytes, name: str) -> etree._Element | None:
    """The `name` document of a stored envelope (None when it cannot be read as one)."""
    try:
        root = parse_untrusted(envelope)
    except UntrustedXmlError:
        return None
    return root.find(f"Body/Content/{name}")


def vessel_facts_of_envelope(payload: bytes) -> VesselFacts | None:
    """The facts of a stored General Declaration envelope (None when it cannot be read as one)."""
    found = _stored_document(payload, "GeneralDeclaration")
    return None if found is None else vessel_facts(found)


def arms_item_count(envelope: bytes) -> int | None:
    """How many Items (kinds of arms) a stored Arms Declaration envelope lists; None when it cannot
    be read as one."""
    found = _stored_document(envelope, "ArmsDeclaration")
    return None if found is None else len(found.findall("Item"))


def decision_facts(result_envelope: bytes) -> DecisionFacts | None:
    """The facts of a Result the adapter built (None for a 21, 25 or what is not a Result)."""
    try:
        root = parse_untrusted(result_envelope)
    except UntrustedXmlError:
        return None
    function = collapse(root.findtext("Header/Subject/function"))
    result = root.find("Body/Content/Result")
    if result is None or function not in FINAL_FUNCTIONS:
        return None
    passes = result.findall("ShorePass")
    spans = []
    for element in passes:
        start, end = _utc(element.findtext("ValidFrom")), _utc(element.findtext("ValidTo"))
        if start is not None and end is not None:
            spans.append((start, end))
    return DecisionFacts(
        function=function,
        clearance_number=collapse(result.findtext("ClearanceNumber")) or None,
        shore_passes=len(passes),
        codes=tuple(collapse(e.findtext("Code")) or "" for e in result.iterfind("Error")),
        shore_pass_spans=tuple(spans),
    )


def _utc(value: str | None) -> datetime | None:
    """An NSW document time (local unless it says otherwise) in UTC; None when it is not one."""
    if value is None:
        return None
    try:
        return parse_nsw_time(value).astimezone(UTC)
    except ValueError:
        return None
