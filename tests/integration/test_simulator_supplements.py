"""Supplement requests in the portal simulator (SUPPLEMENT_REQUESTED, BG-SUPP-EXPIRED, FINAL), and the
NSW simulator answering a Result 25 as an agent would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from zeep import Client
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.xml import schema

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
WSDL = str(ROOT / "schemas" / "bgp" / "portal.wsdl")
SUBMISSION = ROOT / "fixtures" / "samples" / "bgp" / "submissions" / "arrival-general-cargo.xml"
BGP = "urn:vn:bienphong:portal:1"
NS = {"bgp": BGP}
ASKED = "SUPP00001"
DELAY, DEADLINE = 0.2, 1.0


@pytest.fixture
def portal() -> Iterator[PortalSimulator]:
    with PortalSimulator(
        decision_delay=DELAY, supplements={ASKED}, supplement_deadline=DEADLINE
    ) as simulator:
        yield simulator


HISTORY = HistoryPlugin()


@pytest.fixture
def service(portal: PortalSimulator) -> Any:
    """A zeep proxy on the simulator; HISTORY keeps the last answer's raw XML."""
    client = Client(
        WSDL,
        wsse=UsernameToken("demo", "demo", use_digest=True),
        transport=Transport(operation_timeout=5),
        plugins=[HISTORY],
    )
    return client.create_service(f"{{{BGP}}}BorderGuardPortalBinding", portal.url)


def submission(client_message_id: str, *, asked_of: int | None = None, supersedes: str | None = None) -> Any:
    """The sample cargo arrival, its person `asked_of` (1-based) carrying the listed document number."""
    root = etree.parse(str(SUBMISSION)).getroot()
    root.find("bgp:ClientMessageId", NS).text = client_message_id  # type: ignore[union-attr]
    if asked_of is not None:
        person = root.findall("bgp:Persons/bgp:Person", NS)[asked_of - 1]
        person.find("bgp:DocNumber", NS).text = ASKED  # type: ignore[union-attr]
    if supersedes is not None:
        element = etree.Element(f"{{{BGP}}}Supersedes")
        element.text = supersedes
        root.find("bgp:ClientMessageId", NS).addnext(element)  # type: ignore[union-attr]
    return root


def submit(service: Any, element: etree._Element) -> str:
    types = service._binding.wsdl.types
    receipt = service.SubmitDeclaration(
        Submission=types.get_element(f"{{{BGP}}}Submission").parse(element, types)
    )
    return str(receipt.ReceiptNumber)


def status(service: Any, receipt: str) -> etree._Element:
    """The raw Status element of one receipt, validated against status.xsd."""
    service.GetProcessingStatus(ReceiptNumber=[receipt])
    received = HISTORY.last_received
    assert received is not None
    found: etree._Element | None = received["envelope"].find(f".//{{{BGP}}}Status")
    assert found is not None
    validator = schema("status")
    assert validator.validate(found), validator.error_log
    return found


def state_of(service: Any, receipt: str) -> str:
    return str(service.GetProcessingStatus(ReceiptNumber=[receipt])[0].State)


def wait_state(service: Any, receipt: str, wanted: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while (found := state_of(service, receipt)) != wanted:
        assert time.monotonic() < deadline, f"{receipt} is {found}, not {wanted}"
        time.sleep(0.05)


def test_a_listed_document_draws_a_supplement_request_instead_of_the_first_decision(
    portal: PortalSimulator, service: Any
) -> None:
    """The request names the person's DocNumber, has no DecidedAt or Officer of its own, and validates."""
    receipt = submit(service, submission("s1", asked_of=5))
    wait_state(service, receipt, "SUPPLEMENT_REQUESTED")
    found = status(service, receipt)
    assert found.find("bgp:DecidedAt", NS) is None
    assert found.find("bgp:Officer", NS) is None
    request = found.find("bgp:SupplementRequest", NS)
    assert request is not None
    assert request.findtext("bgp:RequestNumber", namespaces=NS, default="").startswith("CKCHPG-")
    items = [(i.findtext("bgp:Code", namespaces=NS), i.findtext("bgp:Field", namespaces=NS)) for i in request]
    items = [item for item in items if item[0]]
    assert items == [("BG-SUPP-DOC", "/bgp:Submission/bgp:Persons/bgp:Person[5]/bgp:DocNumber")]
    assert ASKED not in etree.tostring(request, encoding="unicode")  # the officer's words name no number
    assert portal.admin_state()["counters"]["supplement_requests"] == 1


def test_an_answer_supersedes_the_request_and_is_decided_as_usual(service: Any) -> None:
    """The superseding submission (still carrying the number) is cleared: one request per dossier."""
    first = submit(service, submission("a1", asked_of=5))
    wait_state(service, first, "SUPPLEMENT_REQUESTED")
    second = submit(service, submission("a2", asked_of=5, supersedes=first))
    assert state_of(service, first) == "SUPERSEDED"
    wait_state(service, second, "CLEARED")


def test_an_unanswered_request_is_rejected_bg_supp_expired_at_respond_by(
    portal: PortalSimulator, service: Any
) -> None:
    """At RespondBy the portal rejects the receipt itself: one BG-SUPP-EXPIRED reason, no Field or Officer."""
    receipt = submit(service, submission("e1", asked_of=2))
    wait_state(service, receipt, "SUPPLEMENT_REQUESTED")
    wait_state(service, receipt, "REJECTED", timeout=DEADLINE + 3)
    found = status(service, receipt)
    assert found.find("bgp:Officer", NS) is None
    reasons = found.findall("bgp:Reason", NS)
    assert [r.findtext("bgp:Code", namespaces=NS) for r in reasons] == ["BG-SUPP-EXPIRED"]
    assert reasons[0].find("bgp:Field", NS) is None
    assert portal.admin_state()["counters"]["supplement_expired"] == 1


def test_an_answer_after_respond_by_supersedes_the_rejection(service: Any) -> None:
    """Arriving after RespondBy, the amendment takes the amendment-after-decision path: a new receipt."""
    first = submit(service, submission("l1", asked_of=2))
    wait_state(service, first, "SUPPLEMENT_REQUESTED")
    time.sleep(DEADLINE + 0.3)
    second = submit(service, submission("l2", supersedes=first))
    assert state_of(service, first) == "SUPERSEDED"
    wait_state(service, second, "CLEARED")


@pytest.mark.parametrize("how", ["cancelled", "superseded"])
def test_superseding_a_cancelled_or_superseded_receipt_is_refused_final(service: Any, how: str) -> None:
    """Nothing replaces a CANCELLED or SUPERSEDED receipt: the fault FINAL, and no new receipt."""
    first = submit(service, submission(f"f1{how}"))
    if how == "cancelled":
        service.CancelDeclaration(ReceiptNumber=first, Reason="Voyage cancelled.")
    else:
        submit(service, submission(f"f2{how}", supersedes=first))
    with pytest.raises(Fault) as refused:
        submit(service, submission(f"f3{how}", supersedes=first))
    assert refused.value.detail is not None
    assert refused.value.detail.findtext(f".//{{{BGP}}}Code") == "FINAL"
