"""The Border Guard portal simulator over real loopback HTTP, driven by zeep clients."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from lxml import etree
from zeep import Client
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.soap import SOAP_ENV, username_token_header
from nsw_adapter.xml import schema
from tests.support.portal_service import (
    BGP,
    NS,
    SUBMISSIONS,
    fault_code,
    make_service,
    submission,
    submit,
)

pytestmark = pytest.mark.timeout(30)

DELAY = 0.3
WATCHED = "WATCH0001"


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalSimulator]:
    """One portal simulator for the module (reset before each test)."""
    with PortalSimulator(decision_delay=DELAY, watchlist={WATCHED}) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(portal: PortalSimulator) -> None:
    portal.reset()


@pytest.fixture
def service(portal: PortalSimulator) -> Any:
    """A zeep service of the demo user on the simulator."""
    return make_service(portal.url)


def raw_call(url: str, payload: etree._Element, *, token: etree._Element | None = None) -> requests.Response:
    """POST a SOAP request by hand (for payloads zeep would refuse to send)."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header").append(
        token if token is not None else username_token_header("demo", "demo")
    )
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return requests.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=5)


def raw_statuses(portal: PortalSimulator, numbers: list[str]) -> list[etree._Element]:
    """GetProcessingStatus by hand, returning the Status elements (to validate against status.xsd)."""
    payload = etree.Element(f"{{{BGP}}}GetProcessingStatus")
    for number in numbers:
        etree.SubElement(payload, f"{{{BGP}}}ReceiptNumber").text = number
    reply = raw_call(portal.url, payload)
    assert reply.status_code == 200
    return etree.fromstring(reply.content).findall(f".//{{{BGP}}}Status")


