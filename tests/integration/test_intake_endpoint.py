"""receiveMessage over HTTP: 99 after commit, duplicates, 22 E-ENVELOPE (also over the size limit), faults."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select
from zeep import Client
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from nsw_adapter.errors import Problem
from nsw_adapter.intake import Intake
from nsw_adapter.resources import schema_path
from nsw_adapter.store import DossierState, IncomingMessage, IntakeOutcome, SqlStore
from nsw_adapter.store import tables as t
from nsw_adapter.testing.pushes import PASSWORD, USER, XML, soap_body
from nsw_adapter.xml import schema
from tests.support.intake_client import answer_of, running_intake, settings

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "nsw" / "valid"
SAMPLES = VALID.parent


def zeep_service(url: str, password: str = PASSWORD) -> object:
    """A zeep client for agency.wsdl, as the NSW would use it, bound to the server under test."""
    client = Client(
        str(schema_path("nsw", "agency.wsdl")), wsse=UsernameToken(USER, password, use_digest=True)
    )
    return client.create_service("{urn:vn:nsw:agency:1}NswAgencyBinding", url)


def refused_count(store: SqlStore) -> int:
    with store.engine.connect() as c:
        return int(c.execute(select(func.count()).where(t.messages.c.direction == "refused")).scalar() or 0)


def test_a_pushed_message_is_answered_99_after_it_is_stored(store: SqlStore) -> None:
    """zeep pushes a General Declaration: the answer is a valid 99 naming it, and the message is stored."""
    envelope = (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_text("utf-8")
    with running_intake(store) as url:
        returned = zeep_service(url).receiveMessage(envelope)  # type: ignore[attr-defined]
    answer = etree.fromstring(returned.encode())
    assert schema("envelope").validate(answer), schema("envelope").error_log
    assert answer.findtext("Header/Subject/function") == "99"
    assert answer.findtext("Header/Subject/preReference") == "NSW2026031209142700001"
    assert answer.findtext("Header/Subject/reference") == "HPH-2026-000123"
    view = store.describe("HPH-2026-000123", "1")
    assert view is not None
    assert [e.message_id for e in view.messages] == ["NSW2026031209142700001"]
    assert view.messages[0].payload is not None
    assert b"GeneralDeclaration" in view.messages[0].payload


def test_a_repushed_message_is_answered_99_again_and_stored_once(store: SqlStore) -> None:
    """The NSW pushing the same messageId twice gets 99 twice; one copy is stored."""
    envelope = (VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes()
    with running_intake(store) as url:
        first = requests.post(url, headers=XML, data=soap_body(envelope), timeout=10)
        second = requests.post(url, headers=XML, data=soap_body(envelope), timeout=10)
    assert first.status_code == second.status_code == 200
    assert answer_of(second.content).findtext("Header/Subject/function") == "99"
    view = store.describe("HPH-2026-000123", "1")
    assert view is not None
    assert len(view.messages) == 1


def test_every_valid_sample_dossier_assembles_through_the_endpoint(store: SqlStore) -> None:
    """Each valid sample dossier pushed over HTTP ends READY (or CANCELLED for the cancelled one)."""
    with running_intake(store) as url:
        for folder in sorted(VALID.iterdir()):
            for path in sorted(folder.glob("*.xml")):
                reply = requests.post(url, headers=XML, data=soap_body(path.read_bytes()), timeout=10)
                assert answer_of(reply.content).findtext("Header/Subject/function") == "99"
    expected = {
        ("HPH-2026-000123", "1"): DossierState.READY,
        ("HPH-2026-000131", "2"): DossierState.READY,
        ("HPH-2026-000287", "1"): DossierState.READY,
        ("HON-2026-000045", "1"): DossierState.READY,
        ("HPH-2026-000402", "1"): DossierState.CANCELLED,
    }
    for (reference, direction), state in expected.items():
        view = store.describe(reference, direction)
        assert view is not None
        assert view.state is state, reference
    amended = store.describe("HPH-2026-000287", "1")
    assert amended is not None
    assert amended.documents["51"] == "NSW2026042110470300010"


def test_a_wrong_password_is_an_authentication_fault(store: SqlStore) -> None:
    """A UsernameToken with the wrong password is refused with a soap:Client fault; nothing is stored."""
    envelope = (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_text("utf-8")
    with running_intake(store) as url, pytest.raises(Fault) as raised:
        zeep_service(url, password="wrong").receiveMessage(envelope)  # type: ignore[attr-defined]
    assert "authentication failed" in raised.value.message
    assert "wrong" not in raised.value.message.replace("wrong user name", "")
    assert store.describe("HPH-2026-000123", "1") is None


def test_a_replayed_nonce_is_refused(store: SqlStore) -> None:
    """The same request (same nonce) sent twice: the second is an authentication failure, HTTP 500."""
    body = soap_body((VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_bytes())
    with running_intake(store) as url:
        assert requests.post(url, headers=XML, data=body, timeout=10).status_code == 200
        replay = requests.post(url, headers=XML, data=body, timeout=10)
    assert replay.status_code == 500
    assert b"authentication failed: replayed nonce" in replay.content


def test_a_stale_created_timestamp_is_refused(store: SqlStore) -> None:
    """A token created an hour ago is refused as stale."""
    stale = datetime.now(UTC) - timedelta(hours=1)
    body = soap_body(
        (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_bytes(), created=stale
    )
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=body, timeout=10)
    assert reply.status_code == 500
    assert b"authentication failed: stale" in reply.content
    assert b"soap:Client" in reply.content


def test_a_push_without_a_token_is_refused(store: SqlStore) -> None:
    """A request with no WS-Security header is an authentication failure."""
    body = (
        soap_body(b"<Envelope/>")
        .replace(b"<soap:Header>", b"<soap:Header><!--")
        .replace(b"</soap:Header>", b"--></soap:Header>")
    )
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=body, timeout=10)
    assert reply.status_code == 500
    assert b"authentication failed" in reply.content


def refused_rows(store: SqlStore) -> list[tuple[bytes | None, str, int]]:
    """The audit rows of refused pushes: payload, sha256 and size."""
    with store.engine.connect() as c:
        query = select(t.messages.c.payload, t.messages.c.sha256, t.messages.c.size).where(
            t.messages.c.direction == "refused"
        )
        return [(row.payload, row.sha256, row.size) for row in c.execute(query)]


def assert_refused_as_too_large(reply: requests.Response, limit: int) -> str:
    """The reply is HTTP 200, a valid 22 with no Subject read and one E-ENVELOPE naming the limit."""
    assert reply.status_code == 200
    answer = answer_of(reply.content)
    assert schema("envelope").validate(answer), schema("envelope").error_log
    assert answer.findtext("Header/Subject/function") == "22"
    for unread in ("documentType", "type", "reference", "preReference"):
        assert answer.find(f"Header/Subject/{unread}") is None, unread
    [error] = answer.iterfind("Body/Content/Acknowledgement/Error")
    assert error.findtext("Code") == "E-ENVELOPE"
    assert error.find("Field") is None
    assert error.find("DocumentType") is None
    description = error.findtext("Description") or ""
    assert f"over the limit of {limit} bytes" in description
    return description


def test_a_message_over_the_declared_size_limit_is_answered_22_e_envelope(store: SqlStore) -> None:
    """A Content-Length over the limit: a 22 E-ENVELOPE (HTTP 200), its head kept for audit, no dossier."""
    body = soap_body((VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes())
    with running_intake(store, settings(max_message_bytes=4096)) as url:
        reply = requests.post(url, headers=XML, data=body, timeout=10)
    description = assert_refused_as_too_large(reply, 4096)
    assert f"the message of {len(body)} bytes" in description
    [(payload, sha256, size)] = refused_rows(store)
    assert payload is not None
    assert body.startswith(payload)
    assert b"</soap:Header>" in payload  # its sender was authenticated from it
    assert (sha256, size) == (hashlib.sha256(payload).hexdigest(), len(payload))
    assert store.stats(datetime.now(UTC)).dossiers_by_state == {}
    assert store.describe("HPH-2026-000123", "1") is None


def _declare_and_send(url: str, declared: int, head: bytes) -> tuple[bytes, bytes]:
    """POST declaring `declared` bytes, send only `head`, and read the answer (status line, body)."""
    parsed = urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as conn:
        conn.sendall(
            f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {declared}\r\n\r\n".encode()
            + head
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += conn.recv(65536) or b""
        status, _, content = received.partition(b"\r\n\r\n")
        length = int(next(h for h in status.split(b"\r\n") if h.lower().startswith(b"content-length:"))[15:])
        while len(content) < length:
            content += conn.recv(65536)
    return status, content


def test_a_declared_length_over_the_limit_is_answered_once_its_soap_header_arrived(store: SqlStore) -> None:
    """A request declaring 10 MB against a 4 KB limit is answered 22 as soon as its Header is in."""
    body = soap_body((VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes())
    head = body[: body.index(b"</soap:Header>") + 200]
    with running_intake(store, settings(max_message_bytes=4096)) as url:
        status, content = _declare_and_send(url, 10_000_000, head)
    assert status.startswith(b"HTTP/1.1 200 ")
    answer = answer_of(content)
    assert answer.findtext("Header/Subject/function") == "22"
    assert answer.findtext("Body/Content/Acknowledgement/Error/Code") == "E-ENVELOPE"
    assert "10000000 bytes" in (answer.findtext("Body/Content/Acknowledgement/Error/Description") or "")
    [(payload, _, _)] = refused_rows(store)
    assert payload == head


def test_an_oversized_push_from_someone_else_is_an_auth_fault_and_writes_nothing(store: SqlStore) -> None:
    """Over the limit with a wrong password (or no token at all): the authentication fault, no audit row."""
    body = soap_body((VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes(), password="wrong")
    with running_intake(store, settings(max_message_bytes=4096)) as url:
        wrong = requests.post(url, headers=XML, data=body, timeout=10)
        tokenless = requests.post(url, headers=XML, data=b"<" * 10_000, timeout=10)
    for reply in (wrong, tokenless):
        assert reply.status_code == 500
        assert b"soap:Client" in reply.content
        assert b"authentication failed" in reply.content
    assert refused_rows(store) == []


def test_a_declared_length_over_the_limit_with_no_body_is_an_auth_fault(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender that declares too much and sends nothing is answered once the head's wait runs out."""
    monkeypatch.setattr("nsw_adapter.intake._HEAD_SECONDS", 0.3)
    with running_intake(store, settings(max_message_bytes=4096)) as url:
        status, content = _declare_and_send(url, 10_000_000, b"")
    assert status.startswith(b"HTTP/1.1 500 ")
    assert b"authentication failed" in content
    assert refused_rows(store) == []


