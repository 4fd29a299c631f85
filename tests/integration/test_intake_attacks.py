"""The intake attacked as an outsider would, over loopback: DTDs anywhere, huge attribute lists,
bodies sent by someone without credentials, slow bodies; and the NSW's large lists still go through."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from nsw_adapter.store import SqlStore, open_store
from nsw_adapter.store import tables as t
from nsw_adapter.testing.pushes import XML, soap_body
from nsw_adapter.xml import MAX_TEXT_BYTES
from tests.support.intake_client import answer_of, running_intake, settings

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "nsw" / "valid"
FERRY = VALID / "arrival-passenger-ferry" / "52-passenger-list.xml"
GD = VALID / "arrival-general-cargo" / "50-general-declaration.xml"
COMMENT = "<!--" + "x" * 5000 + "-->"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}", migrate=True)
    try:
        yield opened
    finally:
        opened.close()


def push(url: str, body: bytes, timeout: float = 60) -> requests.Response:
    return requests.post(url, data=body, headers=XML, timeout=timeout)


def function_of(reply: requests.Response) -> str | None:
    return answer_of(reply.content).findtext("Header/Subject/function")


def passenger_list(size: int) -> str:
    """The ferry's Passenger List with its passengers repeated until the envelope is about `size` bytes."""
    text = FERRY.read_text("utf-8")
    start, end = text.index("<Passenger>"), text.rindex("</Passenger>") + len("</Passenger>")
    passengers = text[start:end]
    copies = max(1, (size - len(text)) // len(passengers.encode()))
    return text[:start] + passengers * copies + text[end:]


@pytest.mark.timeout(60)
def test_an_11_mb_passenger_list_is_received(store: SqlStore) -> None:
    """An envelope over libxml2's 10 MB text-node limit (one text of the SOAP request) is answered 99."""
    envelope = passenger_list(11_000_000)
    assert len(envelope.encode()) > MAX_TEXT_BYTES
    with running_intake(store) as url:
        assert function_of(push(url, soap_body(envelope))) == "99"


@pytest.mark.timeout(120)
def test_a_passenger_list_just_under_the_size_limit_is_received(store: SqlStore) -> None:
    """A push of nearly max_message_bytes (its escaped envelope one 30 MB text) is answered 99."""
    limit = settings().max_message_bytes
    envelope = passenger_list(int(limit * 0.75))
    body = soap_body(envelope)
    assert limit * 0.9 < len(body) <= limit
    with running_intake(store) as url:
        assert function_of(push(url, body, timeout=120)) == "99"


def doctype_answers(url: str, tmp_path: Path, build: object) -> set[tuple[int, bytes]]:
    existing = tmp_path / "exists.txt"
    existing.write_text("secret")
    answers = set()
    for target in (str(existing), str(tmp_path / "missing.txt"), "/dev/ptmx"):
        reply = push(url, build(target), timeout=10)  # type: ignore[operator]
        # The answer's own ids and times differ per push; its status and faults or codes must not.
        answer = reply.content
        if reply.status_code == 200:
            errors = answer_of(answer).findall("Body/Content/Acknowledgement/Error")
            answer = b"|".join((e.findtext("Description") or "").encode() for e in errors)
        answers.add((reply.status_code, answer))
    return answers


@pytest.mark.timeout(30)
def test_a_doctype_behind_a_long_comment_in_the_soap_request_opens_nothing(
    store: SqlStore, tmp_path: Path
) -> None:
    """Without credentials: an existing file, a missing one and /dev/ptmx all get the same fault, at once."""

    def request(target: str) -> bytes:
        body = soap_body(GD.read_bytes(), password="wrong").decode()
        return body.replace("?>", f'?>{COMMENT}<!DOCTYPE x SYSTEM "{target}">', 1).encode()

    with running_intake(store) as url:
        answers = doctype_answers(url, tmp_path, request)
    assert len(answers) == 1
    status, fault = answers.pop()
    assert status == 500
    assert b"a DOCTYPE or entity declaration is not allowed" in fault


@pytest.mark.timeout(30)
def test_a_doctype_behind_a_long_comment_in_the_envelope_is_one_22_whatever_it_names(
    store: SqlStore, tmp_path: Path
) -> None:
    """In the escaped envelope: the same 22 for an existing file, a missing one and /dev/ptmx."""

    def request(target: str) -> bytes:
        text = GD.read_text("utf-8").replace("?>", f'?>{COMMENT}<!DOCTYPE Envelope SYSTEM "{target}">', 1)
        return soap_body(text)

    with running_intake(store) as url:
        answers = doctype_answers(url, tmp_path, request)
    assert answers == {(200, b"a DOCTYPE or entity declaration is not allowed")}


@pytest.mark.timeout(30)
def test_a_hundred_thousand_attributes_get_a_short_answer(store: SqlStore) -> None:
    """100,000 attributes on the envelope: one E-ENVELOPE error, an answer of a few kB, not 26 MB."""
    attributes = " ".join(f'a{i}="1"' for i in range(100_000))
    envelope = GD.read_text("utf-8").replace("<Envelope>", f"<Envelope {attributes}>", 1)
    with running_intake(store) as url:
        reply = push(url, soap_body(envelope))
    assert len(reply.content) < 4096
    errors = answer_of(reply.content).findall("Body/Content/Acknowledgement/Error")
    assert [e.findtext("Description") for e in errors] == ["an element has more than 64 attributes"]


def send_head(url: str, body: bytes, sent: int, *, content_length: int | None = None) -> socket.socket:
    """Open a POST declaring the whole body and send only its first `sent` bytes."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=15)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/xml; charset=utf-8\r\n"
        f"Content-Length: {content_length or len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:sent])
    return sock


def answer_status(sock: socket.socket) -> int:
    sock.settimeout(15)
    line = sock.makefile("rb").readline()
    return int(line.split()[1])


@pytest.mark.timeout(30)
def test_an_outsider_is_refused_before_the_rest_of_the_body_is_sent(store: SqlStore) -> None:
    """A wrong password in the head of a 3 MB push is answered before the body (never sent) arrives."""
    body = soap_body(passenger_list(3_000_000), password="wrong")
    with running_intake(store) as url:
        sock = send_head(url, body, 70_000)
        try:
            assert answer_status(sock) == 500
        finally:
            sock.close()


@pytest.mark.timeout(30)
def test_a_body_that_does_not_arrive_in_time_is_refused_and_frees_its_slot(store: SqlStore) -> None:
    """An authenticated sender that stalls mid-body gets a fault after body_timeout_seconds; others go on."""
    big = soap_body(passenger_list(1_000_000))
    small = soap_body(GD.read_bytes())
    with running_intake(store, settings(body_timeout_seconds=1.0, max_bodies=1)) as url:
        sock = send_head(url, big, 200_000)
        try:
            assert function_of(push(url, small, timeout=10)) == "99"  # small pushes are not held back
            started = time.monotonic()
            assert answer_status(sock) == 500
            assert time.monotonic() - started < 5
        finally:
            sock.close()
        assert function_of(push(url, soap_body(passenger_list(1_000_000)))) == "99"


@pytest.mark.timeout(30)
def test_bodies_read_at_once_are_bounded(store: SqlStore) -> None:
    """With max_bodies 1 a second large body waits for the slot the first holds until its deadline."""
    held = soap_body(passenger_list(1_000_000))
    order: list[str] = []
    with running_intake(store, settings(body_timeout_seconds=2.0, max_bodies=1)) as url:
        sock = send_head(url, held, 200_000)
        try:
            time.sleep(0.3)  # the held push has the slot

            def second() -> None:
                reply = push(url, soap_body(passenger_list(500_000)))
                order.append(f"second {reply.status_code}")

            waiting = threading.Thread(target=second)
            waiting.start()
            order.append(f"held {answer_status(sock)}")
            waiting.join(10)
        finally:
            sock.close()
    assert order == ["held 500", "second 200"]


@pytest.mark.timeout(60)
def test_concurrent_outsiders_get_the_same_answer_and_cost_the_nsw_nothing(store: SqlStore) -> None:
    """16 unauthenticated 3 MB uploads at once, bodies withheld: each refused from its head; NSW served."""
    body = soap_body(passenger_list(3_000_000), password="wrong")
    with running_intake(store) as url:
        sockets = [send_head(url, body, 70_000) for _ in range(16)]
        try:
            assert function_of(push(url, soap_body(GD.read_bytes()), timeout=10)) == "99"
            assert {answer_status(sock) for sock in sockets} == {500}
        finally:
            for sock in sockets:
                sock.close()
    with store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(t.messages)).scalar() == 1  # the NSW's push only
