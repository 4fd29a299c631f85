"""Mapping what zeep and requests raise onto TransientError / PermanentError, at the boundary.

Messages built here never carry the remote text (a fault string or an HTTP body may echo
names or passport numbers); the remote fault text is kept on the error's `detail` for the
dead-letter record, which is not a log. A refusal of our credentials is neither transient for
the item nor permanent: AuthenticationRefused (the service is paused, loops/delivery.py).
"""

from __future__ import annotations

import http.client
import ssl

import requests
import urllib3.exceptions
from zeep.exceptions import Fault, TransportError, ValidationError, XMLSyntaxError

from nsw_adapter.errors import AuthenticationRefused, NswAdapterError, PermanentError, TransientError
from nsw_adapter.namespaces import PORTAL_NS

PERMANENT_CODES = frozenset({"SCHEMA", "NOT_FOUND", "FINAL"})
AUTH_HTTP = frozenset({401, 403})
#: WS-Security 1.0's fault codes (wsse namespace) that mean our token was not accepted.
WSSE_AUTH_FAULTS = frozenset(
    {"FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity", "FailedCheck"}
)
TRANSIENT_CODES = frozenset({"UNAVAILABLE"})
TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class RemoteTransientError(TransientError):
    """A transient failure with the fault code and HTTP status that made it so."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class RemotePermanentError(PermanentError):
    """A permanent failure; `detail` holds the remote text for the dead-letter record only."""

    def __init__(self, message: str, *, code: str | None, status: int | None, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        super().__init__(message, code)


def fault_code(fault: Fault) -> str | None:
    """The portal's detail code (PortalFault/Code), when the fault carries one."""
    detail = fault.detail
    if detail is None:
        return None
    found = detail.find(f".//{{{PORTAL_NS}}}Code")
    if found is None:
        found = detail.find(".//Code")
    return None if found is None or not found.text else found.text.strip()


def classify_exception(exc: BaseException, status: int | None, target: str) -> NswAdapterError:
    """Our error for what a call to `target` raised; HTTP `status` as the transport recorded it."""
    if isinstance(exc, NswAdapterError):
        return exc
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError by descent
        return RemoteTransientError(f"{target} connection failed")
    if isinstance(exc, requests.Timeout | TimeoutError | urllib3.exceptions.TimeoutError):
        return RemoteTransientError(f"{target} timed out")
    tls = _tls_failure(exc)
    if tls is not None:
        # Transient like any connection failure (a certificate may be renewed meanwhile), but
        # named: an operator reads "certificate verify failed", not "connection failed".
        return RemoteTransientError(f"{target} TLS handshake failed: {tls}")
    if isinstance(exc, urllib3.exceptions.ProxyError):
        return RemoteTransientError(f"{target} proxy refused or unreachable")
    if isinstance(
        exc, requests.ConnectionError | http.client.HTTPException | OSError | urllib3.exceptions.HTTPError
    ):
        return RemoteTransientError(f"{target} connection failed")
    if isinstance(exc, Fault):
        code = fault_code(exc)
        soap_code = (exc.code or "").rsplit(":", 1)[-1]
        where = f"{target} fault {code or soap_code or '?'} (HTTP {status})"
        if code == "AUTH" or auth_fault(exc, status):
            return refused(target, code or soap_code or None, status)
        if code in PERMANENT_CODES:
            return RemotePermanentError(where, code=code, status=status, detail=str(exc.message or ""))
        if code in TRANSIENT_CODES or status in TRANSIENT_HTTP or soap_code == "Server":
            return RemoteTransientError(where, code=code, status=status)
        return RemotePermanentError(where, code=code, status=status, detail=str(exc.message or ""))
    if isinstance(exc, TransportError | XMLSyntaxError):
        status = getattr(exc, "status_code", None) or status
        if status in AUTH_HTTP:
            return refused(target, None, status)
        if status in TRANSIENT_HTTP:
            return RemoteTransientError(f"{target} HTTP {status}", status=status)
        return RemotePermanentError(
            f"{target} answered HTTP {status} without a SOAP reply", code=None, status=status
        )
    if isinstance(exc, ValidationError):
        return RemotePermanentError(
            f"{target} request or answer does not fit the WSDL", code="SCHEMA", status=status
        )
    if isinstance(exc, requests.RequestException):
        return RemoteTransientError(f"{target} request failed: {type(exc).__name__}")
    return RemotePermanentError(f"{target} call failed: {type(exc).__name__}", code=None, status=status)


def auth_fault(fault: Fault, status: int | None) -> bool:
    """True when a SOAP fault refuses our credentials: HTTP 401/403, a WS-Security fault code
    (wsse:FailedAuthentication...), or a soap:Client fault saying "authentication" (the NSW declares no
    fault codes; its gateway answers "Authentication failed: ..."). The text is read, never logged."""
    if status in AUTH_HTTP:
        return True
    soap_code = (fault.code or "").rsplit(":", 1)[-1]
    if soap_code in WSSE_AUTH_FAULTS:
        return True
    return soap_code == "Client" and "authenticat" in str(fault.message or "").lower()


def refused(target: str, code: str | None, status: int | None) -> AuthenticationRefused:
    """`target` refused our credentials: one line naming it, the code and HTTP status (no remote text)."""
    why = code or (f"HTTP {status}" if status is not None else "authentication")
    return AuthenticationRefused(
        f"{target} refused our credentials (authentication failed, {why})",
        service=target,
        code=code,
        status=status,
    )


def _tls_failure(exc: BaseException) -> str | None:
    """The TLS library's reason for a failed handshake (ours, never the remote's words), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or "SSL error").replace("_", " ").lower()
        seen = seen.__cause__ or seen.__context__
    return None
