"""Signed declarations through receiveMessage: 99 and the signer kept, or 22 E-SIGNATURE kept for audit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from sqlalchemy import select

from nsw_adapter.store import SqlStore
from nsw_adapter.store import tables as t
from nsw_adapter.testing.pushes import XML, soap_body
from nsw_adapter.testing.signing import Authority, make_ca, make_signer, sign
from nsw_adapter.xml import schema
from tests.support.intake_client import answer_of, running_intake, settings

CARGO = Path(__file__).resolve().parents[2] / "fixtures/samples/nsw/valid/arrival-general-cargo"
GENERAL_DECLARATION = (CARGO / "50-general-declaration.xml").read_bytes()
REFERENCE, MESSAGE_ID = "HPH-2026-000123", "NSW2026031209142700001"


@pytest.fixture(scope="module")
def ca() -> Authority:
    """The test CA the intake trusts."""
    return make_ca()


def push(store: SqlStore, envelope: bytes, trust: Path | None, policy: str) -> etree._Element:
    """Push one envelope to an intake with this trust store and policy; the answer envelope (HTTP 200)."""
    config = settings(signature_policy=policy, trust_store=str(trust) if trust else None)
    with running_intake(store, config) as url:
        reply = requests.post(url, headers=XML, data=soap_body(envelope), timeout=10)
    assert reply.status_code == 200
    answer = answer_of(reply.content)
    assert schema("envelope").validate(answer), schema("envelope").error_log
    return answer


def audit_rows(store: SqlStore) -> list[Any]:
    """Every audit row of a pushed message, received or refused, in order."""
    m = t.messages
    with store.engine.connect() as c:
        return list(c.execute(select(m).where(m.c.direction.in_(["in", "refused"])).order_by(m.c.id)))


def assert_e_signature(answer: etree._Element, field: str | None) -> None:
    """A 22 with exactly one error, E-SIGNATURE, with the given Field."""
    assert answer.findtext("Header/Subject/function") == "22"
    errors = answer.findall("Body/Content/Acknowledgement/Error")
    assert [e.findtext("Code") for e in errors] == ["E-SIGNATURE"]
    assert errors[0].findtext("Field") == field


def test_a_validly_signed_message_is_stored_with_its_signer(
    store: SqlStore, ca: Authority, tmp_path: Path
) -> None:
    """verify-if-present: a good signature is answered 99; its signer is kept on its audit row."""
    signer = make_signer(ca)
    answer = push(
        store, sign(GENERAL_DECLARATION, signer), ca.write(tmp_path / "ca.pem"), "verify-if-present"
    )
    assert answer.findtext("Header/Subject/function") == "99"
    [row] = audit_rows(store)
    assert (row.direction, row.signature) == ("in", "verified")
    assert row.signer_serial == f"{signer.certificate.serial_number:x}"
    assert row.signer_issuer == "CN=Test Root CA,O=Test,C=VN"
    view = store.describe(REFERENCE, "1")
    assert view is not None
    [entry] = view.messages
    assert entry.signature is not None
    assert entry.signature.outcome == "verified"
    assert entry.signature.subject is not None
    assert "Đại lý" in entry.signature.subject
    [history] = store.history(reference=REFERENCE)  # what `nsw-adapter show` prints
    [received] = [event for event in history.events if event.kind == "received"]
    assert received.details["signature"] == "verified"
    assert received.details["signer"]["serial"] == row.signer_serial
    assert received.details["signer"]["sha256"] == row.signer_sha256


def test_a_tampered_message_is_answered_22_e_signature_and_kept_apart(
    store: SqlStore, ca: Authority, tmp_path: Path
) -> None:
    """Content changed after signing: 22 E-SIGNATURE at /Envelope/Body/Signature, kept as refused with its
    signer, and no dossier is opened."""
    signed = sign(GENERAL_DECLARATION, make_signer(ca)).replace(b"OCEAN JADE", b"OCEAN JADF", 1)
    answer = push(store, signed, ca.write(tmp_path / "ca.pem"), "verify-if-present")
    assert_e_signature(answer, "/Envelope/Body/Signature")
    assert answer.findtext("Header/Subject/preReference") == MESSAGE_ID
    [row] = audit_rows(store)
    assert (row.direction, row.signature) == ("refused", "failed")
    assert row.signer_sha256 is not None
    assert row.payload is not None
    assert "E-SIGNATURE" in row.problems
    assert store.describe(REFERENCE, "1") is None


def test_an_expired_signer_is_answered_22_e_signature(store: SqlStore, ca: Authority, tmp_path: Path) -> None:
    """A certificate that expired before sendDate is refused end to end."""
    expired = make_signer(
        ca, not_before=datetime(2025, 1, 1, tzinfo=UTC), not_after=datetime(2026, 1, 1, tzinfo=UTC)
    )
    answer = push(
        store, sign(GENERAL_DECLARATION, expired), ca.write(tmp_path / "ca.pem"), "verify-if-present"
    )
    assert_e_signature(answer, "/Envelope/Body/Signature")
    assert "sendDate" in (answer.findtext("Body/Content/Acknowledgement/Error/Description") or "")


def test_an_unsigned_message_under_required_is_answered_22_e_signature(
    store: SqlStore, ca: Authority, tmp_path: Path
) -> None:
    """required: an unsigned message is refused with one E-SIGNATURE and no Field, its row marked missing."""
    answer = push(store, GENERAL_DECLARATION, ca.write(tmp_path / "ca.pem"), "required")
    assert_e_signature(answer, None)
    [row] = audit_rows(store)
    assert (row.direction, row.signature, row.signer_subject) == ("refused", "missing", None)


def test_an_unsigned_message_under_verify_if_present_is_stored_as_before(store: SqlStore) -> None:
    """verify-if-present (the default), no trust store: unsigned is answered 99, no signature noted."""
    answer = push(store, GENERAL_DECLARATION, None, "verify-if-present")
    assert answer.findtext("Header/Subject/function") == "99"
    [row] = audit_rows(store)
    assert (row.direction, row.signature) == ("in", None)


def test_policy_off_accepts_a_signature_unread(store: SqlStore) -> None:
    """off: a signature by an untrusted signer is accepted (99) and noted unchecked, as before the profile."""
    stranger = make_signer(make_ca("Someone Else's CA"))
    answer = push(store, sign(GENERAL_DECLARATION, stranger), None, "off")
    assert answer.findtext("Header/Subject/function") == "99"
    [row] = audit_rows(store)
    assert (row.direction, row.signature, row.signer_sha256) == ("in", "unchecked", None)


def test_two_signatures_in_body_are_refused(store: SqlStore, ca: Authority, tmp_path: Path) -> None:
    """A second ds:Signature after Content breaks envelope.xsd (one is allowed): 22, and nothing is stored
    as received."""
    signed = sign(GENERAL_DECLARATION, make_signer(ca))
    root = etree.fromstring(signed)
    body = root.find("Body")
    assert body is not None
    body.append(etree.fromstring(etree.tostring(body[-1])))
    answer = push(store, etree.tostring(root), ca.write(tmp_path / "ca.pem"), "verify-if-present")
    assert answer.findtext("Header/Subject/function") == "22"
    assert [row.direction for row in audit_rows(store)] == ["refused"]
