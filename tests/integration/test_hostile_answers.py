"""What a service answers is untrusted too: a DTD is refused unread, an endless answer is cut off.

A loopback HTTP server stands where the portal or the NSW should be and answers each call
with what a compromised or broken peer might send. The DTD's SYSTEM identifier names a FIFO:
a parser that opened it would block forever (the test's timeout would fail it), one that
refuses the DOCTYPE first never touches it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from nsw_adapter.clients.nsw import ZeepNswClient
from nsw_adapter.clients.portal import ZeepPortalClient
from nsw_adapter.clients.transport import MAX_ANSWER_BYTES, AnswerTooLarge
from nsw_adapter.errors import PermanentError
from tests.support.loopback import Answer, HostileService, answer_with, soap

pytestmark = pytest.mark.timeout(30)


def _endless(handler: BaseHTTPRequestHandler) -> None:
    """A SOAP answer whose text never ends (until the client hangs up)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/xml; charset=utf-8")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    start = b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x>'
    chunk = b"A" * 65536
    try:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(start), start))
        for _ in range(4 * MAX_ANSWER_BYTES // len(chunk)):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        return  # the client hung up: what it should do


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "never-open-me"
    os.mkfifo(path)
    return path


def _doctype_answers(fifo: Path) -> list[bytes]:
    system = str(fifo).encode()
    return [
        soap(b"<x/>", prolog=b'<!DOCTYPE soap:Envelope SYSTEM "' + system + b'">'),
        # Behind a long comment, where a sniffer of the first bytes would not look.
        soap(b"<x/>", prolog=b"<!--" + b"x" * 8192 + b'--><!DOCTYPE e SYSTEM "' + system + b'">'),
        soap(b"<x>&p;</x>", prolog=b'<!DOCTYPE e [<!ENTITY p SYSTEM "' + system + b'">]>'),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["external-subset", "behind-a-comment", "external-entity"])
def test_a_portal_answer_with_a_dtd_is_refused_without_opening_what_it_names(
    serve: Callable[[Answer], HostileService], fifo: Path, which: int
) -> None:
    portal = serve(answer_with(_doctype_answers(fifo)[which]))
    client = ZeepPortalClient(portal.url, "demo", "secret", timeout_seconds=5)
    try:
        with pytest.raises(PermanentError) as refused:
            client.statuses(["BG-1"])
    finally:
        client.close()
    assert "DTDForbidden" in str(refused.value)
    assert portal.calls == 1


def test_an_nsw_answer_with_a_dtd_is_refused_without_opening_what_it_names(
    serve: Callable[[Answer], HostileService], fifo: Path
) -> None:
    nsw = serve(answer_with(_doctype_answers(fifo)[0]))
    client = ZeepNswClient(nsw.url, "demo", "secret", timeout_seconds=5)
    try:
        with pytest.raises(PermanentError) as refused:
            client.send(b"<result/>")
    finally:
        client.close()
    assert "DTDForbidden" in str(refused.value)


def test_an_endless_answer_is_cut_off_at_the_limit_and_the_next_call_works(
    serve: Callable[[Answer], HostileService],
) -> None:
    endless = serve(_endless)
    client = ZeepPortalClient(endless.url, "demo", "secret", timeout_seconds=5)
    try:
        with pytest.raises(AnswerTooLarge, match=f"answer over {MAX_ANSWER_BYTES} bytes"):
            client.statuses(["BG-1"])
        # The cut connection is not reused: a second call reaches the service afresh.
        with pytest.raises(AnswerTooLarge):
            client.statuses(["BG-1"])
    finally:
        client.close()
    assert endless.calls == 2
