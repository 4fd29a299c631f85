"""Pushes per second into receiveMessage over loopback, on SQLite and on PostgreSQL.

Starts the intake server as its own process (`python -m nsw_adapter.intake_server`), then pushes
small General Declarations (~3 KB, each a new dossier) from a concurrent aiohttp client with
pre-built SOAP bodies, each with its own fresh WS-Security token. Every push must be answered
99 (stored and committed). With `--signed`, each General Declaration carries an ECDSA P-256
signature by a test CA's certificate (tests/signing.py), and the server runs with
`--signature-policy` (default verify-if-present) trusting that CA. Usage:

    .venv/bin/python benchmarks/intake.py [--messages 2000] [--concurrency 32] \
        [--backend sqlite|postgresql|both] [--threads 32] [--log-level info] \
        [--signed [--signature-policy off|verify-if-present|required]]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from end_to_end import cpu_seconds  # noqa: E402

from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database  # noqa: E402
from nsw_adapter.testing.pushes import PASSWORD, USER, soap_body  # noqa: E402
from nsw_adapter.testing.signing import Signer, make_ca, make_signer, sign  # noqa: E402

SAMPLE = ROOT / "fixtures/samples/nsw/valid/arrival-general-cargo/50-general-declaration.xml"


def envelopes(count: int, signer: Signer | None = None) -> list[bytes]:
    """`count` General Declarations, each with its own messageId and dossier number (signed by `signer`)."""
    template = SAMPLE.read_text("utf-8")
    bodies = []
    for i in range(count):
        text = template.replace("NSW2026031209142700001", f"NSWB{i:018d}")
        text = text.replace("HPH-2026-000123", f"HPH-2026-B{i:06d}")
        envelope = text if signer is None else sign(text, signer).decode("utf-8")
        bodies.append(soap_body(envelope, user=USER, password=PASSWORD))
    return bodies


@dataclass(frozen=True)
class Signing:
    """Signed pushes: who signs, the server's policy, and the trust store it is given."""

    signer: Signer
    policy: str
    trust_store: Path


def signing(policy: str) -> Signing:
    """A test CA written to a temporary trust store, and a signer it certified."""
    ca = make_ca()
    folder = Path(tempfile.mkdtemp(prefix="nswa-bench-ca-"))
    return Signing(make_signer(ca), policy, ca.write(folder / "ca.pem"))


def start_server(
    url: str, threads: int, log_level: str, signed: Signing | None = None
) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "nsw_adapter.intake_server", "--store", url, "--port", "0", "--user", USER,
           "--password", PASSWORD, "--threads", str(threads), "--log-level", log_level]  # fmt: skip
    if signed is not None:
        cmd += ["--signature-policy", signed.policy, "--trust-store", str(signed.trust_store)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"listening on (\S+)", line)
        if found:
            return proc, found.group(1)
    raise RuntimeError("the intake server did not start")


async def push_all(url: str, bodies: list[bytes], concurrency: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:vn:nsw:agency:1/receiveMessage"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(url, data=body) as reply:
                    text = await reply.read()
                    if reply.status != 200 or b"&lt;function&gt;99&lt;/function&gt;" not in text:
                        raise RuntimeError(f"push failed: HTTP {reply.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def run(
    backend: str,
    messages: int,
    concurrency: int,
    threads: int = 32,
    log_level: str = "info",
    signed: Signing | None = None,
) -> float:
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="nswa-bench-")
        url, cleanup = f"sqlite:///{folder}/var/bench.db", None
    else:
        url = create_pg_database()
        cleanup = url
    proc, endpoint = start_server(url, threads, log_level, signed)
    signer = None if signed is None else signed.signer
    try:
        warm = envelopes(50)  # unsigned: the warm-up's renamed copies would not verify
        asyncio.run(push_all(endpoint, [b.replace(b"NSWB", b"NSWW").replace(b"-B", b"-W") for b in warm], 8))
        bodies = envelopes(messages, signer)  # tokens made now: well within the 300 s window
        # CPU of the timed pushes only: not the server's start-up (imports, schemas) nor the warm-up.
        client_cpu, server_cpu = time.process_time(), cpu_seconds(proc.pid)
        elapsed = asyncio.run(push_all(endpoint, bodies, concurrency))
        server = (cpu_seconds(proc.pid) - server_cpu) / messages
        client = (time.process_time() - client_cpu) / messages
    finally:
        proc.terminate()
        proc.wait(10)
        if cleanup:
            drop_pg_database(cleanup)
    rate = messages / elapsed
    kind = "" if signed is None else f" signed (policy {signed.policy})"
    print(
        f"{backend:10s} {messages}{kind} pushes, concurrency {concurrency}: {elapsed:.2f} s,"
        f" {rate:.0f} pushes/s"
        f" (CPU per push: server {server * 1000:.1f} ms, client {client * 1000:.1f} ms)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--threads", type=int, default=32, help="the server's worker threads")
    parser.add_argument("--log-level", default="info", help="the server's log level (JSON lines)")
    parser.add_argument("--signed", action="store_true", help="push signed General Declarations")
    parser.add_argument(
        "--signature-policy", choices=["off", "verify-if-present", "required"], default="verify-if-present"
    )
    args = parser.parse_args()
    signed = signing(args.signature_policy) if args.signed else None
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        run(backend, args.messages, args.concurrency, args.threads, args.log_level, signed)


if __name__ == "__main__":
    main()
