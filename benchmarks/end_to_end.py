"""End-to-end throughput: dossiers per second from the NSW's first push to its last final Result.

Three kinds of process share the machine, as in the crash tests: the portal simulator (the
real CLI, `nsw-adapter simulate portal`), one or more adapter daemons (`nsw-adapter run`),
and this process, which holds the NSW simulator (it pushes the dossiers and receives the
Results). Dossiers are small cargo ships (crew 4-10, no passengers), generated before the
clock starts; the portal decides 0.2 s after a submission. With --split the first daemon
runs the intake role only (the NSW pushes to it) and the others the worker role only.

    .venv/bin/python benchmarks/end_to_end.py [--dossiers 1000] [--store sqlite|postgresql] [--daemons 1]
        [--split] [--repeat 3]

Prints dossiers/s end to end, when the last push was answered, the adapter's call latencies
(from its /metrics), and checks that nothing was lost or doubled.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nsw_adapter.fixtures import DEFAULT_SENT_AT, generate_dossier  # noqa: E402
from nsw_adapter.simulators.nsw import NswSimulator  # noqa: E402

BIN = Path(sys.executable).parent / "nsw-adapter"
PG_DSN = os.environ.get("NSW_ADAPTER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def compile_package(root: Path = ROOT) -> None:
    """Byte-compile the package under `root` (this tree's by default), as installing its wheel
    does, before any daemon starts.

    The venv's install is editable, and this machine sets PYTHONDONTWRITEBYTECODE: without this,
    every `nsw-adapter run` compiles every module of the package again, about 0.12 s of CPU per
    start-up (0.86 -> 0.74 s to the first /healthz, alternating runs) that an installed daemon
    never pays, and chaos.py restarts daemons every few seconds. Up-to-date files are skipped.
    """
    compileall.compile_dir(root / "nsw_adapter", quiet=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dossiers(count: int, prefix: str = "HPH") -> list[list[tuple[str, bytes]]]:
    """Small valid cargo dossiers with distinct references, send times (so messageIds) and crews."""
    return [
        generate_dossier(
            crew=4 + i % 7, seed=i, reference=f"{prefix}-2026-{i:06d}",
            sent_at=DEFAULT_SENT_AT + timedelta(seconds=30 * i),
        )
        for i in range(count)
    ]  # fmt: skip


def create_pg_database() -> str:
    name = f"nswa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    info = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    user, host, port = info.get("user", "postgres"), info.get("host", "127.0.0.1"), info.get("port", 5432)
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


def drop_pg_database(url: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


class Portal:
    """The portal simulator CLI in its own process."""

    def __init__(self, port: int, decision_delay: float, faults: str | None, workdir: Path) -> None:
        self.port = port
        cmd = [str(BIN), "simulate", "portal", "--port", str(port), "--decision-delay", str(decision_delay)]
        if faults:
            cmd += ["--faults", faults]
        self.log = (workdir / "portal.log").open("wb")
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.base}/admin/state", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the portal simulator did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/bgp/portal"

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = requests.get(f"{self.base}/admin/state", timeout=30).json()
        return result

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        self.log.close()


class Adapter:
    """One `nsw-adapter run` daemon."""

    def __init__(
        self,
        name: str,
        store_url: str,
        portal_url: str,
        nsw_url: str,
        workdir: Path,
        role: str | None = None,
        *,
        tuned: bool = True,
    ) -> None:
        """`tuned` False: the default settings (log level, poll intervals, idle sleeps) but the addresses."""
        self.role = role
        self.intake_port, self.metrics_port = free_port(), free_port()
        env = {
            **os.environ,
            "NSW_ADAPTER_WORKER_ID": name,
            "NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS": "true",  # the simulators' password
            "NSW_ADAPTER_INTAKE__PORT": str(self.intake_port),
            "NSW_ADAPTER_OBSERVABILITY__PORT": str(self.metrics_port),
            "NSW_ADAPTER_STORE__URL": store_url,
            "NSW_ADAPTER_PORTAL__URL": portal_url,
            "NSW_ADAPTER_NSW__URL": nsw_url,
        }
        tuning = {
            "NSW_ADAPTER_OBSERVABILITY__LOG_LEVEL": "WARNING",
            "NSW_ADAPTER_WORKER__POLL_INTERVAL_SECONDS": "0.5",
            "NSW_ADAPTER_WORKER__IDLE_SECONDS": "0.05",
            "NSW_ADAPTER_WORKER__DEFER_INITIAL_SECONDS": "0.5",
            "NSW_ADAPTER_WORKER__DEFER_MAX_SECONDS": "5",
            "NSW_ADAPTER_WORKER__BREAKER_RESET_SECONDS": "2",
        }
        if tuned:
            env.update(tuning)
        self.log = (workdir / f"{name}.log").open("wb")
        command = [str(BIN), "run", *(["--role", role] if role else [])]
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"adapter {name} did not start")

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}/nsw/agency"

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.log.close()
        return code


def migrate_store(store_url: str) -> None:
    """Create the store's schema (`nsw-adapter run` never creates or migrates a store)."""
    subprocess.run([str(BIN), "db", "migrate", "--store", store_url], check=True, capture_output=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_writer(metrics: str) -> dict[str, float]:
    """A daemon's SQLite writer figures from its /metrics (store/engine.py): seconds by phase
    (waiting, holding, holding_cpu) and "transactions"."""
    found = {
        phase: float(value)
        for phase, value in re.findall(
            r'nsw_adapter_sqlite_writer_seconds_total\{phase="([^"]+)"\} ([0-9.e+-]+)', metrics
        )
    }
    count = re.search(r"^nsw_adapter_sqlite_write_transactions_total ([0-9.e+-]+)", metrics, re.MULTILINE)
    found["transactions"] = float(count.group(1)) if count else 0.0
    return found


def writer_line(before: list[dict[str, float]], after: list[dict[str, float]], elapsed: float) -> str:
    """What SQLite's writer did between two readings of each daemon's figures, summed over the daemons."""
    used = {key: sum(a.get(key, 0.0) - b.get(key, 0.0) for b, a in zip(before, after, strict=True))
            for key in ("waiting", "holding", "holding_cpu", "transactions")}  # fmt: skip
    ratio = used["holding"] / used["holding_cpu"] if used["holding_cpu"] else 0.0
    return (
        f"SQLite's writer: held {used['holding']:.1f} s of the {elapsed:.1f} s "
        f"({used['holding'] / elapsed:.0%}), its holders' CPU {used['holding_cpu']:.1f} s (held {ratio:.1f}x "
        f"its CPU), writers queued {used['waiting']:.1f} s summed over threads, "
        f"{used['transactions']:.0f} write transactions"
    )


def mean_latency(metrics: str, operation: str) -> str:
    def value(name: str) -> float:
        found = re.search(rf'{name}{{operation="{operation}"}} ([0-9.e+-]+)', metrics)
        return float(found.group(1)) if found else 0.0

    count = value("nsw_adapter_call_seconds_count")
    return f"{1000 * value('nsw_adapter_call_seconds_sum') / count:.1f} ms" if count else "-"


def check(nsw_state: dict[str, Any], portal_state: dict[str, Any], count: int) -> list[str]:
    """Nothing lost, nothing doubled."""
    problems = []
    if len(nsw_state["dossiers"]) != count:
        problems.append(f"{len(nsw_state['dossiers'])} dossiers at the NSW, expected {count}")
    for reference, dossier in nsw_state["dossiers"].items():
        if dossier["results"] != {"21": 1, "23": 1} or dossier["result_rejects"]:
            problems.append(f"{reference}: results {dossier['results']} rejects {dossier['result_rejects']}")
        if portal_state["dossiers"].get(reference, {}).get("submissions") != 1:
            problems.append(f"{reference}: not submitted exactly once")
    return problems


def role(split: bool, index: int) -> str | None:
    """The role of daemon `index`: with --split the first is intake, the others worker; else both."""
    if not split:
        return None
    return "intake" if index == 0 else "worker"


def run(args: argparse.Namespace) -> tuple[int, float]:
    """One run from fresh processes and a fresh store: (exit code, dossiers per second)."""
    workdir = Path(tempfile.mkdtemp(prefix="nswa-e2e-bench-"))
    print(f"generating {args.dossiers} dossiers ...", flush=True)
    batch = dossiers(args.dossiers)
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/adapter.db"
    migrate_store(store_url)
    portal = Portal(free_port(), args.decision_delay, args.portal_faults, workdir)
    adapters: list[Adapter] = []
    try:
        with NswSimulator(push_timeout=30, backoff_max=1.0) as nsw:
            adapters = [
                Adapter(f"adapter-{i + 1}", store_url, portal.url, nsw.url, workdir, role(args.split, i))
                for i in range(args.daemons)
            ]
            # Each intake daemon takes its share of the pushes, as behind a load balancer.
            nsw.agency_urls = [a.intake_url for a in adapters if a.role in (None, "intake")]
            # CPU from the moment the clock starts: the processes' start-up (imports, schemas) is not
            # the dossiers' cost.
            pids = {f"adapter-{i + 1}": a.process.pid for i, a in enumerate(adapters)}
            pids["portal simulator"] = portal.process.pid
            pids["NSW simulator (this process)"] = os.getpid()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            for files in batch:
                nsw.push_dossier(files)
            pushed_at = None
            last_line = 0.0
            while True:
                # The cheap progress, not the whole state: this process's CPU is counted as the NSW's.
                progress = nsw.progress()
                elapsed = time.monotonic() - started
                if pushed_at is None and progress["pending_pushes"] == 0 and progress["dossiers"]:
                    pushed_at = elapsed
                if progress["all_final"] or elapsed > args.timeout:
                    break
                if elapsed - last_line >= 5:
                    last_line = elapsed
                    print(f"  {elapsed:6.1f} s: {progress['done']} final", flush=True)
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            metrics = adapters[-1].metrics()  # a worker's (the last daemon runs the loops)
            state = nsw.admin_state()
            portal_state = portal.state()
            problems = check(state, portal_state, args.dossiers)
            calls = portal_state["counters"]
    finally:
        codes = [a.stop() for a in adapters]
        portal.stop()
        if args.store == "postgresql":
            drop_pg_database(store_url)
    split = " (1 intake, the others worker)" if args.split else ""
    print(
        f"\n{args.dossiers} dossiers, store {args.store}, {args.daemons} daemon(s){split}: "
        f"{elapsed:.1f} s end to end, {args.dossiers / elapsed:.1f} dossiers/s"
    )
    print(f"  all pushes answered after {pushed_at or float('nan'):.1f} s")
    print(
        f"  portal requests per dossier {calls['requests'] / args.dossiers:.2f} "
        f"(GetProcessingStatus {calls['status_requests'] / args.dossiers:.2f}, "
        f"repeated ClientMessageIds {calls['duplicates']})"
    )
    print(
        f"  mean call latency (daemon {args.daemons}): "
        + ", ".join(f"{op} {mean_latency(metrics, op)}" for op in ("submit", "poll", "send"))
    )
    print(
        "  CPU per dossier: "
        + ", ".join(f"{name} {1000 * seconds / args.dossiers:.1f} ms" for name, seconds in cpu.items())
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  daemons exited with {codes}; logs in {workdir}")
    if problems:
        print(f"LOST OR DOUBLED ({len(problems)}): {problems[:5]}")
        return 1, args.dossiers / elapsed
    print("  nothing lost, nothing doubled")
    return 0, args.dossiers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument(
        "--split", action="store_true", help="daemon 1 runs the intake role only, the others the worker role"
    )
    parser.add_argument("--decision-delay", type=float, default=0.2)
    parser.add_argument("--portal-faults", default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs to make; their median is printed (a shared VM varies)"
    )
    args = parser.parse_args()
    compile_package()
    if args.split and args.daemons < 2:
        parser.error("--split needs --daemons 2 or more (an intake daemon and a worker daemon)")
    results = [run(args) for _ in range(max(1, args.repeat))]
    if len(results) > 1:
        rates = [rate for _, rate in results]
        runs = ", ".join(f"{rate:.1f}" for rate in rates)
        print(f"\nmedian of {len(rates)} runs: {statistics.median(rates):.1f} dossiers/s (runs: {runs})")
    sys.exit(max(code for code, _ in results))


if __name__ == "__main__":
    main()
