"""The contract's samples: valid dossiers map to exactly their submissions, each invalid dossier yields
its own code only, and hostile input is refused quickly without reading files or opening connections."""

from __future__ import annotations

import builtins
import io
import re
import socket
import time
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter import translate
from nsw_adapter.xml import schema
from tests.translation_support import SAMPLES, TODAY, canonical, run, sample

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


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make opening a file or a connection fail loudly while the test body runs."""
    run(sample("arrival-general-cargo"), client_message_id="warm-up")  # schemas, code lists, mapping

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"I/O attempted: {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_hostile_input_is_refused_without_io(path: Path, no_io: None) -> None:
    """Each hostile file yields E-ENVELOPE only, within 0.5 s, reading no file and opening no connection."""
    data = _HOSTILE_BYTES[path.name]
    started = time.perf_counter()
    result = translate([data], client_message_id="hostile-1", today=TODAY)
    elapsed = time.perf_counter() - started
    assert {p.code for p in result.problems} == {"E-ENVELOPE"}
    assert result.submission is None
    assert elapsed < 0.5


# Read before the I/O guard is in place.
_HOSTILE_BYTES = {p.name: p.read_bytes() for p in HOSTILE}


def test_hostile_file_among_a_valid_dossier() -> None:
    """One hostile message in an otherwise valid dossier stops it with E-ENVELOPE only."""
    result = run([*sample("arrival-general-cargo"), _HOSTILE_BYTES["xxe.xml"]])
    assert {p.code for p in result.problems} == {"E-ENVELOPE"}
