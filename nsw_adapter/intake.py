"""The receiveMessage endpoint (schemas/nsw/agency.wsdl): the NSW pushes every message here.

Run alone (tests, benchmarks): `python -m nsw_adapter.intake --store URL --port 0` prints
`listening on http://HOST:PORT/PATH` once it accepts connections.

Per push: the body size is checked before anything is parsed; the SOAP request is read with
the hardened parser; its WS-Security UsernameToken is checked (a failure is a soap:Client
fault saying so, HTTP 500); the escaped envelope is read with `read_message`. An unusable
envelope is kept for audit (`record_refused`) and answered 22 with its E-ENVELOPE errors, as is
one whose ds:Signature fails the intake's signature policy (E-SIGNATURE, `signature.py`); a
usable one is stored (with its signature's outcome and signer) and committed, and only then
answered 99 (a messageId already held is answered 99 again, nothing stored twice). When the
store cannot commit, the answer is a soap:Server fault (HTTP 500), which makes the NSW push the
message again later.

A push over `max_message_bytes` is an unusable envelope too, not an HTTP error (to the NSW
any fault or HTTP error means "push it again later", so it would be re-pushed forever): it
is answered HTTP 200 with a 22 carrying one E-ENVELOPE error naming the limit, in the
unreadable-Subject form (results/answer-22-unreadable.xml: nothing of it was parsed), and
an audit row is kept with at most the first chunk of the body. The sender is authenticated
first, from the SOAP Header in the head of the request (anyone else gets the authentication
fault, and nothing is written). With a declared Content-Length over the limit only that head
is read; without one, reading stops once the limit is passed, so no more than the limit plus
one chunk is ever held.

All parsing and store work runs in a thread pool, so a slow commit never stalls the event
loop or the other pushes. Logs carry message ids, references, codes and sizes, never payloads.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import web
from lxml import etree

from nsw_adapter import string_part, texts
from nsw_adapter.dossier_facts import vessel_facts
from nsw_adapter.envelope import (
    CANCELLATION,
    NswMessage,
    build_envelope,
    called_for,
    collapse,
    format_send_date,
    new_message_id,
    read_message,
)
from nsw_adapter.errors import EnvelopeError, Problem, listed
from nsw_adapter.lifecycle import IntakeOutcome
from nsw_adapter.metrics import Metrics
from nsw_adapter.namespaces import AGENCY_NS
from nsw_adapter.settings import IntakeSettings
from nsw_adapter.signature import SignatureVerifier
from nsw_adapter.soap import (
    SOAP_ENV,
    SoapFault,
    UsernameTokenVerifier,
    WsseError,
    fault_response,
    parse_request,
    response,
)
from nsw_adapter.soap.media_type import UNSUPPORTED_MEDIA_TYPE, media_type_problem
from nsw_adapter.soap.wsse import WSSE
from nsw_adapter.store import IncomingMessage, SignatureRecord, Store
from nsw_adapter.xml import UntrustedHead, UntrustedXmlError, parse_untrusted

RECEIVED, REFUSED = "99", "22"
_SOAP_XML = "text/xml; charset=utf-8"
_CHUNK = 64 * 1024
# Of a push over the size limit, the audit row keeps at most this head of the SOAP request.
_KEPT_OF_OVERSIZED = _CHUNK
# How long the head of a push over the limit may take to arrive (its sender is authenticated from it).
_HEAD_SECONDS = 10.0

log = structlog.get_logger(__name__)

# Shapes envelope.xsd accepts, to echo only valid values from a refused envelope's Subject.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,49}")
_REFERENCE = re.compile(r"[A-Z0-9/-]{1,40}")
_TYPES = frozenset({"50", "51", "52", "64", "65", "26"})

# The string part is text: a sender that read bytes not valid in their declared encoding (a
# Latin-1 file declared UTF-8) hands us U+FFFD in their place. Refuse rather than store a
# corrupted name or number.
_MISDECODED = "\ufffd"
_MISDECODED_PROBLEM = texts.problem("E-ENVELOPE", "E-ENVELOPE.misdecoded")


#: Called with each new message of a seen dossier once committed, and its outcome (STORED or READY).
OnStored = Callable[[IncomingMessage, IntakeOutcome], None]
_NEW = frozenset({IntakeOutcome.STORED, IntakeOutcome.READY})


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status and SOAP body."""

    status: int
    body: bytes


