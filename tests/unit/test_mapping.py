"""The mapping engine: the spec is sound against both schemas, broken specs fail, lineage round-trips."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter.mapping.check import check_mapping
from nsw_adapter.mapping.engine import compile_spec, submission_plan
from nsw_adapter.mapping.lineage import Lineage, ListLineage
from nsw_adapter.mapping.spec import ElementSpec, MappingError, load_spec, parse_source, submission_spec
from nsw_adapter.resources import mapping_path
from tests.support.translation import edit, generated, run, sample

NS = {"bgp": "urn:vn:bienphong:portal:1"}


def test_contract_mapping_is_sound() -> None:
    """mappings/submission.yaml writes every required portal element and accounts for every NSW field."""
    report = check_mapping(submission_spec())
    assert report.errors == []
    assert report.sound
    assert "GeneralDeclaration.SignPlace" in report.unmapped_declared
    assert "PassengerList.Passenger.SerialNumberOfIdentity" in report.mapped


def _spec_without(element: str) -> object:
    spec = submission_spec()
    kept = tuple(e for e in spec.elements if e.element != element)
    return dataclasses.replace(spec, elements=kept)


def test_missing_required_element_is_caught() -> None:
    """Leaving out a required portal element (BorderGate) makes the mapping unsound."""
    report = check_mapping(_spec_without("BorderGate"))  # type: ignore[arg-type]
    assert not report.sound
    assert any("BorderGate: required" in e for e in report.errors)
    assert any("PortOfCallCode: neither mapped" in e for e in report.errors)


def test_unknown_target_and_source_are_caught() -> None:
    """A portal element that does not exist and an NSW field that does not exist are both errors."""
    spec = submission_spec()
    bogus = ElementSpec("Colour", sources=(parse_source("GeneralDeclaration.Colour", in_item=False),))
    report = check_mapping(dataclasses.replace(spec, elements=(*spec.elements, bogus)))
    assert any("/Submission/Colour: no such element" in e for e in report.errors)
    assert any("GeneralDeclaration.Colour does not exist" in e for e in report.errors)


def test_optional_required_element_is_caught() -> None:
    """Marking a required portal element optional is an error (it could be left out)."""
    spec = submission_spec()
    elements = tuple(
        dataclasses.replace(e, optional=True) if e.element == "Procedure" else e for e in spec.elements
    )
    report = check_mapping(dataclasses.replace(spec, elements=elements))
    assert any("Procedure: required by submission.xsd but marked optional" in e for e in report.errors)


def test_out_of_order_elements_are_caught() -> None:
    """Elements written out of the schema's sequence order are an error."""
    spec = submission_spec()
    elements = list(spec.elements)
    elements[3], elements[4] = elements[4], elements[3]
    report = check_mapping(dataclasses.replace(spec, elements=tuple(elements)))
    assert any("out of the schema's order" in e for e in report.errors)


def test_unknown_transform_is_refused(tmp_path: Path) -> None:
    """A mapping file naming a transform that does not exist does not load."""
    text = (
        mapping_path("submission.yaml")
        .read_text(encoding="utf-8")
        .replace("transform: procedure", "transform: nope")
    )
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match="unknown transform"):
        load_spec(path)


def test_generated_source_is_kept_and_compiles_again() -> None:
    """The compiled plan keeps its generated source; compiling the spec twice gives the same source."""
    plan = submission_plan()
    assert "def render(D, H, C, L):" in plan.source
    assert compile_spec(submission_spec()).source == plan.source


def test_lineage_round_trip() -> None:
    """to_bytes / from_bytes keep a lineage exactly; the bytes are deterministic."""
    result = run(generated(crew=8, passengers=12, stowaways=2, arms=2))
    assert result.lineage is not None
    data = result.lineage.to_bytes()
    again = Lineage.from_bytes(data)
    assert again == result.lineage
    assert again.to_bytes() == data


def test_lineage_is_small_for_big_lists() -> None:
    """Positions 1..n in order are stored as a count, so 2,000 passengers cost no more than a few."""
    result = run(generated(crew=5, passengers=2000, arms=0, stowaways=0))
    assert result.lineage is not None
    assert len(result.lineage.to_bytes()) < 4000


