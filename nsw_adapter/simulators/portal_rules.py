"""The portal's own checks of a Submission, written from the contract alone (not from the adapter's code).

Two kinds of finding:

* `schema_problems`: what the portal answers with a SCHEMA fault at once, beyond submission.xsd:
  a crew member or passenger without every field from NameAsDeclared to DocExpiry (NOTES), and
  dates that match the dd/MM/yyyy pattern but are not calendar dates (31/02/2026).
* `business_reasons`: what makes the portal REJECT the declaration after its decision delay,
  each a Reason (Code, Text, Field) whose Field is an XPath into the submission with prefix
  `bgp`, 1-based over all Person elements (/bgp:Submission/bgp:Persons/bgp:Person[17]/bgp:DocExpiry).
  Codes are the README's rule codes (the portal enforces the same rules); BG-DOC-ALERT is the
  watchlist's. Texts name persons by category and number, never by name or document number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree
from stdnum import imo as stdnum_imo
from stdnum.vn import mst as stdnum_mst

from nsw_adapter.simulators.codelists import portal_codes

BGP = "urn:vn:bienphong:portal:1"
_NS = f"{{{BGP}}}"
ROOT = "/bgp:Submission"
PERSON_REQUIRED = (
    "NameAsDeclared",
    "Nationality",
    "BirthDate",
    "BirthPlace",
    "Sex",
    "DocType",
    "DocNumber",
    "DocIssuer",
    "DocExpiry",
)
CATEGORY_NAMES = {"TV": "Crew member", "HK": "Passenger", "TT": "Stowaway"}
_DATE_FIELDS = ("BirthDate", "DocExpiry", "FoundDate")


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for a rejection: portal code, readable text, XPath into the submission (or None)."""

    code: str
    text: str
    field: str | None = None


@dataclass(slots=True)
class Person:
    """One Person element's fields (whitespace-stripped) and its 1-based position among all Persons."""

    position: int
    fields: dict[str, str]
    category: str
    no: int

    def path(self, name: str) -> str:
        """The XPath of one of this person's fields in the submission."""
        return f"{ROOT}/bgp:Persons/bgp:Person[{self.position}]/bgp:{name}"

    @property
    def label(self) -> str:
        """How texts name the person: category and number, never name or document."""
        return f"{CATEGORY_NAMES.get(self.category, self.category)} {self.no}"


def top_fields(submission: etree._Element) -> dict[str, str]:
    """The submission's fields outside Persons and Arms, keyed "Vessel/IMO", "CrewCount", ... (collapsed).

    One walk instead of an ElementPath search per field (those cost microseconds each).
    """
    cut = len(_NS)
    fields: dict[str, str] = {}
    for child in submission:
        name = str(child.tag)[cut:]
        if name in ("Persons", "Arms"):
            continue
        if len(child):
            for grandchild in child:
                fields[f"{name}/{str(grandchild.tag)[cut:]}"] = " ".join((grandchild.text or "").split())
        else:
            fields[name] = " ".join((child.text or "").split())
    return fields


def _date(value: str | None) -> date | None:
    """dd/MM/yyyy as a date, None when absent or not in the calendar (strptime is too slow here)."""
    if not value:
        return None
    try:
        day, month, year = value.split("/")
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def local_datetime(value: str | None) -> datetime | None:
    """dd/MM/yyyy HH:mm as a naive datetime, None when absent or not a calendar time."""
    if not value:
        return None
    day, _, clock = value.partition(" ")
    moment = _date(day)
    try:
        hour, minute = clock.split(":")
        return (
            None
            if moment is None
            else datetime(moment.year, moment.month, moment.day, int(hour), int(minute))
        )
    except ValueError:
        return None


def persons(submission: etree._Element) -> list[Person]:
    """Every Person of a (schema-valid) submission, with its position (values stripped, not collapsed)."""
    result: list[Person] = []
    cut = len(_NS)
    for position, element in enumerate(submission.iterfind(f"{_NS}Persons/{_NS}Person"), start=1):
        fields = {str(child.tag)[cut:]: (child.text or "").strip() for child in element}
        result.append(Person(position, fields, fields.get("Category", ""), int(fields.get("No") or "0")))
    return result


