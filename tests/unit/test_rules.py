"""The business rules: each code on its own, the NOTES readings, and several problems at once."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from nsw_adapter.rules import RULES
from nsw_adapter.texts import render
from tests.support.translation import (
    CONTENT,
    codes,
    edit,
    generated,
    run,
    sample,
    set_text,
    without,
)

GD = "Body/Content/GeneralDeclaration"
CREW = "Body/Content/CrewLists"
PAX = "Body/Content/PassengerList"


def test_generated_dossier_is_clean() -> None:
    """The base dossier of these tests passes every rule."""
    assert run(generated()).problems == []


def test_every_rule_has_a_docstring_naming_its_code() -> None:
    """Each rule function states its code first, so the table in README maps onto the module."""
    for rule in RULES:
        assert (rule.__doc__ or "").startswith("E-"), rule.__name__


def test_imo_mismatch_between_documents() -> None:
    """An Arms Declaration with another IMONumber is E-MISMATCH at that document's field."""
    result = run(edit(generated(), "64", set_text("Body/Content/ArmsDeclaration/IMONumber", "9471537")))
    assert codes(result) == ["E-MISMATCH"]
    assert result.problems[0].xpath == f"{CONTENT}/ArmsDeclaration/IMONumber"
    assert result.problems[0].document_type == "64"


def test_is_arrival_against_document_type() -> None:
    """A Crew List saying departure in an arrival dossier is E-MISMATCH on IsArrival."""
    result = run(edit(generated(), "51", set_text(f"{CREW}/IsArrival", "0")))
    assert [(p.code, p.xpath) for p in result.problems] == [("E-MISMATCH", f"{CONTENT}/CrewLists/IsArrival")]


def test_document_type_differs_between_envelopes() -> None:
    """A Passenger List sent as a departure (documentType 2) in an arrival dossier is E-MISMATCH."""
    docs = edit(generated(), "52", set_text("Header/Subject/documentType", "2"))
    docs = edit(docs, "52", set_text(f"{PAX}/IsArrival", "0"))
    result = run(docs)
    assert set(codes(result)) == {"E-MISMATCH"}
    assert {p.xpath for p in result.problems} == {
        "/Envelope/Header/Subject/documentType",
        f"{CONTENT}/PassengerList/IsArrival",
    }


def test_port_mismatch_only_between_general_declaration_and_lists() -> None:
    """The Passenger List's port of call differing from the General Declaration's is E-MISMATCH."""
    result = run(edit(generated(), "52", set_text(f"{PAX}/PortOfCallCode", "VNSGN")))
    assert [(p.code, p.document_type) for p in result.problems] == [("E-MISMATCH", "52")]


def test_imo_check_digit_in_every_document() -> None:
    """A bad IMO check digit is reported once per document carrying it."""
    docs = generated()
    imo = etree.fromstring(docs[0]).findtext(f"{GD}/IMONumber") or ""
    bad = imo[:6] + str((int(imo[6]) + 1) % 10)
    for type_, path in (
        ("50", f"{GD}/IMONumber"),
        ("51", f"{CREW}/IMONumber"),
        ("52", f"{PAX}/IMONumber"),
        ("64", "Body/Content/ArmsDeclaration/IMONumber"),
        ("65", "Body/Content/StowawayDeclaration/IMONumber"),
    ):
        docs = edit(docs, type_, set_text(path, bad))
    result = run(docs)
    assert codes(result) == ["E-IMO"] * 5
    assert [p.document_type for p in result.problems] == ["50", "51", "52", "64", "65"]


def test_port_of_call_not_a_border_gate() -> None:
    """A well-formed LOCODE that is not a seaport border gate is E-PORT (and no E-LOCODE)."""
    docs = generated()
    for type_, path in (("50", GD), ("51", CREW), ("52", PAX)):
        docs = edit(docs, type_, set_text(f"{path}/PortOfCallCode", "VNHAN"))
    result = run(docs)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-PORT", f"{CONTENT}/GeneralDeclaration/PortOfCallCode")
    ]


def test_malformed_locode_anywhere() -> None:
    """Malformed port codes in the passenger and stowaway lists are E-LOCODE at each field."""
    docs = edit(generated(), "52", set_text(f"{PAX}/Passenger[3]/PortOfEmbarkationCode", "CN1HA"))
    docs = edit(
        docs, "65", set_text("Body/Content/StowawayDeclaration/Stowaway[1]/PortOfBoardingCode", "xxabc")
    )
    result = run(docs)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-LOCODE", f"{CONTENT}/PassengerList/Passenger[3]/PortOfEmbarkationCode"),
        ("E-LOCODE", f"{CONTENT}/StowawayDeclaration/Stowaway[1]/PortOfBoardingCode"),
    ]


