"""Draining a backlog: how long the adapter takes to clear N dossiers that piled up during a portal outage.

The portal is down (not even listening) while the NSW pushes N small dossiers; the adapter
stores them, its submissions fail, the circuit opens and the dossiers are deferred in the
store. Then the portal comes up on the address the adapter was configured with, and the
clock runs until every dossier has its final Result at the NSW.

    .venv/bin/python benchmarks/backlog.py [--dossiers 10000] [--store sqlite|postgresql] [--daemons 1]
        [--split] [--outage 5] [--default-settings]

Prints the intake time, the drain time and rate, and checks nothing was lost or doubled.
A benchmark, not a test: 10,000 dossiers take minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from end_to_end import (
    Adapter,
    Portal,
    check,
    compile_package,
    cpu_seconds,
    create_pg_database,
    dossiers,
    drop_pg_database,
    free_port,
    migrate_store,
    role,
    sqlite_writer,
    writer_line,
)

from nsw_adapter.simulators.nsw import NswSimulator


def run(args: argparse.Namespace) -> tuple[int, float]:
    """One backlog drained: (exit code, seconds from the portal's return to the last final Result)."""
    workdir = Path(tempfile.mkdtemp(prefix="nswa-backlog-"))
    print(f"generating {args.dossiers} dossiers ...", flush=True)
    batch = dossiers(args.dossiers, prefix="BKL")
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/adapter.db"
    migrate_store(store_url)
    portal_port = free_port()
    portal_url = f"http://127.0.0.1:{portal_port}/bgp/portal"
    adapters: list[Adapter] = []
    portal: Portal | None = None
    try:
        with NswSimulator(push_timeout=60, backoff_max=2.0) as nsw:
            adapters = [
                Adapter(
                    f"adapter-{i + 1}",
                    store_url,
                    portal_url,
                    nsw.url,
                    workdir,
                    role(args.split, i),
                    tuned=not args.default_settings,
                )
                for i in range(args.daemons)
            ]
            # Each intake daemon takes its share of the pushes, as behind a load balancer.
            nsw.agency_urls = [a.intake_url for a in adapters if a.role in (None, "intake")]
            started = time.monotonic()
            for files in batch:
                nsw.push_dossier(files)
            nsw.wait_pushed(timeout=args.timeout)
            intake = time.monotonic() - started
            print(f"backlog stored in {intake:.1f} s ({args.dossiers / intake:.0f} dossiers/s intake); "
                  f"portal down for {args.outage:.0f} s more ...", flush=True)  # fmt: skip
            time.sleep(max(0.0, args.outage))
            portal = Portal(portal_port, args.decision_delay, None, workdir)
            up = time.monotonic()
            cpu_before = _cpu(adapters, portal)
            writer_before = [sqlite_writer(a.metrics()) for a in adapters]
            last = 0.0
            # Where the drain's time goes: until the first receipt's Result (the outage noticed
            # over), until half the dossiers are final, until all are.
            baseline = nsw.progress()["results"]
            first_result: float | None = None
            half_final: float | None = None
            while True:
                progress = nsw.progress()
                elapsed = time.monotonic() - up
                if first_result is None and progress["results"] > baseline:
                    first_result = elapsed
                if half_final is None and progress["done"] * 2 >= args.dossiers:
                    half_final = elapsed
                if progress["all_final"] or elapsed > args.timeout:
                    break
                if elapsed - last >= args.every:
                    last = elapsed
                    done, results = progress["done"], progress["results"] - baseline
                    print(f"  {elapsed:6.1f} s after the portal came back: {results} Results, {done} final",
                          flush=True)  # fmt: skip
                time.sleep(0.1)
            drain = time.monotonic() - up
            cpu = {name: used - cpu_before[name] for name, used in _cpu(adapters, portal).items()}
            print("  CPU seconds during the drain: " + ", ".join(f"{n} {v:.1f}" for n, v in cpu.items()))
            if args.store == "sqlite":
                writer_after = [sqlite_writer(a.metrics()) for a in adapters]
                print("  " + writer_line(writer_before, writer_after, drain))
            print(f"  first Result {_seconds(first_result)}, half final {_seconds(half_final)}, "
                  f"all final {drain:.1f} s after the portal came back", flush=True)  # fmt: skip
            state = nsw.admin_state()
            problems = check(state, portal.state(), args.dossiers)
    finally:
        codes = [a.stop() for a in adapters]
        if portal is not None:
            portal.stop()
        if args.store == "postgresql":
            drop_pg_database(store_url)
    split = " (1 intake, the others worker)" if args.split else ""
    print(f"\n{args.dossiers} dossiers, store {args.store}, {args.daemons} daemon(s){split}: backlog drained "
          f"{drain:.1f} s after the portal came back ({args.dossiers / drain:.1f} dossiers/s)")  # fmt: skip
    print(f"  daemons exited with {codes}; logs in {workdir}")
    if problems:
        print(f"LOST OR DOUBLED ({len(problems)}): {problems[:5]}")
        return 1, drain
    print("  nothing lost, nothing doubled")
    return 0, drain


def _cpu(adapters: list[Adapter], portal: Portal) -> dict[str, float]:
    """CPU seconds used so far by each daemon, the portal simulator, and this process (the NSW
    simulator runs in it, with the progress polling)."""
    used = {f"adapter-{i + 1}": cpu_seconds(a.process.pid) for i, a in enumerate(adapters)}
    used["portal"] = cpu_seconds(portal.process.pid)
    own = resource.getrusage(resource.RUSAGE_SELF)
    used["NSW simulator + benchmark"] = own.ru_utime + own.ru_stime
    return used


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def parser() -> argparse.ArgumentParser:
    """The options, with their defaults (cost.py runs a backlog through them too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=10_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument(
        "--split", action="store_true", help="daemon 1 runs the intake role only, the others the worker role"
    )
    parser.add_argument(
        "--outage", type=float, default=5.0, help="seconds the portal stays down after intake"
    )
    parser.add_argument("--decision-delay", type=float, default=0.2)
    parser.add_argument(
        "--default-settings",
        action="store_true",
        help="the daemons' default settings (deferrals up to 2 minutes, polls from 5 s...), not tuned ones",
    )
    parser.add_argument("--every", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("--timeout", type=float, default=3600.0)
    return parser


def main() -> None:
    options = parser()
    args = options.parse_args()
    compile_package()
    if args.split and args.daemons < 2:
        options.error("--split needs --daemons 2 or more (an intake daemon and a worker daemon)")
    sys.exit(run(args)[0])


if __name__ == "__main__":
    main()
