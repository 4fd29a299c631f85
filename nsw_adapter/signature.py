"""The declarant's ds:Signature on a pushed envelope, checked under the contract's signature profile.

Contract README, "Signed declarations": one `ds:Signature` in `Body` after `Content`, enveloped
over the whole envelope (one `Reference URI=""`, transforms enveloped-signature then exclusive
canonicalisation, nothing else); digests SHA-256/384/512; RSA (2048 bits or more) or ECDSA
(P-256 or larger) with one of those digests; `KeyInfo/X509Data` carries the signer's certificate
first (intermediates may follow), which chains to a CA the agency trusts, was valid at the
message's `sendDate` and allows digitalSignature or nonRepudiation. Anything else is refused
with one `E-SIGNATURE` problem.

Who does what: `cryptography`'s X.509 path validation checks the chain, the validity at
`sendDate` and the key usage (our trust store, loaded once); signxml then checks the XML
signature itself with that certificate (digests, canonicalisation, signature value). The
profile's shape (where the Signature is, its one Reference and its transforms) is checked here
first, because signxml accepts more than the contract does.

The policy (`IntakeSettings.signature_policy`): `off` reads no signature (a present one is
noted `unchecked`), `verify-if-present` checks one when there is one, `required` also refuses
an unsigned message. Problem texts are our own: library messages may quote a certificate's
subject, which can name a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from nsw_adapter import texts
from nsw_adapter.errors import Problem
from nsw_adapter.store import SignatureRecord
from nsw_adapter.xml import thread_parser

log = structlog.get_logger(__name__)

DS = "http://www.w3.org/2000/09/xmldsig#"
_NS = {"ds": DS}
SIGNATURE_XPATH = "/Envelope/Body/Signature"

#: The settings' spelling of the policy (IntakeSettings.signature_policy).
PolicyName = Literal["off", "verify-if-present", "required"]


class SignaturePolicy(StrEnum):
    """Whether signatures are read, and whether they are required (the receiving agency's setting)."""

    OFF = "off"
    VERIFY_IF_PRESENT = "verify-if-present"
    REQUIRED = "required"


class SignatureOutcome(StrEnum):
    """What became of a message's signature; kept on its audit row."""

    VERIFIED = "verified"  # checked under the profile: the signer is kept too
    FAILED = "failed"  # present and refused (E-SIGNATURE)
    MISSING = "missing"  # absent while the policy requires one (E-SIGNATURE)
    UNCHECKED = "unchecked"  # present, policy off: accepted unread, as before the profile


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed, from the signer's certificate: what the audit trail keeps (no key material)."""

    subject: str  # RFC 4514; may name a person: stored for audit, never logged
    issuer: str  # RFC 4514
    serial: str  # the certificate's serial number, lower-case hex (serials are up to 20 bytes)
    sha256: str  # SHA-256 thumbprint of the DER certificate, lower-case hex


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The verdict on one message: its outcome (None: unsigned and not required), signer, and
    the E-SIGNATURE problem when it is refused."""

    outcome: SignatureOutcome | None = None
    signer: Signer | None = None
    problem: Problem | None = None

    @property
    def refused(self) -> bool:
        """True when the message must be answered 22 E-SIGNATURE."""
        return self.problem is not None

    def record(self) -> SignatureRecord | None:
        """What the audit row keeps (None: nothing to keep, the message was unsigned)."""
        if self.outcome is None:
            return None
        signer = self.signer
        if signer is None:
            return SignatureRecord(self.outcome.value)
        return SignatureRecord(
            self.outcome.value, signer.subject, signer.issuer, signer.serial, signer.sha256
        )


#: Digests and signature methods of the profile: SHA-256 or stronger (SHA-2 family) only.
DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
_EXC_C14N_WITH_COMMENTS = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value
_SIGNATURE_URIS = frozenset(m.value for m in SIGNATURE_METHODS)
_DIGEST_URIS = frozenset(d.value for d in DIGESTS)
_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256
_HAS_COMMENT = etree.XPath("boolean(//comment())")


class _Refused(Exception):
    """One reason the signature does not verify (its text is ours, free of personal data)."""


def load_trust_store(path: Path | None) -> list[x509.Certificate]:
    """The CA certificates of a PEM file (none without a file: then no signer is trusted)."""
    if path is None:
        return []
    return x509.load_pem_x509_certificates(path.read_bytes())


class SignatureVerifier:
    """Checks pushed envelopes' signatures under one policy and trust store (thread-safe)."""

    def __init__(self, policy: SignaturePolicy | str, trust_store: Sequence[x509.Certificate]) -> None:
        self.policy = SignaturePolicy(policy)
        self._anchors = list(trust_store)
        self._store = Store(self._anchors) if self._anchors else None
        # The signer: an end-entity certificate that allows digitalSignature or nonRepudiation.
        self._ee_policy = ExtensionPolicy.permit_all().require_present(
            x509.KeyUsage, Criticality.AGNOSTIC, _check_key_usage
        )
        if self.policy is not SignaturePolicy.OFF and self._store is None:
            log.warning("signature.no_trust_store", signature_policy=self.policy.value)

    @classmethod
    def from_settings(cls, policy: str, trust_store: Path | None) -> SignatureVerifier:
        """A verifier for the intake's settings (the trust store file read once, here)."""
        return cls(policy, load_trust_store(trust_store))

    def check(self, root: etree._Element, send_date: datetime) -> SignatureCheck:
        """The verdict on one parsed envelope (read_message's root) sent at `send_date` (aware)."""
        signatures = root.findall(".//ds:Signature", _NS)
        if not signatures:
            if self.policy is SignaturePolicy.REQUIRED:
                return SignatureCheck(
                    SignatureOutcome.MISSING,
                    problem=texts.problem("E-SIGNATURE", "E-SIGNATURE.missing"),
                )
            return SignatureCheck()
        if self.policy is SignaturePolicy.OFF:
            return SignatureCheck(SignatureOutcome.UNCHECKED)
        signer: Signer | None = None
        try:
            signature = self._the_signature(signatures)
            chain = self._certificates(signature)
            signer = describe(chain[0])
            self._check_profile(signature)
            self._check_chain(chain, send_date)
            self._check_signature(root, chain[0], send_date)
        except _Refused as reason:
            thumbprint = None if signer is None else signer.sha256
            log.info("signature.refused", signature_failure=str(reason), signer_sha256=thumbprint)
            refusal = texts.problem("E-SIGNATURE", "E-SIGNATURE.failed", SIGNATURE_XPATH, reason=reason)
            return SignatureCheck(SignatureOutcome.FAILED, signer, refusal)
        return SignatureCheck(SignatureOutcome.VERIFIED, signer)

    # --- the profile, step by step -------------------------------------------------------------

    @staticmethod
    def _the_signature(signatures: list[etree._Element]) -> etree._Element:
        """The one Signature, a child of Body."""
        if len(signatures) != 1:
            raise _Refused(f"{len(signatures)} signatures, where the profile allows one")
        signature = signatures[0]
        body = signature.getparent()
        envelope = None if body is None else body.getparent()
        if body is None or body.tag != "Body" or envelope is None or envelope.tag != "Envelope":
            raise _Refused("the Signature is not in Body")
        return signature

    @staticmethod
    def _certificates(signature: etree._Element) -> list[x509.Certificate]:
        """The certificates of KeyInfo/X509Data, the signer's first."""
        der = [
            (element.text or "").strip()
            for element in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
        ]
        if not der:
            raise _Refused("KeyInfo/X509Data carries no certificate")
        try:
            return [x509.load_pem_x509_certificate(_pem(text)) for text in der]
        except ValueError:
            raise _Refused("a certificate in X509Data cannot be read") from None

    @staticmethod
    def _check_profile(signature: etree._Element) -> None:
        """One Reference URI="", enveloped then exclusive c14n, SHA-2 digests, RSA or ECDSA."""
        references = signature.findall("ds:SignedInfo/ds:Reference", _NS)
        if len(references) != 1 or references[0].get("URI") != "":
            raise _Refused('the profile signs the whole envelope with one Reference URI=""')
        transforms = [t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", _NS)]
        if transforms not in ([_ENVELOPED, _EXC_C14N], [_ENVELOPED, _EXC_C14N_WITH_COMMENTS]):
            raise _Refused("the transforms are not enveloped-signature then exclusive canonicalisation")
        if transforms[1] == _EXC_C14N and _HAS_COMMENT(signature.getroottree()):
            # Unsigned, yet a comment inside a value splits the text the adapter reads ("12<!---->34").
            raise _Refused("the envelope holds XML comments, which its canonicalisation leaves unsigned")
        method = signature.find("ds:SignedInfo/ds:SignatureMethod", _NS)
        digest = references[0].find("ds:DigestMethod", _NS)
        if (
            method is None
            or method.get("Algorithm") not in _SIGNATURE_URIS
            or digest is None
            or digest.get("Algorithm") not in _DIGEST_URIS
        ):
            raise _Refused("its algorithm is not allowed (SHA-256 or stronger, RSA or ECDSA only)")

    def _check_chain(self, chain: list[x509.Certificate], send_date: datetime) -> None:
        """The signer's certificate chains to a trusted CA, all valid at sendDate, usage allowed."""
        leaf = chain[0]
        key = leaf.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < _MIN_RSA_BITS:
                raise _Refused(f"an RSA key of {key.key_size} bits (at least {_MIN_RSA_BITS})")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.key_size < _MIN_EC_BITS:
                raise _Refused(f"an ECDSA key on a {key.curve.key_size}-bit curve (at least P-256)")
        else:
            raise _Refused("the signer's key is neither RSA nor ECDSA")
        moment = send_date.astimezone(UTC)
        if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
            raise _Refused("the signer's certificate was not valid at the message's sendDate")
        if self._store is None:
            raise _Refused("no CA is trusted (the intake has no trust store)")
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(moment)
            .extension_policies(ee_policy=self._ee_policy, ca_policy=ExtensionPolicy.webpki_defaults_ca())
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, chain[1:])
        except VerificationError as exc:
            raise _Refused(_chain_reason(str(exc))) from None

    def _check_signature(self, root: etree._Element, signer: x509.Certificate, send_date: datetime) -> None:
        """The XML signature itself, with the signer's (already validated) certificate."""
        config = SignatureConfiguration(
            require_x509=True,
            location="./Body/",
            expect_references=1,
            signature_methods=SIGNATURE_METHODS,
            digest_algorithms=DIGESTS,
            verification_time=send_date.astimezone(UTC),
        )
        try:
            # One XMLVerifier per call: verify() keeps per-call state on the instance.
            XMLVerifier().verify(root, x509_cert=signer, expect_config=config, parser=self._parser())
        except InvalidDigest:
            raise _Refused("the envelope was changed after it was signed (digest mismatch)") from None
        except InvalidCertificate:
            raise _Refused("the signer's certificate was not valid at the message's sendDate") from None
        except InvalidSignature:
            raise _Refused("the signature value does not match the signed content") from None
        except SignXMLException as exc:
            raise _Refused(_input_reason(str(exc))) from None
        except (etree.DocumentInvalid, ValueError):
            raise _Refused("the Signature element is not valid XML-DSig") from None

    def _parser(self) -> etree.XMLParser:
        """signxml re-parses copies of the (already hardened-parsed) envelope: with the same refusals."""
        return thread_parser()


def describe(certificate: x509.Certificate) -> Signer:
    """Subject, issuer, serial and SHA-256 thumbprint of a certificate."""
    return Signer(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=f"{certificate.serial_number:x}",
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
    )


def _check_key_usage(_policy: object, _certificate: x509.Certificate, usage: x509.KeyUsage) -> None:
    """The profile: a signer's certificate allows digitalSignature or nonRepudiation."""
    if not (usage.digital_signature or usage.content_commitment):
        raise ValueError("key usage allows neither digitalSignature nor nonRepudiation")


def _pem(base64_der: str) -> bytes:
    body = "".join(base64_der.split())
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode("ascii")


def _chain_reason(message: str) -> str:
    """A path-validation failure in our words (cryptography's message may quote a subject)."""
    lowered = message.lower()
    if "key usage" in lowered or "keyusage" in lowered or "digitalsignature" in lowered:
        return "the signer's certificate allows neither digitalSignature nor nonRepudiation"
    if "expired" in lowered or "not yet valid" in lowered or "validity" in lowered:
        return "a certificate of the chain was not valid at the message's sendDate"
    return "the signer's certificate does not chain to a trusted CA"


def _input_reason(message: str) -> str:
    """A signxml refusal of the signature's form in our words."""
    if "forbidden by configuration" in message:
        return "its algorithm is not allowed (SHA-256 or stronger, RSA or ECDSA only)"
    if "reference" in message.lower():
        return "its Reference is not the one the profile allows"
    return "the Signature element is not one the profile allows"