def test_country_codes() -> None:
    """Unknown country codes are E-COUNTRY: a flag, a nationality, an issuer; XXA is a person's right."""
    docs = edit(generated(), "50", set_text(f"{GD}/FlagStateOfShip", "UK"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[2]/Nationality", "RP"))
    docs = edit(docs, "52", set_text(f"{PAX}/Passenger[1]/IdentityIssuingState", "QQ"))
    docs = edit(docs, "52", set_text(f"{PAX}/Passenger[2]/Nationality", "XXA"))
    result = run(docs)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-COUNTRY", f"{CONTENT}/GeneralDeclaration/FlagStateOfShip"),
        ("E-COUNTRY", f"{CONTENT}/CrewLists/CrewList[2]/Nationality"),
        ("E-COUNTRY", f"{CONTENT}/PassengerList/Passenger[1]/IdentityIssuingState"),
    ]


def test_count_only_for_lists_that_arrived() -> None:
    """A declared count differing from an arrived list is E-COUNT; a missing list is E-INCOMPLETE."""
    docs = edit(generated(), "50", set_text(f"{GD}/NumberOfPassengers", "5"))
    assert [(p.code, p.xpath) for p in run(docs).problems] == [
        ("E-COUNT", f"{CONTENT}/GeneralDeclaration/NumberOfPassengers")
    ]
    missing = run(without(generated(), "52"))
    assert codes(missing) == ["E-INCOMPLETE"]
    assert missing.problems[0].xpath == f"{CONTENT}/GeneralDeclaration/NumberOfPassengers"


def test_count_when_a_list_arrives_undeclared() -> None:
    """A Stowaway Declaration arriving while NumberOfStowaways is 0 is E-COUNT, not a silent extra."""
    docs = edit(generated(), "50", set_text(f"{GD}/NumberOfStowaways", "0"))
    assert codes(run(docs)) == ["E-COUNT"]


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (["2", "1", "3", "4", "5", "6"], []),  # any order is fine
        (["1", "2", "2", "4", "5", "6"], ["CrewLists/CrewList[3]/CrewCode", "CrewLists"]),
        (["1", "2", "3", "4", "5", "9"], ["CrewLists/CrewList[6]/CrewCode", "CrewLists"]),
    ],
)
def test_sequence_codes(numbers: list[str], expected: list[str]) -> None:
    """Codes must be 1..n without gaps or repeats (in any order): each repeat or stray, then the gap."""

    def renumber(root: etree._Element) -> None:
        for element, code in zip(root.iter("CrewCode"), numbers, strict=True):
            element.text = code

    result = run(edit(generated(), "51", renumber))
    assert [(p.code, p.xpath) for p in result.problems] == [("E-SEQ", f"{CONTENT}/{e}") for e in expected]


def test_master_must_come_first() -> None:
    """A crew list whose first element is not RankCode MAS is E-MASTER at that element."""
    docs = edit(generated(), "51", set_text(f"{CREW}/CrewList[1]/RankCode", "CHO"))
    result = run(docs)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-MASTER", f"{CONTENT}/CrewLists/CrewList[1]/RankCode")
    ]


def test_master_name_compared_after_normalising() -> None:
    """NameOfMaster matches the master's name once both are normalised as FullName; else E-MASTER."""
    docs = generated()
    crew = etree.fromstring(docs[1])
    family = crew.findtext(f"{CREW}/CrewList[1]/FamilyName") or ""
    given = crew.findtext(f"{CREW}/CrewList[1]/GivenName") or ""
    shouted = f"  {family.upper()}   {given.upper()} "
    assert run(edit(docs, "50", set_text(f"{GD}/NameOfMaster", shouted))).problems == []
    result = run(edit(docs, "50", set_text(f"{GD}/NameOfMaster", "Somebody Else")))
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-MASTER", f"{CONTENT}/GeneralDeclaration/NameOfMaster")
    ]


def test_empty_crew_list() -> None:
    """A Crew List with no member at all is E-MASTER (and E-COUNT), not a schema error."""

    def empty(root: etree._Element) -> None:
        lists = root.find(CREW)
        assert lists is not None
        for member in lists.findall("CrewList"):
            lists.remove(member)

    assert sorted(codes(run(edit(generated(), "51", empty)))) == ["E-COUNT", "E-MASTER"]


