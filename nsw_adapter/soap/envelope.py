"""SOAP 1.1 request parsing (hardened) and response / fault rendering for our HTTP servers.

Every server here speaks SOAP 1.1 only. A request whose Envelope is in another namespace (a
SOAP 1.2 client's http://www.w3.org/2003/05/soap-envelope) is answered as SOAP 1.1 section
4.4.1 says, with a `VersionMismatch` fault, and carries the `Upgrade` header block of SOAP 1.2
(part 1, section 5.4.7 and appendix A) naming the SOAP 1.1 Envelope: a SOAP 1.2 stack reads that
and knows which version to speak, instead of a `Client` fault it cannot act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
VERSION_MISMATCH = "VersionMismatch"
_ENV = f"{{{SOAP_ENV}}}"


class SoapFault(Exception):
    """A fault to answer with: `code` is Client, Server or VersionMismatch; `detail` an optional element."""

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


def parse_request(data: bytes, *, max_bytes: int, string_part: str | None = None) -> SoapRequest:
    """Parse a SOAP 1.1 request with the hardened parser; SoapFault(Client) when it is not one.

    `string_part`: the local name of the part that carries a whole document as text (intake's
    requestMessage), the one text allowed past libxml2's 10 MB text-node limit, up to `max_bytes`.
    """
    try:
        root = parse_untrusted(data, max_bytes=max_bytes, large_text_in=string_part)
    except UntrustedXmlError as exc:
        raise SoapFault("Client", f"unreadable SOAP request: {exc}") from None
    if root.tag != f"{_ENV}Envelope":
        if etree.QName(root).localname == "Envelope":  # an Envelope of another SOAP version
            raise SoapFault(VERSION_MISMATCH, f"only SOAP 1.1 is supported (an Envelope in {SOAP_ENV})")
        raise SoapFault("Client", "not a SOAP 1.1 Envelope")
    body = root.find(f"{_ENV}Body")
    if body is None or len(body) == 0:
        raise SoapFault("Client", "the SOAP Body is empty")
    return SoapRequest(header=root.find(f"{_ENV}Header"), payload=body[0])


def _envelope(body_child: etree._Element, header_child: etree._Element | None = None) -> bytes:
    envelope = etree.Element(f"{_ENV}Envelope", nsmap={"soap": SOAP_ENV})
    if header_child is not None:
        etree.SubElement(envelope, f"{_ENV}Header").append(header_child)
    etree.SubElement(envelope, f"{_ENV}Body").append(body_child)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def response(payload: etree._Element) -> bytes:
    """A SOAP response around one payload element."""
    return _envelope(payload)


def fault_response(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault (`soap:Client` / `soap:Server` / `soap:VersionMismatch`, the last with the
    Upgrade header block) with an optional detail element."""
    element = etree.Element(f"{_ENV}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.string
    if fault.detail is not None:
        etree.SubElement(element, "detail").append(fault.detail)
    return _envelope(element, _upgrade() if fault.code == VERSION_MISMATCH else None)


def _upgrade() -> etree._Element:
    """SOAP 1.2's Upgrade header block naming the one envelope we take: SOAP 1.1's."""
    upgrade = etree.Element(f"{{{SOAP12_ENV}}}Upgrade", nsmap={"upg": SOAP12_ENV})
    # A QName in an attribute: its prefix is the response Envelope's own `soap` (SOAP 1.1), in
    # scope here (lxml drops a second declaration of the same namespace when the block is inserted).
    etree.SubElement(upgrade, f"{{{SOAP12_ENV}}}SupportedEnvelope", qname="soap:Envelope")
    return upgrade
