"""Capacity of the portal simulator on loopback: requests per second it sustains.

The simulator runs as the real CLI (`nsw-adapter simulate portal --port 0`) in its own
process; this process drives it with concurrent clients (asyncio, a minimal HTTP/1.1
keep-alive client, so that the driver costs far less than the server) sending pre-built SOAP
bodies, each with a fresh WS-Security UsernameToken (nonce, Created, digest: building them
is part of the client's cost). The mix is SubmitDeclaration of a small valid
submission (the 21-person cargo arrival, a new ClientMessageId each time: schema validation
and business rules on every one) and GetProcessingStatus of 1-5 receipts issued earlier.

    .venv/bin/python benchmarks/portal_simulator.py [--seconds 10] [--concurrency 32] [--submit-share 0.5]

Prints requests/s overall and per operation, latency percentiles and the error count; then
the server's CPU time per request (from /proc) and the load average, because on a shared
machine the throughput says as much about the neighbours as about the server.
Target: at least 500 requests/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SUBMISSION = ROOT / "fixtures" / "samples" / "bgp" / "submissions" / "arrival-general-cargo.xml"
BGP = "urn:vn:bienphong:portal:1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
ENCODING = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
RECEIPT = re.compile(rb"<(?:\w+:)?ReceiptNumber>([A-Z0-9/-]+)</")


def token(user: str = "demo", password: str = "demo") -> str:
    """A fresh wsse:Security header (string-built: cheap, as a tuned client would do it)."""
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{DIGEST}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{ENCODING}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(header: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def submission_template() -> str:
    """The sample submission without its XML declaration, with a {cmid} placeholder."""
    text = SUBMISSION.read_text(encoding="utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(
        r"<ClientMessageId>[^<]*</ClientMessageId>", "<ClientMessageId>{cmid}</ClientMessageId>", text
    )
    return f'<SubmitDeclaration xmlns="{BGP}">{text.strip()}</SubmitDeclaration>'


def status_body(receipts: list[str]) -> str:
    numbers = "".join(f"<ReceiptNumber>{number}</ReceiptNumber>" for number in receipts)
    return f'<GetProcessingStatus xmlns="{BGP}">{numbers}</GetProcessingStatus>'


class Stats:
    def __init__(self) -> None:
        self.count = {"submit": 0, "status": 0}
        self.errors = 0
        self.first_error = ""
        self.latencies: list[float] = []


class Connection:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams (cheaper than a full client library)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def worker(
    url: str,
    template: str,
    receipts: list[str],
    stats: Stats,
    deadline: float,
    submit_share: float,
    rng: random.Random,
) -> None:
    parsed = urlsplit(url)
    connection = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path)
    serial = 0
    try:
        while time.perf_counter() < deadline:
            serial += 1
            if rng.random() < submit_share or not receipts:
                kind = "submit"
                client_message_id = f"bench-{id(stats)}-{rng.getrandbits(48):x}-{serial}"
                body = envelope(token(), template.replace("{cmid}", client_message_id))
            else:
                kind = "status"
                body = envelope(
                    token(), status_body(rng.sample(receipts, min(len(receipts), rng.randint(1, 5))))
                )
            started = time.perf_counter()
            try:
                status, data = await connection.post(body)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                connection.close()
                connection = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path)
                status, data = 0, b""
            stats.latencies.append(time.perf_counter() - started)
            if status != 200:
                stats.errors += 1
                if not stats.first_error:
                    found = re.search(rb"<faultstring>([^<]*)", data)
                    stats.first_error = f"HTTP {status} {found.group(1).decode() if found else ''}".strip()
                continue
            stats.count[kind] += 1
            if kind == "submit" and len(receipts) < 500:
                found = RECEIPT.search(data)
                if found:
                    receipts.append(found.group(1).decode())
    finally:
        connection.close()


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc), or None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    url: str, seconds: float, concurrency: int, submit_share: float, pid: int | None = None
) -> tuple[Stats, float | None]:
    template = submission_template()
    stats = Stats()
    receipts: list[str] = []
    warm = Stats()  # warm up: connections, schema caches, some receipts
    await asyncio.gather(
        *(
            worker(url, template, receipts, warm, time.perf_counter() + 1, 0.5, random.Random(i))
            for i in range(concurrency)
        )
    )
    cpu_before = cpu_seconds(pid)
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            worker(url, template, receipts, stats, deadline, submit_share, random.Random(i + 99))
            for i in range(concurrency)
        )
    )
    cpu_after = cpu_seconds(pid)
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return stats, used


def start_portal() -> tuple[subprocess.Popen[str], str]:
    """The portal simulator as the CLI runs it, on a free port; returns the process and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nsw_adapter", "simulate", "portal", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"(http://\S+/bgp/portal)", line)
    if not found:
        process.kill()
        raise SystemExit(f"the portal simulator did not start: {line!r}")
    return process, found.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--submit-share", type=float, default=0.5)
    parser.add_argument("--url", help="drive an already running portal simulator instead of starting one")
    args = parser.parse_args()
    process = None
    url = args.url
    load_before = f"{os.getloadavg()[0]:.2f}"
    if url is None:
        process, url = start_portal()
    try:
        pid = None if process is None else process.pid
        stats, server_cpu = asyncio.run(drive(url, args.seconds, args.concurrency, args.submit_share, pid))
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
    total = sum(stats.count.values())
    latencies = sorted(stats.latencies) or [0.0]

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"portal simulator: {total / args.seconds:.0f} requests/s over {args.seconds:g} s "
        f"with {args.concurrency} concurrent clients "
        f"(SubmitDeclaration {stats.count['submit'] / args.seconds:.0f}/s, "
        f"GetProcessingStatus {stats.count['status'] / args.seconds:.0f}/s); "
        f"latency p50 {percentile(0.5):.1f} ms, p99 {percentile(0.99):.1f} ms; errors {stats.errors}"
        + (f" (first: {stats.first_error})" if stats.errors else "")
    )
    if server_cpu and total:
        per_request = server_cpu / total
        print(
            f"server CPU {per_request * 1000:.2f} ms per request ({server_cpu / args.seconds:.0%} of a core "
            f"used): {1 / per_request:.0f} requests/s per core of CPU time; load average before/after: "
            f"{load_before} / {os.getloadavg()[0]:.2f}"
        )
    return 0 if stats.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
