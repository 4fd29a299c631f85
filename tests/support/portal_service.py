"""The portal as its SOAP clients see it: a zeep service on a portal URL, sample submissions, fault codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree
from zeep import Client
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

ROOT = Path(__file__).resolve().parents[2]


WSDL = str(ROOT / "schemas" / "bgp" / "portal.wsdl")


SUBMISSIONS = ROOT / "fixtures" / "samples" / "bgp" / "submissions"


BGP = "urn:vn:bienphong:portal:1"


NS = {"bgp": BGP}


BINDING = f"{{{BGP}}}BorderGuardPortalBinding"


def make_service(url: str, user: str = "demo", password: str = "demo", **token: Any) -> Any:
    """A zeep service proxy with a digest UsernameToken, bound to `url`."""
    client = Client(
        WSDL,
        wsse=UsernameToken(user, password, use_digest=True, **token),
        transport=Transport(operation_timeout=5, timeout=5),
    )
    return client.create_service(BINDING, url)


def submission(
    name: str = "arrival-general-cargo", *, client_message_id: str | None = None
) -> etree._Element:
    """A sample submission (optionally under another ClientMessageId)."""
    root = etree.parse(str(SUBMISSIONS / f"{name}.xml")).getroot()
    if client_message_id is not None:
        element = root.find("bgp:ClientMessageId", NS)
        assert element is not None
        element.text = client_message_id
    return root


def as_zeep(service: Any, element: etree._Element) -> Any:
    """An lxml Submission as the zeep object SubmitDeclaration takes."""
    client = service._binding.wsdl  # the proxy's WSDL document
    return client.types.get_element(f"{{{BGP}}}Submission").parse(element, client.types)


def submit(service: Any, element: etree._Element) -> Any:
    """SubmitDeclaration with an lxml Submission."""
    return service.SubmitDeclaration(Submission=as_zeep(service, element))


def fault_code(fault: Fault) -> str | None:
    """The PortalFault/Code of a zeep Fault."""
    assert fault.detail is not None
    code: str | None = fault.detail.findtext(f".//{{{BGP}}}Code")
    return code
