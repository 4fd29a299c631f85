"""The E-Border Guard Procedures Portal simulator: schemas/bgp/portal.wsdl over real HTTP.

Endpoints:

* ``POST /bgp/portal``: SOAP 1.1 document/literal wrapped (SubmitDeclaration, CancelDeclaration,
  GetProcessingStatus), WS-Security UsernameToken PasswordDigest on every request. Faults:
  soap:Client with ``PortalFault{Code, Text}`` AUTH / SCHEMA / NOT_FOUND / FINAL (Supersedes names
  a CANCELLED or SUPERSEDED receipt), soap:Server UNAVAILABLE (injected only). Fault injection
  (``faults``) applies here and nowhere else.
* ``GET /bgp/portal?wsdl``: the WSDL with its address set to this server (schemas at /bgp/*.xsd).
* ``GET /admin/state``, ``POST /admin/reset``: JSON, never faulted. ``POST /admin/credentials`` with
  a JSON object of user name -> password: those are accepted from now on (a password changed at the
  portal while the adapter runs).

Judgement is by the contract: submission.xsd, then the portal's own checks
(`portal_rules`): missing person fields or impossible dates are a SCHEMA fault; business rules
and the watchlist make the declaration REJECTED after the decision delay, else it is CLEARED
with a shore pass for everyone with ShorePassRequested true. A watchlisted document number
rejects the declaration with BG-DOC-ALERT at that person's DocNumber. A document number on the
supplement list makes the dossier's first decision a supplement request instead
(`SUPPLEMENT_REQUESTED`, one BG-SUPP-DOC item at that person's DocNumber, once per
ClientReference): the superseding submission is decided as usual; unanswered for
`supplement_deadline` seconds, the receipt is REJECTED with BG-SUPP-EXPIRED (portal_state).

Admin state (``GET /admin/state``)::

    {
      "dossiers": {
        "<ClientReference>": {
          "submissions": 1,          # accepted submissions (new receipts), duplicates not counted
          "duplicates": 0,           # repeated ClientMessageIds answered with the first receipt
          "cancellations": 0,        # CancelDeclaration calls on this dossier's receipts
          "state": "CLEARED",        # state of the latest receipt (PENDING, CLEARED, REJECTED, ...)
          "receipt": "CKCHPG-2026-004501",   # the latest receipt
          "receipts": [{"receipt", "client_message_id", "supersedes", "superseded_by", "state",
                        "received_at", "decided_at", "clearance_number",
                        "shore_passes": [{"category", "person_no", "pass_number"}],
                        "reasons": [{"code", "field"}], "supplement_request": null |
                        {"number", "requested_at", "respond_by", "items": [{"code", "field"}]},
                        "duplicates", "persons"}]
        }
      },
      "counters": {"requests", "submissions", "duplicates", "cancellations", "cancel_duplicates",
                   "status_requests", "statuses_returned", "cleared", "rejected", "supplement_requests",
                   "supplement_expired", "declarations", "pending", "fault_AUTH", "fault_SCHEMA",
                   "fault_NOT_FOUND", "fault_FINAL", "fault_UNAVAILABLE"},
      "injected": {"http503", "unavailable", "reset", "hang", "lost-reply", "outage", "latency"}
    }
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from lxml import etree

from nsw_adapter.envelope import VIETNAM
from nsw_adapter.resources import schema_path
from nsw_adapter.simulators.faults import FaultInjector, FaultSpec, parse_fault_spec
from nsw_adapter.simulators.http import SimulatorHandle, new_app, read_credentials, serve_soap
from nsw_adapter.simulators.portal_rules import (
    BGP,
    Person,
    business_reasons,
    local_datetime,
    persons,
    schema_problems,
    supplement_items,
    top_fields,
)
from nsw_adapter.simulators.portal_state import (
    Declaration,
    FinalError,
    NewSubmission,
    NotFoundError,
    PortalState,
    local_minute,
)
from nsw_adapter.soap import (
    SoapFault,
    UsernameTokenVerifier,
    WsseError,
    fault_response,
    parse_request,
    response,
)
from nsw_adapter.soap.envelope import VERSION_MISMATCH
from nsw_adapter.xml import SCHEMA_PARSING, schema, schema_parser

_log = logging.getLogger(__name__)
_NS = f"{{{BGP}}}"
_NSMAP: dict[Any, str] = {None: BGP}
PATH = "/bgp/portal"
DEFAULT_CREDENTIALS: Mapping[str, str] = {"demo": "demo"}
_REFERENCE_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9/\-]*")
MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class PortalConfig:
    """How the portal simulator behaves."""

    credentials: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CREDENTIALS))
    decision_delay: float = 2.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    watchlist: frozenset[str] = frozenset()
    supplements: frozenset[str] = frozenset()  # document numbers that draw a supplement request
    supplement_deadline: float = 3600.0  # seconds from the request to its RespondBy
    max_skew_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    workers: int = 2  # threads for big requests (lxml releases the GIL while parsing / validating)


class PortalService:
    """The portal's SOAP operations over a PortalState (no HTTP here)."""

    def __init__(self, config: PortalConfig) -> None:
        self.config = config
        self.state = PortalState(
            decision_delay=config.decision_delay,
            clock=config.clock,
            supplement_deadline=config.supplement_deadline,
        )
        self.verifier = UsernameTokenVerifier(config.credentials, max_skew_seconds=config.max_skew_seconds)
        self.injector = FaultInjector(config.faults)
        # handle() may run on worker threads (big requests, see _soap): the state is touched only
        # under this lock; parsing, validation and the rules run outside it.
        self.lock = threading.RLock()
        self._local = threading.local()
        self._validator()  # the first schema is parsed on this thread, before any worker runs

    def _validator(self) -> etree.XMLSchema:
        """submission.xsd for this thread (a validator keeps its error log: not shared between threads)."""
        validator: etree.XMLSchema | None = getattr(self._local, "validator", None)
        if validator is None:
            validator = self._local.validator = _new_submission_schema()
        return validator

    def fault(self, code: str, text: str) -> SoapFault:
        with self.lock:
            self.state.count(f"fault_{code}")
        detail = etree.Element(f"{_NS}PortalFault", nsmap=_NSMAP)
        etree.SubElement(detail, f"{_NS}Code").text = code
        etree.SubElement(detail, f"{_NS}Text").text = text
        return SoapFault("Server" if code == "UNAVAILABLE" else "Client", text, detail)

    def unavailable(self) -> bytes:
        return fault_response(
            self.fault("UNAVAILABLE", "The portal is temporarily unavailable; try again later.")
        )

    def handle(self, body: bytes) -> tuple[bytes, bool]:
        """Answer one SOAP request: (the response, False) or (a fault, True); never raises."""
        try:
            return self._handle(body)
        except Exception:  # a simulator bug must still answer (soap:Server, so clients retry)
            _log.exception("portal simulator failed on a request")
            return fault_response(SoapFault("Server", "Internal error in the portal simulator.")), True

    def _handle(self, body: bytes) -> tuple[bytes, bool]:
        with self.lock:
            self.state.count("requests")
        try:
            request = parse_request(body, max_bytes=MAX_REQUEST_BYTES)
        except SoapFault as exc:
            if exc.code == VERSION_MISMATCH:  # a SOAP 1.2 client: the fault (and Upgrade) SOAP defines
                return fault_response(exc), True
            return fault_response(self.fault("SCHEMA", exc.string)), True
        try:
            user = self.verifier.verify(request.header)
        except WsseError as exc:
            _log.info("portal refused a request: AUTH (%s)", exc)
            return fault_response(self.fault("AUTH", f"Authentication failed: {exc}.")), True
        payload = request.payload
        result: etree._Element | bytes
        try:
            if payload.tag == f"{_NS}SubmitDeclaration":
                result = self.submit(payload)
            elif payload.tag == f"{_NS}CancelDeclaration":
                result = self.cancel(payload)
            elif payload.tag == f"{_NS}GetProcessingStatus":
                result = self.status(payload)
            else:
                raise self.fault("SCHEMA", "Unknown operation.")
        except SoapFault as fault:
            return fault_response(fault), True
        _log.debug("portal answered %s for %s", etree.QName(payload).localname, user)
        if isinstance(result, bytes):
            return _SOAP_HEAD + result + _SOAP_TAIL, False
        return response(result), False

    # --- operations ---------------------------------------------------------------------------

    def submit(self, payload: etree._Element) -> etree._Element:
        children = list(payload)
        if len(children) != 1 or children[0].tag != f"{_NS}Submission":
            raise self.fault("SCHEMA", "SubmitDeclaration must hold exactly one Submission.")
        submission = children[0]
        validator = self._validator()
        if not validator.validate(submission):
            errors = list(iter(validator.error_log))  # type: ignore[call-overload]
            where = f" at line {errors[0].line}" if errors else ""
            _log.info("portal SCHEMA fault: the submission does not validate%s", where)
            raise self.fault("SCHEMA", f"The submission does not validate against submission.xsd{where}.")
        client_message_id = _token(submission.findtext(f"{_NS}ClientMessageId"))
        with self.lock:
            first = self.state.repeat(client_message_id)
            if first is not None:  # answered with the first receipt, whatever this copy holds
                _log.info("portal receipt %s repeated (duplicate)", first.receipt)
                return self._receipt("SubmitDeclarationResponse", first, True)
        people = persons(submission)
        top = top_fields(submission)
        problems = schema_problems(top, people)
        if problems:
            raise self.fault("SCHEMA", "The submission is incomplete: " + "; ".join(problems[:20]))
        new = self._read_submission(top, people)
        try:
            with self.lock:
                declaration, duplicate = self.state.submit(new)
                answer = self._receipt("SubmitDeclarationResponse", declaration, duplicate)
        except NotFoundError:
            raise self.fault(
                "NOT_FOUND", "Supersedes names a receipt number the portal never issued."
            ) from None
        except FinalError:
            raise self.fault(
                "FINAL", "Supersedes names a cancelled or superseded receipt, which nothing can replace."
            ) from None
        _log.info(
            "portal receipt %s for %s (duplicate=%s, reasons=%d)",
            declaration.receipt,
            new.reference,
            duplicate,
            len(new.reasons),
        )
        return answer

    def _read_submission(self, top: dict[str, str], people: list[Person]) -> NewSubmission:
        expected = local_datetime(top.get("Voyage/ExpectedTime"))
        today = datetime.fromtimestamp(self.config.clock(), VIETNAM).date()
        reasons = business_reasons(top, people, today=today, watchlist=self.config.watchlist)
        passes = tuple(
            (person.category, person.no)
            for person in people
            if person.fields.get("ShorePassRequested") in ("true", "1") and person.category in ("TV", "HK")
        )
        return NewSubmission(
            reference=top.get("ClientReference", ""),
            client_message_id=top.get("ClientMessageId", ""),
            supersedes=top.get("Supersedes") or None,
            procedure=top.get("Procedure", ""),
            station=top.get("BorderGate", ""),
            expected_time=expected,
            shore_pass_persons=passes,
            reasons=tuple(reasons),
            persons=len(people),
            supplement_items=tuple(supplement_items(people, self.config.supplements)),
        )

    def cancel(self, payload: etree._Element) -> etree._Element:
        number = _token(payload.findtext(f"{_NS}ReceiptNumber"))
        reason = _token(payload.findtext(f"{_NS}Reason"))
        if not _valid_reference(number) or not reason or len(reason) > 1000:
            raise self.fault(
                "SCHEMA", "CancelDeclaration needs a ReceiptNumber and a Reason (1-1000 characters)."
            )
        try:
            with self.lock:
                declaration, duplicate = self.state.cancel(number)
                # ReceivedAt: when the cancellation was recorded (the first one, for a repeat)
                answer = self._receipt(
                    "CancelDeclarationResponse", declaration, duplicate, declaration.decided_at
                )
        except NotFoundError:
            raise self.fault("NOT_FOUND", f"Unknown receipt number {number}.") from None
        _log.info("portal cancelled %s (duplicate=%s)", number, duplicate)
        return answer

    def status(self, payload: etree._Element) -> bytes:
        """The GetProcessingStatusResponse, serialised (each Status is kept serialised per state)."""
        numbers = [_token(element.text) for element in payload.iterfind(f"{_NS}ReceiptNumber")]
        if not 1 <= len(numbers) <= 100 or not all(_valid_reference(n) for n in numbers):
            raise self.fault("SCHEMA", "GetProcessingStatus takes 1 to 100 well-formed ReceiptNumbers.")
        parts = [_STATUS_HEAD]
        try:
            with self.lock:
                parts.extend(status_bytes(declaration) for declaration in self.state.statuses(numbers))
        except NotFoundError as exc:
            raise self.fault("NOT_FOUND", f"Unknown receipt number {exc.args[0]}.") from None
        parts.append(_STATUS_TAIL)
        return b"".join(parts)

    @staticmethod
    def _receipt(
        wrapper_name: str, declaration: Declaration, duplicate: bool, at: float | None = None
    ) -> etree._Element:
        wrapper = etree.Element(f"{_NS}{wrapper_name}", nsmap=_NSMAP)
        receipt = etree.SubElement(wrapper, f"{_NS}Receipt")
        etree.SubElement(receipt, f"{_NS}ReceiptNumber").text = declaration.receipt
        received = declaration.received_at if at is None else at
        etree.SubElement(receipt, f"{_NS}ReceivedAt").text = local_minute(received)
        etree.SubElement(receipt, f"{_NS}Duplicate").text = "true" if duplicate else "false"
        return wrapper


