"""zeep plumbing shared by both clients: one parsed WSDL per file, pooled sessions, the HTTP status.

A zeep `Fault` carries no HTTP status, and "fault means permanent" is wrong (a 503 with a
fault body is transient), so `RecordingTransport` keeps the status of the last response for
the client that owns it. One client (and one transport and session) per thread: zeep and
requests sessions are not meant to be shared across threads, the parsed WSDL is.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any

import requests
import zeep
import zeep.transports
import zeep.wsdl
import zeep.wsse.username
from requests.adapters import HTTPAdapter

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


class RecordingTransport(_Transport):  # type: ignore[misc]  # zeep's Transport is untyped
    """A zeep Transport that remembers the HTTP status of the last POST it made."""

    def __init__(self, *, operation_timeout: float, pool_size: int = 4) -> None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "nsw-adapter"
        super().__init__(session=session, operation_timeout=operation_timeout, timeout=operation_timeout)
        self.last_status: int | None = None

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        self.last_status = None
        response: requests.Response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout
        )
        self.last_status = response.status_code
        return response

    def close(self) -> None:
        self.session.close()


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
