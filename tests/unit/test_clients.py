"""The typed portal and NSW clients: real SOAP over loopback, and failure classification."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from zeep.exceptions import TransportError

from nsw_adapter.clients import (
    PortalState,
    RemotePermanentError,
    RemoteTransientError,
    ZeepNswClient,
    ZeepPortalClient,
    read_answer,
)
from nsw_adapter.clients.errors import classify_exception
from nsw_adapter.clients.portal import Receipt, parse_portal_time
from nsw_adapter.errors import AuthenticationRefused
from nsw_adapter.namespaces import GATEWAY_NS
from nsw_adapter.results import ResultContext, accepted
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.soap import SOAP_ENV, UsernameTokenVerifier, WsseError
from tests.support.daemons import free_port


@pytest.fixture(scope="module")
def portal_sim() -> Iterator[PortalSimulator]:
    with PortalSimulator(decision_delay=0.1) as simulator:
        yield simulator


@pytest.fixture
def submission(samples: Path) -> bytes:
    return (samples / "bgp" / "submissions" / "arrival-general-cargo.xml").read_bytes()


def test_submit_twice_gets_the_first_receipt_as_duplicate(
    portal_sim: PortalSimulator, submission: bytes
) -> None:
    """The same ClientMessageId submitted again is answered with the first receipt, Duplicate true."""
    client = ZeepPortalClient(portal_sim.url, "demo", "demo", timeout_seconds=5)
    first = client.submit(submission)
    second = client.submit(submission)
    assert not first.duplicate
    assert second.duplicate
    assert second.number == first.number
    assert client.transport.last_status == 200


def test_status_moves_from_pending_to_cleared(portal_sim: PortalSimulator, samples: Path) -> None:
    """GetProcessingStatus answers typed Status values, with shore passes once cleared."""
    data = (samples / "bgp" / "submissions" / "departure-general-cargo.xml").read_bytes()
    client = ZeepPortalClient(portal_sim.url, "demo", "demo", timeout_seconds=5)
    receipt = client.submit(data)
    deadline = time.monotonic() + 5
    status = client.statuses([receipt.number])[0]
    while status.state is PortalState.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        status = client.statuses([receipt.number])[0]
    assert status.state is PortalState.CLEARED
    assert status.clearance_number
    assert status.decided_at is not None


def test_cancel_returns_the_cancelled_receipt(portal_sim: PortalSimulator, samples: Path) -> None:
    """CancelDeclaration answers with the cancelled declaration's receipt number."""
    data = (samples / "bgp" / "submissions" / "arrival-amendment.xml").read_bytes()
    client = ZeepPortalClient(portal_sim.url, "demo", "demo", timeout_seconds=5)
    receipt = client.submit(data)
    cancelled = client.cancel(receipt.number, "Voyage cancelled.")
    assert cancelled.number == receipt.number


def test_unknown_receipt_is_permanent_and_a_bad_password_is_an_authentication_refusal(
    portal_sim: PortalSimulator,
) -> None:
    """NOT_FOUND is permanent with its detail code; AUTH is AuthenticationRefused (the portal is
    paused, nothing dead-lettered), neither permanent nor retried in process."""
    client = ZeepPortalClient(portal_sim.url, "demo", "demo", timeout_seconds=5)
    with pytest.raises(RemotePermanentError) as missing:
        client.statuses(["CKCHPG-2026-999999"])
    assert missing.value.code == "NOT_FOUND"
    intruder = ZeepPortalClient(portal_sim.url, "demo", "wrong", timeout_seconds=5)
    with pytest.raises(AuthenticationRefused) as denied:
        intruder.statuses(["CKCHPG-2026-999999"])
    assert denied.value.code == "AUTH"
    assert denied.value.service == "portal"
    assert str(denied.value) == "portal refused our credentials (authentication failed, AUTH)"


def test_the_nsw_refusing_our_credentials_is_an_authentication_refusal() -> None:
    """The NSW's gateway answers a wrong password with a soap:Client authentication fault: an
    AuthenticationRefused naming the NSW, not the transient 'again later' of its other faults."""
    with NswSimulator() as simulator:
        intruder = ZeepNswClient(simulator.url, "demo", "wrong", timeout_seconds=5)
        with pytest.raises(AuthenticationRefused) as denied:
            intruder.send(b"<Envelope/>")
    assert denied.value.service == "nsw"
    assert "refused our credentials" in str(denied.value)
    assert "wrong user name" not in str(denied.value)  # the NSW's own words stay out of our message


def test_http_401_and_403_are_authentication_refusals() -> None:
    """A gateway in front of a service refusing us with HTTP 401 or 403 (no SOAP reply) pauses it too."""
    for status in (401, 403):
        error = classify_exception(TransportError("denied", status_code=status), status, "portal")
        assert isinstance(error, AuthenticationRefused)
        assert error.status == status


def test_unavailable_fault_is_transient() -> None:
    """A soap:Server UNAVAILABLE fault is transient, whatever the HTTP status."""
    with PortalSimulator(decision_delay=0.1, faults="unavailable=1") as simulator:
        client = ZeepPortalClient(simulator.url, "demo", "demo", timeout_seconds=5)
        with pytest.raises(RemoteTransientError) as raised:
            client.statuses(["CKCHPG-2026-000001"])
    assert raised.value.code == "UNAVAILABLE"