def schema_problems(top: dict[str, str], people: list[Person]) -> list[str]:
    """Findings the portal answers with a SCHEMA fault (texts free of personal data)."""
    problems: list[str] = []
    for person in people:
        if person.category in ("TV", "HK"):
            missing = [name for name in PERSON_REQUIRED if name not in person.fields]
            if missing:
                problems.append(f"{person.label} (Person[{person.position}]) lacks {', '.join(missing)}")
        for name in _DATE_FIELDS:
            value = person.fields.get(name)
            if value is not None and _date(value) is None:
                problems.append(f"{person.path(name)} is not a calendar date")
    expected = top.get("Voyage/ExpectedTime")
    if expected is not None and local_datetime(expected) is None:
        problems.append(f"{ROOT}/bgp:Voyage/bgp:ExpectedTime is not a calendar time")
    return problems


def business_reasons(
    top: dict[str, str], people: list[Person], *, today: date, watchlist: frozenset[str] = frozenset()
) -> list[Reason]:
    """Every business rule the submission breaks (an empty list: it will be cleared)."""
    reasons: list[Reason] = []
    reasons.extend(_vessel_and_agent(top))
    reasons.extend(_counts_and_sequence(top, people))
    reasons.extend(_master(top, people))
    reasons.extend(_countries(top, people))
    reasons.extend(_dates(top, people, today))
    reasons.extend(_duplicate_documents(people))
    reasons.extend(_watchlist(people, watchlist))
    return reasons


def _vessel_and_agent(top: dict[str, str]) -> Iterable[Reason]:
    imo = top.get("Vessel/IMO") or ""
    if not stdnum_imo.is_valid(imo):
        yield Reason("E-IMO", "The IMO number fails its check digit.", f"{ROOT}/bgp:Vessel/bgp:IMO")
    tax = top.get("Agent/TaxCode") or ""
    if not stdnum_mst.is_valid(tax):
        yield Reason(
            "E-TAXCODE",
            "The agent's tax code is not a valid Vietnamese tax code (MST).",
            f"{ROOT}/bgp:Agent/bgp:TaxCode",
        )
    gate = top.get("BorderGate") or ""
    if gate not in portal_codes().stations:
        yield Reason("E-PORT", "BorderGate is not a seaport border gate station.", f"{ROOT}/bgp:BorderGate")


_CATEGORY_ORDER = {"TV": 0, "HK": 1, "TT": 2}


def _counts_and_sequence(top: dict[str, str], people: list[Person]) -> Iterable[Reason]:
    by_category: dict[str, list[Person]] = {"TV": [], "HK": [], "TT": []}
    rank = 0
    for person in people:
        by_category.setdefault(person.category, []).append(person)
        order = _CATEGORY_ORDER.get(person.category, 0)
        if order < rank:
            yield Reason(
                "E-SEQ",
                f"{person.label} is out of place: crew, then passengers, then stowaways.",
                person.path("Category"),
            )
        rank = max(rank, order)
    for category, element in (("TV", "CrewCount"), ("HK", "PassengerCount"), ("TT", "StowawayCount")):
        declared = int(top.get(element) or "0")
        listed = len(by_category[category])
        if declared != listed:
            yield Reason(
                "E-COUNT",
                f"{element} is {declared} but {listed} persons of category {category} are listed.",
                f"{ROOT}/bgp:{element}",
            )
        seen: set[int] = set()
        for person in by_category[category]:
            if person.no in seen or person.no > listed:
                yield Reason(
                    "E-SEQ",
                    f"Category {category}: numbers must run 1..{listed} without gaps or repeats; "
                    f"{person.label} breaks that.",
                    person.path("No"),
                )
            seen.add(person.no)


def _master(top: dict[str, str], people: list[Person]) -> Iterable[Reason]:
    crew = [person for person in people if person.category == "TV"]
    if not crew:
        yield Reason("E-MASTER", "The crew list is empty: the master must come first.", f"{ROOT}/bgp:Persons")
        return
    first = crew[0]
    if first.fields.get("Rank") != "MAS":
        yield Reason("E-MASTER", "The first crew member is not the master (Rank MAS).", first.path("Rank"))
    elif " ".join((first.fields.get("FullName") or "").split()) != top.get("Master/FullName"):
        yield Reason(
            "E-MASTER",
            "The master's name differs from the first crew member's.",
            f"{ROOT}/bgp:Master/bgp:FullName",
        )


