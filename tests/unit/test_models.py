"""The NSW document models: read from validated XML, typed, whitespace folded as xs:token does."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree
from pydantic import ValidationError

from nsw_adapter.envelope import read_message
from nsw_adapter.model import (
    CrewLists,
    GeneralDeclaration,
    PassengerList,
    StowawayDeclaration,
    read_document,
)
from tests.support.translation import sample


def _content(data: bytes) -> etree._Element:
    return read_message(data).content


def test_general_declaration_is_typed() -> None:
    """Counts are ints, flags bools, dates dates; times and tonnage stay as written."""
    gd = read_document(_content(sample("arrival-general-cargo")[0]))
    assert isinstance(gd, GeneralDeclaration)
    assert gd.NumberOfCrew == 21
    assert gd.ArmsOnBoard is True
    assert gd.SignDate == date(2026, 3, 12)
    assert gd.ArrivalOrDepartureTime == "2026-03-13 23:30:00Z"


def test_lists_keep_document_order_and_empty_given_names() -> None:
    """List items come in document order; an empty GivenName reads as ""."""
    docs = sample("arrival-passenger-ferry")
    crew = read_document(_content(docs[1]))
    assert isinstance(crew, CrewLists)
    assert [m.CrewCode for m in crew.CrewList] == list(range(1, 13))
    assert any(m.GivenName == "" for m in crew.CrewList)  # a mononym
    pax = read_document(_content(docs[2]))
    assert isinstance(pax, PassengerList)
    assert len(pax.Passenger) == 40


def test_stowaway_known_by_description_only() -> None:
    """A stowaway without a name has None for the name fields."""
    stow = read_document(_content(sample("arrival-passenger-ferry")[3]))
    assert isinstance(stow, StowawayDeclaration)
    assert stow.Stowaway[0].FamilyName is None
    assert stow.Stowaway[0].EstimatedAge == 25


def test_whitespace_is_collapsed_like_xs_token() -> None:
    """Leading, trailing and inner runs of whitespace fold as the schema judges them; comments are skipped."""
    data = sample("arrival-general-cargo")[1].replace(
        b"<FamilyName>Kovalenko</FamilyName>", b"<FamilyName>\n   Kova   lenko \t</FamilyName><!-- note -->"
    )
    crew = read_document(_content(data))
    assert isinstance(crew, CrewLists)
    assert crew.CrewList[0].FamilyName == "Kova lenko"


def test_models_are_frozen_and_strict_about_fields() -> None:
    """Models cannot be changed, and unknown fields are refused."""
    gd = read_document(_content(sample("arrival-general-cargo")[0]))
    with pytest.raises(ValidationError):
        gd.NumberOfCrew = 3  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        GeneralDeclaration.model_validate({**gd.model_dump(), "Colour": "red"})


def test_model_fields_follow_the_schema_order() -> None:
    """Item models declare their fields in envelope.xsd's sequence order (the fast reader relies on it)."""
    import xmlschema

    from nsw_adapter.model import ArmsItem, CrewMember, Passenger, Stowaway
    from nsw_adapter.resources import schema_path

    xsd = xmlschema.XMLSchema(str(schema_path("nsw", "envelope.xsd").resolve()), allow="sandbox")
    for document, item, model in (
        ("CrewLists", "CrewList", CrewMember),
        ("PassengerList", "Passenger", Passenger),
        ("ArmsDeclaration", "Item", ArmsItem),
        ("StowawayDeclaration", "Stowaway", Stowaway),
    ):
        element = next(c for c in xsd.elements[document].iterchildren() if c.local_name == item)
        assert [c.local_name for c in element.iterchildren()] == list(model.model_fields), item


def test_missing_visa_numbers_are_read_by_position() -> None:
    """Crew with and without VisaNumber in one list read right on the positional path."""
    docs = sample("arrival-general-cargo")
    crew = read_document(_content(docs[1]))
    assert isinstance(crew, CrewLists)
    root = etree.fromstring(docs[1])
    for member, element in zip(crew.CrewList, root.iter("CrewList"), strict=True):
        assert member.VisaNumber == element.findtext("VisaNumber")
        assert member.GoAshore == (element.findtext("GoAshore") == "1")


def test_collapse_is_xml_whitespace_only() -> None:
    """Inner tabs, newlines and runs of spaces fold to one space; a no-break space inside stays."""
    from nsw_adapter.model import _collapse

    assert _collapse("Nguyễn\t\tVăn\r\n Đức") == "Nguyễn Văn Đức"
    assert _collapse("Jean\u00a0Paul") == "Jean\u00a0Paul"
    assert _collapse("plain text") == "plain text"
