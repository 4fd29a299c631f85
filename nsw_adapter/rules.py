"""The README's business rules, each a small function from a dossier to the Problems it finds.

Every Problem carries the rule code, a message key and parameters (nsw_adapter.texts: the
offending value and the expected form where the value is not personal data; positions and field
names, never names, document numbers or dates of birth), the absolute unprefixed 1-based XPath
of the field in the NSW message, and the NSW `type` of that document. `check_dossier` runs them all
and reports every problem, not only the first. E-SCHEMA, E-ENVELOPE and E-UNKNOWN-DOSSIER are
found before a dossier exists (translate.py); the rest are here.

Readings (NOTES, "Rule readings the samples follow"): E-COUNT only for lists that arrived;
E-MISMATCH compares IMONumber across all documents, IsArrival with documentType, and
PortOfCallCode across the General Declaration and the lists; E-MASTER looks at the first
CrewList element in document order; a document is expired when its expiry date is before the
local date of ArrivalOrDepartureTime; E-DOB compares with `today`; duplicates are sought
across crew and passengers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from stdnum import imo as stdnum_imo
from stdnum.vn import mst as stdnum_mst

from nsw_adapter.codelists import ICAO_SPECIAL, codelists
from nsw_adapter.errors import Problem
from nsw_adapter.mapping.transforms import local_date
from nsw_adapter.model import (
    Dossier,
)
from nsw_adapter.names import full_name, portal_name
from nsw_adapter.texts import problem, word

CONTENT = "/Envelope/Body/Content"
SUBJECT = "/Envelope/Header/Subject"
GD, CREW, PAX, ARMS, STOW = "50", "51", "52", "64", "65"
_ELEMENT = {GD: "GeneralDeclaration", CREW: "CrewLists", PAX: "PassengerList", ARMS: "ArmsDeclaration"}
_ELEMENT[STOW] = "StowawayDeclaration"
_DOCUMENT_KINDS = frozenset({"P", "S", "B"})  # passport, seafarer's identity document, seaman's book
_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What the rules need besides the dossier: the date E-DOB compares with."""

    today: date


Rule = Callable[[Dossier, RuleContext], Iterable[Problem]]


def _path(document_type: str, *steps: str) -> str:
    return "/".join((CONTENT, _ELEMENT[document_type], *steps))


def _problem(code: str, key: str, document_type: str, *steps: str, **params: object) -> Problem:
    return problem(code, key, _path(document_type, *steps), document_type, **params)


def _title(document_type: str) -> str:
    """The document's name, in the agent's language when rendered."""
    return word(f"doc.{document_type}")


def _kind(code: str) -> str:
    return word(f"kind.{code if code in _DOCUMENT_KINDS else 'other'}")


@dataclass(frozen=True, slots=True)
class _PersonList:
    """Crew or passengers, seen through the fields the person rules share."""

    document_type: str
    noun: str  # the word key: "noun.crew" / "noun.passenger"
    item: str  # the repeated element
    people: Sequence[Any]  # CrewMember or Passenger
    doc_type: str
    doc_number: str
    doc_issuer: str
    doc_expiry: str


def _person_lists(dossier: Dossier) -> list[_PersonList]:
    lists = []
    crew = dossier.crew_lists
    if crew is not None:
        lists.append(
            _PersonList(
                CREW,
                "noun.crew",
                "CrewList",
                crew.CrewList,
                "PassportTypeCode",
                "PassportNumber",
                "PassportIssuingState",
                "PassportExpiryDate",
            )
        )
    pax = dossier.passenger_list
    if pax is not None:
        lists.append(
            _PersonList(
                PAX,
                "noun.passenger",
                "Passenger",
                pax.Passenger,
                "TypeOfIdentity",
                "SerialNumberOfIdentity",
                "IdentityIssuingState",
                "IdentityExpiryDate",
            )
        )
    return lists


# --- the rules, in the README's order ---------------------------------------------------------


