"""Server-side SOAP 1.1 plumbing shared by intake and the simulators: envelopes, faults, WS-Security."""

from nsw_adapter.soap.envelope import (
    SOAP_ENV,
    SoapFault,
    SoapRequest,
    fault_response,
    parse_request,
    response,
)
from nsw_adapter.soap.wsse import (
    MemoryReplayCache,
    ReplayCache,
    UsernameTokenVerifier,
    WsseError,
    username_token_header,
)

__all__ = [
    "SOAP_ENV",
    "MemoryReplayCache",
    "ReplayCache",
    "SoapFault",
    "SoapRequest",
    "UsernameTokenVerifier",
    "WsseError",
    "fault_response",
    "parse_request",
    "response",
    "username_token_header",
]
