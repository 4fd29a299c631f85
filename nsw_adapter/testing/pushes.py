"""Pushing like the NSW: receiveMessage bodies with fresh WS-Security tokens (tests, benchmarks)."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

from lxml import etree

from nsw_adapter.namespaces import AGENCY_NS
from nsw_adapter.soap import SOAP_ENV, username_token_header

USER, PASSWORD = "nsw", "s3cret-for-tests"
#: The headers of a SOAP 1.1 push (the intake refuses any other Content-Type with HTTP 415).
XML = {"Content-Type": "text/xml; charset=utf-8"}


def soap_body(
    envelope: bytes | str, *, user: str = USER, password: str = PASSWORD, created: datetime | None = None
) -> bytes:
    """A receiveMessage request carrying `envelope` as escaped text, with a fresh digest token."""
    text = envelope.decode("utf-8") if isinstance(envelope, bytes) else envelope
    security = etree.tostring(username_token_header(user, password, now=created)).decode()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Header>{security}</soap:Header>'
        f'<soap:Body><a:receiveMessage xmlns:a="{AGENCY_NS}"><a:requestMessage>{escape(text)}'
        f"</a:requestMessage></a:receiveMessage></soap:Body></soap:Envelope>"
    ).encode()
