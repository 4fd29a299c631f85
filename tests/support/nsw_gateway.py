"""The NSW as tests see it: a test agency it pushes to, its gateway as a zeep service, its answers."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree
from zeep import Client
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from nsw_adapter.envelope import VIETNAM, build_envelope, new_message_id, read_message
from nsw_adapter.simulators.http import BackgroundServer
from nsw_adapter.soap import (
    SoapFault,
    UsernameTokenVerifier,
    WsseError,
    fault_response,
    parse_request,
    response,
)
from nsw_adapter.xml import parse_untrusted, schema

ROOT = Path(__file__).resolve().parents[2]


SAMPLES = ROOT / "fixtures" / "samples" / "nsw"


NSW_WSDL = str(ROOT / "schemas" / "nsw" / "nsw.wsdl")


AGENCY = "urn:vn:nsw:agency:1"


def result(name: str, **replace: str) -> str:
    """A sample Result envelope as text, with some element texts replaced (tag: text)."""
    root = etree.parse(str(SAMPLES / "results" / f"{name}.xml")).getroot()
    for tag, text in replace.items():
        element = next(root.iter(tag))
        element.text = text
    return etree.tostring(root, encoding="unicode")


@dataclass
class FakeAgency:
    """A tiny receiveMessage endpoint: fails the first `fail_first` requests (`how`), then answers 99."""

    fail_first: int = 0
    how: str = "503"  # 503, fault, reset, hang
    refuse_types: set[str] = field(default_factory=set)  # answered 22 (E-ENVELOPE)
    received: list[str] = field(default_factory=list)  # messageIds, every request that got an answer
    requests: int = 0
    auth_failures: int = 0
    verifier: UsernameTokenVerifier = field(default_factory=lambda: UsernameTokenVerifier({"demo": "demo"}))

    def __post_init__(self) -> None:
        self.server = BackgroundServer(self._make, name="test-agency")
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/nsw/agency"

    async def _make(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/nsw/agency", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            self.requests += 1
            failing = self.requests <= self.fail_first
        body = await request.read()
        if failing:
            if self.how == "503":
                return web.Response(status=503)
            if self.how == "fault":
                return web.Response(body=fault_response(SoapFault("Server", "busy")), status=500)
            if self.how == "hang":
                await asyncio.sleep(2)
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        soap = parse_request(body, max_bytes=10_000_000)
        try:
            self.verifier.verify(soap.header)
        except WsseError:
            self.auth_failures += 1
            return web.Response(body=fault_response(SoapFault("Client", "auth")), status=500)
        text = soap.payload.findtext(f"{{{AGENCY}}}requestMessage") or ""
        message = read_message(text)
        header = message.header
        with self.lock:
            self.received.append(header.message_id)
        acknowledgement = etree.Element("Acknowledgement")
        etree.SubElement(acknowledgement, "ReceivedDate").text = "2026-03-12 09:14:28"
        function = "99"
        if header.type in self.refuse_types:
            function = "22"
            error = etree.SubElement(acknowledgement, "Error")
            etree.SubElement(error, "Code").text = "E-ENVELOPE"
            etree.SubElement(error, "Description").text = "refused by the test agency"
        envelope = build_envelope(
            message_id=new_message_id(),
            function=function,
            content=acknowledgement,
            send_date=datetime.now(VIETNAM),
            document_type=header.document_type,
            type=header.type,
            reference=header.reference,
            pre_reference=header.message_id,
        )
        wrapper = etree.Element(f"{{{AGENCY}}}receiveMessageResponse")
        etree.SubElement(wrapper, f"{{{AGENCY}}}receiveMessageReturn").text = envelope.decode("utf-8")
        return web.Response(body=response(wrapper), content_type="text/xml")

    def __enter__(self) -> FakeAgency:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def gateway(url: str, user: str = "demo", password: str = "demo", **token: Any) -> Any:
    """A zeep sendAndGetMessage service (token: UsernameToken options such as nonce and created)."""
    client = Client(
        NSW_WSDL,
        wsse=UsernameToken(user, password, use_digest=True, **token),
        transport=Transport(operation_timeout=5, timeout=5),
    )
    return client.create_service("{urn:vn:nsw:gateway:1}NswGatewayBinding", url)


def answer_of(text: str) -> tuple[str | None, list[str]]:
    """The function and Reject codes of the NSW's answer, which must validate against envelope.xsd."""
    root = parse_untrusted(text)
    assert schema("envelope").validate(root), schema("envelope").error_log
    assert root.findtext("Header/From/identity") == "NSW"
    assert root.findtext("Header/To/identity") == "BQP"
    codes = [code.text or "" for code in root.iterfind("Body/Content/Acknowledgement/Reject/Code")]
    return root.findtext("Header/Subject/function"), codes
