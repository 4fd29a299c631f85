"""The Border Guard portal as a typed client: SubmitDeclaration, CancelDeclaration, GetProcessingStatus.

zeep is wrapped here and nowhere else. Failures leave this module as TransientError (try
again later) or PermanentError (do not), classified by the fault's detail code and the HTTP
status, never by "it was a fault".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from lxml import etree
from zeep.exceptions import XMLParseError

from nsw_adapter import cpu
from nsw_adapter.clients import replies
from nsw_adapter.clients.errors import classify_exception
from nsw_adapter.clients.transport import (
    ZEEP_SETTINGS,
    HttpResponse,
    Network,
    RecordingTransport,
    UsernameToken,
    ZeepClient,
    element_bytes,
    post_document,
    wrapped,
    wsdl_document,
)
from nsw_adapter.envelope import VIETNAM
from nsw_adapter.errors import PermanentError
from nsw_adapter.namespaces import PORTAL_NS
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

_BINDING = f"{{{PORTAL_NS}}}BorderGuardPortalBinding"
_PORTAL_TIME = "%d/%m/%Y %H:%M"


class PortalState(StrEnum):
    """Processing state of one declaration at the portal."""

    PENDING = "PENDING"
    SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"  # not final: an officer asks the agent for more
    CLEARED = "CLEARED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    SUPERSEDED = "SUPERSEDED"
    # Not the portal's: a state this adapter's schema copy does not know (a newer portal). Not
    # final, so the dossier keeps being polled; `Status.raw_state` says what the portal wrote.
    UNKNOWN = "UNKNOWN"


#: The states the portal's schema copy lists (UNKNOWN is ours).
KNOWN_STATES = frozenset(s.value for s in PortalState if s is not PortalState.UNKNOWN)
#: What is kept of a Status in an unknown state when its reply is read again (see tolerant_reply).
_KEPT = ("ReceiptNumber", "State")


@dataclass(frozen=True, slots=True)
class Receipt:
    """The portal's answer to SubmitDeclaration / CancelDeclaration."""

    number: str
    received_at: datetime  # aware, Vietnam local time
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ShorePass:
    """A shore pass for person `person_no` of `category` (TV crew, HK passenger)."""

    category: str
    person_no: int
    pass_number: str
    valid_from: datetime
    valid_to: datetime


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for a rejection; `field` is an XPath into the submission (prefix bgp)."""

    code: str
    text: str
    field: str | None


@dataclass(frozen=True, slots=True)
class SupplementRequest:
    """An officer's request for more (state SUPPLEMENT_REQUESTED): what, by when, from whom.

    `items` are Reasons: a code (BG-SUPP-...), the officer's words, and the field's XPath in
    the submission when the item concerns one.
    """

    request_number: str
    requested_at: datetime  # aware, Vietnam local time
    respond_by: datetime
    officer: str | None
    items: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Status:
    """The state of one declaration, with the decision's details once final."""

    receipt_number: str
    state: PortalState
    decided_at: datetime | None = None
    officer: str | None = None
    clearance_number: str | None = None
    shore_passes: tuple[ShorePass, ...] = ()
    reasons: tuple[Reason, ...] = ()
    supplement: SupplementRequest | None = None  # with SUPPLEMENT_REQUESTED only
    raw_state: str | None = None  # with UNKNOWN: the state as the portal wrote it


class PortalClient(Protocol):
    """What the worker needs from the portal; one instance per thread."""

    def submit(self, submission: bytes) -> Receipt:
        """SubmitDeclaration with an already validated Submission document."""

    def cancel(self, receipt_number: str, reason: str) -> Receipt:
        """CancelDeclaration of a submitted declaration."""

    def statuses(self, receipt_numbers: Sequence[str]) -> list[Status]:
        """GetProcessingStatus for 1..100 receipts, in request order."""

    def close(self) -> None:
        """Release connections."""


def parse_portal_time(value: str) -> datetime:
    """The portal's `dd/MM/yyyy HH:mm` (Vietnam local time) as an aware datetime."""
    return datetime.strptime(value.strip(), _PORTAL_TIME).replace(tzinfo=VIETNAM)


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else parse_portal_time(str(value))


def _receipt(value: Any) -> Receipt:
    if isinstance(value, Receipt):  # read directly (replies.py)
        return value
    return Receipt(
        number=str(value.ReceiptNumber),
        received_at=parse_portal_time(str(value.ReceivedAt)),
        duplicate=bool(value.Duplicate),
    )