def check_mismatch(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-MISMATCH: documents disagree on IMONumber, arrival/departure or port of call."""
    gd = dossier.general_declaration
    docs = [(t, dossier.documents[t]) for t in sorted(dossier.documents)]
    imo = gd.IMONumber if gd is not None else getattr(docs[0][1].document, "IMONumber", None)
    arrival = dossier.document_type == "1"
    for doc_type, entry in docs:
        document = entry.document
        if getattr(document, "IMONumber", imo) != imo:
            yield _problem(
                "E-MISMATCH",
                "E-MISMATCH.imo",
                doc_type,
                "IMONumber",
                document=_title(doc_type),
                value=getattr(document, "IMONumber", None),
                expected=imo,
            )
        if entry.header.document_type != dossier.document_type:
            yield problem(
                "E-MISMATCH",
                "E-MISMATCH.document_type",
                f"{SUBJECT}/documentType",
                doc_type,
                document=_title(doc_type),
                value=entry.header.document_type,
                expected=dossier.document_type,
            )
        is_arrival = getattr(document, "IsArrival", arrival)
        if is_arrival != arrival:
            yield _problem(
                "E-MISMATCH",
                "E-MISMATCH.is_arrival",
                doc_type,
                "IsArrival",
                document=_title(doc_type),
                found=word("event.arrival" if is_arrival else "event.departure"),
                event=word("event.arrival" if arrival else "event.departure"),
            )
        if (
            gd is not None
            and doc_type in (CREW, PAX)
            and getattr(document, "PortOfCallCode", None) != (gd.PortOfCallCode)
        ):
            yield _problem(
                "E-MISMATCH",
                "E-MISMATCH.port",
                doc_type,
                "PortOfCallCode",
                document=_title(doc_type),
                value=getattr(document, "PortOfCallCode", None),
                expected=gd.PortOfCallCode,
            )


def check_imo(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-IMO: an IMONumber fails its check digit (reported in each document that carries it)."""
    for doc_type in sorted(dossier.documents):
        number = getattr(dossier.documents[doc_type].document, "IMONumber", None)
        if number is not None and not stdnum_imo.is_valid(number):
            yield _problem("E-IMO", "E-IMO", doc_type, "IMONumber", document=_title(doc_type), value=number)


def check_port(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-PORT: PortOfCallCode is a well-formed UN/LOCODE but not a seaport border gate."""
    gd = dossier.general_declaration
    if gd is None or not _LOCODE.fullmatch(gd.PortOfCallCode):
        return  # a malformed code is E-LOCODE's
    gates = codelists().station_by_locode
    if gd.PortOfCallCode not in gates:
        yield _problem(
            "E-PORT", "E-PORT", GD, "PortOfCallCode", value=gd.PortOfCallCode, gates=", ".join(sorted(gates))
        )


def _ports(dossier: Dossier, *, passengers: bool = True) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """Every port code of the dossier: (value, document type, path steps)."""
    gd = dossier.general_declaration
    if gd is not None:
        for field in ("PortOfCallCode", "LastPortOfCallCode", "NextPortOfCallCode"):
            yield getattr(gd, field), GD, (field,)
    for head in (dossier.crew_lists, dossier.passenger_list):
        if head is not None:
            yield head.PortOfCallCode, head.TYPE, ("PortOfCallCode",)
    pax = dossier.passenger_list
    if pax is not None and passengers:
        for i, p in enumerate(pax.Passenger, 1):
            yield p.PortOfEmbarkationCode, PAX, (f"Passenger[{i}]", "PortOfEmbarkationCode")
            yield p.PortOfDisembarkationCode, PAX, (f"Passenger[{i}]", "PortOfDisembarkationCode")
    stow = dossier.stowaway_declaration
    if stow is not None:
        for i, s in enumerate(stow.Stowaway, 1):
            if s.PortOfBoardingCode is not None:
                yield s.PortOfBoardingCode, STOW, (f"Stowaway[{i}]", "PortOfBoardingCode")


def check_locode(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-LOCODE: a port code is not a well-formed UN/LOCODE (two letters, three letters or digits 2-9)."""
    match = _LOCODE.fullmatch
    pax = dossier.passenger_list
    if pax is not None:  # long lists repeat a few ports: check each distinct code once first
        codes = {p.PortOfEmbarkationCode for p in pax.Passenger} | {
            p.PortOfDisembarkationCode for p in pax.Passenger
        }
        if all(match(code) for code in codes) and all(
            match(v) for v, _, _ in _ports(dossier, passengers=False)
        ):
            return
    for value, doc_type, steps in _ports(dossier):
        if match(value) is None:
            port = word(f"port.{steps[-1]}")
            if len(steps) == 1:
                yield _problem(
                    "E-LOCODE",
                    "E-LOCODE",
                    doc_type,
                    *steps,
                    document=_title(doc_type),
                    port=port,
                    value=value,
                )
                continue
            item, index = steps[0].rstrip("]").split("[")
            noun = word("noun.passenger" if item == "Passenger" else "noun.stowaway")
            yield _problem(
                "E-LOCODE",
                "E-LOCODE.item",
                doc_type,
                *steps,
                document=_title(doc_type),
                noun=noun,
                index=index,
                port=port,
                value=value,
            )


def check_country(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-COUNTRY: a country code is not ISO 3166-1 (for persons, nor XXA/XXB/XXC/XXX)."""
    iso = codelists().iso_countries
    persons = iso | ICAO_SPECIAL
    gd = dossier.general_declaration
    if gd is not None and gd.FlagStateOfShip not in iso:
        yield _problem("E-COUNTRY", "E-COUNTRY.flag", GD, "FlagStateOfShip", value=gd.FlagStateOfShip)
    for group in _person_lists(dossier):
        noun = word(group.noun)
        for i, person in enumerate(group.people, 1):
            if person.Nationality not in persons:
                yield _problem(
                    "E-COUNTRY",
                    "E-COUNTRY.nationality",
                    group.document_type,
                    f"{group.item}[{i}]",
                    "Nationality",
                    noun=noun,
                    index=i,
                    value=person.Nationality,
                )
            issuer = getattr(person, group.doc_issuer)
            if issuer not in persons:
                yield _problem(
                    "E-COUNTRY",
                    "E-COUNTRY.issuer",
                    group.document_type,
                    f"{group.item}[{i}]",
                    group.doc_issuer,
                    noun=noun,
                    index=i,
                    value=issuer,
                )
    stow = dossier.stowaway_declaration
    if stow is not None:
        for i, s in enumerate(stow.Stowaway, 1):
            if s.Nationality is not None and s.Nationality not in persons:
                yield _problem(
                    "E-COUNTRY",
                    "E-COUNTRY.nationality",
                    STOW,
                    f"Stowaway[{i}]",
                    "Nationality",
                    noun=word("noun.stowaway"),
                    index=i,
                    value=s.Nationality,
                )


def check_count(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-COUNT: a declared number differs from the length of a list that arrived."""
    gd = dossier.general_declaration
    if gd is None:
        return
    crew, pax, stow = dossier.crew_lists, dossier.passenger_list, dossier.stowaway_declaration
    for field, listed, noun in (
        ("NumberOfCrew", None if crew is None else len(crew.CrewList), "plural.crew"),
        ("NumberOfPassengers", None if pax is None else len(pax.Passenger), "plural.passenger"),
        ("NumberOfStowaways", None if stow is None else len(stow.Stowaway), "plural.stowaway"),
    ):
        if listed is None:
            continue  # the list has not arrived: E-INCOMPLETE, not E-COUNT
        declared = getattr(gd, field)
        if declared != listed:
            yield _problem(
                "E-COUNT",
                "E-COUNT",
                GD,
                field,
                field=field,
                declared=declared,
                listed=listed,
                noun=word(noun),
            )


def _sequence(codes: Sequence[int], noun: str, doc_type: str, item: str, field: str) -> Iterator[Problem]:
    n = len(codes)
    seen: set[int] = set()
    for i, code in enumerate(codes, 1):
        where = (doc_type, f"{item}[{i}]", field)
        if code in seen:
            yield _problem(
                "E-SEQ", "E-SEQ.repeat", *where, noun=word(noun), index=i, field=field, value=code, n=n
            )
        elif code > n:
            yield _problem(
                "E-SEQ", "E-SEQ.beyond", *where, noun=word(noun), index=i, field=field, value=code, n=n
            )
        seen.add(code)
    missing = [c for c in range(1, n + 1) if c not in seen]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        yield problem(
            "E-SEQ",
            "E-SEQ.missing",
            _path(doc_type),
            doc_type,
            document=_title(doc_type),
            field=field,
            missing=shown,
            n=n,
        )


def check_sequence(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-SEQ: the codes within a list are not 1..n without gaps or repeats (in any order)."""
    crew, pax = dossier.crew_lists, dossier.passenger_list
    arms, stow = dossier.arms_declaration, dossier.stowaway_declaration
    if crew is not None:
        yield from _sequence([m.CrewCode for m in crew.CrewList], "noun.crew", CREW, "CrewList", "CrewCode")
    if pax is not None:
        codes = [p.PassengerCode for p in pax.Passenger]
        yield from _sequence(codes, "noun.passenger", PAX, "Passenger", "PassengerCode")
    if arms is not None:
        yield from _sequence([it.ItemCode for it in arms.Item], "noun.arms", ARMS, "Item", "ItemCode")
    if stow is not None:
        codes = [s.StowawayCode for s in stow.Stowaway]
        yield from _sequence(codes, "noun.stowaway", STOW, "Stowaway", "StowawayCode")


def check_master(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-MASTER: the first CrewList element is not the master, or its name is not NameOfMaster."""
    crew = dossier.crew_lists
    if crew is None:
        return
    if not crew.CrewList:
        yield problem("E-MASTER", "E-MASTER.empty", _path(CREW), CREW)
        return
    first = crew.CrewList[0]
    if first.RankCode != "MAS":
        yield _problem("E-MASTER", "E-MASTER.rank", CREW, "CrewList[1]", "RankCode", value=first.RankCode)
        return
    gd = dossier.general_declaration
    if gd is not None and portal_name(gd.NameOfMaster) != full_name(first.FamilyName, first.GivenName):
        yield _problem("E-MASTER", "E-MASTER.name", GD, "NameOfMaster")  # names are never echoed


def check_expiry(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-DOC-EXPIRED: an identity document expires before the local date of arrival or departure."""
    gd = dossier.general_declaration
    if gd is None:
        return
    try:
        deadline = local_date(gd.ArrivalOrDepartureTime)
    except ValueError:
        return  # not a calendar time: reported as E-SCHEMA before the rules run
    event = word("event.arrival" if dossier.document_type == "1" else "event.departure")
    for group in _person_lists(dossier):
        field = group.doc_expiry
        for i, person in enumerate(group.people, 1):
            if getattr(person, field) < deadline:
                # The ship's date is shown, never the document's expiry date (personal data).
                yield _problem(
                    "E-DOC-EXPIRED",
                    "E-DOC-EXPIRED",
                    group.document_type,
                    f"{group.item}[{i}]",
                    field,
                    noun=word(group.noun),
                    index=i,
                    kind=_kind(getattr(person, group.doc_type)),
                    event=event,
                    date=deadline.isoformat(),
                )


def _years_before(day: date, years: int) -> date:
    if day.year - years < date.min.year:
        return date.min
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def check_birth(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-DOB: a date of birth is in the future or more than 120 years back (from `today`)."""
    today = ctx.today
    oldest = _years_before(today, 120)
    for group in _person_lists(dossier):
        for i, person in enumerate(group.people, 1):
            born = person.DateOfBirth
            if born > today or born < oldest:  # the date of birth itself is never echoed
                yield _problem(
                    "E-DOB",
                    "E-DOB.future" if born > today else "E-DOB.too_old",
                    group.document_type,
                    f"{group.item}[{i}]",
                    "DateOfBirth",
                    noun=word(group.noun),
                    index=i,
                    today=today.isoformat(),
                    oldest=oldest.isoformat(),
                )


def check_tax_code(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-TAXCODE: the agent's tax code fails the MST check digit."""
    gd = dossier.general_declaration
    if gd is not None and not stdnum_mst.is_valid(gd.ShipAgentTaxCode):
        yield _problem("E-TAXCODE", "E-TAXCODE", GD, "ShipAgentTaxCode", value=gd.ShipAgentTaxCode)


def check_duplicate_documents(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-DUP-DOC: two persons (crew or passengers) carry the same document type, number and issuer."""
    first_holder: dict[tuple[str, str, str], tuple[str, int]] = {}
    for group in _person_lists(dossier):
        kinds, numbers, issuers = group.doc_type, group.doc_number, group.doc_issuer
        for i, person in enumerate(group.people, 1):
            key = (getattr(person, kinds), getattr(person, numbers), getattr(person, issuers))
            holder = first_holder.get(key)
            if holder is None:
                first_holder[key] = (group.noun, i)
                continue
            yield _problem(  # positions only: the document's number is never echoed
                "E-DUP-DOC",
                "E-DUP-DOC",
                group.document_type,
                f"{group.item}[{i}]",
                numbers,
                noun=word(group.noun),
                index=i,
                kind=_kind(key[0]),
                holder=word(holder[0]),
                holder_index=holder[1],
            )


def check_complete(dossier: Dossier, ctx: RuleContext) -> Iterator[Problem]:
    """E-INCOMPLETE: a document the General Declaration calls for is not in the dossier."""
    gd = dossier.general_declaration
    if gd is None:
        yield problem("E-INCOMPLETE", "E-INCOMPLETE.not_arrived", None, GD, document=_title(GD))
        if CREW not in dossier.documents:
            yield problem("E-INCOMPLETE", "E-INCOMPLETE.not_arrived", None, CREW, document=_title(CREW))
        return
    wanted = [(CREW, "NumberOfCrew", True)]
    wanted.append((PAX, "NumberOfPassengers", gd.NumberOfPassengers > 0))
    wanted.append((ARMS, "ArmsOnBoard", gd.ArmsOnBoard))
    wanted.append((STOW, "NumberOfStowaways", gd.NumberOfStowaways > 0))
    for doc_type, field, called in wanted:
        if called and doc_type not in dossier.documents:
            yield _problem(
                "E-INCOMPLETE", "E-INCOMPLETE.called_for", GD, field, field=field, document=_title(doc_type)
            )


RULES: tuple[Rule, ...] = (
    check_mismatch,
    check_imo,
    check_port,
    check_locode,
    check_country,
    check_count,
    check_sequence,
    check_master,
    check_expiry,
    check_birth,
    check_tax_code,
    check_duplicate_documents,
    check_complete,
)


def check_dossier(dossier: Dossier, *, today: date) -> list[Problem]:
    """Every problem the business rules find in a dossier (schema-valid documents), in rule order."""
    ctx = RuleContext(today=today)
    return [problem for rule in RULES for problem in rule(dossier, ctx)]
