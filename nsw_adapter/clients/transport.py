"""zeep plumbing shared by both clients: one parsed WSDL per file, kept-alive connections, the HTTP status.

A zeep `Fault` carries no HTTP status, and "fault means permanent" is wrong (a 503 with a
fault body is transient), so `RecordingTransport` keeps the status of the last response for
the client that owns it. One client (and one transport and connection) per thread: a
connection is not meant to be shared across threads, the parsed WSDL is.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import zeep
import zeep.transports
import zeep.wsdl
import zeep.wsse.username
from lxml import etree

from nsw_adapter.resources import schema_path

# zeep's DEBUG log prints whole SOAP bodies (names, passport numbers); urllib3's prints URLs.
for _noisy in ("zeep", "zeep.transports", "zeep.xsd", "zeep.wsdl", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

# zeep is only partly typed; its entry points are used as Any here and wrapped in typed clients.
ZeepClient: Any = zeep.Client
UsernameToken: Any = zeep.wsse.username.UsernameToken
_Transport: Any = zeep.transports.Transport
_Document: Any = zeep.wsdl.Document

#: Hardened parsing of what the services answer: no DTDs, entities or network lookups.
ZEEP_SETTINGS: Any = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)

_load_lock = threading.Lock()


@dataclass
class HttpResponse:
    """The parts of a requests.Response that zeep's reply processing reads."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    encoding: str | None = None


class _Headers(dict[str, str]):
    """Case-insensitive `get`, as zeep asks for "Content-Type"."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class RecordingTransport(_Transport):  # type: ignore[misc]  # zeep's Transport is untyped
    """A zeep Transport on one kept-alive http.client connection, remembering the last HTTP status.

    requests costs about a millisecond of CPU per call (environment proxy lookups, hooks,
    cookie jars); at a hundred dossiers a second and four calls each that is most of a core.
    One persistent connection per client (one client per thread) does the same job.
    """

    def __init__(self, *, operation_timeout: float) -> None:
        super().__init__(operation_timeout=operation_timeout, timeout=operation_timeout)
        self.session.trust_env = False  # requests is only used by zeep for loading, never here
        self.last_status: int | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._target: tuple[str, str, int] | None = None

    def _connect(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if self._connection is not None and self._target == (scheme, host, port):
            return self._connection
        self.close()
        timeout = self.operation_timeout
        connection = (
            http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
            if scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout)
        )
        self._connection, self._target = connection, (scheme, host, port)
        return connection

    def post(self, address: str, message: Any, headers: dict[str, str]) -> HttpResponse:
        self.last_status = None
        url = urlsplit(address)
        scheme = url.scheme or "http"
        port = url.port or (443 if scheme == "https" else 80)
        path = url.path + (f"?{url.query}" if url.query else "")
        body = message if isinstance(message, bytes) else str(message).encode("utf-8")
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect(scheme, url.hostname or "127.0.0.1", port)
            try:
                connection.request("POST", path, body=body, headers=headers)
                raw = connection.getresponse()
                content = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                # The server dropped an idle kept-alive connection: once more on a fresh one.
                # Safe: every call we make is idempotent (ClientMessageId, messageId, reads).
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if raw.getheader("Connection", "").lower() == "close":
                self.close()
            self.last_status = raw.status
            response_headers = _Headers({k.lower(): v for k, v in raw.getheaders()})
            return HttpResponse(raw.status, response_headers, content)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._target = None


_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def post_document(client: Any, service: Any, operation: str, action: str, token: Any, payload: Any) -> Any:
    """Call `operation` with `payload`, its request element as already built, and let zeep read the reply.

    zeep's object model would rebuild the request value by value (for a one-string NSW call
    that is most of the call's CPU; for a 5,000-person submission, far more). Our payloads
    are built and validated by us, so they go into the SOAP envelope as they are; `token`
    (zeep's UsernameToken) adds the WS-Security header, the client's transport posts, and
    zeep's binding reads the answer, faults included.
    """
    envelope = etree.Element(f"{{{_SOAP_ENV}}}Envelope", nsmap={"soap-env": _SOAP_ENV})
    etree.SubElement(envelope, f"{{{_SOAP_ENV}}}Header")
    etree.SubElement(envelope, f"{{{_SOAP_ENV}}}Body").append(payload)
    headers = {"SOAPAction": f'"{action}"', "Content-Type": 'text/xml; charset="utf-8"'}
    envelope, headers = token.apply(envelope, headers)
    response = client.transport.post_xml(service._binding_options["address"], envelope, headers)
    binding = service._binding
    return binding.process_reply(client, binding.get(operation), response)


@cache
def _document(name: str) -> Any:
    """The parsed WSDL (with its schemas), loaded from local files once per process."""
    files = {"portal": ("bgp", "portal.wsdl"), "nsw": ("nsw", "nsw.wsdl")}
    loader = _Transport(operation_timeout=5, timeout=5)
    return _Document(str(schema_path(*files[name])), loader, settings=ZEEP_SETTINGS)


def wsdl_document(name: str) -> Any:
    """The shared parsed WSDL "portal" or "nsw" (thread-safe first load)."""
    with _load_lock:
        return _document(name)