def direct_receipt(wrapper: str) -> Callable[[bytes], Receipt | None]:
    """A reader of `wrapper`'s Receipt straight from the answer (replies.py), as zeep would
    read it: the texts as they stand, Duplicate true only for "true" or "1"."""
    tag = f"{{{PORTAL_NS}}}{wrapper}"

    def read(content: bytes) -> Receipt | None:
        found = replies.receipt_element(content, tag)
        if found is None:
            return None

        def text(name: str) -> str:
            return found.findtext(f"{{{PORTAL_NS}}}{name}") or ""

        try:
            received_at = parse_portal_time(text("ReceivedAt"))
        except ValueError:
            return None  # a date the pattern lets by (31/02): zeep's reading fails as it always did
        return Receipt(text("ReceiptNumber"), received_at, text("Duplicate") in ("true", "1"))

    return read


_SUBMIT_RECEIPT = direct_receipt("SubmitDeclarationResponse")


def direct_statuses(content: bytes) -> list[Status] | None:
    """A GetProcessingStatus answer's Status items straight from the answer (replies.py), as
    `_status` reads zeep's: the texts as they stand. None (zeep reads it) for any other answer,
    a state this copy does not know among them."""
    found = replies.status_elements(content)
    if found is None:
        return None
    try:
        statuses = [_direct_status(element) for element in found]
    except ValueError:
        return None  # a date the pattern lets by (31/02): zeep's reading fails as it always did
    return None if any(s is None for s in statuses) else [s for s in statuses if s is not None]


def _text(element: etree._Element, name: str) -> str | None:
    found = element.find(f"{{{PORTAL_NS}}}{name}")
    return None if found is None else (found.text or "")


def _required(element: etree._Element, name: str) -> str:
    return _text(element, name) or ""


def _time(element: etree._Element, name: str) -> datetime | None:
    value = _text(element, name)
    return None if value is None else parse_portal_time(value)


def _direct_status(element: etree._Element) -> Status | None:
    raw = _required(element, "State")
    if raw not in KNOWN_STATES:
        return None
    state = PortalState(raw)
    passes = tuple(
        ShorePass(
            category=_required(item, "Category"),
            person_no=int(_required(item, "PersonNo")),
            pass_number=_required(item, "PassNumber"),
            valid_from=parse_portal_time(_required(item, "ValidFrom")),
            valid_to=parse_portal_time(_required(item, "ValidTo")),
        )
        for item in element.iterfind(f"{{{PORTAL_NS}}}ShorePasses/{{{PORTAL_NS}}}ShorePass")
    )
    supplement = None
    request = element.find(f"{{{PORTAL_NS}}}SupplementRequest")
    if state is PortalState.SUPPLEMENT_REQUESTED and request is not None:
        supplement = SupplementRequest(
            request_number=_required(request, "RequestNumber"),
            requested_at=parse_portal_time(_required(request, "RequestedAt")),
            respond_by=parse_portal_time(_required(request, "RespondBy")),
            officer=_text(request, "Officer"),
            items=tuple(_direct_reason(item) for item in request.iterfind(f"{{{PORTAL_NS}}}Item")),
        )
    return Status(
        receipt_number=_required(element, "ReceiptNumber"),
        state=state,
        decided_at=_time(element, "DecidedAt"),
        officer=_text(element, "Officer"),
        clearance_number=_text(element, "ClearanceNumber"),
        shore_passes=passes,
        reasons=tuple(_direct_reason(r) for r in element.iterfind(f"{{{PORTAL_NS}}}Reason")),
        supplement=supplement,
    )


def _direct_reason(element: etree._Element) -> Reason:
    return Reason(
        code=_required(element, "Code"), text=_required(element, "Text"), field=_text(element, "Field")
    )


def _status(value: Any) -> Status:
    passes: list[ShorePass] = []
    if value.ShorePasses is not None:
        for item in value.ShorePasses.ShorePass or ():
            passes.append(
                ShorePass(
                    category=str(item.Category),
                    person_no=int(item.PersonNo),
                    pass_number=str(item.PassNumber),
                    valid_from=parse_portal_time(str(item.ValidFrom)),
                    valid_to=parse_portal_time(str(item.ValidTo)),
                )
            )
    reasons = tuple(_reason(r) for r in value.Reason or ())
    raw = str(value.State)
    state = PortalState(raw) if raw in KNOWN_STATES else PortalState.UNKNOWN
    return Status(
        receipt_number=str(value.ReceiptNumber),
        state=state,
        decided_at=_opt_time(value.DecidedAt),
        officer=None if value.Officer is None else str(value.Officer),
        clearance_number=None if value.ClearanceNumber is None else str(value.ClearanceNumber),
        shore_passes=tuple(passes),
        reasons=reasons,
        supplement=_supplement(value) if state is PortalState.SUPPLEMENT_REQUESTED else None,
        raw_state=raw if state is PortalState.UNKNOWN else None,
    )


def _reason(value: Any) -> Reason:
    """A rejection's Reason or a request's Item: Code, Text, optional Field."""
    return Reason(
        code=str(value.Code), text=str(value.Text), field=None if value.Field is None else str(value.Field)
    )


