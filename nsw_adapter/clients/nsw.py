"""The NSW gateway as a typed client: sendAndGetMessage with a Result envelope, its answer read.

The string part carries the whole envelope as escaped text (zeep escapes and unescapes it).
The NSW's answer is untrusted and read with the hardened parser. Per the NSW WSDL any SOAP
fault or HTTP error means "send the same message again later": all are transient here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree
from zeep.exceptions import Fault

from nsw_adapter import cpu
from nsw_adapter.clients import replies
from nsw_adapter.clients.errors import (
    RemotePermanentError,
    RemoteTransientError,
    auth_fault,
    classify_exception,
    refused,
)
from nsw_adapter.clients.transport import (
    ZEEP_SETTINGS,
    Network,
    RecordingTransport,
    ZeepClient,
    element_bytes,
    post_document,
    wsdl_document,
)
from nsw_adapter.errors import NswAdapterError
from nsw_adapter.namespaces import GATEWAY_NS
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

_BINDING = f"{{{GATEWAY_NS}}}NswGatewayBinding"


@dataclass(frozen=True, slots=True)
class Reject:
    """One reason the NSW gave for refusing a message."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class NswAnswer:
    """The NSW's synchronous answer: 99 received (also for a repeated messageId) or 22 refused."""

    function: str
    message_id: str | None
    rejects: tuple[Reject, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.function == "99"


class NswClient(Protocol):
    """What the outbox needs from the NSW; one instance per thread."""

    def send(self, envelope: bytes) -> NswAnswer:
        """sendAndGetMessage with one whole envelope; the NSW's answer."""

    def close(self) -> None:
        """Release connections."""


def read_answer(text: str) -> NswAnswer:
    """The NSW's answer envelope, read with the hardened parser."""
    try:
        root = parse_untrusted(text)
    except UntrustedXmlError as exc:
        raise RemotePermanentError("the NSW answered with unreadable XML", code=None, status=200) from exc
    function = (root.findtext("Header/Subject/function") or "").strip()
    if function not in ("99", "22"):
        raise RemotePermanentError(f"the NSW answered function {function!r}", code=None, status=200)
    rejects = tuple(
        Reject(code=(r.findtext("Code") or "").strip(), reason=" ".join((r.findtext("Reason") or "").split()))
        for r in root.iterfind("Body/Content/Acknowledgement/Reject")
    )
    errors = tuple(
        Reject(
            code=(r.findtext("Code") or "").strip(),
            reason=" ".join((r.findtext("Description") or "").split()),
        )
        for r in root.iterfind("Body/Content/Acknowledgement/Error")
    )
    message_id = root.findtext("Header/Reference/messageId")
    return NswAnswer(function=function, message_id=message_id, rejects=rejects + errors)


class ZeepNswClient:
    """NswClient: zeep's parsed WSDL reads faults, a pooled connection, a fresh UsernameToken per call."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout_seconds: float,
        network: Network | None = None,
        transport: RecordingTransport | None = None,
    ) -> None:
        self._username = username
        self._password = password
        self.transport = transport or RecordingTransport(operation_timeout=timeout_seconds, network=network)
        self._client: Any = ZeepClient(wsdl_document("nsw"), transport=self.transport, settings=ZEEP_SETTINGS)
        self._service = self._client.create_service(_BINDING, url)

    @cpu.counted("nsw.send")
    def send(self, envelope: bytes) -> NswAnswer:
        request = etree.Element(f"{{{GATEWAY_NS}}}sendAndGetMessage", nsmap={"gw": GATEWAY_NS})
        etree.SubElement(request, f"{{{GATEWAY_NS}}}requestMessage").text = envelope.decode("utf-8")
        try:
            answer: Any = post_document(
                self._client,
                self._service,
                "sendAndGetMessage",
                f"{GATEWAY_NS}/sendAndGetMessage",
                (self._username, self._password),
                element_bytes(request),
                replies.nsw_answer_text,
            )
        except Fault as exc:
            # No wsdl:fault is declared: every fault means "again later"; one refusing our
            # credentials pauses the NSW for every Result instead (AuthenticationRefused).
            status = self.transport.last_status
            if auth_fault(exc, status):
                raise refused("nsw", None, status) from exc
            raise RemoteTransientError(f"nsw fault (HTTP {status})", status=status) from exc
        except Exception as exc:
            error: NswAdapterError = classify_exception(exc, self.transport.last_status, "nsw")
            raise error from exc
        if not isinstance(answer, str):
            raise RemotePermanentError("the NSW answered without a message", code=None, status=200)
        return read_answer(answer)

    def close(self) -> None:
        self.transport.close()
