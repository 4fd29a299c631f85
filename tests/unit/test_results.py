"""Result envelopes (type 26) built from portal answers, compared with the contract's samples."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter.clients.portal import (
    PortalState,
    Reason,
    Receipt,
    ShorePass,
    Status,
    parse_portal_time,
)
from nsw_adapter.envelope import VIETNAM
from nsw_adapter.errors import Problem
from nsw_adapter.results import (
    ResultContext,
    accepted,
    cancelled,
    decided,
    rejected_locally,
    rejection_factory,
    station_of_port,
    station_of_receipt,
)
from nsw_adapter.store import OutgoingMessage
from nsw_adapter.xml import schema

CARGO = ResultContext("HPH-2026-000123", "1", "NSW2026031209142700001")
FERRY = ResultContext("HON-2026-000045", "1", "NSW2026031914203300015")


def _comparable(data: bytes) -> bytes:
    """An envelope without the parts that differ on every build (messageId, sendDate) or are comments."""
    root = etree.fromstring(data, parser=etree.XMLParser(remove_comments=True, remove_blank_text=True))
    for path in ("Header/Reference/messageId", "Header/Subject/sendDate"):
        node = root.find(path)
        assert node is not None
        node.text = "X"
    return bytes(etree.tostring(root, method="c14n"))


def _sample(samples: Path, name: str) -> bytes:
    return (samples / "nsw" / "results" / name).read_bytes()


def _valid(message: OutgoingMessage) -> etree._Element:
    root = etree.fromstring(message.payload)
    validator = schema("envelope")
    assert validator.validate(root), validator.error_log
    assert root.findtext("Header/Reference/messageId") == message.message_id
    assert root.findtext("Header/Subject/function") == message.function
    return root


def test_accepted_matches_the_21_sample(samples: Path) -> None:
    """A receipt becomes the 21 Result of the sample, ApprovalDate the time the portal recorded it."""
    receipt = Receipt("CKCHPG-2026-004517", parse_portal_time("12/03/2026 09:16"), duplicate=False)
    message = accepted(CARGO, receipt)
    _valid(message)
    assert _comparable(message.payload) == _comparable(_sample(samples, "result-21-accepted.xml"))


def test_cleared_matches_the_23_sample(samples: Path) -> None:
    """A CLEARED status becomes the 23 Result with clearance number, officer and crew shore passes."""
    at = parse_portal_time
    status = Status(
        "CKCHPG-2026-004517",
        PortalState.CLEARED,
        decided_at=at("14/03/2026 07:05"),
        officer="Đại úy Lê Quang Huy",
        clearance_number="CKCHPG/NC/2026/001834",
        shore_passes=(
            ShorePass("TV", 3, "CKCHPG-DB-2026-00731", at("14/03/2026 08:00"), at("16/03/2026 22:00")),
            ShorePass("TV", 7, "CKCHPG-DB-2026-00732", at("14/03/2026 08:00"), at("16/03/2026 22:00")),
        ),
    )
    message = decided(CARGO, status)
    assert message is not None
    _valid(message)
    assert _comparable(message.payload) == _comparable(_sample(samples, "result-23-completed.xml"))


def test_passenger_shore_pass_is_keyed_by_passenger_code() -> None:
    """A pass for category HK names the PassengerCode; a stowaway's pass has no NSW key and is left out."""
    at = parse_portal_time("14/03/2026 08:00")
    status = Status(
        "CKCHGI-2026-000218",
        PortalState.CLEARED,
        decided_at=at,
        clearance_number="CKCHGI/NC/2026/000001",
        shore_passes=(ShorePass("HK", 12, "P1", at, at), ShorePass("TT", 1, "P2", at, at)),
    )
    message = decided(FERRY, status)
    assert message is not None
    root = _valid(message)
    passes = root.findall("Body/Content/Result/ShorePass")
    assert [p.findtext("PassengerCode") for p in passes] == ["12"]


