"""TLS over loopback with a CA the tests make: the intake serving HTTPS (optionally requiring client
certificates), a portal requiring our client certificate, CA bundles and a forward proxy."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nsw_adapter.clients import RemoteTransientError, ZeepPortalClient
from nsw_adapter.clients.transport import Network
from nsw_adapter.errors import ConfigurationError
from nsw_adapter.settings import IntakeSettings, Settings
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.store import SqlStore
from nsw_adapter.testing.pushes import XML, soap_body
from nsw_adapter.tls import client_context, intake_context, server_context
from nsw_adapter.worker import build_context
from tests.support.intake_client import answer_of, running_intake, settings
from tests.support.tls_loopback import ForwardProxy, TlsFiles, make_tls_files

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"
GD = SAMPLES / "nsw" / "valid" / "arrival-general-cargo" / "50-general-declaration.xml"
SUBMISSION = SAMPLES / "bgp" / "submissions" / "arrival-general-cargo.xml"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_portal(pki: TlsFiles) -> Iterator[PortalSimulator]:
    """The portal simulator over HTTPS, refusing any caller without a certificate from the test CA."""
    context = server_context(pki.server_certificate, pki.server_key, client_ca=pki.ca)
    with PortalSimulator(decision_delay=0.1, ssl_context=context) as simulator:
        yield simulator


def with_certificate(pki: TlsFiles, **changes: object) -> Network:
    values: dict[str, object] = {
        "ca_bundle": pki.ca,
        "client_certificate": pki.client_certificate,
        "client_key": pki.client_key,
    }
    values.update(changes)
    return Network(**values)  # type: ignore[arg-type]


def test_intake_serves_https_with_its_certificate(store: SqlStore, pki: TlsFiles) -> None:
    """An intake given a certificate and key answers a push over TLS (checked against the test CA) with 99."""
    config = settings(tls_certificate=pki.server_certificate, tls_key=pki.server_key)
    context = intake_context(config)
    assert context is not None
    with running_intake(store, config, ssl_context=context) as url:
        assert url.startswith("https://")
        reply = requests.post(
            url, data=soap_body(GD.read_bytes()), headers=XML, verify=str(pki.ca), timeout=10
        )
        with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know the test CA
            requests.post(url, data=soap_body(GD.read_bytes()), headers=XML, timeout=10)
    assert answer_of(reply.content).findtext("Header/Subject/function") == "99"


def test_intake_requiring_client_certificates_refuses_callers_without_one(
    store: SqlStore, pki: TlsFiles
) -> None:
    """With tls_client_ca a handshake without a client certificate fails; one with that CA's passes."""
    config = settings(tls_certificate=pki.server_certificate, tls_key=pki.server_key, tls_client_ca=pki.ca)
    with running_intake(store, config, ssl_context=intake_context(config)) as url:
        body = soap_body(GD.read_bytes())
        with pytest.raises(requests.exceptions.RequestException):
            requests.post(url, data=body, headers=XML, verify=str(pki.ca), timeout=10)
        reply = requests.post(
            url,
            data=body,
            headers=XML,
            verify=str(pki.ca),
            cert=(str(pki.client_certificate), str(pki.client_key)),
            timeout=10,
        )
    assert answer_of(reply.content).findtext("Header/Subject/function") == "99"


def test_plain_intake_has_no_tls_context() -> None:
    """Without tls_certificate the intake serves plain HTTP (e.g. behind a TLS-terminating proxy)."""
    assert intake_context(IntakeSettings()) is None


def test_portal_client_presents_its_certificate(tls_portal: PortalSimulator, pki: TlsFiles) -> None:
    """The portal client with a CA bundle and a client certificate submits over mutual TLS."""
    assert tls_portal.url.startswith("https://")
    client = ZeepPortalClient(
        tls_portal.url, "demo", "demo", timeout_seconds=5, network=with_certificate(pki)
    )
    receipt = client.submit(SUBMISSION.read_bytes())
    assert receipt.number
    assert client.transport.last_status == 200


def test_portal_client_without_certificate_or_ca_fails_the_handshake(
    tls_portal: PortalSimulator, pki: TlsFiles
) -> None:
    """No client certificate, or no CA bundle for the portal's CA: a transient TLS failure, named so."""
    anonymous = with_certificate(pki, client_certificate=None, client_key=None)
    client = ZeepPortalClient(tls_portal.url, "demo", "demo", timeout_seconds=5, network=anonymous)
    with pytest.raises(RemoteTransientError, match=r"portal (TLS handshake failed|connection failed)"):
        client.statuses(["CKCHPG-2026-000001"])
    untrusting = ZeepPortalClient(
        tls_portal.url, "demo", "demo", timeout_seconds=5, network=with_certificate(pki, ca_bundle=None)
    )
    with pytest.raises(RemoteTransientError, match="TLS handshake failed: certificate verify failed"):
        untrusting.statuses(["CKCHPG-2026-000001"])


def test_settings_reach_the_clients_the_loops_use(tls_portal: PortalSimulator, pki: TlsFiles) -> None:
    """[portal] ca_bundle, client_certificate and client_key are what the worker's portal client uses."""
    configured = Settings.model_validate(
        {
            "portal": {
                "url": tls_portal.url,
                "ca_bundle": str(pki.ca),
                "client_certificate": str(pki.client_certificate),
                "client_key": str(pki.client_key),
            }
        }
    )
    client = build_context(configured, store=None).portal_factory()  # type: ignore[arg-type]
    assert client.submit(SUBMISSION.read_bytes()).number


def test_https_goes_through_the_proxy_with_connect(tls_portal: PortalSimulator, pki: TlsFiles) -> None:
    """With a proxy, the call is tunnelled with CONNECT, authenticated as the proxy URL says."""
    proxy = ForwardProxy(required_auth="Basic " + base64.b64encode(b"ops:p%ss").decode())
    try:
        host_port = tls_portal.base_url.removeprefix("https://")
        network = with_certificate(pki, proxy=proxy.url.replace("http://", "http://ops:p%25ss@"))
        client = ZeepPortalClient(tls_portal.url, "demo", "demo", timeout_seconds=5, network=network)
        assert client.submit(SUBMISSION.read_bytes()).number
        refused = ZeepPortalClient(
            tls_portal.url, "demo", "demo", timeout_seconds=5, network=with_certificate(pki, proxy=proxy.url)
        )
        with pytest.raises(RemoteTransientError, match="proxy"):
            refused.statuses(["CKCHPG-2026-000001"])
    finally:
        proxy.close()
    assert proxy.requests[0] == f"CONNECT {host_port}"


def test_plain_http_goes_through_the_proxy() -> None:
    """A plain-HTTP service is called through the proxy with the absolute URL."""
    proxy = ForwardProxy()
    try:
        with PortalSimulator(decision_delay=0.1) as portal:
            client = ZeepPortalClient(
                portal.url, "demo", "demo", timeout_seconds=5, network=Network(proxy=proxy.url)
            )
            assert client.submit(SUBMISSION.read_bytes()).number
    finally:
        proxy.close()
    assert proxy.requests == [f"POST {portal.url}"]


def test_unusable_files_are_one_line_errors_naming_them(tmp_path: Path, pki: TlsFiles) -> None:
    """A missing CA bundle, or a key not the certificate's, is a ConfigurationError naming the file."""
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigurationError, match=re.escape(f"CA bundle {missing}: no such file")):
        client_context(ca_bundle=missing)
    with pytest.raises(
        ConfigurationError, match=r"certificate .*server\.crt with key .*client\.key: not usable"
    ):
        server_context(pki.server_certificate, pki.client_key)