def _supplement(value: Any) -> SupplementRequest | None:
    request = getattr(value, "SupplementRequest", None)
    if request is None:  # the schema cannot require it; the contract says it is there
        return None
    return SupplementRequest(
        request_number=str(request.RequestNumber),
        requested_at=parse_portal_time(str(request.RequestedAt)),
        respond_by=parse_portal_time(str(request.RespondBy)),
        officer=None if request.Officer is None else str(request.Officer),
        items=tuple(_reason(item) for item in request.Item or ()),
    )


def tolerant_reply(content: bytes) -> bytes | None:
    """A GetProcessingStatus reply zeep refused, with what this schema copy does not know taken
    out of each Status in an unknown state (a newer portal's state may come with newer
    elements): only its ReceiptNumber and State are kept, all the adapter reads of it. None when
    there is no such Status (the reply is wrong, not newer)."""
    try:
        root = parse_untrusted(content)
    except UntrustedXmlError:
        return None
    changed = False
    for status in root.iter(f"{{{PORTAL_NS}}}Status"):
        state = status.findtext(f"{{{PORTAL_NS}}}State")
        if state is None or state.strip() in KNOWN_STATES:
            continue
        for child in list(status):
            name = etree.QName(child).localname if isinstance(child.tag, str) else None
            if name not in _KEPT:
                status.remove(child)
                changed = True
    return etree.tostring(root) if changed else None


class ZeepPortalClient:
    """PortalClient over zeep: shared parsed WSDL, a pooled session, a fresh UsernameToken per call."""

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
        self._client: Any = ZeepClient(
            wsdl_document("portal"), transport=self.transport, settings=ZEEP_SETTINGS
        )
        self._service = self._client.create_service(_BINDING, url)

    def _token(self) -> Any:
        # A new token (nonce, Created) for every request: the portal refuses replayed nonces.
        return UsernameToken(self._username, self._password, use_digest=True)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        self._client.wsse = self._token()
        try:
            return getattr(self._service, operation)(**kwargs)
        except Exception as exc:
            raise classify_exception(exc, self.transport.last_status, "portal") from exc

    @cpu.counted("portal.submit")
    def submit(self, submission: bytes) -> Receipt:
        """SubmitDeclaration; the submission element goes into the request as it is (see
        `post_document`: it is already XSD-valid, and zeep would rebuild it value by value).
        """
        request = wrapped(f"{{{PORTAL_NS}}}SubmitDeclaration", submission)
        try:
            value = post_document(
                self._client,
                self._service,
                "SubmitDeclaration",
                f"{PORTAL_NS}/SubmitDeclaration",
                (self._username, self._password),
                request,
                _SUBMIT_RECEIPT,
            )
        except Exception as exc:
            raise classify_exception(exc, self.transport.last_status, "portal") from exc
        return _receipt(value)

    @cpu.counted("portal.cancel")
    def cancel(self, receipt_number: str, reason: str) -> Receipt:
        return _receipt(self._call("CancelDeclaration", ReceiptNumber=receipt_number, Reason=reason))

    @cpu.counted("portal.statuses")
    def statuses(self, receipt_numbers: Sequence[str]) -> list[Status]:
        if not 1 <= len(receipt_numbers) <= 100:
            raise PermanentError(f"GetProcessingStatus takes 1..100 receipts, not {len(receipt_numbers)}")
        request = etree.Element(f"{{{PORTAL_NS}}}GetProcessingStatus", nsmap={"ns0": PORTAL_NS})
        for number in receipt_numbers:
            etree.SubElement(request, f"{{{PORTAL_NS}}}ReceiptNumber").text = number
        try:
            try:
                values = post_document(
                    self._client,
                    self._service,
                    "GetProcessingStatus",
                    f"{PORTAL_NS}/GetProcessingStatus",
                    (self._username, self._password),
                    element_bytes(request),
                    direct_statuses,  # the usual answer read directly; any other by zeep
                )
            except Exception as exc:
                raise classify_exception(exc, self.transport.last_status, "portal") from exc
        except PermanentError as exc:
            values = self._reread(exc)
        return [v if isinstance(v, Status) else _status(v) for v in values or ()]

    def _reread(self, error: PermanentError) -> Any:
        """A reply zeep could not read because a Status in a state unknown here carries elements
        unknown here: read again without them (the dossier keeps polling, not dead-lettered).
        Anything else: `error` as it was."""
        if not isinstance(error.__cause__, XMLParseError) or self.transport.last_content is None:
            raise error
        cleaned = tolerant_reply(self.transport.last_content)
        if cleaned is None:
            raise error
        binding = self._service._binding
        answer = HttpResponse(200, {"Content-Type": "text/xml; charset=utf-8"}, cleaned)
        try:
            return binding.process_reply(self._client, binding.get("GetProcessingStatus"), answer)
        except Exception:
            raise error from None

    def close(self) -> None:
        self.transport.close()
