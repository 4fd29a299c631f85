"""Progress through crashes: dossiers finished per minute while the daemons are SIGKILLed every
1-4 s under portal faults, against the same configuration left alone (issue 15).

Processes as in end_to_end.py: the portal simulator CLI (with --faults), one or more
`nsw-adapter run` daemons, and this process holding the NSW simulator. A "calm" run pushes the
dossiers and waits for every one to be final; a "crash" run pushes the same dossiers and, until
every one is final or --window seconds have passed, SIGKILLs each daemon 1-4 s (--kill-every)
after it was started and starts it again at once (so a daemon lives 1-4 s, its start-up
included; --life-from healthy: 1-4 s after it first answers /healthz). Then the killing stops,
the run finishes, and nothing may be lost or doubled.

    .venv/bin/python benchmarks/chaos.py [--dossiers 300] [--store sqlite|postgresql] [--daemons N]
        [--faults SPEC] [--window 120] [--repeat 1] [--mode both|calm|crash]
        [--life-from start|healthy]

Per run it prints: dossiers finished per minute (final at the NSW within the window, or all of them
by when the last was), the longest stretch without a new Result at the NSW (from the first push to
the end of the window), the portal's repeated calls (a ClientMessageId or a cancellation it had
answered already) in all and per kill, and the crash run's rate as a share of the calm run's
(`--mode both` alternates calm and crash runs, --repeat times); and where the dossiers final in
the window spent their time: pushed by the NSW until acknowledged, then acknowledged to their
first Result (medians, 90th percentiles), with the NSW's failed pushes by kind; and how long the
daemons' start-ups took, from the start to the first answer of /healthz (median, longest). The NSW
simulator moves a dossier to the next daemon's intake when its own refuses the connection (a
load balancer's part). CHAOS_LOG_LEVEL=INFO keeps the daemons' start-ups and takeovers in the
run's logs (its temporary directory).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from end_to_end import (  # noqa: E402
    BIN,
    Portal,
    check,
    compile_package,
    create_pg_database,
    dossiers,
    drop_pg_database,
    free_port,
    migrate_store,
)

from nsw_adapter.simulators.nsw import NswSimulator  # noqa: E402

FAULTS = "seed=15,http503=0.08,unavailable=0.08,reset=0.05,lost-reply=0.04"  # 25% of portal calls


class Daemon:
    """One `nsw-adapter run` under a fixed worker name, started again after each kill."""

    def __init__(self, name: str, store_url: str, portal_url: str, nsw_url: str, workdir: Path) -> None:
        self.name = name
        self.intake_port, self.metrics_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "NSW_ADAPTER_WORKER_ID": name,
            "NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS": "true",
            "NSW_ADAPTER_INTAKE__PORT": str(self.intake_port),
            "NSW_ADAPTER_OBSERVABILITY__PORT": str(self.metrics_port),
            "NSW_ADAPTER_STORE__URL": store_url,
            "NSW_ADAPTER_PORTAL__URL": portal_url,
            "NSW_ADAPTER_NSW__URL": nsw_url,
            # CHAOS_LOG_LEVEL=INFO: the daemons' start-ups and takeovers in the run's logs.
            "NSW_ADAPTER_OBSERVABILITY__LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
            "NSW_ADAPTER_WORKER__POLL_INTERVAL_SECONDS": "0.5",
            "NSW_ADAPTER_WORKER__IDLE_SECONDS": "0.05",
            "NSW_ADAPTER_WORKER__DEFER_INITIAL_SECONDS": "0.5",
            "NSW_ADAPTER_WORKER__DEFER_MAX_SECONDS": "5",
            "NSW_ADAPTER_WORKER__BREAKER_RESET_SECONDS": "2",
        }
        self.log = (workdir / f"{name}.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.healthy_at: float | None = None
        self.starts = 0
        self.startups: list[float] = []  # seconds from each start to its first /healthz (crash runs)

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}/nsw/agency"

    def start(self) -> None:
        self.starts += 1
        self.started_at = time.monotonic()
        self.healthy_at = None
        self.process = subprocess.Popen(
            [str(BIN), "run"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1).ok:
                    self.healthy_at = time.monotonic()
                    self.startups.append(self.healthy_at - self.started_at)
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def life_began(self, after_start: bool) -> float | None:
        """When its life began: when it was started, or (after_start) when it first answered
        /healthz (None: not yet). Either way, each start-up's length is kept (`startups`)."""
        if self.healthy_at is None:
            try:
                if requests.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=0.2).ok:
                    self.healthy_at = time.monotonic()
                    self.startups.append(self.healthy_at - self.started_at)
            except requests.RequestException:
                pass
        return self.started_at if not after_start else self.healthy_at

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        finally:
            self.log.close()


