"""zeep plumbing shared by both clients: one parsed WSDL per file, a urllib3 pool per client, the HTTP status.

A zeep `Fault` carries no HTTP status, and "fault means permanent" is wrong (a 503 with a
fault body is transient), so `RecordingTransport` keeps the status of the last response for
the client that owns it. One client (and one transport and connection) per thread: a
connection is not meant to be shared across threads, the parsed WSDL is.

The HTTP is urllib3 (what requests, and so zeep, is built on): a CA bundle, a client
certificate and a proxy per service (`Network`) are its TLS context and ProxyManager. Measured
against the hand-written http.client transport it replaced and against requests
(benchmarks/transport.py): urllib3 costs about 0.2 ms more CPU per call than http.client,
requests about 0.45 ms (1.8x) for nothing more that we use.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import urllib3
import zeep
import zeep.transports
import zeep.wsdl
import zeep.wsse.username
from lxml import etree

from nsw_adapter.errors import ConfigurationError, PermanentError
from nsw_adapter.resources import schema_path
from nsw_adapter.soap import SOAP_ENV, username_token_header
from nsw_adapter.tls import client_context
from nsw_adapter.xml import thread_parser

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
_T = TypeVar("_T")

#: The most of an answer read: receipts, statuses and acknowledgements are a few KiB, so a
#: service (or something in its place) streaming more is refused before it costs our memory.
MAX_ANSWER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Network:
    """How one outgoing service is reached: whom to trust, who we are, and through what.

    ca_bundle: PEM of the CAs the service's certificate must chain to (None: the system's);
    client_certificate / client_key: PEM of our certificate and its key, for a service that
    requires one (None key: in the certificate's file); proxy: an http:// URL every request goes
    through (HTTPS tunnelled with CONNECT; user:password@ in it is sent as Basic proxy
    authorization). The environment (HTTPS_PROXY, SSL_CERT_FILE...) is never read.
    """

    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None
    proxy: str | None = None


def pool_manager(network: Network, timeout_seconds: float) -> urllib3.PoolManager:
    """One kept-alive connection per service, TLS and proxy as `network` says; no retries or
    redirects of its own (the delivery policies retry; a call is never redirected)."""
    if network.client_key is not None and network.client_certificate is None:
        raise ConfigurationError("a client_key is set without its client_certificate")
    context = _shared_context(network, _stamps(network))
    options: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": 1,
        "ssl_context": context,
        "retries": False,
        "timeout": urllib3.Timeout(timeout_seconds),
    }
    if not network.proxy:
        return urllib3.PoolManager(**options)
    proxy = urllib3.util.parse_url(network.proxy)
    if proxy.scheme not in ("http", "https") or not proxy.host:
        raise ConfigurationError("the proxy must be an http:// or https:// URL with a host")
    # user:password@ in the URL, percent-encoded there as URLs must be, goes as Basic authorization.
    headers = urllib3.make_headers(proxy_basic_auth=unquote(proxy.auth)) if proxy.auth else None
    bare = proxy._replace(auth=None).url
    return urllib3.ProxyManager(bare, proxy_headers=headers, **options)


def _stamps(network: Network) -> tuple[tuple[int, int] | None, ...]:
    """Each file's (mtime, size), None when absent: a file changed on disk makes a new context."""
    stamps: list[tuple[int, int] | None] = []
    for path in (network.ca_bundle, network.client_certificate, network.client_key):
        try:
            found = None if path is None else path.stat()
        except OSError:
            found = None  # client_context names the file it cannot read
        stamps.append(None if found is None else (found.st_mtime_ns, found.st_size))
    return tuple(stamps)


@lru_cache(maxsize=16)
def _shared_context(network: Network, _stamps: tuple[tuple[int, int] | None, ...]) -> ssl.SSLContext:
    """One client TLS context per network and state of its files, shared by every thread's client
    (an SSLContext is safe to share): loading the system's CAs costs about 22 ms of CPU, which
    each of the daemon's nine clients paid on its first call (benchmarks/README.md)."""
    return client_context(
        ca_bundle=network.ca_bundle, certificate=network.client_certificate, key=network.client_key
    )


class AnswerTooLarge(PermanentError):
    """A service's answer longer than `MAX_ANSWER_BYTES`: no known answer is, so it is not retried."""


@dataclass
class HttpResponse:
    """The parts of a requests.Response that zeep's reply processing reads."""

    status_code: int
    headers: Any  # urllib3's HTTPHeaderDict: case-insensitive, as zeep asks for "Content-Type"
    content: bytes
    encoding: str | None = None


class RecordingTransport(_Transport):  # type: ignore[misc]  # zeep's Transport is untyped
    """zeep's Transport over urllib3 (TLS and proxy as `network` says), keeping the last HTTP status."""

    def __init__(self, *, operation_timeout: float, network: Network | None = None) -> None:
        super().__init__(operation_timeout=operation_timeout, timeout=operation_timeout)
        self.session.trust_env = False  # requests is only used by zeep for loading, never here
        self.last_status: int | None = None
        self.last_content: bytes | None = None  # the last answer's body (a reply read again)
        self._pool = pool_manager(network or Network(), operation_timeout)

    def post(self, address: str, message: Any, headers: dict[str, str]) -> HttpResponse:
        self.last_status = None
        self.last_content = None
        body = message if isinstance(message, bytes) else str(message).encode("utf-8")
        raw = self._pool.urlopen(
            "POST", address, body=body, headers=headers, redirect=False, preload_content=False
        )
        self.last_status = raw.status
        try:
            content = raw.read(MAX_ANSWER_BYTES + 1)
        except BaseException:
            raw.close()
            raise
        if len(content) > MAX_ANSWER_BYTES:
            raw.close()  # the rest is never read, and the connection cannot be reused
            raise AnswerTooLarge(f"answer over {MAX_ANSWER_BYTES} bytes (HTTP {raw.status})")
        raw.release_conn()
        self.last_content = content
        return HttpResponse(raw.status, raw.headers, content)

    def close(self) -> None:
        self._pool.clear()


_HEAD = f"<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"{SOAP_ENV}\">".encode()


def soap_request(user: str, password: str, payload: bytes) -> bytes:
    """A SOAP 1.1 request: a fresh WS-Security UsernameToken (digest) in the Header, `payload` (a
    request element, serialized) as the Body."""
    security = etree.tostring(username_token_header(user, password))
    return b"".join(
        (
            _HEAD,
            b"<soap-env:Header>",
            security,
            b"</soap-env:Header><soap-env:Body>",
            payload,
            b"</soap-env:Body></soap-env:Envelope>",
        )
    )


def post_document(
    client: Any,
    service: Any,
    operation: str,
    action: str,
    credentials: tuple[str, str],
    payload: bytes,
    direct: Callable[[bytes], _T | None] | None = None,
) -> _T | Any:
    """Call `operation` with `payload`, its request element already serialized, and read the reply.

    zeep's object model would rebuild the request value by value (for a one-string NSW call
    that is most of the call's CPU; for a 5,000-person submission, far more), and its
    UsernameToken builds the envelope as a tree to be serialized again. Our payloads are built
    and validated by us, so the request is written as bytes (`soap_request`): the token of
    `credentials` (user, password), new for every call as both services refuse a replayed nonce,
    and the payload as it is (benchmarks/overhead.py). The client's transport posts. `direct`
    reads an HTTP 200 answer of the usual shape itself (clients/replies.py); when it returns
    None, and always without it, zeep's binding reads the answer, faults included.
    """
    headers = {"SOAPAction": f'"{action}"', "Content-Type": 'text/xml; charset="utf-8"'}
    message = soap_request(*credentials, payload)
    response = client.transport.post(service._binding_options["address"], message, headers)
    if direct is not None and response.status_code == 200:
        value = direct(response.content)
        if value is not None:
            return value
    binding = service._binding
    return binding.process_reply(client, binding.get(operation), response)


def element_bytes(element: etree._Element) -> bytes:
    """A request element as `post_document` takes it: UTF-8, no XML declaration."""
    return etree.tostring(element, encoding="utf-8", xml_declaration=False)


_UTF8_DECLARATION = re.compile(rb"\A<\?xml[^>]*?encoding=[\"'](?:utf-8|UTF-8)[\"'][^>]*\?>\s*")


def wrapped(wrapper: str, document: bytes) -> bytes:
    """`document` (our own XML) inside a `wrapper` element (Clark notation) as request bytes: a
    UTF-8 document's bytes as they are (its declaration dropped), any other through lxml."""
    namespace, _, name = wrapper[1:].partition("}")
    declaration = _UTF8_DECLARATION.match(document)
    body = (document[declaration.end() :] if declaration is not None else document).rstrip()
    if not body.startswith(b"<") or body.startswith((b"<?", b"<!")):  # another encoding, a comment...
        element = etree.Element(wrapper)
        element.append(etree.fromstring(document, parser=thread_parser()))
        return element_bytes(element)
    return b"".join((f'<ns0:{name} xmlns:ns0="{namespace}">'.encode(), body, f"</ns0:{name}>".encode()))


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