@pytest.mark.parametrize(
    ("portal", "expected"),
    [
        ("/bgp:Submission/bgp:Vessel/bgp:IMO", ("50", "/Envelope/Body/Content/GeneralDeclaration/IMONumber")),
        ("/Submission/Vessel/IMO", ("50", "/Envelope/Body/Content/GeneralDeclaration/IMONumber")),
        (
            "/bgp:Submission/bgp:BorderGate",
            ("50", "/Envelope/Body/Content/GeneralDeclaration/PortOfCallCode"),
        ),
        ("/bgp:Submission/bgp:ClientReference", ("50", "/Envelope/Header/Subject/reference")),
        (
            "/bgp:Submission/bgp:Master/bgp:Nationality",
            ("51", "/Envelope/Body/Content/CrewLists/CrewList[1]/Nationality"),
        ),
        (
            "/bgp:Submission/bgp:Persons/bgp:Person[1]/bgp:DocExpiry",
            ("51", "/Envelope/Body/Content/CrewLists/CrewList[1]/PassportExpiryDate"),
        ),
        (
            "/bgp:Submission/bgp:Persons/bgp:Person[15]/bgp:DocExpiry",
            ("52", "/Envelope/Body/Content/PassengerList/Passenger[3]/IdentityExpiryDate"),
        ),
        (
            "/bgp:Submission/bgp:Persons/bgp:Person[13]",
            ("52", "/Envelope/Body/Content/PassengerList/Passenger[1]"),
        ),
        (
            "/bgp:Submission/bgp:Persons/bgp:Person[53]/bgp:FullName",
            ("65", "/Envelope/Body/Content/StowawayDeclaration/Stowaway[1]/FamilyName"),
        ),
        ("/bgp:Submission/bgp:ClientMessageId", None),
        ("/bgp:Submission/bgp:Persons/bgp:Person[54]", None),
        ("/bgp:Submission/bgp:Arms/bgp:Item[1]/bgp:Kind", None),
        ("/bgp:Submission/bgp:Nothing", None),
        ("not a path [", None),
    ],
)
def test_locate_in_the_ferry_sample(portal: str, expected: tuple[str, str] | None) -> None:
    """Portal XPaths (prefixed or not) point to the NSW document and field they came from."""
    result = run(sample("arrival-passenger-ferry"), client_message_id="x")
    assert result.lineage is not None
    assert Lineage.from_bytes(result.lineage.to_bytes()).locate(portal) == expected


def test_locate_uses_real_positions_when_codes_are_out_of_order() -> None:
    """Person[k] is the k-th by code; lineage finds that person's element where it really stands."""
    crew, passengers = 4, 10
    order = list(range(1, passengers + 1))
    random.Random(2).shuffle(order)

    def shuffle(root: etree._Element) -> None:
        head = root.find("Body/Content/PassengerList")
        assert head is not None
        people = head.findall("Passenger")
        for person in people:
            head.remove(person)
        for code in order:
            head.append(people[code - 1])

    result = run(edit(generated(crew=crew, passengers=passengers, arms=0, stowaways=0), "52", shuffle))
    assert result.ok
    assert result.lineage is not None
    assert result.submission is not None
    root = etree.fromstring(result.submission)
    for k in range(1, passengers + 1):
        person = root.find(f"bgp:Persons/bgp:Person[{crew + k}]", NS)
        assert person is not None
        assert person.findtext("bgp:No", namespaces=NS) == str(k)
        where = result.lineage.locate(f"/bgp:Submission/bgp:Persons/bgp:Person[{crew + k}]/bgp:DocNumber")
        assert where == (
            "52",
            f"/Envelope/Body/Content/PassengerList/Passenger[{order.index(k) + 1}]/SerialNumberOfIdentity",
        )


def test_locate_arms_items() -> None:
    """Arms/Item[k] points into the Arms Declaration (cargo sample, two items)."""
    result = run(sample("arrival-general-cargo"), client_message_id="x")
    assert result.lineage is not None
    assert result.lineage.locate("/bgp:Submission/bgp:Arms/bgp:Item[2]/bgp:Kind") == (
        "64",
        "/Envelope/Body/Content/ArmsDeclaration/Item[2]/Kind",
    )


def test_list_lineage_fields_name_nsw_elements() -> None:
    """Each list lineage maps portal children to NSW element names of that list."""
    result = run(sample("arrival-passenger-ferry"), client_message_id="x")
    assert result.lineage is not None
    groups = {g.category: g for g in result.lineage.lists}
    assert set(groups) == {"TV", "HK", "TT"}
    assert isinstance(groups["HK"], ListLineage)
    assert groups["HK"].fields["EmbarkPort"] == "PortOfEmbarkationCode"
    assert groups["TT"].fields["EmbarkPort"] == "PortOfBoardingCode"
    assert len(groups["HK"].positions) == 40


def test_every_portal_field_has_a_source() -> None:
    """Every leaf of a full submission locates to an NSW field, but for the adapter's own values."""
    result = run(
        generated(crew=4, passengers=3, arms=2, stowaways=2, seed=21), supersedes="CKCHPG-2026-000001"
    )
    assert result.submission is not None
    assert result.lineage is not None
    own = {"ClientMessageId", "Supersedes", "Category"}
    missing = []
    for element in etree.fromstring(result.submission).iter():
        if len(element):
            continue
        chain = [*reversed(list(element.iterancestors())), element]
        path = "/" + "/".join(f"bgp:{etree.QName(e).localname}[{_position(e)}]" for e in chain)
        where = result.lineage.locate(path)
        if where is None and etree.QName(element).localname not in own:
            missing.append(path)
        assert where is None or where[1].startswith("/Envelope/"), where
    assert missing == []


def _position(element: etree._Element) -> int:
    parent = element.getparent()
    if parent is None:
        return 1
    return [child for child in parent if child.tag == element.tag].index(element) + 1


@pytest.mark.parametrize("bad", ['Name"); import os; ("', "Vessel/IMO", "1st"])
def test_names_that_are_not_identifiers_are_refused(bad: str) -> None:
    """Element and field names go into generated code, so anything but a plain name is refused."""
    with pytest.raises(MappingError):
        parse_source(f"GeneralDeclaration.{bad}", in_item=False)
    from nsw_adapter.mapping.spec import _element

    with pytest.raises(MappingError):
        _element({"element": bad, "value": "x"}, in_item=False)
