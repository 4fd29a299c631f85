"""The signature profile (contract README, "Signed declarations") checked by nsw_adapter.signature."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter.envelope import NswMessage, read_message
from nsw_adapter.signature import SIGNATURE_XPATH, SignatureCheck, SignatureOutcome, SignatureVerifier
from nsw_adapter.testing.signing import DS, Authority, make_ca, make_signer, sign

CREW_LIST = (
    Path(__file__).resolve().parents[2] / "fixtures/samples/nsw/valid/arrival-general-cargo/51-crew-list.xml"
).read_bytes()


@pytest.fixture(scope="module")
def ca() -> Authority:
    """The test CA the verifier trusts."""
    return make_ca()


def check(ca: Authority, envelope: bytes, policy: str = "verify-if-present") -> SignatureCheck:
    """The verdict of a verifier trusting `ca` on `envelope` as read_message reads it."""
    message: NswMessage = read_message(envelope)
    return SignatureVerifier(policy, [ca.certificate]).check(message.root, message.header.send_date)


def assert_refused(result: SignatureCheck, words: str) -> None:
    """Refused with one E-SIGNATURE problem at /Envelope/Body/Signature whose text says `words`."""
    assert result.outcome is SignatureOutcome.FAILED
    assert result.problem is not None
    assert result.problem.code == "E-SIGNATURE"
    assert result.problem.xpath == SIGNATURE_XPATH
    assert words in result.problem.text


def test_a_valid_ecdsa_signature_verifies_and_names_its_signer(ca: Authority) -> None:
    """A P-256 signature by a trusted certificate verifies; subject, issuer, serial, thumbprint come back."""
    signer = make_signer(ca)
    result = check(ca, sign(CREW_LIST, signer))
    assert result.outcome is SignatureOutcome.VERIFIED
    assert result.problem is None
    assert result.signer is not None
    assert "Đại lý" in result.signer.subject
    assert result.signer.issuer == "CN=Test Root CA,O=Test,C=VN"
    assert int(result.signer.serial, 16) == signer.certificate.serial_number
    assert len(result.signer.sha256) == 64


def test_a_valid_rsa_signature_with_sha512_verifies(ca: Authority) -> None:
    """RSA 2048 with SHA-512 digests is within the profile."""
    signer = make_signer(ca, key_kind="rsa")
    result = check(ca, sign(CREW_LIST, signer, algorithm="rsa-sha512", digest="sha512"))
    assert result.outcome is SignatureOutcome.VERIFIED


def test_exclusive_canonicalisation_with_comments_verifies_even_with_comments(ca: Authority) -> None:
    """With #WithComments the comments are signed, so an envelope holding one still verifies."""
    commented = CREW_LIST.replace(b"<Body>", b"<Body><!-- signed -->", 1)
    c14n = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
    assert check(ca, sign(commented, make_signer(ca), c14n=c14n)).outcome is SignatureOutcome.VERIFIED


def test_a_certificate_expired_at_send_date_is_refused(ca: Authority) -> None:
    """A certificate that ended before the message's sendDate (2026-03-12) does not vouch for it."""
    expired = make_signer(
        ca, not_before=datetime(2025, 1, 1, tzinfo=UTC), not_after=datetime(2026, 1, 1, tzinfo=UTC)
    )
    result = check(ca, sign(CREW_LIST, expired))
    assert_refused(result, "not valid at the message's sendDate")
    assert result.signer is not None  # who signed is still kept for audit


def test_a_certificate_not_yet_valid_at_send_date_is_refused(ca: Authority) -> None:
    """Validity is judged at sendDate, not now: a certificate issued after it is refused."""
    later = make_signer(ca, not_before=datetime(2026, 6, 1, tzinfo=UTC))
    assert_refused(check(ca, sign(CREW_LIST, later)), "not valid at the message's sendDate")


def test_a_signer_of_an_untrusted_ca_is_refused(ca: Authority) -> None:
    """A certificate issued by a CA outside the trust store does not chain to a trusted CA."""
    stranger = make_signer(make_ca("Someone Else's CA"))
    assert_refused(check(ca, sign(CREW_LIST, stranger)), "does not chain to a trusted CA")


def test_content_changed_after_signing_is_refused(ca: Authority) -> None:
    """One changed passport number after signing breaks the digest."""
    signed = sign(CREW_LIST, make_signer(ca))
    start = signed.index(b"<PassportNumber>") + len(b"<PassportNumber>")
    tampered = signed[:start] + b"X" + signed[start + 1 :]
    assert_refused(check(ca, tampered), "changed after it was signed")


