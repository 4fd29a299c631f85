"""SOAP 1.1 request parsing (hardened) and response / fault rendering for our HTTP servers."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_ENV = f"{{{SOAP_ENV}}}"


class SoapFault(Exception):
    """A fault to answer with: `code` is Client or Server; `detail` an optional element."""

    def __init__(self, code: str, string: str, detail: etree._Element | None = None) -> None:
        self.code = code
        self.string = string
        self.detail = detail
        super().__init__(f"{code}: {string}")


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed SOAP request: its Header (or None) and the one element inside Body."""

    header: etree._Element | None
    payload: etree._Element


def parse_request(data: bytes, *, max_bytes: int) -> SoapRequest:
    """Parse a SOAP 1.1 request with the hardened parser; SoapFault(Client) when it is not one."""
    try:
        root = parse_untrusted(data, max_bytes=max_bytes)
    except UntrustedXmlError as exc:
        raise SoapFault("Client", f"unreadable SOAP request: {exc}") from None
    if root.tag != f"{_ENV}Envelope":
        raise SoapFault("Client", "not a SOAP 1.1 Envelope")
    body = root.find(f"{_ENV}Body")
    if body is None or len(body) == 0:
        raise SoapFault("Client", "the SOAP Body is empty")
    return SoapRequest(header=root.find(f"{_ENV}Header"), payload=body[0])


def _envelope(body_child: etree._Element) -> bytes:
    envelope = etree.Element(f"{_ENV}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{_ENV}Body").append(body_child)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def response(payload: etree._Element) -> bytes:
    """A SOAP response around one payload element."""
    return _envelope(payload)


def fault_response(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault (`soap:Client` / `soap:Server`) with an optional detail element."""
    element = etree.Element(f"{_ENV}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.string
    if fault.detail is not None:
        etree.SubElement(element, "detail").append(fault.detail)
    return _envelope(element)