class Intake:
    """The receiveMessage handler: `intake.handle_request` is the aiohttp route's handler."""

    def __init__(
        self,
        store: Store,
        settings: IntakeSettings,
        *,
        executor: ThreadPoolExecutor | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        language: texts.Language = texts.DEFAULT_LANGUAGE,
        on_stored: OnStored | None = None,
    ) -> None:
        # Called after each new message is committed: the daemon rings its loops' bell with it, so
        # the dossier this push completed (outcome READY) is submitted at once (nsw_adapter/wakeup.py).
        self._on_stored = on_stored
        self._language = language  # of the answers' Error descriptions (the agents read them)
        # The credentials and, during a rotation, the previous ones: both accepted.
        credentials: dict[str, list[str]] = {}
        for accepted in (settings.credentials, settings.previous_credentials):
            if accepted is not None:
                credentials.setdefault(accepted.username, []).append(accepted.password.get_secret_value())
        self._metrics = metrics
        self._store = store
        self._max_bytes = settings.max_message_bytes
        # Used nonces go to the store: durable across restarts and shared by every daemon on it.
        self._verifier = UsernameTokenVerifier(
            credentials,
            max_skew_seconds=settings.clock_skew_seconds,
            max_age_seconds=settings.token_max_age_seconds,
            replay_cache=store,
        )
        self._executor = executor or ThreadPoolExecutor(settings.threads, thread_name_prefix="intake")
        self._owns_executor = executor is None
        self._clock = clock
        # Bodies past their head are read by authenticated senders only, this many at once, each
        # within body_timeout_seconds: memory is bounded by max_bodies times the size limit.
        self._bodies = asyncio.Semaphore(settings.max_bodies)
        self._body_seconds = settings.body_timeout_seconds
        self._signatures = SignatureVerifier.from_settings(settings.signature_policy, settings.trust_store)

    async def handle_request(self, request: web.Request) -> web.Response:
        """Answer one push (the aiohttp handler), counted in the metrics; the log lines of its work
        name the peer's address (and, once authenticated, the user)."""
        context = contextvars.copy_context()  # run_in_executor does not carry contextvars to the thread
        context.run(structlog.contextvars.bind_contextvars, peer=request.remote or "-")
        try:
            answer = await self._answer_push(request, context)
        finally:
            if self._metrics is not None:
                self._metrics.intake_received(request.content.total_bytes)
        if self._metrics is not None and answer.status != 200:
            self._metrics.intake_fault()
        return web.Response(status=answer.status, body=answer.body, content_type="text/xml", charset="utf-8")

    async def _answer_push(self, request: web.Request, context: contextvars.Context) -> Answer:
        wrong_type = media_type_problem(request.headers.get("Content-Type"))
        if wrong_type is not None:  # refused on the header: its body is never read
            fault = SoapFault("Client", f"unsupported media type: {wrong_type}")
            return Answer(UNSUPPORTED_MEDIA_TYPE, fault_response(fault))
        loop = asyncio.get_running_loop()

        async def work(job: Callable[..., Answer | None], *args: object) -> Answer | None:
            return await loop.run_in_executor(self._executor, context.run, job, *args)

        declared = request.content_length
        oversized = declared is not None and declared > self._max_bytes
        # Nothing but the head (at most one chunk, within _HEAD_SECONDS) is read before the sender
        # is authenticated: an outsider costs one chunk of memory and no parse of the body.
        head = await _read_head(request, until_header=oversized)
        if oversized:
            assert declared is not None
            return _given(await work(self._too_large, declared, head, True))
        if request.content.at_eof():  # all of it in hand (most pushes): read as it is
            return _given(await work(self.handle, head))
        refusal = await work(self._check_sender, head)
        if refusal is not None:
            return refusal
        # The slot is held from reading to answering: a body is in memory as bytes, then as trees.
        async with self._bodies:
            try:
                async with asyncio.timeout(self._body_seconds):
                    body = await _read_rest(request, head, self._max_bytes)
            except TimeoutError:
                log.warning("intake.body_timeout", seconds=self._body_seconds)
                text = f"the request body did not arrive within {self._body_seconds:g} s; push it again"
                return Answer(500, fault_response(SoapFault("Client", text)))
            if len(body) > self._max_bytes:  # reading stopped: at most the limit plus one chunk held
                kept = body[:_KEPT_OF_OVERSIZED]
                return _given(await work(self._too_large, len(body), kept, False))
            return _given(await work(self._receive_authenticated, body))

    def close(self) -> None:
        """Stop the thread pool when this handler made it."""
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    # --- the blocking part, in a worker thread ---------------------------------------------

    def handle(self, body: bytes) -> Answer:
        """Answer one SOAP request body (blocking: parsing and the store's commit)."""
        # In a context of its own: the user it binds for its log lines stays with this push.
        return contextvars.copy_context().run(self._handle, body)

    def _handle(self, body: bytes) -> Answer:
        if len(body) > self._max_bytes:
            return self._too_large(len(body), body[:_KEPT_OF_OVERSIZED], False)
        return _guarded(lambda: self._receive_request(body))

    def _too_large(self, size: int, kept: bytes, declared: bool) -> Answer:
        """Answer a push over the limit (blocking: the store's commit of its audit row).

        A push refused on its Content-Length (`declared`) has its sender authenticated here,
        from the head; one whose reading stopped at the limit was authenticated before reading.
        """

        def refuse() -> Answer:
            if declared:
                self._authenticate(UntrustedHead(f"{{{SOAP_ENV}}}Header").feed(kept), size=size)
            return self._refuse_oversized(size, kept, declared=declared)

        return _guarded(refuse)

    def _check_sender(self, head: bytes) -> Answer | None:
        """None when the head's UsernameToken is good, else the authentication fault to answer."""
        try:
            self._authenticate(UntrustedHead(f"{{{SOAP_ENV}}}Header").feed(head))
        except SoapFault as fault:
            return Answer(500, fault_response(fault))
        return None

    def _receive_authenticated(self, body: bytes) -> Answer:
        """A push whose sender `_check_sender` authenticated from its head (its nonce is spent)."""
        return _guarded(lambda: self._receive_request(body, authenticated=True))

    def _receive_request(self, body: bytes, *, authenticated: bool = False) -> Answer:
        request = parse_request(body, max_bytes=self._max_bytes, string_part="requestMessage")
        if not authenticated:
            self._authenticate(request.header)
        text = _request_message(request.payload)
        del request  # its tree holds another copy of the text: freed before the envelope's is built
        return Answer(200, response(_wrap(self._receive(text))))

    def _refuse_oversized(self, size: int, kept: bytes, *, declared: bool) -> Answer:
        """A push over the limit: kept for audit, answered 22 E-ENVELOPE (HTTP 200) so it is not re-pushed.

        The sender has been authenticated, from the SOAP Header in the head of the request (the
        Header comes before the Body): a push that is not the NSW's got the authentication
        fault and wrote nothing. `size` is the declared Content-Length, or (`declared` False)
        how many bytes were read before reading stopped. `kept` is what the audit row holds:
        the head of the SOAP request as received (at most one chunk), and the sha256 is of those
        bytes, not of the whole push, which was never read; like every stored payload it is
        purged by retention.
        """
        limit = self._max_bytes
        key = "E-ENVELOPE.too_large" if declared else "E-ENVELOPE.too_large_read"
        log.warning("intake.too_large", size=size, limit=limit)
        refusal = texts.problem("E-ENVELOPE", key, size=size, limit=limit)
        self._record_refused(kept, hashlib.sha256(kept).hexdigest(), [refusal])
        # Nothing of the push was parsed: the unreadable-Subject form (function, year, date only).
        answer = self._answer(
            REFUSED, document_type=None, type_=None, reference=None, pre_reference=None, problems=[refusal]
        )
        return Answer(200, response(_wrap(answer)))

    def _receive(self, text: str) -> bytes:
        # The one reading of the string part (string_part): these bytes are hashed, stored and
        # parsed here, and read the same way by every later stage.
        raw = string_part.to_bytes(text)
        sha256 = hashlib.sha256(raw).hexdigest()
        if _MISDECODED in text:
            return self._refuse(raw, sha256, [_MISDECODED_PROBLEM])
        try:
            message = read_message(raw, max_bytes=self._max_bytes)
        except EnvelopeError as exc:
            return self._refuse(raw, sha256, exc.problems)
        # The declarant's ds:Signature under the intake's policy (signature.py); a refusal is kept for audit.
        signature = self._signatures.check(message.root, message.header.send_date)
        if signature.problem is not None:
            return self._refuse(raw, sha256, [signature.problem], signature.record())
        incoming = to_incoming(message, sha256, signature.record())
        try:
            outcome = self._store.receive(incoming)  # logs intake.stored / duplicate with the outcome
        except Exception:
            log.exception("intake.store_failed", message_id=incoming.message_id)
            raise SoapFault("Server", "the message could not be stored; push it again later") from None
        if outcome in _NEW and self._on_stored is not None:
            self._on_stored(incoming, outcome)
        header = message.header
        return self._answer(
            RECEIVED,
            document_type=header.document_type,
            type_=header.type,
            reference=header.reference,
            pre_reference=header.message_id,
        )

    def _authenticate(self, header: etree._Element | None, **context: int) -> None:
        """The WS-Security UsernameToken checked, or the soap:Client authentication fault. The user
        name (an account, not a person) goes on this push's later log lines."""
        try:
            user = self._verifier.verify(header)
        except WsseError as exc:
            log.warning("intake.auth_failed", auth_failure=str(exc), user=_presented_user(header), **context)
            if self._metrics is not None:
                self._metrics.intake_auth_failed(str(exc))
            raise SoapFault("Client", f"authentication failed: {exc}") from None
        structlog.contextvars.bind_contextvars(user=user)

    def _record_refused(
        self, raw: bytes, sha256: str, problems: list[Problem], signature: SignatureRecord | None = None
    ) -> None:
        """Keep a refused push for audit, or the soap:Server fault that makes the NSW push it again."""
        try:
            self._store.record_refused(raw, sha256, problems, signature)
        except Exception:
            log.exception("intake.store_failed", sha256=sha256)
            raise SoapFault("Server", "the message could not be stored; push it again later") from None

    def _refuse(
        self, raw: bytes, sha256: str, problems: list[Problem], signature: SignatureRecord | None = None
    ) -> bytes:
        self._record_refused(raw, sha256, problems, signature)
        subject = _readable_subject(raw)
        log.info(
            "intake.refused",
            message_id=subject.get("messageId"),
            codes=sorted({p.code for p in problems}),
            count=len(problems),
        )
        return self._answer(
            REFUSED,
            document_type=subject.get("documentType"),
            type_=subject.get("type"),
            reference=subject.get("reference"),
            pre_reference=subject.get("messageId"),
            problems=problems,
        )

    def _answer(
        self,
        function: str,
        *,
        document_type: str | None,
        type_: str | None,
        reference: str | None,
        pre_reference: str | None,
        problems: list[Problem] | None = None,
    ) -> bytes:
        if self._metrics is not None:
            self._metrics.intake_answered(function, {p.code for p in problems or ()})
        now = self._clock()
        acknowledgement = etree.Element("Acknowledgement")
        etree.SubElement(acknowledgement, "ReceivedDate").text = format_send_date(now)
        for problem in listed(problems or ()):
            error = etree.SubElement(acknowledgement, "Error")
            etree.SubElement(error, "Code").text = problem.code
            etree.SubElement(error, "Description").text = texts.render(problem, self._language)[:1000]
            if problem.xpath:
                etree.SubElement(error, "Field").text = problem.xpath
            doc_type = problem.document_type or type_
            if doc_type in _TYPES:
                etree.SubElement(error, "DocumentType").text = doc_type
        return build_envelope(
            message_id=new_message_id(),
            function=function,
            content=acknowledgement,
            send_date=now,
            document_type=document_type,
            type=type_,
            reference=reference,
            pre_reference=pre_reference,
        )