@dataclass
class Outcome:
    mode: str
    finished: int
    seconds: float  # the window, or less when every dossier was final before it ended
    longest_gap: float
    repeats: int
    kills: int
    problems: list[str]
    resent: int  # Results the NSW had accepted already, sent again
    startups: list[float]  # seconds from each daemon's start to its first /healthz

    @property
    def per_minute(self) -> float:
        return 60.0 * self.finished / self.seconds


def _result_times(nsw: NswSimulator) -> list[float]:
    """When each Result the NSW accepted arrived (wall clock), in order."""
    times = nsw._on_loop(  # the in-process simulator's Result records hold the times
        lambda service: [r.received_at for d in service.state.dossiers.values() for r in d.results]
    )
    return sorted(times)


def _timeline(nsw: NswSimulator, wall_started: float) -> str:
    """Where the dossiers final in the window spent their time: from the push until the NSW had
    its last document acknowledged (intake, the NSW's pushes and retries), and from then until the
    first Result (the adapter's work), medians and 90th percentiles, with the push failures."""

    def collect(service: object) -> tuple[list[float], list[float], Counter[str]]:
        intake: list[float] = []
        work: list[float] = []
        failures: Counter[str] = Counter()
        for d in service.state.dossiers.values():  # type: ignore[attr-defined]
            for r in d.pushed.values():
                if r.failures:
                    failures[r.last_failure or "?"] += r.failures
            acked = [r.answered_at for r in d.pushed.values()]
            if not d.results or None in acked:
                continue
            last_ack = max(acked)
            intake.append(last_ack - wall_started)
            work.append(min(r.received_at for r in d.results) - last_ack)
        return intake, work, failures

    intake, work, failures = nsw._on_loop(collect)

    def spread(values: list[float]) -> str:
        if not values:
            return "-"
        q = statistics.quantiles(values, n=10) if len(values) > 1 else values * 9
        return f"median {statistics.median(values):.1f} s, p90 {q[-1]:.1f} s"

    return (
        f"pushed until acknowledged: {spread(intake)}; acknowledged to first Result: {spread(work)}; "
        f"push failures {sum(failures.values())} ({', '.join(f'{k} {v}' for k, v in failures.most_common(3))}"
        f" last of each)"
    )


def _startups(seconds: list[float]) -> str:
    """Start-up to the first /healthz: median and the longest."""
    if not seconds:
        return "no start-up seen"
    return (
        f"{len(seconds)} start-ups to the first /healthz: median {statistics.median(seconds):.2f} s, "
        f"longest {max(seconds):.2f} s"
    )