def test_expiry_against_the_local_date_of_arrival() -> None:
    """Expiry is compared with the Vietnam date of ArrivalOrDepartureTime (23:30Z is the next day)."""
    docs = edit(generated(), "50", set_text(f"{GD}/ArrivalOrDepartureTime", "2026-03-13 23:30:00Z"))
    on_the_day = edit(docs, "51", set_text(f"{CREW}/CrewList[4]/PassportExpiryDate", "2026-03-14"))
    assert run(on_the_day).problems == []
    day_before = edit(docs, "51", set_text(f"{CREW}/CrewList[4]/PassportExpiryDate", "2026-03-13"))
    result = run(day_before)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-DOC-EXPIRED", f"{CONTENT}/CrewLists/CrewList[4]/PassportExpiryDate")
    ]
    assert result.problems[0].text.startswith("crew member 4's ")
    assert "expires before the arrival (2026-03-14)" in result.problems[0].text


def test_passenger_document_expired_before_departure() -> None:
    """In a departure dossier the text says departure and the field is the passenger's expiry date."""
    docs = generated(document_type="2")
    docs = edit(docs, "52", set_text(f"{PAX}/Passenger[2]/IdentityExpiryDate", "2020-01-01"))
    result = run(docs)
    assert codes(result) == ["E-DOC-EXPIRED"]
    assert "before the departure (" in result.problems[0].text


@pytest.mark.parametrize(
    ("born", "bad"),
    [("2026-03-13", True), ("2026-03-12", False), ("1906-03-12", False), ("1906-03-11", True)],
)
def test_date_of_birth_window(born: str, bad: bool) -> None:
    """A date of birth after `today` or more than 120 years before it is E-DOB; the edges are fine."""
    docs = edit(generated(), "52", set_text(f"{PAX}/Passenger[1]/DateOfBirth", born))
    result = run(docs, today=date(2026, 3, 12))
    assert codes(result) == (["E-DOB"] if bad else [])


def test_date_of_birth_uses_the_injected_today() -> None:
    """The same dossier is fine today and E-DOB when `today` is put before a birth date."""
    docs = generated()
    assert run(docs, today=date(2026, 3, 12)).problems == []
    assert "E-DOB" in codes(run(docs, today=date(1990, 1, 1)))


def test_tax_code_check_digit_and_branch() -> None:
    """A tax code failing the MST check digit is E-TAXCODE; a valid one with a branch number passes."""
    assert run(edit(generated(), "50", set_text(f"{GD}/ShipAgentTaxCode", "5701234566-002"))).problems == []
    result = run(edit(generated(), "50", set_text(f"{GD}/ShipAgentTaxCode", "0200578942")))
    assert [(p.code, p.document_type) for p in result.problems] == [("E-TAXCODE", "50")]


def test_duplicate_documents_across_crew_and_passengers() -> None:
    """A passenger carrying a crew member's document (type, number, issuer) is E-DUP-DOC at the passenger."""
    docs = generated()
    crew = etree.fromstring(docs[1]).find(f"{CREW}/CrewList[2]")
    assert crew is not None

    def copy(root: etree._Element) -> None:
        passenger = root.find(f"{PAX}/Passenger[3]")
        assert passenger is not None
        for source, target in (
            ("PassportTypeCode", "TypeOfIdentity"),
            ("PassportNumber", "SerialNumberOfIdentity"),
            ("PassportIssuingState", "IdentityIssuingState"),
        ):
            element = passenger.find(target)
            assert element is not None
            element.text = crew.findtext(source)

    result = run(edit(docs, "52", copy))
    assert "E-DUP-DOC" in codes(result)
    dup = [p for p in result.problems if p.code == "E-DUP-DOC"]
    assert [(p.xpath, p.text) for p in dup] == [
        (f"{CONTENT}/PassengerList/Passenger[3]/SerialNumberOfIdentity", dup[0].text)
    ]
    assert "crew member 2" in dup[0].text


def test_same_number_other_issuer_is_no_duplicate() -> None:
    """The same number issued by two states is two documents."""
    docs = generated()
    number = etree.fromstring(docs[1]).findtext(f"{CREW}/CrewList[2]/PassportNumber") or ""
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[3]/PassportNumber", number))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[3]/PassportIssuingState", "BR"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[2]/PassportIssuingState", "AR"))
    assert "E-DUP-DOC" not in codes(run(docs))