def wait_decided(portal: PortalSimulator, number: str) -> etree._Element:
    """Poll until the declaration is no longer PENDING; return its Status element."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        (status,) = raw_statuses(portal, [number])
        if status.findtext("bgp:State", namespaces=NS) != "PENDING":
            return status
        time.sleep(0.05)
    raise AssertionError("no decision within 5 s")


def assert_valid_status(status: etree._Element) -> None:
    """The Status element validates against status.xsd."""
    validator = schema("status")
    assert validator.validate(status), validator.error_log


# --- receipts and duplicates ------------------------------------------------------------------


def test_submission_gets_a_receipt_and_a_repeat_gets_the_same_one(
    portal: PortalSimulator, service: Any
) -> None:
    """A repeated ClientMessageId is answered with the first receipt and Duplicate true, and counted."""
    first = submit(service, submission())
    again = submit(service, submission())
    assert re.fullmatch(r"CKCHPG-\d{4}-\d{6}", first.ReceiptNumber)
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", first.ReceivedAt)
    assert first.Duplicate is False
    assert (again.ReceiptNumber, again.ReceivedAt, again.Duplicate) == (
        first.ReceiptNumber,
        first.ReceivedAt,
        True,
    )
    dossier = portal.admin_state()["dossiers"]["HPH-2026-000123"]
    assert (dossier["submissions"], dossier["duplicates"], len(dossier["receipts"])) == (1, 1, 1)


def test_status_is_pending_then_cleared_with_shore_passes(portal: PortalSimulator, service: Any) -> None:
    """PENDING before the delay; then CLEARED with a pass for each ShorePassRequested person."""
    receipt = submit(service, submission())
    (pending,) = raw_statuses(portal, [receipt.ReceiptNumber])
    assert pending.findtext("bgp:State", namespaces=NS) == "PENDING"
    assert_valid_status(pending)
    cleared = wait_decided(portal, receipt.ReceiptNumber)
    assert_valid_status(cleared)
    assert cleared.findtext("bgp:State", namespaces=NS) == "CLEARED"
    assert re.fullmatch(
        r"CKCHPG/NC/\d{4}/\d{6}", cleared.findtext("bgp:ClearanceNumber", namespaces=NS) or ""
    )
    requested = submission().xpath(
        "bgp:Persons/bgp:Person[bgp:ShorePassRequested='true']/bgp:No/text()", namespaces=NS
    )
    assert isinstance(requested, list)
    passes = cleared.findall("bgp:ShorePasses/bgp:ShorePass", NS)
    assert [p.findtext("bgp:PersonNo", namespaces=NS) for p in passes] == list(requested)
    assert len(passes) == 2
    assert all(
        re.fullmatch(r"CKCHPG-DB-\d{4}-\d{5}", p.findtext("bgp:PassNumber", namespaces=NS) or "")
        for p in passes
    )
    # zeep reads the same answer
    (status,) = service.GetProcessingStatus(ReceiptNumber=[receipt.ReceiptNumber])
    assert status.State == "CLEARED"
    assert [p.Category for p in status.ShorePasses.ShorePass] == ["TV", "TV"]


def test_passengers_get_shore_passes_too(portal: PortalSimulator, service: Any) -> None:
    """Passengers with ShorePassRequested get a pass with Category HK."""
    receipt = submit(service, submission("arrival-passenger-ferry"))
    status = wait_decided(portal, receipt.ReceiptNumber)
    assert_valid_status(status)
    categories = {p.findtext("bgp:Category", namespaces=NS) for p in status.iter(f"{{{BGP}}}ShorePass")}
    assert categories == {"HK"}


def test_every_sample_submission_is_cleared(portal: PortalSimulator, service: Any) -> None:
    """The contract's sample submissions break no rule of the portal's own checks."""
    numbers = [
        submit(service, submission(path.stem)).ReceiptNumber for path in sorted(SUBMISSIONS.glob("*.xml"))
    ]
    for number in numbers:
        status = wait_decided(portal, number)
        assert status.findtext("bgp:State", namespaces=NS) == "CLEARED", etree.tostring(status)


# --- rejections -------------------------------------------------------------------------------


def test_watchlisted_document_is_rejected_with_doc_alert(portal: PortalSimulator, service: Any) -> None:
    """A document number on the watchlist rejects the declaration with BG-DOC-ALERT at that DocNumber."""
    element = submission()
    person = element.findall("bgp:Persons/bgp:Person", NS)[4]
    doc_number = person.find("bgp:DocNumber", NS)
    assert doc_number is not None
    doc_number.text = WATCHED
    status = wait_decided(portal, submit(service, element).ReceiptNumber)
    assert_valid_status(status)
    assert status.findtext("bgp:State", namespaces=NS) == "REJECTED"
    reasons = [
        (r.findtext("bgp:Code", namespaces=NS), r.findtext("bgp:Field", namespaces=NS))
        for r in status.findall("bgp:Reason", NS)
    ]
    assert reasons == [("BG-DOC-ALERT", "/bgp:Submission/bgp:Persons/bgp:Person[5]/bgp:DocNumber")]
    assert WATCHED not in (status.findtext("bgp:Reason/bgp:Text", namespaces=NS) or "")


def test_business_rules_reject_with_bgp_xpaths(portal: PortalSimulator, service: Any) -> None:
    """Every broken business rule becomes a Reason whose Field is a bgp XPath that selects the field."""
    element = submission(client_message_id="rules-1")
    persons = element.findall("bgp:Persons/bgp:Person", NS)
    expiry = persons[16].find("bgp:DocExpiry", NS)
    assert expiry is not None
    expiry.text = "01/01/2020"
    imo = element.find("bgp:Vessel/bgp:IMO", NS)
    assert imo is not None
    imo.text = "9471538"
    count = element.find("bgp:CrewCount", NS)
    assert count is not None
    count.text = "22"
    status = wait_decided(portal, submit(service, element).ReceiptNumber)
    assert_valid_status(status)
    assert status.findtext("bgp:State", namespaces=NS) == "REJECTED"
    reasons = {
        r.findtext("bgp:Code", namespaces=NS): r.findtext("bgp:Field", namespaces=NS)
        for r in status.findall("bgp:Reason", NS)
    }
    assert reasons == {
        "E-IMO": "/bgp:Submission/bgp:Vessel/bgp:IMO",
        "E-COUNT": "/bgp:Submission/bgp:CrewCount",
        "E-DOC-EXPIRED": "/bgp:Submission/bgp:Persons/bgp:Person[17]/bgp:DocExpiry",
    }
    for field in reasons.values():
        assert field is not None
        found = element.getroottree().xpath(field, namespaces=NS)
        assert isinstance(found, list)
        assert len(found) == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda s: _set(s, "bgp:Agent/bgp:TaxCode", "0200578945"), "E-TAXCODE"),
        (lambda s: _set(s, "bgp:BorderGate", "CKCXXX"), "E-PORT"),
        (lambda s: _set(s, "bgp:Persons/bgp:Person[2]/bgp:No", "1"), "E-SEQ"),
        (lambda s: _set(s, "bgp:Persons/bgp:Person[1]/bgp:Rank", "CHO"), "E-MASTER"),
        (lambda s: _passenger_first(s), "E-SEQ"),
        (lambda s: _set(s, "bgp:Master/bgp:FullName", "SOMEONE ELSE"), "E-MASTER"),
        (lambda s: _set(s, "bgp:Persons/bgp:Person[3]/bgp:BirthDate", "01/01/2099"), "E-DOB"),
        (lambda s: _set(s, "bgp:Persons/bgp:Person[3]/bgp:Nationality", "ZZZ"), "E-COUNTRY"),
        (lambda s: _set(s, "bgp:Vessel/bgp:Flag", "D"), None),  # not alpha-3: a SCHEMA fault instead
        (lambda s: _set(s, "bgp:Voyage/bgp:LastPort", "ZZABC"), "E-LOCODE"),
        (
            lambda s: _set(
                s,
                "bgp:Persons/bgp:Person[4]/bgp:DocNumber",
                s.findtext("bgp:Persons/bgp:Person[3]/bgp:DocNumber", namespaces=NS),
                "bgp:Persons/bgp:Person[4]/bgp:DocIssuer",
                s.findtext("bgp:Persons/bgp:Person[3]/bgp:DocIssuer", namespaces=NS),
                "bgp:Persons/bgp:Person[4]/bgp:DocType",
                s.findtext("bgp:Persons/bgp:Person[3]/bgp:DocType", namespaces=NS),
            ),
            "E-DUP-DOC",
        ),
    ],
)
def test_each_rule_has_its_code(
    portal: PortalSimulator, service: Any, change: Callable[[etree._Element], None], code: str | None
) -> None:
    """Each business rule, broken alone, rejects with its own code."""
    element = submission(client_message_id=f"rule-{code}-{time.monotonic_ns()}")
    change(element)
    if code is None:
        reply = raw_call(portal.url, _wrap(element))
        assert reply.status_code == 500
        assert b"<Code>SCHEMA</Code>" in reply.content or b"SCHEMA</" in reply.content
        return
    status = wait_decided(portal, submit(service, element).ReceiptNumber)
    assert_valid_status(status)
    codes = {r.findtext("bgp:Code", namespaces=NS) for r in status.findall("bgp:Reason", NS)}
    assert codes == {code}


def _set(element: etree._Element, *pairs: str | None) -> None:
    for path, value in zip(pairs[::2], pairs[1::2], strict=True):
        found = element.find(str(path), NS)
        assert found is not None, path
        found.text = value


def _passenger_first(element: etree._Element) -> None:
    """Make the last crew member a passenger (numbers stay 1..n) and put them first in the list."""
    persons = element.find("bgp:Persons", NS)
    assert persons is not None
    last = persons[-1]
    _set(last, "bgp:Category", "HK", "bgp:No", "1")
    _set(element, "bgp:CrewCount", "20", "bgp:PassengerCount", "1")
    persons.insert(0, last)


def _wrap(element: etree._Element) -> etree._Element:
    wrapper = etree.Element(f"{{{BGP}}}SubmitDeclaration")
    wrapper.append(element)
    return wrapper


# --- schema and auth faults -------------------------------------------------------------------


def test_invalid_submission_is_a_schema_fault(portal: PortalSimulator) -> None:
    """A submission that breaks submission.xsd is answered soap:Client with PortalFault SCHEMA."""
    element = submission()
    _set(element, "bgp:Procedure", "XX")
    reply = raw_call(portal.url, _wrap(element))
    assert reply.status_code == 500
    fault = etree.fromstring(reply.content).find(f".//{{{SOAP_ENV}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "soap:Client"
    assert fault.findtext(f"detail/{{{BGP}}}PortalFault/{{{BGP}}}Code") == "SCHEMA"
    assert portal.admin_state()["counters"]["fault_SCHEMA"] == 1


def test_crew_member_without_doc_expiry_is_a_schema_fault(portal: PortalSimulator, service: Any) -> None:
    """A crew member lacking a field from NameAsDeclared to DocExpiry is a SCHEMA fault (NOTES)."""
    element = submission()
    person = element.findall("bgp:Persons/bgp:Person", NS)[2]
    expiry = person.find("bgp:DocExpiry", NS)
    assert expiry is not None
    person.remove(expiry)
    with pytest.raises(Fault) as caught:
        submit(service, element)
    assert fault_code(caught.value) == "SCHEMA"
    assert caught.value.code.endswith("Client")


def test_impossible_calendar_date_is_a_schema_fault(portal: PortalSimulator, service: Any) -> None:
    """A date matching dd/MM/yyyy but not in the calendar (31/02) is a SCHEMA fault."""
    element = submission()
    _set(element, "bgp:Persons/bgp:Person[2]/bgp:BirthDate", "31/02/1980")
    with pytest.raises(Fault) as caught:
        submit(service, element)
    assert fault_code(caught.value) == "SCHEMA"


def test_wrong_password_is_an_auth_fault(portal: PortalSimulator) -> None:
    """A wrong password is refused with soap:Client and PortalFault AUTH."""
    service = make_service(portal.url, password="wrong")
    with pytest.raises(Fault) as caught:
        service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
    assert fault_code(caught.value) == "AUTH"
    assert caught.value.code.endswith("Client")


def test_stale_created_is_an_auth_fault(portal: PortalSimulator) -> None:
    """A token created ten minutes ago is refused with AUTH."""
    service = make_service(portal.url, created=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(Fault) as caught:
        service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
    assert fault_code(caught.value) == "AUTH"


def test_replayed_nonce_is_an_auth_fault(portal: PortalSimulator) -> None:
    """A zeep client replaying the same nonce (and Created) is refused with AUTH the second time."""
    service = make_service(portal.url, nonce="c2ltdWxhdG9yLW5vbmNl", created=datetime.now(UTC))
    with pytest.raises(Fault) as first:
        service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
    assert fault_code(first.value) == "NOT_FOUND"
    with pytest.raises(Fault) as replay:
        service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
    assert fault_code(replay.value) == "AUTH"
    assert portal.admin_state()["counters"]["fault_AUTH"] == 1


def test_replayed_raw_token_is_an_auth_fault(portal: PortalSimulator) -> None:
    """The same wsse:Security header sent twice by hand is refused with AUTH the second time."""
    token = username_token_header("demo", "demo")
    receipt = etree.Element(f"{{{BGP}}}GetProcessingStatus")
    etree.SubElement(receipt, f"{{{BGP}}}ReceiptNumber").text = "CKCHPG-2026-000001"
    first = raw_call(portal.url, receipt, token=token)
    assert b"<Code>NOT_FOUND</Code>" in first.content or b"NOT_FOUND" in first.content
    replay = raw_call(portal.url, receipt, token=token)
    assert replay.status_code == 500
    assert b"AUTH" in replay.content
    assert portal.admin_state()["counters"]["fault_AUTH"] == 1


def test_missing_token_is_an_auth_fault(portal: PortalSimulator) -> None:
    """A request without WS-Security is refused with AUTH."""
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><GetProcessingStatus xmlns="{BGP}">'
        "<ReceiptNumber>CKCHPG-2026-000001</ReceiptNumber></GetProcessingStatus></soap:Body></soap:Envelope>"
    )
    reply = requests.post(portal.url, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=5)
    assert reply.status_code == 500
    assert b"AUTH" in reply.content


# --- supersede, cancel, status ----------------------------------------------------------------


def test_supersedes_makes_the_earlier_receipt_superseded(portal: PortalSimulator, service: Any) -> None:
    """A submission with Supersedes turns the earlier receipt SUPERSEDED; an unknown one is NOT_FOUND."""
    first = submit(service, submission(client_message_id="v1"))
    amended = submission(client_message_id="v2")
    supersedes = etree.Element(f"{{{BGP}}}Supersedes")
    supersedes.text = first.ReceiptNumber
    client_message_id = amended.find("bgp:ClientMessageId", NS)
    assert client_message_id is not None
    client_message_id.addnext(supersedes)
    second = submit(service, amended)
    assert second.ReceiptNumber != first.ReceiptNumber
    old, new = service.GetProcessingStatus(ReceiptNumber=[first.ReceiptNumber, second.ReceiptNumber])
    assert (old.ReceiptNumber, old.State) == (first.ReceiptNumber, "SUPERSEDED")
    assert old.DecidedAt is not None
    assert new.State in ("PENDING", "CLEARED")
    supersedes.text = "CKCHPG-2026-999999"
    client_message_id.text = "v3"
    with pytest.raises(Fault) as caught:
        submit(service, amended)
    assert fault_code(caught.value) == "NOT_FOUND"
    dossier = portal.admin_state()["dossiers"]["HPH-2026-000123"]
    assert dossier["receipts"][0]["state"] == "SUPERSEDED"
    assert dossier["submissions"] == 2


def test_cancel_then_cancel_again(portal: PortalSimulator, service: Any) -> None:
    """CancelDeclaration makes a receipt CANCELLED; again it says Duplicate; an unknown one is NOT_FOUND."""
    receipt = submit(service, submission())
    cancelled = service.CancelDeclaration(ReceiptNumber=receipt.ReceiptNumber, Reason="Voyage cancelled.")
    assert (cancelled.ReceiptNumber, cancelled.Duplicate) == (receipt.ReceiptNumber, False)
    again = service.CancelDeclaration(ReceiptNumber=receipt.ReceiptNumber, Reason="Voyage cancelled.")
    assert again.Duplicate is True
    (status,) = raw_statuses(portal, [receipt.ReceiptNumber])
    assert_valid_status(status)
    assert status.findtext("bgp:State", namespaces=NS) == "CANCELLED"
    time.sleep(DELAY + 0.1)
    assert service.GetProcessingStatus(ReceiptNumber=[receipt.ReceiptNumber])[0].State == "CANCELLED"
    with pytest.raises(Fault) as caught:
        service.CancelDeclaration(ReceiptNumber="CKCHPG-2026-999999", Reason="x")
    assert fault_code(caught.value) == "NOT_FOUND"


def test_status_answers_in_request_order_and_unknown_fails_all(portal: PortalSimulator, service: Any) -> None:
    """One Status per receipt in request order; one unknown receipt fails the call with NOT_FOUND."""
    numbers = [submit(service, submission(client_message_id=f"order-{i}")).ReceiptNumber for i in range(5)]
    asked = [numbers[3], numbers[0], numbers[4], numbers[0]]
    assert [s.ReceiptNumber for s in service.GetProcessingStatus(ReceiptNumber=asked)] == asked
    with pytest.raises(Fault) as caught:
        service.GetProcessingStatus(ReceiptNumber=[numbers[0], "CKCHPG-2026-999999"])
    assert fault_code(caught.value) == "NOT_FOUND"


def test_more_than_100_receipts_is_a_schema_fault(portal: PortalSimulator) -> None:
    """GetProcessingStatus with 101 receipt numbers is refused with SCHEMA."""
    payload = etree.Element(f"{{{BGP}}}GetProcessingStatus")
    for index in range(101):
        etree.SubElement(payload, f"{{{BGP}}}ReceiptNumber").text = f"CKCHPG-2026-{index:06d}"
    reply = raw_call(portal.url, payload)
    assert reply.status_code == 500
    assert b"SCHEMA" in reply.content


# --- admin and WSDL ---------------------------------------------------------------------------


def test_admin_state_and_reset_over_http(portal: PortalSimulator, service: Any) -> None:
    """GET /admin/state reports dossiers and counters; POST /admin/reset forgets everything."""
    submit(service, submission())
    state = requests.get(f"{portal.base_url}/admin/state", timeout=5).json()
    assert state["counters"]["submissions"] == 1
    assert state["dossiers"]["HPH-2026-000123"]["state"] in ("PENDING", "CLEARED")
    assert set(state["injected"]) >= {"http503", "unavailable", "reset", "hang", "outage", "latency"}
    assert requests.post(f"{portal.base_url}/admin/reset", timeout=5).json() == {"reset": True}
    assert requests.get(f"{portal.base_url}/admin/state", timeout=5).json()["dossiers"] == {}


def test_wsdl_is_served_with_this_address(portal: PortalSimulator) -> None:
    """GET ?wsdl serves a WSDL zeep can load from the simulator itself, pointing at its own address."""
    client = Client(f"{portal.url}?wsdl", wsse=UsernameToken("demo", "demo", use_digest=True))
    assert client.service._binding_options["address"] == portal.url


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le"])
def test_schema_location_hint_is_refused_in_any_encoding(portal: PortalSimulator, encoding: str) -> None:
    """A request carrying an xsi:schemaLocation hint is refused whatever its encoding (hardened parser)."""
    declaration = f'<?xml version="1.0" encoding="{"UTF-16" if encoding != "utf-8" else "UTF-8"}"?>'
    body = (
        f'{declaration}<soap:Envelope xmlns:soap="{SOAP_ENV}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x http://example.invalid/x.xsd">'
        f'<soap:Body><GetProcessingStatus xmlns="{BGP}"><ReceiptNumber>CKCHPG-2026-000001</ReceiptNumber>'
        "</GetProcessingStatus></soap:Body></soap:Envelope>"
    )
    reply = requests.post(
        portal.url, data=body.encode(encoding), headers={"Content-Type": "text/xml"}, timeout=5
    )
    assert reply.status_code == 500
    assert b"schema-location hint" in reply.content


def test_concurrent_submissions_right_after_start() -> None:
    """Many submissions at once on a fresh portal (worker threads) all get receipts and pass validation."""
    from concurrent.futures import ThreadPoolExecutor

    with PortalSimulator(decision_delay=0) as fresh:

        def one(index: int) -> int:
            element = submission(client_message_id=f"burst-{index}")
            reply = raw_call(fresh.url, _wrap(element))
            return reply.status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(one, range(24)))
        assert codes == [200] * 24
        assert fresh.admin_state()["counters"]["submissions"] == 24