def _new_submission_schema() -> etree.XMLSchema:
    """A fresh submission.xsd validator (schema parsing serialised across threads)."""
    schema("submission")  # the process's first schema parse, if it has not happened yet
    with SCHEMA_PARSING:  # libxml2's schema parser is not safe in two threads at once
        document = etree.parse(str(schema_path("bgp", "submission.xsd")), parser=schema_parser())
        return etree.XMLSchema(document)


def _token(text: str | None) -> str:
    return " ".join((text or "").split())


def _valid_reference(number: str) -> bool:
    return len(number) <= 40 and _REFERENCE_NUMBER.fullmatch(number) is not None


_SOAP_HEAD = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
)
_SOAP_TAIL = b"</soap:Body></soap:Envelope>"
_STATUS_HEAD = f'<GetProcessingStatusResponse xmlns="{BGP}">'.encode()
_STATUS_TAIL = b"</GetProcessingStatusResponse>"


def status_bytes(declaration: Declaration) -> bytes:
    """The serialised Status of a declaration, built once per state (every field is fixed by it)."""
    cached = declaration.status_cache
    if cached is None or cached[0] != declaration.state:
        serialised = etree.tostring(status_element(declaration), encoding="UTF-8", xml_declaration=False)
        cached = declaration.status_cache = (declaration.state, bytes(serialised))
    return cached[1]


