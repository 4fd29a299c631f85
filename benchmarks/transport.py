"""The clients' HTTP transport: urllib3 (kept), the hand-written http.client one it replaced, requests.

Each drives the same typed portal client (zeep, WS-Security token per call) against the portal
simulator running as the CLI in its own process, one client on one kept-alive connection, as
one worker thread does. Rounds alternate between the transports so the shared VM's drift hits
them alike; each round makes GetProcessingStatus calls (one receipt) and SubmitDeclaration
calls (the 21-person cargo arrival, a new ClientMessageId each). Printed: calls per second and
this process's CPU per call (the simulator's is not in it), medians over the rounds, and the
ratios to http.client. requests is zeep's default transport: a session over urllib3.

    .venv/bin/python benchmarks/transport.py [--rounds 5] [--calls 300]
"""

from __future__ import annotations

import argparse
import http.client
import re
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nsw_adapter.clients.portal import ZeepPortalClient
from nsw_adapter.clients.transport import RecordingTransport

ROOT = Path(__file__).resolve().parent.parent
SUBMISSION = ROOT / "fixtures" / "samples" / "bgp" / "submissions" / "arrival-general-cargo.xml"
CMID = re.compile(rb"<ClientMessageId>[^<]*</ClientMessageId>")


@dataclass
class _Response:
    """The parts of a requests.Response that zeep's reply processing reads."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    encoding: str | None = None


class _Headers(dict[str, str]):
    """Case-insensitive `get`, as zeep asks for "Content-Type"."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class RequestsTransport(RecordingTransport):
    """zeep's default: a requests session (over urllib3), environment lookups off."""

    def __init__(self, *, operation_timeout: float) -> None:
        super().__init__(operation_timeout=operation_timeout)

    def post(self, address: str, message: Any, headers: dict[str, str]) -> Any:
        self.last_status = None
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        self.last_status = response.status_code
        return response


class HttpClientTransport(RecordingTransport):
    """The baseline: the hand-written transport (one kept-alive http.client connection) as it was."""

    def __init__(self, *, operation_timeout: float) -> None:
        super().__init__(operation_timeout=operation_timeout)
        self._connection: http.client.HTTPConnection | None = None
        self._target: tuple[str, str, int] | None = None

    def _connect(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if self._connection is not None and self._target == (scheme, host, port):
            return self._connection
        self.close()
        timeout = self.operation_timeout
        connection = (
            http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
            if scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout)
        )
        self._connection, self._target = connection, (scheme, host, port)
        return connection

    def post(self, address: str, message: Any, headers: dict[str, str]) -> Any:
        self.last_status = None
        url = urlsplit(address)
        scheme = url.scheme or "http"
        port = url.port or (443 if scheme == "https" else 80)
        path = url.path + (f"?{url.query}" if url.query else "")
        body = message if isinstance(message, bytes) else str(message).encode("utf-8")
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect(scheme, url.hostname or "127.0.0.1", port)
            try:
                connection.request("POST", path, body=body, headers=headers)
                raw = connection.getresponse()
                content = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if raw.getheader("Connection", "").lower() == "close":
                self.close()
            self.last_status = raw.status
            return _Response(raw.status, _Headers({k.lower(): v for k, v in raw.getheaders()}), content)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if getattr(self, "_connection", None) is not None:
            assert self._connection is not None
            self._connection.close()
        self._connection = None
        self._target = None
        super().close()


def start_portal() -> tuple[subprocess.Popen[str], str]:
    """The portal simulator as the CLI runs it, on a free port; returns the process and its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nsw_adapter",
            "simulate",
            "portal",
            "--port",
            "0",
            "--decision-delay",
            "3600",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    found = re.search(r"(http://\S+/bgp/portal)", process.stdout.readline())
    if found is None:
        process.kill()
        raise SystemExit("the portal simulator did not start")
    return process, found.group(1)


def measure(client: ZeepPortalClient, calls: int, call: Callable[[int], object]) -> tuple[float, float]:
    """(calls per second, CPU ms per call) of `calls` calls in a row."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        call(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return calls / wall, cpu * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--calls", type=int, default=300, help="status calls per round (a third as many submits)"
    )
    args = parser.parse_args()
    process, url = start_portal()
    submission = SUBMISSION.read_bytes()
    makers: dict[str, Callable[[], RecordingTransport]] = {
        "http.client": lambda: HttpClientTransport(operation_timeout=10),
        "urllib3": lambda: RecordingTransport(operation_timeout=10),
        "requests": lambda: RequestsTransport(operation_timeout=10),
    }
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        receipt = ZeepPortalClient(url, "demo", "demo", timeout_seconds=10).submit(submission).number
        for _ in range(args.rounds):
            for name, make in makers.items():
                client = ZeepPortalClient(url, "demo", "demo", timeout_seconds=10, transport=make())
                client.statuses([receipt])  # connect and warm up outside the measurement

                def submit(_i: int, client: ZeepPortalClient = client) -> object:
                    cmid = f"<ClientMessageId>{uuid.uuid4()}</ClientMessageId>".encode()
                    return client.submit(CMID.sub(cmid, submission, count=1))

                def status(_i: int, client: ZeepPortalClient = client) -> object:
                    return client.statuses([receipt])

                polled = measure(client, args.calls, status)
                submitted = measure(client, max(1, args.calls // 3), submit)
                figures.setdefault((name, "status"), []).append(polled)
                figures.setdefault((name, "submit"), []).append(submitted)
                client.close()
    finally:
        process.terminate()
        process.wait(10)
    print(f"{args.rounds} alternating rounds, medians; CPU is this (client) process only")
    for operation in ("status", "submit"):
        row: dict[str, tuple[float, float]] = {}
        for name in makers:
            runs = figures[(name, operation)]
            row[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            print(f"  {operation:6} {name:11} {row[name][0]:7.1f} calls/s  {row[name][1]:6.2f} ms CPU/call")
        base = row["http.client"]
        for name in ("urllib3", "requests"):
            print(
                f"  {operation:6} {name} / http.client: {row[name][0] / base[0]:.2f}x calls/s, "
                f"{row[name][1] / base[1]:.2f}x CPU per call (+{row[name][1] - base[1]:.2f} ms)"
            )


if __name__ == "__main__":
    main()