class Stub:
    """A loopback HTTP server answering every POST with a set status and body (or never, for timeouts)."""

    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, b"", 0.0
        self.requests: list[bytes] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub.requests.append(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(stub.delay)
                self.send_response(stub.status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/service"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.server.shutdown()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_transient(stub: Stub, status: int) -> None:
    """HTTP 502/503/504 without a SOAP body are transient, and the status is recorded."""
    stub.status = status
    client = ZeepPortalClient(stub.url, "demo", "demo", timeout_seconds=1)
    with pytest.raises(RemoteTransientError) as raised:
        client.statuses(["CKCHPG-2026-000001"])
    assert raised.value.status == status
    assert client.transport.last_status == status


def test_timeouts_and_refused_connections_are_transient(stub: Stub) -> None:
    """A read timeout and a refused connection both mean: try again later."""
    stub.delay = 0.5
    client = ZeepPortalClient(stub.url, "demo", "demo", timeout_seconds=0.1)
    with pytest.raises(RemoteTransientError, match="timed out"):
        client.statuses(["CKCHPG-2026-000001"])
    closed = ZeepPortalClient(f"http://127.0.0.1:{free_port()}/x", "demo", "demo", timeout_seconds=1)
    with pytest.raises(RemoteTransientError, match="connection failed"):
        closed.statuses(["CKCHPG-2026-000001"])


def test_error_messages_never_carry_the_remote_text(stub: Stub) -> None:
    """A non-SOAP answer with personal data in it yields an error whose text omits that data."""
    stub.status, stub.body = 400, b"NGUYEN VAN DUC B1234567"
    client = ZeepPortalClient(stub.url, "demo", "demo", timeout_seconds=1)
    with pytest.raises(RemotePermanentError) as raised:
        client.statuses(["CKCHPG-2026-000001"])
    assert "NGUYEN" not in str(raised.value)


def _nsw_answers_99(stub: Stub, samples: Path) -> None:
    answer = (samples / "nsw" / "results" / "nsw-answer-99.xml").read_text(encoding="utf-8")
    stub.body = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<g:sendAndGetMessageResponse xmlns:g="urn:vn:nsw:gateway:1"><g:sendAndGetMessageReturn>'
        f"{escape(answer)}</g:sendAndGetMessageReturn></g:sendAndGetMessageResponse></soap:Body></soap:Envelope>"
    ).encode()


def _accepted_result() -> bytes:
    receipt = Receipt("CKCHPG-2026-004517", parse_portal_time("12/03/2026 09:16"), duplicate=False)
    return accepted(ResultContext("HPH-2026-000123", "1", "NSW2026031209142700001"), receipt).payload


def test_nsw_answer_99_is_read_from_the_string_part(stub: Stub, samples: Path) -> None:
    """sendAndGetMessage's string part is unescaped and read as the NSW's 99 answer; the token is sent."""
    _nsw_answers_99(stub, samples)
    client = ZeepNswClient(stub.url, "demo", "demo", timeout_seconds=1)
    message = _accepted_result()
    result = client.send(message)
    again = client.send(message)  # the same kept-alive connection
    assert result.accepted
    assert again.accepted
    assert result.message_id == "NSW2026031209163200070"
    assert b"PasswordDigest" in stub.requests[0]
    nonces = {r.split(b"Nonce")[1] for r in stub.requests}
    assert len(nonces) == 2  # a fresh UsernameToken per request


def test_a_request_is_the_operation_element_under_a_token_the_service_verifies(
    stub: Stub, samples: Path
) -> None:
    """The request written as bytes: a SOAP 1.1 Envelope whose Header's UsernameToken passes the
    digest check the services make, and whose Body is the operation's element and nothing else."""
    _nsw_answers_99(stub, samples)
    message = _accepted_result()
    ZeepNswClient(stub.url, "agent&<co", "s3cret", timeout_seconds=1).send(message)
    envelope = etree.fromstring(stub.requests[0])
    assert envelope.tag == f"{{{SOAP_ENV}}}Envelope"
    header, body = envelope
    assert UsernameTokenVerifier({"agent&<co": "s3cret"}).verify(header) == "agent&<co"
    with pytest.raises(WsseError, match="wrong user name or password"):
        UsernameTokenVerifier({"agent&<co": "other"}).verify(header)
    [request] = body
    assert request.tag == f"{{{GATEWAY_NS}}}sendAndGetMessage"
    assert request.findtext(f"{{{GATEWAY_NS}}}requestMessage") == message.decode("utf-8")


def test_nsw_refusal_is_read_with_its_reasons(samples: Path) -> None:
    """The NSW's 22 answer comes back as Reject items (code and reason)."""
    answer = read_answer((samples / "nsw" / "results" / "nsw-answer-22.xml").read_text(encoding="utf-8"))
    assert not answer.accepted
    assert answer.rejects[0].code == "R-STATE"


def test_nsw_faults_are_transient() -> None:
    """Any SOAP fault from the NSW means: send the same message again later."""
    with NswSimulator(faults="unavailable=1") as simulator:
        client = ZeepNswClient(simulator.url, "demo", "demo", timeout_seconds=5)
        with pytest.raises(RemoteTransientError):
            client.send(b"<Envelope/>")
