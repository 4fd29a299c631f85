"""The hot calls' answers read directly (clients/replies.py) agree with zeep's reading, on the
contract's samples; anything else is left to zeep (None), so faults stay zeep's to classify.
And the requests' cheaper making: the submission's bytes as they are, one TLS context shared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from nsw_adapter.clients import replies
from nsw_adapter.clients.nsw import ZeepNswClient
from nsw_adapter.clients.portal import ZeepPortalClient, _receipt, _status, direct_receipt, direct_statuses
from nsw_adapter.clients.transport import HttpResponse, Network, pool_manager, wrapped
from nsw_adapter.namespaces import GATEWAY_NS, PORTAL_NS
from nsw_adapter.testing.signing import make_ca

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"
RECEIPT = (SAMPLES / "bgp" / "receipt.xml").read_text(encoding="utf-8").split("?>", 1)[1]
NSW_ANSWERS = sorted((SAMPLES / "nsw" / "results").glob("*answer*.xml"))
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(body: str) -> bytes:
    return f'<s:Envelope xmlns:s="{SOAP}"><s:Header/><s:Body>{body}</s:Body></s:Envelope>'.encode()


def receipt_answer(receipt: str = RECEIPT, wrapper: str = "SubmitDeclarationResponse") -> bytes:
    return envelope(f'<p:{wrapper} xmlns:p="{PORTAL_NS}">{receipt}</p:{wrapper}>')


def nsw_answer(text: str) -> bytes:
    body = f"<g:sendAndGetMessageReturn>{escape(text)}</g:sendAndGetMessageReturn>"
    return envelope(
        f'<g:sendAndGetMessageResponse xmlns:g="{GATEWAY_NS}">{body}</g:sendAndGetMessageResponse>'
    )


@pytest.fixture(scope="module")
def portal() -> ZeepPortalClient:
    return ZeepPortalClient("http://127.0.0.1:9/portal", "demo", "demo", timeout_seconds=1)


@pytest.fixture(scope="module")
def nsw() -> ZeepNswClient:
    return ZeepNswClient("http://127.0.0.1:9/nsw", "demo", "demo", timeout_seconds=1)


def by_zeep(client: Any, operation: str, content: bytes) -> Any:
    binding = client._service._binding
    answer = HttpResponse(200, {"Content-Type": "text/xml; charset=utf-8"}, content)
    return binding.process_reply(client._client, binding.get(operation), answer)


@pytest.mark.parametrize("operation", ["SubmitDeclaration", "CancelDeclaration"])
@pytest.mark.parametrize(
    "receipt",
    [
        RECEIPT,
        RECEIPT.replace("<Duplicate>false", "<Duplicate>true"),
        RECEIPT.replace("<Duplicate>false", "<Duplicate>1"),
        RECEIPT.replace("<ReceivedAt>", "<!-- a comment --><ReceivedAt>"),
    ],
)
def test_a_receipt_read_directly_is_the_one_zeep_reads(
    portal: ZeepPortalClient, operation: str, receipt: str
) -> None:
    content = receipt_answer(receipt, f"{operation}Response")
    direct = direct_receipt(f"{operation}Response")(content)
    assert direct is not None
    assert direct == _receipt(by_zeep(portal, operation, content))


@pytest.mark.parametrize("sample", NSW_ANSWERS, ids=lambda path: path.name)
def test_an_nsw_answer_read_directly_is_the_one_zeep_reads(nsw: ZeepNswClient, sample: Path) -> None:
    content = nsw_answer(sample.read_text(encoding="utf-8"))
    direct = replies.nsw_answer_text(content)
    assert direct is not None
    assert direct == by_zeep(nsw, "sendAndGetMessage", content)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            receipt_answer(RECEIPT.replace("<Duplicate>false", "<Duplicate>maybe")), id="not-a-boolean"
        ),
        pytest.param(
            receipt_answer(RECEIPT.replace("</Receipt>", "<Extra>1</Extra></Receipt>")), id="unknown"
        ),
        pytest.param(
            receipt_answer(RECEIPT.replace("<ReceiptNumber>CKCHPG-2026-004517</ReceiptNumber>", "")),
            id="missing",
        ),
        pytest.param(receipt_answer(RECEIPT.replace("12/03/2026", "31/02/2026")), id="no-such-day"),
        pytest.param(receipt_answer(wrapper="CancelDeclarationResponse"), id="another-operation"),
        pytest.param(receipt_answer(RECEIPT + RECEIPT), id="two-receipts"),
        pytest.param(
            envelope(
                f"<s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring>"
                f'<detail><PortalFault xmlns="{PORTAL_NS}"><Code>AUTH</Code></PortalFault>'
                "</detail></s:Fault>"
            ),
            id="fault",
        ),
        pytest.param(b"<html>502 Bad Gateway</html>", id="not-soap"),
        pytest.param(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", id="dtd"),
        pytest.param(receipt_answer().replace(b"s:Envelope", b"s:Enveloppe"), id="not-an-envelope"),
    ],
)
def test_any_other_answer_is_left_to_zeep(content: bytes) -> None:
    assert direct_receipt("SubmitDeclarationResponse")(content) is None


@pytest.mark.parametrize(
    "content",
    [
        nsw_answer(""),
        envelope(f'<g:sendAndGetMessageResponse xmlns:g="{GATEWAY_NS}"/>'),
        envelope(
            f'<g:sendAndGetMessageResponse xmlns:g="{GATEWAY_NS}"><g:sendAndGetMessageReturn><x/>'
            "</g:sendAndGetMessageReturn></g:sendAndGetMessageResponse>"
        ),
        envelope("<s:Fault><faultcode>s:Server</faultcode><faultstring>busy</faultstring></s:Fault>"),
    ],
    ids=["empty", "no-return", "markup-in-a-string", "fault"],
)
def test_an_nsw_answer_of_another_shape_is_left_to_zeep(content: bytes) -> None:
    assert replies.nsw_answer_text(content) is None


def test_clients_share_one_tls_context_until_a_file_changes(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(make_ca().pem())
    network = Network(ca_bundle=bundle)
    first, second = pool_manager(network, 1), pool_manager(Network(ca_bundle=bundle), 1)
    assert first.connection_pool_kw["ssl_context"] is second.connection_pool_kw["ssl_context"]
    bundle.write_bytes(make_ca().pem() + make_ca().pem())  # renewed: another size
    third = pool_manager(network, 1)
    assert third.connection_pool_kw["ssl_context"] is not first.connection_pool_kw["ssl_context"]


def infoset(root: Any) -> list[tuple[Any, ...]]:
    """Elements in document order by expanded name, with their text, tail and attributes (the
    prefixes chosen are not the content)."""
    return [(e.tag, e.text, e.tail, sorted(e.attrib.items())) for e in root.iter() if isinstance(e.tag, str)]


def test_a_submission_goes_into_the_request_as_it_is() -> None:
    """The request's wrapper holds the submission's own bytes (no declaration), and reads as
    the tree lxml built when it was sent that way (the same names, texts and attributes)."""
    for sample in sorted((SAMPLES / "bgp" / "submissions").glob("*.xml")):
        document = sample.read_bytes()  # with a comment before its root: through lxml
        bare = re.sub(rb"<!--.*?-->\s*", b"", document, count=1, flags=re.DOTALL)  # as translate() makes it
        before = etree.Element(f"{{{PORTAL_NS}}}SubmitDeclaration")
        before.append(etree.fromstring(document))
        for submission in (document, bare):
            request = wrapped(f"{{{PORTAL_NS}}}SubmitDeclaration", submission)
            assert infoset(etree.fromstring(request)) == infoset(before)
        assert bare.split(b"?>", 1)[1].strip() in wrapped(f"{{{PORTAL_NS}}}SubmitDeclaration", bare)
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>'.encode("latin-1")
    assert etree.fromstring(wrapped("{urn:x}W", latin))[0].text == "\xe9"


STATUSES = sorted((SAMPLES / "bgp").glob("status-*.xml"))


def statuses_answer(*items: str) -> bytes:
    wrapper = "GetProcessingStatusResponse"
    return envelope(f'<p:{wrapper} xmlns:p="{PORTAL_NS}">{"".join(items)}</p:{wrapper}>')


def sample_status(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("?>", 1)[1]


@pytest.mark.parametrize("sample", STATUSES, ids=lambda path: path.name)
def test_a_status_read_directly_is_the_one_zeep_reads(portal: ZeepPortalClient, sample: Path) -> None:
    content = statuses_answer(sample_status(sample))
    direct = direct_statuses(content)
    assert direct is not None
    assert direct == [_status(v) for v in by_zeep(portal, "GetProcessingStatus", content)]


def test_a_batch_of_statuses_read_directly_is_the_one_zeep_reads(portal: ZeepPortalClient) -> None:
    content = statuses_answer(*(sample_status(path) for path in STATUSES))
    direct = direct_statuses(content)
    assert direct is not None
    assert len(direct) == len(STATUSES)
    assert direct == [_status(v) for v in by_zeep(portal, "GetProcessingStatus", content)]
    assert direct_statuses(statuses_answer()) == []  # none known: an empty answer


@pytest.mark.parametrize(
    "item",
    [
        sample_status(STATUSES[0]).replace("<State>CANCELLED", "<State>ON_HOLD"),  # a newer portal's
        sample_status(STATUSES[0]).replace("</Status>", "<Extra/></Status>"),
        sample_status(STATUSES[0]).replace("<State>CANCELLED</State>", ""),
        "<Receipt/>",
    ],
    ids=["unknown-state", "unknown-element", "no-state", "not-a-status"],
)
def test_a_status_of_another_shape_is_left_to_zeep(item: str) -> None:
    assert "CANCELLED" in sample_status(STATUSES[0])
    assert direct_statuses(statuses_answer(item)) is None
