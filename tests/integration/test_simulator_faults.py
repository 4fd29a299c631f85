"""Fault injection on both simulators, seen by zeep clients over real loopback sockets."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from zeep import Client
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from nsw_adapter.simulators import NswSimulator, PortalSimulator
from nsw_adapter.simulators.faults import FaultInjector, FaultSpecError, parse_fault_spec
from tests.support.portal_service import make_service, submission, submit

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
PORTAL_WSDL = str(ROOT / "schemas" / "bgp" / "portal.wsdl")
NSW_WSDL = str(ROOT / "schemas" / "nsw" / "nsw.wsdl")
BGP = "urn:vn:bienphong:portal:1"
RESULT = (ROOT / "fixtures" / "samples" / "nsw" / "results" / "result-21-accepted.xml").read_text(
    encoding="utf-8"
)


def portal_service(url: str, timeout: float = 5) -> Any:
    """A zeep portal service with the demo user's digest token."""
    client = Client(
        PORTAL_WSDL,
        wsse=UsernameToken("demo", "demo", use_digest=True),
        transport=Transport(operation_timeout=timeout, timeout=timeout),
    )
    return client.create_service(f"{{{BGP}}}BorderGuardPortalBinding", url)


def nsw_service(url: str, timeout: float = 5) -> Any:
    """A zeep NSW gateway service with the demo user's digest token."""
    client = Client(
        NSW_WSDL,
        wsse=UsernameToken("demo", "demo", use_digest=True),
        transport=Transport(operation_timeout=timeout, timeout=timeout),
    )
    return client.create_service("{urn:vn:nsw:gateway:1}NswGatewayBinding", url)


def status_call(service: Any) -> Any:
    """A GetProcessingStatus of an unknown receipt: NOT_FOUND when no fault is injected."""
    return service.GetProcessingStatus(ReceiptNumber=["CKCHPG-2026-000001"])