def test_rejection_points_into_the_nsw_documents(samples: Path) -> None:
    """Portal reasons become Error items whose Field is the lineage's NSW XPath, as in the 22 sample."""
    lineage = {
        "/bgp:Submission/bgp:Persons/bgp:Person[17]/bgp:DocNumber": (
            "52",
            "/Envelope/Body/Content/PassengerList/Passenger[5]/SerialNumberOfIdentity",
        ),
        "/bgp:Submission/bgp:Persons/bgp:Person[50]/bgp:VisaNumber": (
            "52",
            "/Envelope/Body/Content/PassengerList/Passenger[38]/VisaNumber",
        ),
    }
    status_xml = etree.parse(str(samples / "bgp" / "status-rejected.xml")).getroot()
    ns = {"b": "urn:vn:bienphong:portal:1"}
    reasons = tuple(
        Reason(r.findtext("b:Code", namespaces=ns) or "", r.findtext("b:Text", namespaces=ns) or "",
               r.findtext("b:Field", namespaces=ns))
        for r in status_xml.findall("b:Reason", ns)
    )  # fmt: skip
    status = Status(
        "CKCHGI-2026-000218",
        PortalState.REJECTED,
        decided_at=parse_portal_time("20/03/2026 07:40"),
        officer="Thiếu tá Nguyễn Minh Tuấn",
        reasons=reasons,
    )
    message = decided(FERRY, status, lineage.get)
    assert message is not None
    _valid(message)
    assert _comparable(message.payload) == _comparable(_sample(samples, "result-22-rejected.xml"))


def test_a_reason_the_lineage_cannot_place_has_no_field() -> None:
    """A portal Field the lineage does not know is dropped, never passed on as a portal XPath."""
    status = Status(
        "CKCHPG-2026-000001",
        PortalState.REJECTED,
        decided_at=parse_portal_time("20/03/2026 07:40"),
        reasons=(Reason("BG-OTHER", "Something.", "/bgp:Submission/bgp:Unknown"),),
    )
    message = decided(CARGO, status, lambda _xpath: None)
    assert message is not None
    error = _valid(message).find("Body/Content/Result/Error")
    assert error is not None
    assert error.find("Field") is None
    assert error.find("DocumentType") is None


def test_cancelled_matches_the_24_sample(samples: Path) -> None:
    """A confirmed cancellation becomes the 24 Result (ApprovalStatus 3) answering the cancellation."""
    context = ResultContext("HPH-2026-000402", "1", "NSW2026051916054000014")
    message = cancelled(context, "CKCHPG-2026-005120", parse_portal_time("19/05/2026 16:06"))
    _valid(message)
    assert _comparable(message.payload) == _comparable(_sample(samples, "result-24-cancelled.xml"))


def test_local_rejection_matches_the_22_local_sample(samples: Path) -> None:
    """Problems found by the adapter go out as a 22 without a receipt, every problem an Error item."""
    problem = Problem(
        "E-DOC-EXPIRED",
        "Crew member 6 (Wang Jianguo): passport EJ5820174 expired on 2026-02-28, "
        "before the arrival on 2026-03-14.",
        "/Envelope/Body/Content/CrewLists/CrewList[6]/PassportExpiryDate",
        "51",
    )
    context = ResultContext("HPH-2026-000911", "1", "NSW2026031210112700047", station="CKCHPG")
    message = rejected_locally(context, [problem], now=datetime(2026, 3, 12, 10, 11, 39, tzinfo=VIETNAM))
    _valid(message)
    assert _comparable(message.payload) == _comparable(_sample(samples, "result-22-local.xml"))


def test_rejection_factory_builds_an_incomplete_rejection() -> None:
    """The store's RejectionFactory makes a valid 22 carrying E-INCOMPLETE and a fresh messageId."""
    problems = [Problem("E-INCOMPLETE", "The Arms Declaration did not arrive in time.", None, "64")]
    first = rejection_factory("HPH-2026-000914", "1", "NSW1", problems)
    second = rejection_factory("HPH-2026-000914", "1", "NSW1", problems)
    root = _valid(first)
    assert root.findtext("Body/Content/Result/Error/Code") == "E-INCOMPLETE"
    assert first.message_id != second.message_id


@pytest.mark.parametrize("state", [PortalState.PENDING, PortalState.SUPERSEDED])
def test_undecided_states_have_no_result(state: PortalState) -> None:
    """PENDING and SUPERSEDED tell the NSW nothing."""
    assert decided(CARGO, Status("CKCHPG-2026-1", state)) is None


def test_station_codes() -> None:
    """Stations come from a portal number's prefix or from the border-gate code list."""
    assert station_of_receipt("CKCHPG-2026-004517") == "CKCHPG"
    assert station_of_receipt("X-1") is None
    assert station_of_port("VNHON") == "CKCHGI"
    assert station_of_port("VNHAN") is None


def test_long_texts_are_cut_to_the_schema_limit() -> None:
    """A description longer than 1,000 characters is cut so the Result still validates."""
    message = rejected_locally(CARGO, [Problem("E-SCHEMA", "x " * 900, None, "51")])
    _valid(message)
