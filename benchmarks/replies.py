"""The hot calls' answers: zeep's reply processing against the direct read (clients/replies.py).

The answers are real: a SubmitDeclaration receipt from the portal simulator and a
sendAndGetMessage answer (99) from the NSW simulator, both in this process, as the clients
receive them; a GetProcessingStatus answer of 100 Status items is made of the contract's
samples. Each round reads the same answer N times one way, then the other (rounds alternate,
so the shared VM's drift hits both alike); printed: this thread's CPU per read
(time.thread_time), medians over the rounds, and the ratio. Both readings are checked equal first.

    .venv/bin/python benchmarks/replies.py [--rounds 5] [--reads 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nsw_adapter.clients import replies
from nsw_adapter.clients.nsw import ZeepNswClient
from nsw_adapter.clients.portal import ZeepPortalClient, _receipt, _status, direct_receipt, direct_statuses
from nsw_adapter.clients.transport import HttpResponse
from nsw_adapter.namespaces import PORTAL_NS
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.simulators.portal import PortalSimulator

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "samples" / "bgp"
SUBMISSION = SAMPLES / "submissions" / "arrival-general-cargo.xml"
RESULT = ROOT / "fixtures" / "samples" / "nsw" / "results"


def cpu_per_call(read: Callable[[], Any], reads: int) -> float:
    started = time.thread_time()
    for _ in range(reads):
        read()
    return (time.thread_time() - started) / reads


def zeep_reader(client: Any, operation: str, content: bytes) -> Callable[[], Any]:
    binding = client._service._binding
    response = HttpResponse(200, {"Content-Type": "text/xml; charset=utf-8"}, content)
    return lambda: binding.process_reply(client._client, binding.get(operation), response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    with PortalSimulator(decision_delay=60) as portal, NswSimulator() as nsw:
        portal_client = ZeepPortalClient(portal.url, "demo", "demo", timeout_seconds=10)
        portal_client.submit(SUBMISSION.read_bytes())
        receipt_answer = portal_client.transport.last_content
        nsw_client = ZeepNswClient(nsw.url, "demo", "demo", timeout_seconds=10)
        nsw_client.send((RESULT / "result-21-accepted.xml").read_bytes())
        nsw_answer = nsw_client.transport.last_content
    assert receipt_answer is not None
    assert nsw_answer is not None
    read_receipt = direct_receipt("SubmitDeclarationResponse")
    items = [
        path.read_text(encoding="utf-8").split("?>", 1)[1] for path in sorted(SAMPLES.glob("status-*.xml"))
    ]
    wrapper = "GetProcessingStatusResponse"
    statuses_answer = (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:{wrapper} '
        f'xmlns:p="{PORTAL_NS}">{"".join((items * 15)[:100])}</p:{wrapper}></s:Body></s:Envelope>'
    ).encode()
    by_zeep_statuses = zeep_reader(portal_client, "GetProcessingStatus", statuses_answer)
    Reader = Callable[[], Any]
    cases: dict[str, tuple[Reader, Reader, Callable[[Any, Any], bool]]] = {
        "SubmitDeclaration receipt": (
            zeep_reader(portal_client, "SubmitDeclaration", receipt_answer),
            lambda: read_receipt(receipt_answer),
            lambda z, d: _receipt(z) == d,
        ),
        "GetProcessingStatus answer of 100 (the contract's samples)": (
            lambda: [_status(v) for v in by_zeep_statuses()],
            lambda: direct_statuses(statuses_answer),
            lambda z, d: z == d,
        ),
        "sendAndGetMessage answer": (
            zeep_reader(nsw_client, "sendAndGetMessage", nsw_answer),
            lambda: replies.nsw_answer_text(nsw_answer),
            lambda z, d: z == d,
        ),
    }
    print(f"{len(receipt_answer)} and {len(nsw_answer)} bytes; {args.rounds} rounds of {args.reads} reads")
    failed = False
    for name, (by_zeep, direct, same) in cases.items():
        if not same(by_zeep(), direct()):
            print(f"{name}: the two readings differ")
            failed = True
            continue
        zeep_times, direct_times = [], []
        for _ in range(args.rounds):
            zeep_times.append(cpu_per_call(by_zeep, args.reads))
            direct_times.append(cpu_per_call(direct, args.reads))
        z, d = statistics.median(zeep_times), statistics.median(direct_times)
        print(f"{name}: zeep {z * 1e6:.0f} µs CPU per read, direct {d * 1e6:.0f} µs ({d / z:.2f}x)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