def status_element(declaration: Declaration) -> etree._Element:
    """A bgp:Status for one declaration (valid against status.xsd)."""
    status = etree.Element(f"{_NS}Status", nsmap=_NSMAP)

    def add(parent: etree._Element, name: str, value: str | int | None) -> None:
        if value is not None:
            etree.SubElement(parent, f"{_NS}{name}").text = str(value)

    add(status, "ReceiptNumber", declaration.receipt)
    add(status, "State", declaration.state)
    if declaration.state != "PENDING" and declaration.decided_at is not None:
        add(status, "DecidedAt", local_minute(declaration.decided_at))
    if declaration.state in ("CLEARED", "REJECTED"):
        add(status, "Officer", declaration.officer)
    if declaration.state == "CLEARED":
        add(status, "ClearanceNumber", declaration.clearance)
        if declaration.passes:
            passes = etree.SubElement(status, f"{_NS}ShorePasses")
            for item in declaration.passes:
                element = etree.SubElement(passes, f"{_NS}ShorePass")
                add(element, "Category", item.category)
                add(element, "PersonNo", item.person_no)
                add(element, "PassNumber", item.number)
                add(element, "ValidFrom", item.valid_from)
                add(element, "ValidTo", item.valid_to)
    if declaration.state == "REJECTED":
        for reason in declaration.reasons:
            element = etree.SubElement(status, f"{_NS}Reason")
            add(element, "Code", reason.code)
            add(element, "Text", reason.text)
            add(element, "Field", reason.field)
    request = declaration.supplement
    if declaration.state == "SUPPLEMENT_REQUESTED" and request is not None:
        element = etree.SubElement(status, f"{_NS}SupplementRequest")
        add(element, "RequestNumber", request.number)
        add(element, "RequestedAt", local_minute(request.requested_at))
        add(element, "RespondBy", local_minute(request.respond_by))
        add(element, "Officer", request.officer)
        for asked in request.items:
            entry = etree.SubElement(element, f"{_NS}Item")
            add(entry, "Code", asked.code)
            add(entry, "Text", asked.text)
            add(entry, "Field", asked.field)
    return status


