"""GetProcessingStatus answers read by the real client over a loopback socket: the contract's
supplement samples, and a state from a newer portal that this adapter's schema copy does not know."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from nsw_adapter.clients.portal import PortalState, Status, ZeepPortalClient, parse_portal_time
from nsw_adapter.errors import PermanentError
from tests.support.loopback import Answer, HostileService, answer_with, soap

pytestmark = pytest.mark.timeout(30)

Serve = Callable[[Answer], HostileService]


def _reply(*statuses: bytes) -> bytes:
    """A GetProcessingStatusResponse holding the given Status elements (their XML prologs and
    comments taken off)."""
    bodies = [re.sub(rb"<\?xml[^>]*\?>|<!--.*?-->", b"", s, flags=re.S).strip() for s in statuses]
    return soap(
        b'<GetProcessingStatusResponse xmlns="urn:vn:bienphong:portal:1">'
        + b"".join(bodies)
        + b"</GetProcessingStatusResponse>"
    )


def _statuses(serve: Serve, reply: bytes, numbers: list[str]) -> list[Status]:
    service = serve(answer_with(reply))
    client = ZeepPortalClient(service.url, "u", "p", timeout_seconds=5)
    try:
        return client.statuses(numbers)
    finally:
        client.close()


def test_the_supplement_sample_is_read_with_its_request(serve: Serve, samples: Path) -> None:
    """status-supplement-requested.xml: the state, and the request's number, times, officer and items."""
    reply = _reply((samples / "bgp" / "status-supplement-requested.xml").read_bytes())
    [status] = _statuses(serve, reply, ["CKCHPG-2026-004517"])
    assert status.state is PortalState.SUPPLEMENT_REQUESTED
    assert status.decided_at is None
    assert status.officer is None
    request = status.supplement
    assert request is not None
    assert request.request_number == "CKCHPG-2026-YC000123"
    assert request.requested_at == parse_portal_time("12/03/2026 10:05")
    assert request.respond_by == parse_portal_time("13/03/2026 17:00")
    assert request.officer == "Đại úy Lê Quang Huy"
    assert [(i.code, i.field) for i in request.items] == [
        ("BG-SUPP-DOC", "/bgp:Submission/bgp:Persons/bgp:Person[19]/bgp:DocNumber"),
        ("BG-SUPP-OTHER", None),
    ]
    assert request.items[0].text.startswith("Thuyền viên số 19")


def test_the_expired_sample_is_a_rejection_without_officer_or_field(serve: Serve, samples: Path) -> None:
    reply = _reply((samples / "bgp" / "status-supplement-expired.xml").read_bytes())
    [status] = _statuses(serve, reply, ["CKCHPG-2026-004517"])
    assert status.state is PortalState.REJECTED
    assert status.officer is None
    assert status.supplement is None
    assert [(r.code, r.field) for r in status.reasons] == [("BG-SUPP-EXPIRED", None)]


_NEWER = b"""<Status xmlns="urn:vn:bienphong:portal:1">
  <ReceiptNumber>CKCHPG-2026-004518</ReceiptNumber>
  <State>ON_HOLD</State>
  <HoldReason><Code>BG-HOLD-X</Code></HoldReason>
</Status>"""


def test_a_newer_portals_state_is_read_as_unknown_beside_known_ones(serve: Serve, samples: Path) -> None:
    """A state the schema copy does not know, with an element it does not know either: that Status
    reads as UNKNOWN (its word kept), the others in the same answer as usual."""
    reply = _reply(_NEWER, (samples / "bgp" / "status-cleared.xml").read_bytes())
    unknown, cleared = _statuses(serve, reply, ["CKCHPG-2026-004518", "CKCHPG-2026-004517"])
    assert unknown == Status("CKCHPG-2026-004518", PortalState.UNKNOWN, raw_state="ON_HOLD")
    assert cleared.state is PortalState.CLEARED
    assert cleared.clearance_number


def test_an_unknown_state_alone_needs_no_second_reading(serve: Serve) -> None:
    reply = _reply(
        b'<Status xmlns="urn:vn:bienphong:portal:1"><ReceiptNumber>CKCHPG-2026-000001</ReceiptNumber>'
        b"<State>ON_HOLD</State></Status>"
    )
    [status] = _statuses(serve, reply, ["CKCHPG-2026-000001"])
    assert status.state is PortalState.UNKNOWN
    assert status.raw_state == "ON_HOLD"


def test_an_unknown_element_in_a_known_state_is_still_refused(serve: Serve) -> None:
    """Only a newer state's Status is read leniently: a CLEARED carrying what the schema does not
    know is a wrong answer, refused as before."""
    reply = _reply(
        b'<Status xmlns="urn:vn:bienphong:portal:1"><ReceiptNumber>CKCHPG-2026-000001</ReceiptNumber>'
        b"<State>CLEARED</State><Surprise/></Status>"
    )
    with pytest.raises(PermanentError):
        _statuses(serve, reply, ["CKCHPG-2026-000001"])