def to_incoming(
    message: NswMessage, sha256: str, signature: SignatureRecord | None = None
) -> IncomingMessage:
    """What the store keeps of a usable NSW message (and of its signature's check)."""
    header = message.header
    if header.reference is None or header.document_type is None or header.type is None:
        raise EnvelopeError([texts.problem("E-ENVELOPE", "E-ENVELOPE.required")])
    is_cancellation = header.function == CANCELLATION
    return IncomingMessage(
        message_id=header.message_id,
        reference=header.reference,
        document_type=header.document_type,
        type=header.type,
        function=header.function,
        send_date=header.send_date,
        raw=message.raw,
        sha256=sha256,
        called_for=None if is_cancellation or header.type != "50" else called_for(message.content),
        pre_reference=header.pre_reference,
        reason=collapse(message.content.findtext("Reason")) if is_cancellation else None,
        vessel=vessel_facts(message.content) if header.type == "50" and not is_cancellation else None,
        signature=signature,
    )


async def _read_head(request: web.Request, *, until_header: bool) -> bytes:
    """The head of a request body: at most one chunk, no longer than `_HEAD_SECONDS` (a sender that
    declares and sends nothing gets the authentication fault, not a hung connection), and with
    `until_header` no further than its SOAP Header (all a push over the limit is read for)."""
    head = bytearray()
    reader = UntrustedHead(f"{{{SOAP_ENV}}}Header") if until_header else None
    try:
        async with asyncio.timeout(_HEAD_SECONDS):  # one deadline for the head, not a task per read
            while len(head) < _KEPT_OF_OVERSIZED and (
                reader is None or (reader.found is None and not reader.refused)
            ):
                chunk = await request.content.read(_KEPT_OF_OVERSIZED - len(head))
                if not chunk:
                    break
                head.extend(chunk)
                if reader is not None:
                    reader.feed(chunk)
    except TimeoutError:
        pass  # what arrived is the head: its sender is judged on it
    return bytes(head)