def _not_found(service: Any) -> None:
    with pytest.raises(Fault) as caught:
        status_call(service)
    assert caught.value.detail.findtext(f".//{{{BGP}}}Code") == "NOT_FOUND"


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """The simulators stop their threads on exit."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and set(threading.enumerate()) - before:
        time.sleep(0.05)
    left = {t.name for t in set(threading.enumerate()) - before}
    assert not {name for name in left if name.endswith("simulator") or name.startswith("portal-worker")}


def test_http503_share(no_thread_leak: None) -> None:
    """http503=1 answers every SOAP request with HTTP 503, which zeep reports as a TransportError."""
    with PortalSimulator(faults="http503=1") as portal:
        with pytest.raises(TransportError) as caught:
            status_call(portal_service(portal.url))
        assert caught.value.status_code == 503
        assert portal.admin_state()["injected"]["http503"] == 1


def test_unavailable_share(no_thread_leak: None) -> None:
    """unavailable=1 answers soap:Server with PortalFault UNAVAILABLE."""
    with PortalSimulator(faults="unavailable=1") as portal:
        with pytest.raises(Fault) as caught:
            status_call(portal_service(portal.url))
        assert caught.value.code.endswith("Server")
        assert caught.value.detail.findtext(f".//{{{BGP}}}Code") == "UNAVAILABLE"
        assert portal.admin_state()["counters"]["fault_UNAVAILABLE"] == 1


def test_latency_delays_the_answer(no_thread_leak: None) -> None:
    """latency=0.3 delays each answer by 0.3 s, which is then normal."""
    with PortalSimulator(faults="latency=0.3") as portal:
        service = portal_service(portal.url)
        started = time.monotonic()
        _not_found(service)
        assert time.monotonic() - started >= 0.3


def test_hang_times_the_client_out(no_thread_leak: None) -> None:
    """hang=1:10 leaves the request unanswered: the client times out, and stopping does not wait 10 s."""
    started = time.monotonic()
    with PortalSimulator(faults="hang=1:10") as portal:
        with pytest.raises(requests.exceptions.Timeout):
            status_call(portal_service(portal.url, timeout=0.5))
        assert portal.admin_state()["injected"]["hang"] == 1
    assert time.monotonic() - started < 8


def test_hang_ends_by_dropping_the_connection(no_thread_leak: None) -> None:
    """After the hang the connection is dropped without an answer."""
    with PortalSimulator(faults="hang=1:0.3") as portal, pytest.raises(requests.exceptions.ConnectionError):
        status_call(portal_service(portal.url, timeout=5))


def test_reset_aborts_the_connection(no_thread_leak: None) -> None:
    """reset=1 aborts the connection, which the client sees as a connection error."""
    with PortalSimulator(faults="reset=1") as portal:
        with pytest.raises(requests.exceptions.ConnectionError):
            status_call(portal_service(portal.url))
        assert portal.admin_state()["injected"]["reset"] == 1


def test_outage_window(no_thread_leak: None) -> None:
    """outage=0-1 answers 503 during the first second after start, and normally afterwards."""
    with PortalSimulator(faults="outage=0-1") as portal:
        service = portal_service(portal.url)
        with pytest.raises(TransportError) as caught:
            status_call(service)
        assert caught.value.status_code == 503
        time.sleep(1.05)
        _not_found(service)
        assert portal.admin_state()["injected"]["outage"] == 1


def test_mixed_faults_are_reproducible(no_thread_leak: None) -> None:
    """The same seed gives the same sequence of outcomes over real HTTP."""

    def outcomes() -> list[str]:
        seen: list[str] = []
        with PortalSimulator(faults="seed=11,http503=0.3,unavailable=0.3") as portal:
            service = portal_service(portal.url)
            for _ in range(12):
                try:
                    status_call(service)
                except TransportError:
                    seen.append("503")
                except Fault as fault:
                    seen.append(fault.detail.findtext(f".//{{{BGP}}}Code") or "?")
        return seen

    first = outcomes()
    assert first == outcomes()
    assert {"503", "UNAVAILABLE", "NOT_FOUND"} <= set(first)


def test_admin_is_never_faulted(no_thread_leak: None) -> None:
    """Even with every SOAP request failing, /admin answers."""
    with PortalSimulator(faults="http503=1,outage=0-100") as portal:
        assert requests.get(f"{portal.base_url}/admin/state", timeout=5).status_code == 200
        assert requests.post(f"{portal.base_url}/admin/reset", timeout=5).status_code == 200


def test_nsw_gateway_faults(no_thread_leak: None) -> None:
    """On the NSW, unavailable is a soap:Server fault and http503 an HTTP 503."""
    with NswSimulator(faults="unavailable=1") as nsw:
        with pytest.raises(Fault) as caught:
            nsw_service(nsw.url).sendAndGetMessage(requestMessage=RESULT)
        assert caught.value.code.endswith("Server")
        assert nsw.admin_state()["injected"]["unavailable"] == 1
    with NswSimulator(faults="http503=1") as nsw, pytest.raises(TransportError) as transport_error:
        nsw_service(nsw.url).sendAndGetMessage(requestMessage=RESULT)
    assert transport_error.value.status_code == 503


def _unknown_dossier(answer: str) -> bool:
    """Whether the gateway's answer is the normal refusal of a Result for a dossier it never pushed."""
    return "<function>22</function>" in answer and "R-UNKNOWN-DOSSIER" in answer


def test_nsw_gateway_hang_times_the_client_out(no_thread_leak: None) -> None:
    """hang=1:10 on the NSW leaves sendAndGetMessage unanswered: the client times out; stopping is quick."""
    started = time.monotonic()
    with NswSimulator(faults="hang=1:10") as nsw:
        with pytest.raises(requests.exceptions.Timeout):
            nsw_service(nsw.url, timeout=0.5).sendAndGetMessage(requestMessage=RESULT)
        assert nsw.admin_state()["injected"]["hang"] == 1
    assert time.monotonic() - started < 8


def test_nsw_gateway_reset_aborts_the_connection(no_thread_leak: None) -> None:
    """reset=1 on the NSW aborts the connection, which the client sees as a connection error."""
    with NswSimulator(faults="reset=1") as nsw:
        with pytest.raises(requests.exceptions.ConnectionError):
            nsw_service(nsw.url).sendAndGetMessage(requestMessage=RESULT)
        assert nsw.admin_state()["injected"]["reset"] == 1