def test_a_chunked_body_over_the_limit_is_answered_22_e_envelope(store: SqlStore) -> None:
    """Without a Content-Length, reading stops past the limit: a 22, and an audit row of the head read."""
    body = soap_body((VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes())
    with running_intake(store, settings(max_message_bytes=4096)) as url:
        reply = requests.post(
            url, headers=XML, data=iter([body[i : i + 1000] for i in range(0, len(body), 1000)]), timeout=10
        )
    description = assert_refused_as_too_large(reply, 4096)
    assert "reading stopped after" in description
    [(payload, sha256, size)] = refused_rows(store)
    assert payload is not None
    assert 4096 < len(payload) <= 64 * 1024
    assert body.startswith(payload)
    assert sha256 == hashlib.sha256(payload).hexdigest()
    assert size == len(payload)
    assert store.stats(datetime.now(UTC)).dossiers_by_state == {}
    assert store.describe("HPH-2026-000123", "1") is None


def test_an_oversized_body_handed_to_the_handler_is_answered_22(store: SqlStore) -> None:
    """Intake.handle given a body over the limit answers 22 E-ENVELOPE unparsed, keeping only its head."""
    envelope = (VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes()
    body = soap_body(envelope.replace(b"</Envelope>", b"<!--" + b"x" * 100_000 + b"--></Envelope>"))
    intake = Intake(store, settings(max_message_bytes=4096), language="en")
    try:
        answer = intake.handle(body)
    finally:
        intake.close()
    assert answer.status == 200
    reply = answer_of(answer.body)
    assert reply.findtext("Header/Subject/function") == "22"
    assert f"reading stopped after {len(body)} bytes" in (
        reply.findtext("Body/Content/Acknowledgement/Error/Description") or ""
    )
    [(payload, _, _)] = refused_rows(store)
    assert payload == body[: 64 * 1024]


def test_an_oversized_push_that_cannot_be_recorded_is_a_server_fault() -> None:
    """When the refusal cannot be recorded, the answer is soap:Server (HTTP 500): the NSW pushes again."""
    body = soap_body((VALID / "arrival-general-cargo" / "51-crew-list.xml").read_bytes())
    with running_intake(_FailingStore(), settings(max_message_bytes=4096)) as url:  # type: ignore[arg-type]
        reply = requests.post(url, headers=XML, data=body, timeout=10)
    assert reply.status_code == 500
    assert b"soap:Server" in reply.content
    assert b"push it again later" in reply.content


@pytest.mark.parametrize("name", sorted(p.name for p in (SAMPLES / "hostile").iterdir()))
def test_hostile_envelopes_are_answered_22_e_envelope_and_kept_for_audit(store: SqlStore, name: str) -> None:
    """Every hostile sample is refused with a valid 22 carrying E-ENVELOPE, and recorded, never processed.

    The string part carries text: bytes are sent as a sender reading them as UTF-8 would (invalid
    sequences become U+FFFD), without the characters XML cannot carry at all (not-xml.bin's NULs).
    """
    text = (SAMPLES / "hostile" / name).read_bytes().decode("utf-8", errors="replace")
    data = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=soap_body(data), timeout=30)
    assert reply.status_code == 200
    answer = answer_of(reply.content)
    assert schema("envelope").validate(answer), schema("envelope").error_log
    assert answer.findtext("Header/Subject/function") == "22"
    codes = [e.findtext("Code") for e in answer.iterfind("Body/Content/Acknowledgement/Error")]
    assert codes
    assert set(codes) == {"E-ENVELOPE"}
    assert refused_count(store) == 1
    assert store.stats(datetime.now(UTC)).dossiers_by_state == {}


def test_a_wrongly_addressed_envelope_is_answered_with_its_field(store: SqlStore) -> None:
    """invalid/E-ENVELOPE (addressed to BTC): a 22 repeating its Subject, with Field and DocumentType."""
    path = SAMPLES / "invalid" / "E-ENVELOPE" / "50-general-declaration.xml"
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=soap_body(path.read_bytes()), timeout=10)
    answer = answer_of(reply.content)
    assert schema("envelope").validate(answer), schema("envelope").error_log
    assert answer.findtext("Header/Subject/function") == "22"
    assert answer.findtext("Header/Subject/reference") == "HPH-2026-000902"
    assert answer.findtext("Header/Subject/preReference") == "NSW2026031210022700022"
    [error] = answer.iterfind("Body/Content/Acknowledgement/Error")
    assert error.findtext("Field") == "/Envelope/Header/To/identity"
    assert error.findtext("DocumentType") == "50"


