"""The NSW simulator's pushes to the agency's receiveMessage, retried the way the NSW retries.

Each dossier's documents go one after another (in sendDate order, or shuffled with a seed);
each is pushed until a 99 answer comes back (an HTTP error, a SOAP fault, a timeout, a broken
connection or an unusable answer mean: again, after a capped exponential backoff), or a 22
answer ends it (the NSW does not push a refused message again). With probability
`duplicates` an acknowledged message is pushed once more, as the NSW sometimes does.

Given several agency URLs (adapter daemons without a load balancer in front), each dossier's
documents all go to one of them, chosen by its dossier number -- until a push there is refused at
the connection level (refused, reset or closed with no HTTP answer: that daemon is down), when the
dossier moves at once to the next URL, as a load balancer would route around a dead daemon. An
HTTP answer, a fault or a timeout is retried at the same URL after the backoff as before.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from lxml import etree

from nsw_adapter.envelope import collapse
from nsw_adapter.simulators.nsw_messages import Document
from nsw_adapter.simulators.nsw_state import NswState, PushRecord
from nsw_adapter.soap import SOAP_ENV, username_token_header
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted, schema

_log = logging.getLogger(__name__)
AGENCY_NS = "urn:vn:nsw:agency:1"
SOAP_ACTION = f"{AGENCY_NS}/receiveMessage"


_DECLARATION = re.compile(r"\s*<\?xml\s[^>]*\?>")


@dataclass(frozen=True)
class StringStyle:
    """How the requestMessage string is written, to push as other SOAP stacks do.

    `encoding`: the declaration put at the head of the string, naming that encoding (.NET's
    StringWriter writes "utf-16", older Java "ISO-8859-1"); "" drops the declaration; None
    (the default) leaves the envelope's own. `bom`: a U+FEFF character first. `cdata`: the
    string sent in a CDATA section instead of escaped text.
    """

    encoding: str | None = None
    bom: bool = False
    cdata: bool = False

    def text(self, envelope: bytes) -> str:
        """The string part for an envelope file's bytes (UTF-8)."""
        text = envelope.decode("utf-8")
        if self.encoding is not None:
            declaration = f'<?xml version="1.0" encoding="{self.encoding}"?>' if self.encoding else ""
            text = declaration + _DECLARATION.sub("", text, count=1)
        return "\ufeff" + text if self.bom else text


#: The envelope file's text as it is: how the simulator pushes by default.
PLAIN = StringStyle()


@dataclass
class PushSettings:
    """Where and how the NSW pushes."""

    agency_url: str = ""
    #: Several intake URLs to spread dossiers over (then `agency_url` is not used).
    agency_urls: tuple[str, ...] = ()
    user: str = "demo"
    password: str = "demo"  # noqa: S105 - the documented demo default
    timeout: float = 10.0
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    max_attempts: int | None = None
    duplicates: float = 0.0
    shuffle: bool = False
    seed: int = 0
    concurrency: int = 16
    style: StringStyle = PLAIN

    def agency_url_for(self, reference: str, moves: int = 0) -> str:
        """The URL a dossier's documents are pushed to ("" when none is configured), after
        `moves` moves to the next URL (connection-level refusals)."""
        if not self.agency_urls:
            return self.agency_url
        return self.agency_urls[(zlib.crc32(reference.encode()) + moves) % len(self.agency_urls)]


#: No HTTP answer at all: the connection refused, reset or closed (ClientConnectorError is a
#: ClientOSError). A load balancer routes such a request to another backend.
CONNECTION_REFUSALS = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)


class PushFailure(Exception):
    """A push that must be repeated (the text says why, without message content)."""


def receive_message_request(envelope: bytes, user: str, password: str, style: StringStyle = PLAIN) -> bytes:
    """A receiveMessage SOAP request carrying the envelope as a string, with a fresh UsernameToken."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "agency": AGENCY_NS})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Header").append(username_token_header(user, password))
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    wrapper = etree.SubElement(body, f"{{{AGENCY_NS}}}receiveMessage")
    text = style.text(envelope)
    part = etree.SubElement(wrapper, f"{{{AGENCY_NS}}}requestMessage")
    part.text = etree.CDATA(text) if style.cdata else text
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def read_answer(data: bytes, message_id: str) -> tuple[str, list[str]]:
    """The agency's answer as (function, error codes); PushFailure when it is a fault or unusable."""
    try:
        root = parse_untrusted(data)
    except UntrustedXmlError as exc:
        raise PushFailure(f"unreadable SOAP answer: {exc}") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise PushFailure("SOAP answer without a Body")
    if body[0].tag == f"{{{SOAP_ENV}}}Fault":
        raise PushFailure(f"SOAP fault {collapse(body[0].findtext('faultcode'))}")
    returned = body[0].find(f"{{{AGENCY_NS}}}receiveMessageReturn")
    if returned is None:
        returned = body[0].find("receiveMessageReturn")
    if returned is None or not returned.text:
        raise PushFailure("the answer has no receiveMessageReturn")
    try:
        envelope = parse_untrusted(returned.text)
    except UntrustedXmlError as exc:
        raise PushFailure(f"unreadable answer envelope: {exc}") from None
    if not schema("envelope").validate(envelope):
        raise PushFailure("the answer envelope does not validate against envelope.xsd")
    function = collapse(envelope.findtext("Header/Subject/function")) or ""
    if function not in ("99", "22") or envelope.find("Body/Content/Acknowledgement") is None:
        raise PushFailure(f"the answer has function {function}, not 99 or 22 with an Acknowledgement")
    if function == "99" and collapse(envelope.findtext("Header/Subject/preReference")) != message_id:
        raise PushFailure("the 99 answer's preReference is not the pushed messageId")
    codes = [
        collapse(code.text) or "" for code in envelope.iterfind("Body/Content/Acknowledgement/Error/Code")
    ]
    return function, codes


