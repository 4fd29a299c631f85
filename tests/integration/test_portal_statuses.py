"""GetProcessingStatus answers read by the real client over a loopback socket: the contract's
supplement samples, and a state from a newer portal that this adapter's schema copy does not know."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from nsw_adapter.clients.portal import PortalState, Status, ZeepPortalClient, parse_portal_time
from nsw_adapter.errors import PermanentError
from nsw_adapter.mapping.lineage import Lineage
from nsw_adapter.results import ResultContext, decided, is_supplement_expiry, supplement_requested
from nsw_adapter.translate import translate
from nsw_adapter.xml import schema
from tests.support.loopback import Answer, HostileService, answer_with, soap

pytestmark = pytest.mark.timeout(30)

Serve = Callable[[Answer], HostileService]
CARGO = ResultContext("HPH-2026-000123", "1", "NSW2026031209142700001")


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


def _comparable(data: bytes) -> bytes:
    """An envelope without what differs on every build (messageId, sendDate) and comments."""
    root = etree.fromstring(data, parser=etree.XMLParser(remove_comments=True, remove_blank_text=True))
    for path in ("Header/Reference/messageId", "Header/Subject/sendDate"):
        node = root.find(path)
        assert node is not None
        node.text = "X"
    return bytes(etree.tostring(root, method="c14n"))


@pytest.fixture(scope="module")
def cargo_lineage(samples: Path) -> Callable[[str], tuple[str, str] | None]:
    """The cargo arrival's own lineage, as the worker keeps it: submission XPath -> NSW document."""
    folder = samples / "nsw" / "valid" / "arrival-general-cargo"
    translation = translate([p.read_bytes() for p in sorted(folder.glob("*.xml"))], client_message_id="x")
    assert translation.lineage is not None
    return Lineage.from_bytes(translation.lineage.to_bytes()).locate


@pytest.mark.parametrize(
    ("status_sample", "result_sample"),
    [
        ("status-supplement-requested.xml", "result-25-supplement-requested.xml"),
        ("status-supplement-expired.xml", "result-22-supplement-expired.xml"),
    ],
)
def test_the_status_samples_become_the_result_samples(
    serve: Serve,
    samples: Path,
    cargo_lineage: Callable[[str], tuple[str, str] | None],
    status_sample: str,
    result_sample: str,
) -> None:
    """Round trip: the status sample read by the client, the Result built from it with the dossier's
    lineage equal to the contract's Result sample (but for messageId and sendDate)."""
    [status] = _statuses(
        serve, _reply((samples / "bgp" / status_sample).read_bytes()), ["CKCHPG-2026-004517"]
    )
    if status.state is PortalState.SUPPLEMENT_REQUESTED:
        message = supplement_requested(CARGO, status, cargo_lineage)
    else:
        assert is_supplement_expiry(status)
        built = decided(CARGO, status, cargo_lineage)
        assert built is not None
        message = built
    root = etree.fromstring(message.payload)
    validator = schema("envelope")
    assert validator.validate(root), validator.error_log
    expected = (samples / "nsw" / "results" / result_sample).read_bytes()
    assert _comparable(message.payload) == _comparable(expected)
