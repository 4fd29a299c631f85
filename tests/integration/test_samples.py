"""The contract's samples: valid dossiers map to exactly their submissions, each invalid dossier yields
its own code only, and hostile input is refused quickly without reading files or opening connections
(proved with a live loopback listener and a canary file, since libxml2 does its I/O in C)."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter import translate
from nsw_adapter.envelope import read_message
from nsw_adapter.errors import EnvelopeError
from nsw_adapter.xml import schema
from tests.support.translation import SAMPLES, TODAY, canonical, run, sample

SUBMISSIONS = sorted((SAMPLES / "bgp" / "submissions").glob("*.xml"))
INVALID = sorted(p for p in (SAMPLES / "nsw" / "invalid").iterdir() if p.is_dir())
HOSTILE = sorted((SAMPLES / "nsw" / "hostile").iterdir())


def _client_message_id(submission: bytes) -> str:
    match = re.search(rb"client_message_id ([A-Za-z0-9_.:-]+)", submission)
    assert match is not None
    return match.group(1).decode()


@pytest.mark.parametrize("expected", SUBMISSIONS, ids=lambda p: p.stem)
def test_valid_dossier_maps_to_its_submission(expected: Path) -> None:
    """Each valid dossier with a counterpart converts to exactly that submission (canonical XML)."""
    raw = expected.read_bytes()
    result = run(sample(expected.stem), client_message_id=_client_message_id(raw))
    assert result.problems == []
    assert result.submission is not None
    assert canonical(result.submission) == canonical(raw)
    assert schema("submission").validate(etree.fromstring(result.submission))


@pytest.mark.parametrize("expected", SUBMISSIONS, ids=lambda p: p.stem)
def test_file_order_does_not_matter(expected: Path) -> None:
    """The documents in effect are chosen by sendDate: reversed input gives byte-identical output."""
    cid = _client_message_id(expected.read_bytes())
    forward = run(sample(expected.stem), client_message_id=cid)
    backward = run(list(reversed(sample(expected.stem))), client_message_id=cid)
    assert forward.submission == backward.submission


def test_cancelled_dossier_has_nothing_to_submit() -> None:
    """The cancellation sample translates to cancelled, with no submission and no problems."""
    result = run(sample("cancellation"))
    assert result.cancelled
    assert result.ok
    assert result.submission is None
    assert result.reference == "HPH-2026-000402"


@pytest.mark.parametrize("folder", INVALID, ids=lambda p: p.name)
def test_invalid_dossier_yields_its_own_code_only(folder: Path) -> None:
    """Each invalid/<CODE> dossier yields that code and no other, with a field for the rule codes."""
    documents = [p.read_bytes() for p in sorted(folder.glob("*.xml"))]
    result = run(documents)
    assert {p.code for p in result.problems} == {folder.name}
    assert result.submission is None
    for problem in result.problems:
        assert problem.text
        if problem.xpath is not None:
            assert problem.xpath.startswith("/Envelope/")


def test_invalid_samples_point_at_the_fields_their_comments_name() -> None:
    """Spot checks of the XPaths and document types the invalid samples call for."""
    expected = {
        "E-DOC-EXPIRED": ("/Envelope/Body/Content/CrewLists/CrewList[6]/PassportExpiryDate", "51"),
        "E-DOB": ("/Envelope/Body/Content/CrewLists/CrewList[13]/DateOfBirth", "51"),
        "E-COUNTRY": ("/Envelope/Body/Content/CrewLists/CrewList[9]/Nationality", "51"),
        "E-LOCODE": ("/Envelope/Body/Content/GeneralDeclaration/NextPortOfCallCode", "50"),
        "E-COUNT": ("/Envelope/Body/Content/GeneralDeclaration/NumberOfCrew", "50"),
        "E-MISMATCH": ("/Envelope/Body/Content/CrewLists/PortOfCallCode", "51"),
        "E-DUP-DOC": ("/Envelope/Body/Content/CrewLists/CrewList[20]/PassportNumber", "51"),
        "E-SCHEMA": ("/Envelope/Body/Content/CrewLists/CrewList[4]/Gender", "51"),
    }
    for code, (xpath, doc_type) in expected.items():
        folder = SAMPLES / "nsw" / "invalid" / code
        result = run([p.read_bytes() for p in sorted(folder.glob("*.xml"))])
        assert [(p.xpath, p.document_type) for p in result.problems] == [(xpath, doc_type)], code


class Listener:
    """A loopback TCP listener that counts (and at once closes) every connection made to it."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port: int = self._socket.getsockname()[1]
        self._accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:  # held across accept and count: connections() never sees one half done
                try:
                    connection, _ = self._socket.accept()
                except TimeoutError:
                    continue
                self._accepted += 1
            connection.close()  # a fetch gets nothing and fails at once instead of hanging

    def connections(self) -> int:
        """Connections so far, including any still waiting in the backlog (the accepting thread
        is given a moment to take them: only it accepts, so nothing is counted twice or lost)."""
        deadline = time.monotonic() + 2.0
        while select.select([self._socket], [], [], 0)[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            return self._accepted

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback listener standing in for the hosts the hostile samples point at."""
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file whose unique content must never appear in anything the adapter returns."""
    path = tmp_path / "canary.txt"
    path.write_text(f"canary-{uuid.uuid4().hex}\n", encoding="utf-8")
    return path


def _aimed(name: str, port: int, canary: Path, *, padded: bool) -> bytes:
    """The hostile sample with its network URLs aimed at `port` and its external entity at `canary`.

    padded: a 5 kB comment before the DOCTYPE takes it past the 4 kB byte pre-check, so that
    libxml2 itself (in C, beyond Python's open and socket) meets the DTD and the entity.
    """
    data = _HOSTILE_BYTES[name]
    if name in ("external-dtd.xml", "schema-location-hint.xml"):
        assert b"http://127.0.0.1:9/" in data, name
        data = data.replace(b"http://127.0.0.1:9/", f"http://127.0.0.1:{port}/".encode())
    if name == "xxe.xml":
        assert b"file:///etc/passwd" in data, name
        data = data.replace(b"file:///etc/passwd", canary.as_uri().encode())
    if padded:
        declaration, rest = data.split(b"\n", 1)
        data = declaration + b"\n<!--" + b" " * 5000 + b"-->\n" + rest
    return data


_CASES = [(p.name, False) for p in HOSTILE] + [
    (p.name, True) for p in HOSTILE if b"<!DOCTYPE" in p.read_bytes()
]


@pytest.mark.parametrize(
    ("name", "padded"), _CASES, ids=[f"{n}{'-padded' if padded else ''}" for n, padded in _CASES]
)
def test_hostile_input_is_refused_without_io(
    name: str, padded: bool, listener: Listener, canary: Path
) -> None:
    """Each hostile file, aimed at a live listener and a canary file, yields E-ENVELOPE only within
    0.5 s from translate and read_message, with no connection made and the canary nowhere in the result."""
    run(sample("arrival-general-cargo"), client_message_id="warm-up")  # schemas, code lists, mapping
    data = _aimed(name, listener.port, canary, padded=padded)
    secret = canary.read_text(encoding="utf-8").strip()

    started = time.perf_counter()
    result = translate([data], client_message_id="hostile-1", today=TODAY)
    elapsed = time.perf_counter() - started
    assert {p.code for p in result.problems} == {"E-ENVELOPE"}
    assert result.submission is None
    assert elapsed < 0.5
    assert secret not in repr(result)

    with pytest.raises(EnvelopeError) as refused:
        read_message(data)
    assert {p.code for p in refused.value.problems} == {"E-ENVELOPE"}
    assert secret not in f"{refused.value} {refused.value.problems!r}"

    assert listener.connections() == 0


def test_the_io_probes_would_see_a_leak(listener: Listener, canary: Path) -> None:
    """The probes are live: a connection to the listener is counted, and a parser that resolves
    external entities reads the canary through the aimed xxe sample."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=1):
        pass
    assert listener.connections() == 1
    permissive = etree.XMLParser(resolve_entities=True)
    root = etree.fromstring(_aimed("xxe.xml", listener.port, canary, padded=False), permissive)
    assert root.findtext("Body/Content/Cancellation/Reason") == canary.read_text(encoding="utf-8")


# Read once, at import.
_HOSTILE_BYTES = {p.name: p.read_bytes() for p in HOSTILE}


def test_hostile_file_among_a_valid_dossier() -> None:
    """One hostile message in an otherwise valid dossier stops it with E-ENVELOPE only."""
    result = run([*sample("arrival-general-cargo"), _HOSTILE_BYTES["xxe.xml"]])
    assert {p.code for p in result.problems} == {"E-ENVELOPE"}
