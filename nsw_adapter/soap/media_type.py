"""The Content-Type a SOAP 1.1 request must carry (text/xml), checked before its body is read.

A form post, a JSON body or a request naming no type at all is not SOAP 1.1: refusing it on the
header costs nothing, and its body is never read. application/soap+xml (SOAP 1.2) passes, so
that the envelope parser answers it with the VersionMismatch fault SOAP 1.1 prescribes. WS-I
Basic Profile 1.1 (R1113) answers a wrong Content-Type with HTTP 415.
"""

from __future__ import annotations

#: HTTP 415 Unsupported Media Type.
UNSUPPORTED_MEDIA_TYPE = 415
_PASSED = frozenset({"text/xml", "application/soap+xml"})


def media_type_problem(content_type: str | None) -> str | None:
    """Why a request with this Content-Type header is refused, or None when it may be read."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _PASSED:
        return None
    # Never echo the header: it is the sender's text.
    return "a SOAP 1.1 request must have Content-Type text/xml" if media_type else "no Content-Type"
