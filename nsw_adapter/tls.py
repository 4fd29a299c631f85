"""TLS contexts from settings: for the clients (a CA bundle, a client certificate) and the servers.

The intake (and the simulators) serve HTTPS when given a certificate and key, and require a
client certificate chaining to `client_ca` when one is set. Outgoing calls trust the system's
CAs unless a bundle is named, and present a certificate when the service requires one. A file
that cannot be read or does not hold what it should is a ConfigurationError naming it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from nsw_adapter.errors import ConfigurationError
from nsw_adapter.settings import IntakeSettings


def client_context(
    *, ca_bundle: Path | None = None, certificate: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A context for calling a service: its certificate checked (against `ca_bundle`, else the
    system's CAs) and its host name verified; ours presented when `certificate` is given (its key
    in `key`, or in the same file)."""
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"CA bundle {ca_bundle}: {_reason(exc)}") from None
    if certificate is not None:
        _load_chain(context, certificate, key)
    return context


def server_context(
    certificate: Path, key: Path | None = None, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A context for serving HTTPS with `certificate`; with `client_ca`, a client certificate
    chaining to it is required of every caller (the handshake fails without one)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, certificate, key)
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"client CA file {client_ca}: {_reason(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def intake_context(settings: IntakeSettings) -> ssl.SSLContext | None:
    """The intake's server context, or None when it serves plain HTTP (no tls_certificate)."""
    if settings.tls_certificate is None:
        return None
    return server_context(settings.tls_certificate, settings.tls_key, settings.tls_client_ca)


def _load_chain(context: ssl.SSLContext, certificate: Path, key: Path | None) -> None:
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        where = f"certificate {certificate}" + (f" with key {key}" if key is not None else "")
        raise ConfigurationError(f"{where}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "not readable"
    if isinstance(exc, ssl.SSLError):
        return f"not usable ({exc.reason or 'not PEM, or the key does not match'})"
    return str(exc) or type(exc).__name__
