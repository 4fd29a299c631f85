"""The portal simulator driven by suds, a SOAP stack independent of zeep (issue 17 item 4).

Every other portal test speaks through zeep, so a simulator (or WSDL) that only zeep could
read would pass them all. suds (suds-community, pure Python, from the test extras) reads the
WSDL and its schemas from the simulator's own `?wsdl` and `/bgp/*.xsd` endpoints, builds the
requests from the WSDL's types (a Submission is handed over as nested dicts), and parses the
answers and faults itself. Chosen over node-soap because `make test` installs it with pip and
needs no npm at test time.

suds's UsernameToken writes the token elements but not a PasswordDigest: the digest here is
computed as the OASIS Username Token Profile 1.0 defines it (Base64(SHA-1(nonce + Created +
password)), nonce Base64 with its EncodingType), independently of nsw_adapter.soap.wsse.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from suds import WebFault
from suds.client import Client
from suds.sax.date import DateTime
from suds.wsse import Security, UsernameToken

from nsw_adapter.simulators import PortalSimulator

pytestmark = pytest.mark.timeout(60)

BGP = "urn:vn:bienphong:portal:1"
SUBMISSION = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "bgp" / "submissions"


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalSimulator]:
    """One portal simulator for the module, deciding after 0.2 s."""
    with PortalSimulator(decision_delay=0.2) as simulator:
        yield simulator


@pytest.fixture
def names_received(portal: PortalSimulator, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The NameAsDeclared of every Person the simulator's SubmitDeclaration receives, in order."""
    received: list[str | None] = []
    lock = threading.Lock()
    submit = portal.service.submit

    def recording(payload: etree._Element) -> etree._Element:
        with lock:
            received.extend(p.findtext(f"{{{BGP}}}NameAsDeclared") for p in payload.iter(f"{{{BGP}}}Person"))
        return submit(payload)

    monkeypatch.setattr(portal.service, "submit", recording)
    return received


def suds_client(portal: PortalSimulator) -> Any:
    """A suds client built from the simulator's served WSDL (no on-disk cache)."""
    return Client(f"{portal.url}?wsdl", cache=None, timeout=10)


def sign(client: Any, user: str = "demo", password: str = "demo") -> None:
    """Give the client a fresh UsernameToken with a PasswordDigest (a nonce is accepted once)."""
    nonce = os.urandom(16)
    created = datetime.now(UTC).replace(microsecond=0)
    created_text = str(DateTime(created))  # exactly what suds writes in wsu:Created
    token = UsernameToken(user, None)
    token.setnonce(base64.b64encode(nonce).decode("ascii"))
    token.setnonceencoding(True)
    token.setcreated(created)
    digest = hashlib.sha1(nonce + created_text.encode("utf-8") + password.encode("utf-8")).digest()
    token.setpassworddigest(base64.b64encode(digest).decode("ascii"))
    security = Security()
    security.tokens.append(token)
    client.set_options(wsse=security)


def as_dicts(element: etree._Element) -> dict[str, Any]:
    """An lxml element's children as the nested dicts suds marshals by the WSDL's types."""
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments
            continue
        name = etree.QName(child).localname
        value: Any = as_dicts(child) if len(child) else child.text
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def sample(client_message_id: str) -> etree._Element:
    """The arrival-general-cargo sample Submission under a fresh ClientMessageId."""
    root = etree.parse(str(SUBMISSION / "arrival-general-cargo.xml")).getroot()
    element = root.find(f"{{{BGP}}}ClientMessageId")
    assert element is not None
    element.text = client_message_id
    return root


def decided(client: Any, receipt: str, timeout: float = 10.0) -> Any:
    """GetProcessingStatus through suds until the receipt is no longer PENDING."""
    deadline = time.monotonic() + timeout
    while True:
        sign(client)
        [status] = client.service.GetProcessingStatus(ReceiptNumber=[receipt])
        if status.State != "PENDING" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_suds_submits_a_declaration_and_reads_its_clearance(
    portal: PortalSimulator, names_received: list[str | None]
) -> None:
    """Through suds: SubmitDeclaration answers a receipt, the names arrive as typed, the status is CLEARED."""
    client = suds_client(portal)
    submission = sample("3d1c7c1e-17a4-4d5e-9a44-000000000001")
    sign(client)
    receipt = client.service.SubmitDeclaration(Submission=as_dicts(submission))
    assert receipt.ReceiptNumber.startswith("CKCHPG-")
    assert receipt.Duplicate is False
    typed = [p.findtext(f"{{{BGP}}}NameAsDeclared") for p in submission.iter(f"{{{BGP}}}Person")]
    assert names_received == typed
    status = decided(client, receipt.ReceiptNumber)
    assert status.ReceiptNumber == receipt.ReceiptNumber
    assert status.State == "CLEARED"
    assert status.ClearanceNumber.startswith("CKCHPG/NC/")
    assert {(p.Category, p.PersonNo) for p in status.ShorePasses.ShorePass} == {("TV", "3"), ("TV", "7")}


def test_suds_gets_the_first_receipt_again_for_a_repeated_client_message_id(portal: PortalSimulator) -> None:
    """A repeated ClientMessageId is answered with the first receipt and Duplicate true."""
    client = suds_client(portal)
    dicts = as_dicts(sample("3d1c7c1e-17a4-4d5e-9a44-000000000002"))
    sign(client)
    first = client.service.SubmitDeclaration(Submission=dicts)
    sign(client)
    second = client.service.SubmitDeclaration(Submission=dicts)
    assert second.ReceiptNumber == first.ReceiptNumber
    assert second.Duplicate is True


def test_suds_reads_an_authentication_fault_with_its_portal_fault_detail(portal: PortalSimulator) -> None:
    """A wrong password reaches suds as a soap:Client WebFault whose PortalFault Code is AUTH."""
    client = suds_client(portal)
    sign(client, password="not-the-password")
    with pytest.raises(WebFault) as raised:
        client.service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])
    fault = raised.value.fault
    assert fault.faultcode == "soap:Client"
    assert fault.detail.PortalFault.Code == "AUTH"
    assert "not-the-password" not in str(fault)