class Pusher:
    """Pushes dossiers to the agency on the simulator's loop; `idle` is set when nothing is pending."""

    def __init__(self, settings: PushSettings, state: NswState) -> None:
        self.settings = settings
        self.state = state
        self.pending = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._moves: dict[str, int] = {}  # dossier number -> moves to the next URL

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.settings.concurrency, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def push(self, documents: Sequence[Document]) -> None:
        """Start pushing one dossier's documents (in the background)."""
        records = [self.state.add(document) for document in documents]
        self.pending += len(records)
        self.idle.clear()
        task = asyncio.get_running_loop().create_task(self._push_dossier(records))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _order(self, records: list[PushRecord]) -> list[PushRecord]:
        ordered = sorted(records, key=lambda r: (r.document.send_date, r.document.name))
        if self.settings.shuffle and ordered:
            random.Random(f"{self.settings.seed}:{ordered[0].document.reference}").shuffle(ordered)
        return ordered

    async def _push_dossier(self, records: list[PushRecord]) -> None:
        rng = random.Random(f"dup:{self.settings.seed}:{records[0].document.message_id}" if records else "")
        for record in self._order(records):
            try:
                await self._push_until_answered(record)
                if record.answer == "99" and rng.random() < self.settings.duplicates:
                    record.duplicate_pushes += 1
                    self.state.count("duplicate_pushes")
                    await self._push_until_answered(record, duplicate=True)
            finally:
                self.pending -= 1
                if self.pending == 0:
                    self.idle.set()

    async def _push_until_answered(self, record: PushRecord, *, duplicate: bool = False) -> None:
        document = record.document
        delay = self.settings.backoff_initial
        attempts = 0
        tried = 0  # URLs refused in a row at the connection level
        while True:
            attempts += 1
            record.attempts += 1
            self.state.count("pushes")
            try:
                async with self._limit:
                    function, codes = await self._send(document)
            except (PushFailure, aiohttp.ClientError, TimeoutError) as exc:
                record.failures += 1
                record.last_failure = type(exc).__name__ if not isinstance(exc, PushFailure) else str(exc)
                self.state.count("push_failures")
                _log.info(
                    "push of %s (%s) failed: %s", document.message_id, document.reference, record.last_failure
                )
                limit = self.settings.max_attempts
                if limit is not None and attempts >= limit:
                    return
                urls = len(self.settings.agency_urls)
                if isinstance(exc, CONNECTION_REFUSALS) and urls > 1:
                    self._moves[document.reference] = self._moves.get(document.reference, 0) + 1
                    self.state.count("push_moves")
                    tried += 1
                    if tried % urls:  # another URL not tried yet in this round: at once
                        continue
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.settings.backoff_max)
                continue
            tried = 0
            dossier = self.state.dossiers[document.reference]
            if record.answer is None:
                record.answer = function
                record.answered_at = time.time()
                self.state.touch(document.reference)
                if function == "99":
                    dossier.acknowledged.append(document.message_id)
                    self.state.count("acknowledged")
                else:
                    record.errors = codes
                    dossier.rejected.append(document.message_id)
                    self.state.count("push_rejected")
            elif function != record.answer:
                _log.warning(
                    "agency answered %s to a repeat of %s, first %s",
                    function,
                    document.message_id,
                    record.answer,
                )
            _log.info(
                "pushed %s (%s): %s%s",
                document.message_id,
                document.reference,
                function,
                " (again)" if duplicate else "",
            )
            return

    async def _send(self, document: Document) -> tuple[str, list[str]]:
        settings = self.settings
        url = settings.agency_url_for(document.reference, self._moves.get(document.reference, 0))
        if not url:
            raise PushFailure("no agency URL configured")
        body = receive_message_request(document.data, settings.user, settings.password, settings.style)
        session = self._session_for_loop()
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SOAP_ACTION}"'}
        async with session.post(url, data=body, headers=headers, timeout=timeout) as reply:
            data = await reply.read()
            status = reply.status
        if status == 500:
            read_answer(data, document.message_id)  # raises PushFailure naming the fault code
        if status != 200:
            raise PushFailure(f"HTTP {status}")
        return read_answer(data, document.message_id)