def test_nsw_gateway_outage_window(no_thread_leak: None) -> None:
    """outage=0-1 on the NSW answers HTTP 503 during the first second, and normally afterwards."""
    with NswSimulator(faults="outage=0-1") as nsw:
        service = nsw_service(nsw.url)
        with pytest.raises(TransportError) as caught:
            service.sendAndGetMessage(requestMessage=RESULT)
        assert caught.value.status_code == 503
        time.sleep(1.05)
        assert _unknown_dossier(service.sendAndGetMessage(requestMessage=RESULT))
        assert nsw.admin_state()["injected"]["outage"] == 1


LATENCY = "seed=3,latency=0.1-0.9"


@pytest.mark.parametrize("which", ["portal", "nsw"])
def test_latency_range_draws_a_delay_per_request(which: str, no_thread_leak: None) -> None:
    """latency=LOW-HIGH delays each answer by its own seeded draw from the range, then answers normally."""
    injector = FaultInjector(parse_fault_spec(LATENCY))
    expected = [injector.decide().delay for _ in range(4)]  # the simulator draws the same sequence
    assert all(0.1 <= delay <= 0.9 for delay in expected)
    assert max(expected) - min(expected) > 0.4, expected  # this seed spreads across the range
    simulator = PortalSimulator(faults=LATENCY) if which == "portal" else NswSimulator(faults=LATENCY)
    elapsed: list[float] = []
    with simulator:
        service = portal_service(simulator.url) if which == "portal" else nsw_service(simulator.url)
        for _ in expected:
            started = time.monotonic()
            if which == "portal":
                _not_found(service)
            else:
                assert _unknown_dossier(service.sendAndGetMessage(requestMessage=RESULT))
            elapsed.append(time.monotonic() - started)
        assert simulator.admin_state()["injected"]["latency"] == len(expected)
    assert all(took >= delay - 0.01 for took, delay in zip(elapsed, expected, strict=True)), elapsed
    fastest, slowest = expected.index(min(expected)), expected.index(max(expected))
    assert elapsed[slowest] - elapsed[fastest] > (expected[slowest] - expected[fastest]) / 2, elapsed


def test_lost_reply_is_processed_and_its_answer_dropped(no_thread_leak: None) -> None:
    """lost-reply=1: the portal records the submission, the caller sees the connection dropped; the
    same ClientMessageId again (faults off) gets the first receipt back as a duplicate."""
    with PortalSimulator(faults="lost-reply=1", decision_delay=60) as portal:
        with pytest.raises(requests.exceptions.ConnectionError):
            submit(make_service(portal.url), submission())
        state = portal.admin_state()
        assert state["injected"]["lost-reply"] == 1
        assert state["dossiers"]["HPH-2026-000123"]["submissions"] == 1
        portal.service.injector = FaultInjector()  # the faults off: the retry is answered
        again = submit(make_service(portal.url), submission())
        assert again.Duplicate is True
        assert portal.admin_state()["dossiers"]["HPH-2026-000123"]["submissions"] == 1


def test_lost_reply_on_the_nsw_gateway(no_thread_leak: None) -> None:
    """lost-reply=1 on the NSW: the Result is handled (the request counted), the answer dropped."""
    with NswSimulator(faults="lost-reply=1") as nsw:
        with pytest.raises(requests.exceptions.ConnectionError):
            nsw_service(nsw.url).sendAndGetMessage(requestMessage=RESULT)
        state = nsw.admin_state()
        assert state["injected"]["lost-reply"] == 1
        assert state["counters"]["requests"] == 1


def test_a_caller_gone_during_latency_is_still_processed_quietly(
    no_thread_leak: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller gives up during an injected latency: the portal still takes the submission (as a
    real server would) and logs no error or traceback for the disconnect."""
    caplog.set_level("INFO")
    with PortalSimulator(faults="latency=0.8", decision_delay=60) as portal:
        with pytest.raises(requests.exceptions.Timeout):
            submit(portal_service(portal.url, timeout=0.2), submission())
        deadline = time.monotonic() + 5
        while "HPH-2026-000123" not in portal.admin_state()["dossiers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert portal.admin_state()["dossiers"]["HPH-2026-000123"]["submissions"] == 1
        time.sleep(0.2)  # the dropped answer's write, if it were to fail loudly
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]


def test_lost_reply_spec() -> None:
    """lost-reply parses as a share and counts towards the shares' sum."""
    assert parse_fault_spec("lost-reply=0.25").lost_reply == 0.25
    with pytest.raises(FaultSpecError, match="lost-reply"):
        parse_fault_spec("reset=0.5,lost-reply=0.6")