def run(args: argparse.Namespace, mode: str, batch: list[list[tuple[str, bytes]]]) -> Outcome:
    workdir = Path(tempfile.mkdtemp(prefix=f"nswa-chaos-{mode}-"))
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/adapter.db"
    migrate_store(store_url)
    portal = Portal(free_port(), args.decision_delay, args.faults, workdir)
    rng = random.Random(args.seed)
    low, _, high = args.kill_every.partition("-")
    life = (float(low), float(high or low))
    daemons: list[Daemon] = []
    kills = 0
    try:
        with NswSimulator(push_timeout=5, backoff_initial=0.05, backoff_max=0.5) as nsw:
            daemons = [
                Daemon(f"adapter-{i + 1}", store_url, portal.url, nsw.url, workdir)
                for i in range(args.daemons)
            ]
            for daemon in daemons:
                daemon.start()
            for daemon in daemons:
                daemon.wait_healthy()
            nsw.agency_urls = [d.intake_url for d in daemons]
            lives = {d.name: rng.uniform(*life) for d in daemons}
            started = time.monotonic()
            wall_started = time.time()
            for files in batch:
                nsw.push_dossier(files)
            progress = nsw.progress()
            while not progress["all_final"] and time.monotonic() - started < args.window:
                if mode == "crash":
                    for daemon in daemons:
                        began = daemon.life_began(args.life_from == "healthy")
                        if began is not None and time.monotonic() - began >= lives[daemon.name]:
                            daemon.kill()
                            kills += 1
                            daemon.start()
                            lives[daemon.name] = rng.uniform(*life)
                time.sleep(0.05)
                progress = nsw.progress()
            seconds = time.monotonic() - started
            wall_ended = wall_started + seconds
            finished = progress["done"]
            times = [t for t in _result_times(nsw) if t <= wall_ended]
            marks = [wall_started, *times] + ([] if progress["all_final"] else [wall_ended])
            longest_gap = max((b - a for a, b in itertools.pairwise(marks)), default=seconds)
            timeline = _timeline(nsw, wall_started)
            # The rest of the run, no more kills: nothing may be lost or doubled.
            for daemon in daemons:
                if daemon.process is not None and daemon.process.poll() is None:
                    continue
                daemon.start()
            with contextlib.suppress(TimeoutError):
                nsw.wait_all_final(timeout=args.drain, interval=0.25)
            portal_state = portal.state()
            nsw_state = nsw.admin_state()
            problems = check(nsw_state, portal_state, len(batch))
            resent = sum(int(d["result_duplicates"]) for d in nsw_state["dossiers"].values())
            counters = portal_state["counters"]
            repeats = int(counters.get("duplicates", 0)) + int(counters.get("cancel_duplicates", 0))
    finally:
        for daemon in daemons:
            daemon.stop()
        portal.stop()
        if args.store == "postgresql":
            drop_pg_database(store_url)
    startups = [seconds for daemon in daemons for seconds in daemon.startups]
    outcome = Outcome(mode, finished, seconds, longest_gap, repeats, kills, problems, resent, startups)
    per_kill = f", {repeats / kills:.1f} per kill" if kills else ""
    print(
        f"  {mode:5s}: {finished}/{len(batch)} final in {seconds:.1f} s = "
        f"{outcome.per_minute:.0f} dossiers/min; "
        f"longest stretch without a new Result {longest_gap:.1f} s; {kills} kills; "
        f"portal repeats {repeats}{per_kill}; Results resent to the NSW {resent}; "
        + (f"LOST OR DOUBLED ({len(problems)}): {problems[:3]}" if problems else "nothing lost or doubled"),
        flush=True,
    )
    print(f"         {timeline}; {_startups(startups)}", flush=True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=300)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--daemons", type=int, default=None, help="default 1 on SQLite, 2 on PostgreSQL")
    parser.add_argument("--faults", default=FAULTS, help=f"the portal's fault SPEC (default {FAULTS})")
    parser.add_argument("--kill-every", default="1-4", help="seconds a daemon lives before its kill")
    parser.add_argument(
        "--life-from",
        choices=["start", "healthy"],
        default="start",
        help="a daemon's life counts from its start (its start-up included) or from its first /healthz",
    )
    parser.add_argument("--window", type=float, default=120.0, help="seconds of kills at most")
    parser.add_argument("--drain", type=float, default=240.0, help="seconds to finish after the kills")
    parser.add_argument("--decision-delay", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--mode", choices=["both", "calm", "crash"], default="both")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    compile_package()
    if args.daemons is None:
        args.daemons = 2 if args.store == "postgresql" else 1
    print(f"generating {args.dossiers} dossiers ...", flush=True)
    batch = dossiers(args.dossiers, prefix="CHA")
    modes = ["calm", "crash"] if args.mode == "both" else [args.mode]
    print(
        f"{args.store}, {args.daemons} daemon(s), portal faults {args.faults}, "
        f"kills every {args.kill_every} s from {args.life_from}",
        flush=True,
    )
    outcomes: list[Outcome] = []
    for _ in range(max(1, args.repeat)):
        outcomes.extend(run(args, mode, batch) for mode in modes)
    calm = [o.per_minute for o in outcomes if o.mode == "calm"]
    crash = [o for o in outcomes if o.mode == "crash"]
    if calm and crash:
        rate = statistics.median(o.per_minute for o in crash)
        print(
            f"\ncrash {rate:.0f} vs calm {statistics.median(calm):.0f} dossiers/min: "
            f"{rate / statistics.median(calm):.2f} of the calm rate; longest stretch "
            f"{max(o.longest_gap for o in crash):.1f} s; portal repeats per kill "
            f"{statistics.median(o.repeats / max(1, o.kills) for o in crash):.1f}"
        )
    sys.exit(1 if any(o.problems for o in outcomes) else 0)


if __name__ == "__main__":
    main()
