"""TLS over loopback for tests: server and client certificates from the test CA (testing/signing.py)
as PEM files, and a forward proxy on loopback that counts what it carries.

Everything is made per test run and never kept (NOTES.md: test keys are made by the tests).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from nsw_adapter.testing.signing import Authority, PrivateKey, _key, _name, make_ca


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one test PKI: the CA, a server for 127.0.0.1/localhost, and a client."""

    ca: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path


def _issue(
    ca: Authority, common_name: str, usage: x509.ObjectIdentifier
) -> tuple[x509.Certificate, PrivateKey]:
    key = _key("ec")
    now = datetime.now(UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate, key


def _write(path: Path, certificate: x509.Certificate, key: PrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def make_tls_files(folder: Path, ca: Authority | None = None) -> TlsFiles:
    """A test CA (or `ca`) with a server and a client certificate, written into `folder`."""
    ca = ca or make_ca("Test TLS CA")
    server_cert, server_key = _write(
        folder / "server", *_issue(ca, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH)
    )
    client_cert, client_key = _write(
        folder / "client", *_issue(ca, "adapter", ExtendedKeyUsageOID.CLIENT_AUTH)
    )
    return TlsFiles(ca.write(folder / "ca.pem"), server_cert, server_key, client_cert, client_key)


class ForwardProxy:
    """An HTTP proxy on loopback: CONNECT tunnels (HTTPS) and absolute-URI requests (plain HTTP, one
    request per connection). `requests` counts the request lines it was sent, e.g. "CONNECT
    127.0.0.1:4443"; with `required_auth` it answers 407 to any request without that
    Proxy-Authorization header value."""

    def __init__(self, required_auth: str | None = None) -> None:
        self.requests: list[str] = []
        self.required_auth = required_auth
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            self.requests.append(f"{method} {target}")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
            }
            if self.required_auth is not None and headers.get("proxy-authorization") != self.required_auth:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                upstream = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80))
                path = url.path + (f"?{url.query}" if url.query else "")
                kept = [line for line in lines[1:] if not line.lower().startswith(("proxy-", "connection:"))]
                request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
                upstream.sendall(request.encode("latin-1") + b"\r\n\r\n" + rest)
                rest = b""
            with upstream:
                if rest:
                    upstream.sendall(rest)
                _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 10)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
                if data:
                    (b if sock is a else a).sendall(data)
            except OSError:  # either side reset: the tunnel ends, as a proxy's would
                return
            if not data:
                return