def _countries(top: dict[str, str], people: list[Person]) -> Iterable[Reason]:
    codes = portal_codes()
    flag = top.get("Vessel/Flag")
    if flag not in codes.alpha3:
        yield Reason("E-COUNTRY", "Flag is not an ISO 3166-1 alpha-3 code.", f"{ROOT}/bgp:Vessel/bgp:Flag")
    if top.get("Master/Nationality") not in codes.icao:
        yield Reason(
            "E-COUNTRY",
            "The master's nationality is not an ICAO Doc 9303 code.",
            f"{ROOT}/bgp:Master/bgp:Nationality",
        )
    for person in people:
        for name in ("Nationality", "DocIssuer"):
            value = person.fields.get(name)
            if value is not None and value not in codes.icao:
                yield Reason(
                    "E-COUNTRY", f"{person.label}: {name} is not an ICAO Doc 9303 code.", person.path(name)
                )
    locodes = [("Voyage", "LastPort"), ("Voyage", "NextPort")]
    for parent, name in locodes:
        value = top.get(f"{parent}/{name}") or ""
        if value[:2] not in codes.alpha2:
            yield Reason(
                "E-LOCODE",
                f"{name} does not start with an ISO country code.",
                f"{ROOT}/bgp:{parent}/bgp:{name}",
            )
    for person in people:
        for name in ("EmbarkPort", "DisembarkPort"):
            value = person.fields.get(name)
            if value is not None and value[:2] not in codes.alpha2:
                yield Reason(
                    "E-LOCODE",
                    f"{person.label}: {name} does not start with an ISO country code.",
                    person.path(name),
                )


def _dates(top: dict[str, str], people: list[Person], today: date) -> Iterable[Reason]:
    expected = local_datetime(top.get("Voyage/ExpectedTime"))
    oldest = date(today.year - 120, today.month, min(today.day, 28))
    for person in people:
        birth = _date(person.fields.get("BirthDate"))
        if birth is not None and (birth > today or birth < oldest):
            yield Reason(
                "E-DOB",
                f"{person.label}: the date of birth is in the future or more than 120 years back.",
                person.path("BirthDate"),
            )
        expiry = _date(person.fields.get("DocExpiry"))
        if expected is not None and expiry is not None and expiry < expected.date():
            yield Reason(
                "E-DOC-EXPIRED",
                f"{person.label}: the travel document expires before the expected time.",
                person.path("DocExpiry"),
            )


def _duplicate_documents(people: list[Person]) -> Iterable[Reason]:
    keys = [
        (person.fields.get("DocType"), person.fields.get("DocNumber"), person.fields.get("DocIssuer"))
        for person in people
        if person.category in ("TV", "HK") and person.fields.get("DocNumber")
    ]
    repeated = {key for key, count in Counter(keys).items() if count > 1}
    if not repeated:
        return
    first_seen: set[tuple[str | None, str | None, str | None]] = set()
    for person in people:
        key = (person.fields.get("DocType"), person.fields.get("DocNumber"), person.fields.get("DocIssuer"))
        if key in repeated and person.category in ("TV", "HK"):
            if key in first_seen:
                yield Reason(
                    "E-DUP-DOC",
                    f"{person.label} carries the same document as another person.",
                    person.path("DocNumber"),
                )
            first_seen.add(key)


def _watchlist(people: list[Person], watchlist: frozenset[str]) -> Iterable[Reason]:
    if not watchlist:
        return
    for person in people:
        number = person.fields.get("DocNumber")
        if number is not None and number in watchlist:
            yield Reason(
                "BG-DOC-ALERT",
                f"{person.label}: the travel document is recorded as lost or stolen; "
                "present the holder to the Border Guard.",
                person.path("DocNumber"),
            )


def supplement_items(people: list[Person], supplements: frozenset[str]) -> Iterable[Reason]:
    """What an officer asks for when a person's document number is on the supplement list: its
    number and dates checked again (BG-SUPP-DOC at that DocNumber). The text names the person by
    category and number, never by name or document number."""
    for person in people:
        number = person.fields.get("DocNumber")
        if number is not None and number in supplements:
            yield Reason(
                "BG-SUPP-DOC",
                f"{person.label}: không tra cứu được giấy tờ; đề nghị kiểm tra lại số và ngày hết hạn "
                "theo giấy tờ gốc và khai lại.",
                person.path("DocNumber"),
            )