def test_incomplete_dossier() -> None:
    """Documents the General Declaration calls for and that did not arrive are each E-INCOMPLETE."""
    docs = without(without(generated(), "64"), "65")
    result = run(docs)
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-INCOMPLETE", f"{CONTENT}/GeneralDeclaration/ArmsOnBoard"),
        ("E-INCOMPLETE", f"{CONTENT}/GeneralDeclaration/NumberOfStowaways"),
    ]


def test_without_general_declaration() -> None:
    """Lists with no General Declaration are E-INCOMPLETE for the General Declaration."""
    result = run(without(generated(), "50"))
    assert codes(result) == ["E-INCOMPLETE"]
    assert result.problems[0].document_type == "50"


def test_several_problems_are_all_reported() -> None:
    """One dossier with four faults in three documents yields all four, in rule order."""
    docs = edit(generated(), "50", set_text(f"{GD}/ShipAgentTaxCode", "0200578942"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[6]/PassportExpiryDate", "2026-01-31"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[2]/DateOfBirth", "2099-01-01"))
    docs = edit(docs, "52", set_text(f"{PAX}/Passenger[4]/Nationality", "ZZ"))
    result = run(docs)
    assert codes(result) == ["E-COUNTRY", "E-DOC-EXPIRED", "E-DOB", "E-TAXCODE"]
    assert result.submission is None


def test_schema_error_stops_the_other_rules() -> None:
    """With a schema error in one document, the business rules are not run at all."""
    docs = edit(generated(), "50", set_text(f"{GD}/ShipAgentTaxCode", "0200578942"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[3]/Gender", "X"))
    result = run(docs)
    assert codes(result) == ["E-SCHEMA"]
    assert result.problems[0].xpath == f"{CONTENT}/CrewLists/CrewList[3]/Gender"


@pytest.mark.parametrize(
    "moment", ["2026-02-30 10:00:00", "0001-01-01 00:00:00+14:00", "9999-12-31 23:59:59-12:00"]
)
def test_calendar_check_of_arrival_time_is_a_schema_error(moment: str) -> None:
    """A time the pattern allows but the calendar (or UTC+07:00) cannot hold is E-SCHEMA, not a crash."""
    result = run(edit(generated(), "50", set_text(f"{GD}/ArrivalOrDepartureTime", moment)))
    assert [(p.code, p.xpath) for p in result.problems] == [
        ("E-SCHEMA", f"{CONTENT}/GeneralDeclaration/ArrivalOrDepartureTime")
    ]


def test_problem_texts_carry_no_personal_data() -> None:
    """No name, document number or birth date of the dossier appears in a problem text, in either language."""
    docs = sample("arrival-passenger-ferry")
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[3]/PassportExpiryDate", "2020-02-02"))
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[5]/DateOfBirth", "2099-09-09"))
    docs = edit(docs, "52", set_text(f"{PAX}/Passenger[7]/Nationality", "ZZ"))
    crew = etree.fromstring(docs[1]).find(f"{CREW}/CrewList[4]")
    assert crew is not None
    number = crew.findtext("PassportNumber") or ""
    docs = edit(docs, "51", set_text(f"{CREW}/CrewList[8]/PassportNumber", number))
    docs = edit(
        docs,
        "51",
        set_text(f"{CREW}/CrewList[8]/PassportIssuingState", crew.findtext("PassportIssuingState") or ""),
    )
    docs = edit(
        docs, "51", set_text(f"{CREW}/CrewList[8]/PassportTypeCode", crew.findtext("PassportTypeCode") or "")
    )
    result = run(docs)
    assert {"E-DOC-EXPIRED", "E-DOB", "E-COUNTRY", "E-DUP-DOC"} <= set(codes(result))
    personal: set[str] = set()
    for data in docs:
        root = etree.fromstring(data)
        for tag in (
            "FamilyName",
            "GivenName",
            "PassportNumber",
            "SerialNumberOfIdentity",
            "DateOfBirth",
            "PassportExpiryDate",
            "NameOfMaster",
            "PlaceOfBirth",
        ):
            personal.update(e.text for e in root.iter(tag) if e.text and len(e.text) > 2)
    for problem in result.problems:
        for text in (problem.text, render(problem, "vi")):
            assert not [value for value in personal if value in text], problem