def test_a_request_that_is_not_soap_is_a_client_fault(store: SqlStore) -> None:
    """A body that is not a SOAP envelope is a soap:Client fault (HTTP 500)."""
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=b"hello", timeout=10)
    assert reply.status_code == 500
    assert b"soap:Client" in reply.content


class _FailingStore:
    """A store whose commits fail (the database is down)."""

    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        raise RuntimeError("database is down")

    def record_refused(self, raw: bytes, sha256: str, problems: object) -> None:
        raise RuntimeError("database is down")

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        raise RuntimeError("database is down")


def test_a_store_failure_is_a_server_fault_so_the_nsw_pushes_again() -> None:
    """When the message cannot be committed, the answer is soap:Server (HTTP 500), never 99."""
    envelope = (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_bytes()
    with running_intake(_FailingStore()) as url:  # type: ignore[arg-type]
        reply = requests.post(url, headers=XML, data=soap_body(envelope), timeout=10)
    assert reply.status_code == 500
    assert b"soap:Server" in reply.content
    assert b"push it again later" in reply.content


class _SlowStore:
    """A store whose commit of one message blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received: list[str] = []

    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        if message.type == "50":
            self.release.wait(10)
        self.received.append(message.message_id)
        return IntakeOutcome.STORED

    def record_refused(self, raw: bytes, sha256: str, problems: list[Problem]) -> None:
        pass

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        return True  # every token new: this fake is about commits, not replays


def test_a_slow_commit_does_not_stall_other_pushes() -> None:
    """While one push waits for its commit, another push is stored and answered."""
    slow = _SlowStore()
    folder = VALID / "arrival-general-cargo"
    with running_intake(slow) as url:  # type: ignore[arg-type]
        blocked = threading.Thread(
            target=requests.post,
            args=(url,),
            kwargs={
                "data": soap_body((folder / "50-general-declaration.xml").read_bytes()),
                "headers": XML,
                "timeout": 20,
            },
        )
        blocked.start()
        time.sleep(0.2)
        started = time.monotonic()
        reply = requests.post(
            url, headers=XML, data=soap_body((folder / "51-crew-list.xml").read_bytes()), timeout=10
        )
        assert reply.status_code == 200
        assert time.monotonic() - started < 2
        assert slow.received == ["NSW2026031209143100002"]
        slow.release.set()
        blocked.join(10)
    assert slow.received[-1] == "NSW2026031209142700001"


def test_a_cruise_ship_passenger_list_of_ten_thousand_is_received(store: SqlStore) -> None:
    """A 10,000-passenger list (several MB) is streamed in, stored whole and answered 99."""
    text = (VALID / "arrival-passenger-ferry" / "52-passenger-list.xml").read_text("utf-8")
    start, end = text.index("<Passenger>"), text.rindex("</Passenger>") + len("</Passenger>")
    passengers = text[start:end]
    big = text[:start] + passengers * 250 + text[end:]
    assert len(big) > 3_000_000
    with running_intake(store) as url:
        reply = requests.post(url, headers=XML, data=soap_body(big), timeout=60)
    assert answer_of(reply.content).findtext("Header/Subject/function") == "99"
    view = store.describe("HON-2026-000045", "1")
    assert view is not None
    # Stored and hashed as the one reading of the string: its UTF-8, the declaration dropped.
    stored = big.split("?>", 1)[1].encode()
    assert view.messages[0].payload == stored
    assert view.messages[0].sha256 == hashlib.sha256(stored).hexdigest()