# --- HTTP -------------------------------------------------------------------------------------

SERVICE: web.AppKey[PortalService] = web.AppKey("portal", PortalService)
EXECUTOR: web.AppKey[ThreadPoolExecutor] = web.AppKey("executor", ThreadPoolExecutor)
OFFLOAD_BYTES = 8 * 1024


async def make_portal_app(config: PortalConfig) -> web.Application:
    """The portal simulator's aiohttp application."""
    service = PortalService(config)
    app = new_app()
    app[SERVICE] = service
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="portal-worker")
    app.router.add_post(PATH, _soap)
    app.router.add_get(PATH, _wsdl)
    app.router.add_get("/bgp/{name:(submission|status)}.xsd", _xsd)
    app.router.add_get("/admin/state", _admin_state)
    app.router.add_post("/admin/reset", _admin_reset)
    app.router.add_post("/admin/credentials", _admin_credentials)

    async def started(_: web.Application) -> None:
        service.injector.start()

    async def stopped(_: web.Application) -> None:
        app[EXECUTOR].shutdown(wait=True, cancel_futures=True)

    app.on_startup.append(started)
    app.on_cleanup.append(stopped)
    return app


async def _soap(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    executor = request.app[EXECUTOR]

    async def process(body: bytes) -> tuple[bytes, bool]:
        if len(body) >= OFFLOAD_BYTES:
            # lxml parses and validates without the GIL: big submissions on worker threads let the
            # server use a second core; small requests are cheaper answered right here.
            return await asyncio.get_running_loop().run_in_executor(executor, service.handle, body)
        return service.handle(body)

    return await serve_soap(request, service.injector.decide(), service.unavailable, process)


async def _wsdl(request: web.Request) -> web.StreamResponse:
    if "wsdl" not in {key.lower() for key in request.query}:
        return web.Response(status=405, text="POST SOAP requests here; GET ?wsdl for the WSDL")
    text = schema_path("bgp", "portal.wsdl").read_text(encoding="utf-8")
    address = f"{request.scheme}://{request.host}{PATH}"
    text = text.replace("http://127.0.0.1:8802/bgp/portal", address)
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


async def _xsd(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = schema_path("bgp", f"{name}.xsd").read_bytes()
    return web.Response(body=body, content_type="text/xml", charset="utf-8")


async def _admin_state(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    return web.json_response(admin_snapshot(service))


async def _admin_reset(request: web.Request) -> web.StreamResponse:
    admin_reset(request.app[SERVICE])
    return web.json_response({"reset": True})


async def _admin_credentials(request: web.Request) -> web.StreamResponse:
    credentials = await read_credentials(request)
    request.app[SERVICE].verifier.replace_credentials(credentials)
    return web.json_response({"users": sorted(credentials)})


def admin_snapshot(service: PortalService) -> dict[str, Any]:
    """The admin JSON: the state's snapshot plus the injected fault counts."""
    with service.lock:
        return {**service.state.snapshot(), "injected": service.injector.snapshot()}


def admin_reset(service: PortalService) -> None:
    """Forget every declaration and start the fault sequence over."""
    with service.lock:
        service.state.reset()
        service.injector.reset()


# --- in-process use ---------------------------------------------------------------------------


class PortalSimulator(SimulatorHandle):
    """The portal simulator on an ephemeral loopback port in a background thread (a context manager).

    >>> with PortalSimulator(decision_delay=0.2) as portal:  # doctest: +SKIP
    ...     client.create_service(BINDING, portal.url); portal.admin_state()
    """

    def __init__(
        self,
        *,
        decision_delay: float = 2.0,
        faults: FaultSpec | str | None = None,
        credentials: Mapping[str, str] | None = None,
        watchlist: frozenset[str] | set[str] | None = None,
        supplements: frozenset[str] | set[str] | None = None,
        supplement_deadline: float = 3600.0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_skew_seconds: float = 300.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        spec = faults if isinstance(faults, FaultSpec) else parse_fault_spec(faults)
        self.config = PortalConfig(
            credentials=dict(credentials or DEFAULT_CREDENTIALS),
            decision_delay=decision_delay,
            faults=spec,
            watchlist=frozenset(watchlist or ()),
            supplements=frozenset(supplements or ()),
            supplement_deadline=supplement_deadline,
            max_skew_seconds=max_skew_seconds,
        )
        super().__init__(
            self._make, host=host, port=port, name="portal simulator", path=PATH, ssl_context=ssl_context
        )

    async def _make(self) -> web.Application:
        return await make_portal_app(self.config)

    @property
    def service(self) -> PortalService:
        """The running simulator's state and logic (for tests that look inside)."""
        return self._app()[SERVICE]

    def admin_state(self) -> dict[str, Any]:
        """The same JSON as GET /admin/state."""
        service = self.service

        async def snapshot() -> dict[str, Any]:
            return admin_snapshot(service)

        return self._server.call(snapshot())

    def reset(self) -> None:
        """The same as POST /admin/reset."""
        service = self.service

        async def reset() -> None:
            admin_reset(service)

        self._server.call(reset())

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """The same as POST /admin/credentials: accept these user names and passwords from now on."""
        service = self.service

        async def replace() -> None:
            service.verifier.replace_credentials(dict(credentials))

        self._server.call(replace())