async def _read_rest(request: web.Request, head: bytes, limit: int) -> bytes:
    """The whole body, `head` first; reading stops once it is past `limit` (one chunk over at most)."""
    chunks, size = [head], len(head)
    async for chunk in request.content.iter_chunked(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def _guarded(answer: Callable[[], Answer]) -> Answer:
    """Run one answer's blocking work; a fault (or a bug) still answers as SOAP, HTTP 500."""
    try:
        return answer()
    except SoapFault as fault:
        return Answer(500, fault_response(fault))
    except Exception:  # a bug must still answer as SOAP, and make the NSW push again
        log.exception("intake.failed")
        return Answer(500, fault_response(SoapFault("Server", "internal error; push it again later")))


def _given(answer: Answer | None) -> Answer:
    assert answer is not None  # the jobs that answer always do; only _check_sender may not
    return answer


def _presented_user(header: etree._Element | None) -> str | None:
    """The user name a refused UsernameToken presented (at most 64 characters), if any."""
    if header is None:
        return None
    user = header.findtext(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken/{{{WSSE}}}Username")
    return user.strip()[:64] if user else None


def _request_message(payload: etree._Element) -> str:
    if payload.tag != f"{{{AGENCY_NS}}}receiveMessage":
        raise SoapFault("Client", "the operation is not receiveMessage")
    part = payload.find(f"{{{AGENCY_NS}}}requestMessage")
    if part is None:
        part = payload.find("requestMessage")  # unqualified, as some Axis clients send it
    if part is None:
        raise SoapFault("Client", "receiveMessage has no requestMessage")
    return part.text or ""


def _wrap(answer: bytes) -> etree._Element:
    wrapper = etree.Element(f"{{{AGENCY_NS}}}receiveMessageResponse", nsmap={"tns": AGENCY_NS})
    etree.SubElement(wrapper, f"{{{AGENCY_NS}}}receiveMessageReturn").text = answer.decode("utf-8")
    return wrapper


def _readable_subject(raw: bytes) -> dict[str, str]:
    """Whatever valid Subject fields a refused envelope still shows (none when it is unreadable)."""
    try:
        root = parse_untrusted(raw)
    except UntrustedXmlError:
        return {}
    found: dict[str, str] = {}
    checks: dict[str, Callable[[str], bool]] = {
        "Reference/messageId": lambda v: _MESSAGE_ID.fullmatch(v) is not None,
        "Subject/documentType": lambda v: v in ("1", "2"),
        "Subject/type": lambda v: v in _TYPES,
        "Subject/reference": lambda v: _REFERENCE.fullmatch(v) is not None,
    }
    for path, valid in checks.items():
        value = collapse(root.findtext(f"Header/{path}"))
        if value and valid(value):
            found[path.rsplit("/", 1)[1]] = value
    return found


def create_intake_app(
    store: Store,
    settings: IntakeSettings,
    *,
    executor: ThreadPoolExecutor | None = None,
    metrics: Metrics | None = None,
    language: texts.Language = texts.DEFAULT_LANGUAGE,
    on_stored: OnStored | None = None,
) -> web.Application:
    """An aiohttp application serving receiveMessage at settings.path (mount it or run it as is),
    answering agents in `language`, calling `on_stored` with each new message once committed (and
    with its outcome: READY when its dossier now has a version to submit)."""
    app = web.Application()
    add_intake_route(
        app, store, settings, executor=executor, metrics=metrics, language=language, on_stored=on_stored
    )
    return app


def add_intake_route(
    app: web.Application,
    store: Store,
    settings: IntakeSettings,
    *,
    executor: ThreadPoolExecutor | None = None,
    metrics: Metrics | None = None,
    language: texts.Language = texts.DEFAULT_LANGUAGE,
    on_stored: OnStored | None = None,
) -> Intake:
    """Mount receiveMessage (POST settings.path) on an existing application; its pool closes with it."""
    intake = Intake(
        store, settings, executor=executor, metrics=metrics, language=language, on_stored=on_stored
    )
    app.router.add_post(settings.path, intake.handle_request)

    async def _close(_app: web.Application) -> None:
        intake.close()

    app.on_cleanup.append(_close)
    return intake
