"""The portal's CancelDeclaration: the agent's Reason as the portal takes it, and the request as
the audit trail keeps it (the portal's XML stays in clients/, not in the store)."""

from __future__ import annotations

from lxml import etree

from nsw_adapter.namespaces import PORTAL_NS

DEFAULT_REASON = "Cancelled by the shipping agent through the NSW."


def portal_reason(reason: str | None) -> str:
    """The Reason CancelDeclaration sends: the agent's text on one line, within the portal's
    1..1000 characters, or a default when the agent gave none."""
    return " ".join((reason or "").split())[:1000] or DEFAULT_REASON


def cancel_request(receipt_number: str, reason: str) -> bytes:
    """The CancelDeclaration request as the audit trail keeps it (the portal's element, unsigned)."""
    request = etree.Element(f"{{{PORTAL_NS}}}CancelDeclaration", nsmap={"bgp": PORTAL_NS})
    etree.SubElement(request, f"{{{PORTAL_NS}}}ReceiptNumber").text = receipt_number
    etree.SubElement(request, f"{{{PORTAL_NS}}}Reason").text = reason
    return bytes(etree.tostring(request, encoding="utf-8"))
