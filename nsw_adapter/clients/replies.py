"""The hot calls' usual answers read directly: the hardened parser, the contract's XSD as judge.

zeep's reply processing (its object model, element by element) cost more CPU than the rest of a
SubmitDeclaration or sendAndGetMessage call around the HTTP (benchmarks/replies.py). The answer
a service gives nearly every time has one known shape: a SOAP 1.1 Envelope whose Body holds the
operation's response wrapper and nothing else. That shape alone is read here; `None` means "not
that shape" (a fault, an HTTP error, unreadable or unexpected XML, anything the schema refuses),
and the caller then lets zeep read the same answer as before, so faults and errors are
classified exactly as they always were (clients/errors.py).
"""

from __future__ import annotations

from lxml import etree

from nsw_adapter.namespaces import GATEWAY_NS, PORTAL_NS
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted, schema

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE = f"{{{SOAP11}}}Envelope"
_BODY = f"{{{SOAP11}}}Body"
_RECEIPT = f"{{{PORTAL_NS}}}Receipt"
_STATUS = f"{{{PORTAL_NS}}}Status"
_NSW_RETURN = f"{{{GATEWAY_NS}}}sendAndGetMessageReturn"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _elements(parent: etree._Element) -> list[etree._Element]:
    """The element children (comments and processing instructions are not content)."""
    return [child for child in parent if isinstance(child.tag, str)]


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def response_wrapper(content: bytes, wrapper: str) -> etree._Element | None:
    """The Body's one child when it is the `wrapper` element (Clark notation); else None."""
    try:
        root = parse_untrusted(content)
    except UntrustedXmlError:
        return None
    if root.tag != _ENVELOPE:
        return None
    bodies = [child for child in _elements(root) if child.tag == _BODY]
    if len(bodies) != 1 or not _blank(bodies[0].text):
        return None
    children = _elements(bodies[0])
    if len(children) != 1 or children[0].tag != wrapper or not _blank(children[0].tail):
        return None
    return children[0]


def receipt_element(content: bytes, wrapper: str) -> etree._Element | None:
    """The portal's Receipt inside `wrapper` (Submit/CancelDeclarationResponse), valid against
    status.xsd; None for any other answer."""
    found = response_wrapper(content, wrapper)
    if found is None or not _blank(found.text) or found.attrib:
        return None
    children = _elements(found)
    if len(children) != 1 or children[0].tag != _RECEIPT or not _blank(children[0].tail):
        return None
    receipt = children[0]
    return receipt if schema("status").validate(receipt) else None


def nsw_answer_text(content: bytes) -> str | None:
    """The text of sendAndGetMessageReturn (the NSW's answer envelope, as a string); None for any
    other answer (an empty or nil return among them: zeep says what that is)."""
    found = response_wrapper(content, f"{{{GATEWAY_NS}}}sendAndGetMessageResponse")
    if found is None or not _blank(found.text) or found.attrib:
        return None
    children = _elements(found)
    if len(children) != 1 or children[0].tag != _NSW_RETURN or not _blank(children[0].tail):
        return None
    answer = children[0]
    if len(answer) or answer.attrib.get(_XSI_NIL) is not None or not answer.text:
        return None  # a string has no children; nil and empty are zeep's to read
    return answer.text


def status_elements(content: bytes) -> list[etree._Element] | None:
    """The Status items of a GetProcessingStatusResponse, each valid against status.xsd (a state
    this copy does not list is not: zeep's reading, with its tolerance, takes those); None for
    any other answer."""
    found = response_wrapper(content, f"{{{PORTAL_NS}}}GetProcessingStatusResponse")
    if found is None or not _blank(found.text) or found.attrib:
        return None
    children = _elements(found)
    if len(children) > 100 or any(c.tag != _STATUS or not _blank(c.tail) for c in children):
        return None
    validate = schema("status").validate
    return children if all(validate(status) for status in children) else None