def test_a_comment_splitting_a_signed_value_is_refused(ca: Authority) -> None:
    """Without #WithComments a comment is unsigned yet truncates the text read: refused."""
    signed = sign(CREW_LIST, make_signer(ca))
    start = signed.index(b"<PassportNumber>") + len(b"<PassportNumber>") + 2
    commented = signed[:start] + b"<!---->" + signed[start:]
    assert_refused(check(ca, commented), "XML comments")


def test_a_sha1_signature_is_refused(ca: Authority) -> None:
    """RSA-SHA1 with a SHA-1 digest is outside the profile, whatever the certificate."""
    signer = make_signer(ca, key_kind="rsa")
    result = check(ca, sign(CREW_LIST, signer, algorithm="rsa-sha1", digest="sha1"))
    assert_refused(result, "algorithm is not allowed")
    assert result.signer is not None


def test_a_sha256_signature_over_a_sha1_digest_is_refused(ca: Authority) -> None:
    """The Reference's digest must be SHA-256 or stronger too."""
    assert_refused(check(ca, sign(CREW_LIST, make_signer(ca), digest="sha1")), "algorithm is not allowed")


def test_a_certificate_for_key_encipherment_only_is_refused(ca: Authority) -> None:
    """Key usage must allow digitalSignature or nonRepudiation."""
    signer = make_signer(ca, digital_signature=False, non_repudiation=False)
    assert_refused(check(ca, sign(CREW_LIST, signer)), "neither digitalSignature nor nonRepudiation")


def test_non_repudiation_alone_is_enough(ca: Authority) -> None:
    """A certificate allowing nonRepudiation but not digitalSignature may sign declarations."""
    signer = make_signer(ca, digital_signature=False, non_repudiation=True)
    assert check(ca, sign(CREW_LIST, signer)).outcome is SignatureOutcome.VERIFIED


def test_two_signatures_are_refused(ca: Authority) -> None:
    """A second ds:Signature (here a copy inside Content's document) makes the profile's one ambiguous."""
    signed = sign(CREW_LIST, make_signer(ca))
    root = etree.fromstring(signed)
    signature = root.find(f"Body/{{{DS}}}Signature")
    assert signature is not None
    content = root.find("Body/Content")
    assert content is not None
    content[0].append(etree.fromstring(etree.tostring(signature)))
    result = SignatureVerifier("verify-if-present", [ca.certificate]).check(
        root, read_message(signed).header.send_date
    )
    assert_refused(result, "2 signatures")


def test_a_reference_to_part_of_the_envelope_is_refused(ca: Authority) -> None:
    """The Reference must be URI="" (the whole envelope), not a fragment."""
    signed = sign(CREW_LIST, make_signer(ca)).replace(b'URI=""', b'URI="#content"', 1)
    assert_refused(check(ca, signed), 'Reference URI=""')


def test_an_unsigned_message_under_required_is_refused_without_a_field(ca: Authority) -> None:
    """Policy required: a message without a signature is refused E-SIGNATURE (no Field: there is none)."""
    result = check(ca, CREW_LIST, policy="required")
    assert result.outcome is SignatureOutcome.MISSING
    assert result.problem is not None
    assert result.problem.code == "E-SIGNATURE"
    assert result.problem.xpath is None


def test_an_unsigned_message_under_verify_if_present_passes_with_nothing_to_record(ca: Authority) -> None:
    """Policy verify-if-present: an unsigned message is not refused and records no signature."""
    result = check(ca, CREW_LIST)
    assert result == SignatureCheck()
    assert result.record() is None


def test_policy_off_ignores_even_a_broken_signature(ca: Authority) -> None:
    """Policy off: a signature is accepted unread (noted unchecked), as before the profile."""
    stranger = make_signer(make_ca("Someone Else's CA"))
    result = check(ca, sign(CREW_LIST, stranger), policy="off")
    assert result.outcome is SignatureOutcome.UNCHECKED
    assert result.problem is None
    record = result.record()
    assert record is not None
    assert record.outcome == "unchecked"
    assert record.subject is None


def test_without_a_trust_store_every_signature_is_refused(ca: Authority) -> None:
    """No trust store: no CA is trusted, so checking fails closed."""
    message = read_message(sign(CREW_LIST, make_signer(ca)))
    result = SignatureVerifier("verify-if-present", []).check(message.root, message.header.send_date)
    assert_refused(result, "no CA is trusted")


def test_problem_texts_never_quote_the_signer(ca: Authority) -> None:
    """A refusal's text is ours: it never carries the certificate subject (a person's name)."""
    expired = make_signer(ca, "Nguyễn Văn Đức", not_after=datetime(2026, 2, 1, tzinfo=UTC))
    result = check(ca, sign(CREW_LIST, expired))
    assert result.problem is not None
    assert "Nguy" not in result.problem.text
    assert result.signer is not None
    assert "Nguyễn Văn Đức" in result.signer.subject
