"""Peak memory of the intake under upload storms: N concurrent pushes near the size limit.

Starts the intake as its own process (`python -m nsw_adapter.intake_server`, SQLite), reads its
resident memory once idle (after one small push), then sends `--uploads` concurrent pushes of
about `--megabytes` each and reads the process's peak resident memory (VmHWM). Two storms, each
on a fresh server: senders with a wrong password (outsiders), then the NSW's own credentials
(valid Passenger Lists, each answered 99). Reported as MB and as a ratio to the idle figure.
`--code DIR` runs another checkout's intake (e.g. a worktree of an older commit) for a
before/after in the same run. Usage:

    .venv/bin/python benchmarks/intake_memory.py [--uploads 16] [--megabytes 30] [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nsw_adapter.testing.pushes import PASSWORD, USER, soap_body  # noqa: E402

FERRY = ROOT / "fixtures/samples/nsw/valid/arrival-passenger-ferry/52-passenger-list.xml"
GD = ROOT / "fixtures/samples/nsw/valid/arrival-general-cargo/50-general-declaration.xml"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:vn:nsw:agency:1/receiveMessage"'}


def passenger_lists(count: int, size: int) -> list[str]:
    """`count` Passenger Lists of about `size` bytes of SOAP body, each its own message and dossier."""
    text = FERRY.read_text("utf-8")
    start, end = text.index("<Passenger>"), text.rindex("</Passenger>") + len("</Passenger>")
    passengers = text[start:end]
    copies = max(1, int(size / 1.3 - len(text)) // len(passengers.encode()))  # escaping adds ~30%
    big = text[:start] + passengers * copies + text[end:]
    message_id = re.search(r"<messageId>([^<]+)</messageId>", text)
    reference = re.search(r"<reference>([^<]+)</reference>", text)
    assert message_id
    assert reference
    return [
        big.replace(message_id.group(1), f"NSWM{i:018d}").replace(reference.group(1), f"HON-2026-M{i:05d}")
        for i in range(count)
    ]


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def start_server(code: Path) -> tuple[subprocess.Popen[str], str]:
    folder = tempfile.mkdtemp(prefix="nswa-mem-")
    cmd = [sys.executable, "-m", "nsw_adapter.intake_server", "--store", f"sqlite:///{folder}/var/bench.db",
           "--port", "0", "--user", USER, "--password", PASSWORD, "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen(
        cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"listening on (\S+)", line)
        if found:
            return proc, found.group(1)
    raise RuntimeError("the intake server did not start")


async def storm(url: str, bodies: list[bytes]) -> list[int]:
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=HEADERS, timeout=timeout) as session:

        async def one(body: bytes) -> int:
            async with session.post(url, data=body) as reply:
                await reply.read()
                return reply.status

        return await asyncio.gather(*(one(body) for body in bodies))


def measure(code: Path, label: str, bodies: list[bytes]) -> None:
    proc, url = start_server(code)
    try:
        asyncio.run(storm(url, [soap_body(GD.read_bytes())]))  # warm: imports, schemas, the store
        idle = memory_kb(proc.pid, "VmRSS")
        started = time.perf_counter()
        statuses = asyncio.run(storm(url, bodies))
        elapsed = time.perf_counter() - started
        peak = memory_kb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(30)
    print(
        f"{label:34s} idle {idle / 1024:6.0f} MB  peak {peak / 1024:6.0f} MB  ({peak / idle:4.1f}x idle)"
        f"  {elapsed:5.1f} s  HTTP {sorted(set(statuses))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=16)
    parser.add_argument("--megabytes", type=float, default=30.0)
    parser.add_argument("--code", type=Path, action="append", help="a checkout to measure (repeatable)")
    args = parser.parse_args()
    size = int(args.megabytes * 1024 * 1024)
    lists = passenger_lists(args.uploads, size)
    outsiders = [soap_body(text, password="wrong") for text in lists]
    for code in args.code or [ROOT]:
        name = "this checkout" if code == ROOT else str(code)
        print(f"{name}: {args.uploads} concurrent uploads of {len(outsiders[0]) / 2**20:.1f} MiB")
        measure(code, "unauthenticated (wrong password)", outsiders)
        measure(code, "authenticated (answered 99)", [soap_body(text) for text in lists])


if __name__ == "__main__":
    main()
