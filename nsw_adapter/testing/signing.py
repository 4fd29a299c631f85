"""Signed NSW envelopes for tests and benchmarks: a throw-away test CA, signer certificates, XML-DSig.

Nothing here is kept as a sample (NOTES.md: signed test messages are made by the tests
themselves). Keys are small and fast (P-256 by default); RSA on request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: The sample envelopes' sendDates are in March 2026: these bracket them.
VALID_FROM, VALID_TO = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Authority:
    """A CA: its key and certificate."""

    key: PrivateKey
    certificate: x509.Certificate

    def pem(self) -> bytes:
        """The CA certificate as PEM (what a trust store file holds)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        """Write the CA certificate as a one-certificate trust store; returns the path."""
        path.write_bytes(self.pem())
        return path


@dataclass(frozen=True)
class Signer:
    """A declarant: its key, its certificate, and the intermediates to send after it."""

    key: PrivateKey
    certificate: x509.Certificate
    intermediates: list[x509.Certificate] = field(default_factory=list)


def _key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = "Test Root CA", *, key_kind: str = "ec") -> Authority:
    """A self-signed root CA valid 2020-2040."""
    key = _key(key_kind)
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, certificate)


def _usage(
    *, digital_signature: bool = False, content_commitment: bool = False, key_cert_sign: bool = False,
    crl_sign: bool = False, key_encipherment: bool = False,
) -> x509.KeyUsage:  # fmt: skip
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_signer(
    ca: Authority,
    common_name: str = "Công ty Đại lý Tàu biển Test",
    *,
    not_before: datetime = VALID_FROM,
    not_after: datetime = VALID_TO,
    key_kind: str = "ec",
    digital_signature: bool = True,
    non_repudiation: bool = True,
) -> Signer:
    """An end-entity certificate issued by `ca` for signing declarations."""
    key = _key(key_kind)
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _usage(
                digital_signature=digital_signature,
                content_commitment=non_repudiation,
                key_encipherment=not (digital_signature or non_repudiation),
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Signer(key, certificate)


class _AnyAlgorithmSigner(XMLSigner):
    """signxml refuses to make SHA-1 signatures; the tests need one to prove it is refused."""

    def check_deprecated_methods(self) -> None:
        return None


def sign(
    envelope: bytes | str,
    signer: Signer,
    *,
    algorithm: str | None = None,
    digest: str = "sha256",
    c14n: str = EXC_C14N,
) -> bytes:
    """The envelope with an enveloped ds:Signature as the last child of Body (after Content)."""
    data = envelope.encode("utf-8") if isinstance(envelope, str) else envelope
    root = etree.fromstring(data)
    body = root.find("Body")
    assert body is not None
    etree.SubElement(body, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    if algorithm is None:
        algorithm = "rsa-sha256" if isinstance(signer.key, rsa.RSAPrivateKey) else "ecdsa-sha256"
    xml_signer = _AnyAlgorithmSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=algorithm,
        digest_algorithm=digest,
        c14n_algorithm=c14n,
    )
    chain = [signer.certificate, *signer.intermediates]
    pems = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain]
    signed = xml_signer.sign(root, key=signer.key, cert=pems)
    assert signed.find(f"Body/{{{DS}}}Signature") is not None  # in place of the placeholder
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
