"""What a dossier costs the daemon, against the bare mapping of the same dossier, and what an agent waits.

One run, four parts (issue 19):
1. The bare mapping, in this process: per dossier, the CPU of `translate()` and of the floor of
   benchmarks/translate.py (hardened parse, envelope.xsd, an XSLT doing the mapping, serialize,
   submission.xsd), over the same dossiers the daemon gets; measured before each burst of part 2
   and after the last, each burst's baseline the mean of the two around it (the VM's speed
   drifts in minutes).
2. The daemon with its default settings (`nsw-adapter run`, SQLite or PostgreSQL), the NSW and
   portal simulators in this process: the dossiers pushed at once, the clock and the daemon's CPU
   (/proc) running from the first push to the last final Result; `--rounds` bursts (the same
   dossiers under new references), the median one's figures printed in full (this VM's run-to-run
   noise is about 15%: one burst cannot tell a 5% change). Its CPU per stage comes from
   its /metrics (`nsw_adapter_cpu_seconds_total{stage}`, nsw_adapter/cpu.py); portal calls per
   dossier from the portal's counters.
3. Latency after quiet spells, same daemon: one dossier every `--quiet` seconds; from the answer to
   its last push to the portal's receipt (p50, p99), and from the officer's decision (the portal
   decides `--decision-delay` s after the receipt) to the final Result's arrival at the NSW.
4. A backlog of `--backlog` dossiers drained (benchmarks/backlog.py: stored during a portal
   outage, the clock running from the portal's return to the last final Result).

    .venv/bin/python benchmarks/cost.py [--dossiers 200] [--rounds 3] [--store sqlite|postgresql]
        [--latency 20] [--quiet 3] [--decision-delay 2] [--backlog 2000]

Dossiers of parts 1-3: 16-24 crew, every third with 5-40 passengers (Latin names: the XSLT
floor cannot transliterate other scripts). The machine's load swings every figure: run it twice.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import backlog  # noqa: E402
from end_to_end import (  # noqa: E402
    Adapter,
    check,
    compile_package,
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    migrate_store,
    sqlite_writer,
    writer_line,
)
from translate import Floor  # noqa: E402

from nsw_adapter.fixtures import DEFAULT_SENT_AT, generate_dossier  # noqa: E402
from nsw_adapter.simulators.nsw import NswSimulator  # noqa: E402
from nsw_adapter.simulators.portal import PortalSimulator  # noqa: E402
from nsw_adapter.translate import translate  # noqa: E402

Dossier = list[tuple[str, bytes]]
#: Stages as nsw_adapter/cpu.py names them, in the order of a dossier's way; nested ones indented.
STAGES = (
    ("intake", "intake pool: SOAP, WS-Security, envelope, digest, answer"),
    ("store-intake", "intake's group commits (store)"),
    ("store-nonces", "nonces' group commits (store)"),
    ("loop.submit", "submit loop: claims, translation, store, portal call"),
    ("  translate", "translate()"),
    ("  portal.submit", "SubmitDeclaration (request, WS-Security, HTTP, answer)"),
    ("record-receipts", "receipts committed as they come (store)"),
    ("loop.poll", "poll loop: claims, store, decisions' Results"),
    ("  portal.statuses", "GetProcessingStatus (request, WS-Security, HTTP, answer)"),
    ("loop.outbox", "outbox loop: claims, store, Results sent"),
    ("  nsw.send", "sendAndGetMessage (request, WS-Security, HTTP, answer)"),
    ("record-sent", "Results marked sent as the NSW accepts them (store)"),
    ("loop.cancel", "cancel loop"),
    ("loop.housekeeping", "housekeeping loop"),
)
_TOP_LEVEL = [name for name, _ in STAGES if not name.startswith(" ")]


def make_dossiers(count: int, prefix: str) -> list[Dossier]:
    """~20 crew, every third with passengers, distinct references and send times."""
    return [
        generate_dossier(
            crew=16 + i % 9, passengers=0 if i % 3 else 5 + i % 36, seed=1000 + i,
            reference=f"{prefix}-2026-{i:06d}", sent_at=DEFAULT_SENT_AT + timedelta(seconds=30 * i),
            native_scripts=False,
        )
        for i in range(count)
    ]  # fmt: skip


def bare_mapping(batch: list[Dossier]) -> tuple[float, float]:
    """CPU seconds per dossier: (translate(), the XSLT floor), interleaved, after a warm-up."""
    floor = Floor()
    documents = [[data for _, data in files] for files in batch]
    translate(documents[0], client_message_id="warm-up")
    floor(documents[0])
    ours = theirs = 0.0
    for i, docs in enumerate(documents):
        started = time.process_time()
        result = translate(docs, client_message_id=f"cost-{i}")
        ours += time.process_time() - started
        if result.submission is None:
            raise AssertionError(f"dossier {i} does not translate: {result.problems[:3]}")
        started = time.process_time()
        floor(docs)
        theirs += time.process_time() - started
    return ours / len(batch), theirs / len(batch)


def stage_seconds(metrics: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in re.findall(
            r'nsw_adapter_cpu_seconds_total\{stage="([^"]+)"\} ([0-9.e+-]+)', metrics
        )
    }


def wait_final(nsw: NswSimulator, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not nsw.progress()["all_final"]:
        if time.monotonic() > deadline:
            raise TimeoutError("not every dossier reached its final Result")
        time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def daemon_cost(adapter: Adapter, nsw: NswSimulator, portal: PortalSimulator, batch: list[Dossier],
                timeout: float) -> dict[str, Any]:  # fmt: skip
    """Part 2: the batch pushed at once; CPU per dossier, per stage, and portal calls."""
    before_metrics = adapter.metrics()
    before_stages = stage_seconds(before_metrics)
    before_cpu = cpu_seconds(adapter.process.pid)
    before_calls = portal.admin_state()["counters"]
    started = time.monotonic()
    for files in batch:
        nsw.push_dossier(files)
    wait_final(nsw, timeout)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(adapter.process.pid) - before_cpu
    after_metrics = adapter.metrics()
    after = stage_seconds(after_metrics)
    stages = {name: after.get(name, 0.0) - before_stages.get(name, 0.0) for name in after}
    counters = portal.admin_state()["counters"]
    calls = {key: counters[key] - before_calls.get(key, 0) for key in ("requests", "status_requests")}
    writer = writer_line([sqlite_writer(before_metrics)], [sqlite_writer(after_metrics)], elapsed)
    return {"elapsed": elapsed, "cpu": cpu, "stages": stages, "calls": calls, "writer": writer}


def latencies(nsw: NswSimulator, portal: PortalSimulator, batch: list[Dossier], prefix: str, quiet: float,
              timeout: float) -> tuple[list[float], list[float]]:  # fmt: skip
    """Part 3: (last push answered -> receipt, decision -> final Result at the NSW), in seconds."""
    for files in batch:
        time.sleep(quiet)
        nsw.push_dossier(files)
    wait_final(nsw, timeout)
    nsw_dossiers = nsw.service.state.dossiers
    with portal.service.lock:
        declarations = list(portal.service.state.declarations.values())
    receipt, decision = [], []
    for declaration in declarations:
        reference = declaration.submission.reference
        pushed = nsw_dossiers.get(reference)
        if pushed is None or not reference.startswith(prefix):
            continue
        answered = max(record.answered_at or 0.0 for record in pushed.pushed.values())
        receipt.append(declaration.received_at - answered)
        finals = [r.received_at for r in pushed.results if r.function in ("22", "23")]
        decision.append(min(finals) - declaration.decide_at)
    return receipt, decision


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=200, help="part 2's burst (and part 1's dossiers)")
    parser.add_argument("--rounds", type=int, default=3, help="part 2's bursts; the median one is shown")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--latency", type=int, default=20, help="part 3's dossiers, one per quiet spell")
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of quiet before each of them")
    parser.add_argument("--decision-delay", type=float, default=2.0, help="the officers' seconds")
    parser.add_argument("--backlog", type=int, default=2000, help="part 4's dossiers (0: skip it)")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    compile_package()
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; generating dossiers ...",
        flush=True,
    )
    rounds = [make_dossiers(args.dossiers, f"CS{chr(ord('A') + r)}") for r in range(args.rounds)]
    batch = rounds[0]
    quiet_batch = make_dossiers(args.latency, "LAT")
    people = statistics.mean(
        sum(data.count(b"<CrewCode>") + data.count(b"<PassengerCode>") for _, data in files)
        for files in batch
    )
    # Measured again after each burst: this shared VM's speed drifts by half within minutes, so
    # each burst's baseline is the mean of the measurements around it.
    mapping = [bare_mapping(batch)]

    workdir = Path(tempfile.mkdtemp(prefix="nswa-cost-"))
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/adapter.db"
    migrate_store(store_url)
    adapter: Adapter | None = None
    try:
        with (
            PortalSimulator(decision_delay=args.decision_delay) as portal,
            NswSimulator(push_timeout=30, backoff_max=1.0) as nsw,
        ):
            adapter = Adapter("cost", store_url, portal.url, nsw.url, workdir, tuned=False)
            nsw.agency_url = adapter.intake_url
            costs = []
            for r, burst in enumerate(rounds):
                print(f"part 2, burst {r + 1}/{args.rounds}: {args.dossiers} dossiers pushed at once ...",
                      flush=True)  # fmt: skip
                costs.append(daemon_cost(adapter, nsw, portal, burst, args.timeout))
                mapping.append(bare_mapping(batch))
            print(f"part 3: {args.latency} dossiers, each after {args.quiet:g} s of quiet ...", flush=True)
            receipt, decision = latencies(nsw, portal, quiet_batch, "LAT-", args.quiet, args.timeout)
            pushed = args.rounds * args.dossiers + args.latency
            problems = check(nsw.admin_state(), portal.admin_state(), pushed)
    finally:
        if adapter is not None:
            adapter.stop()
        if args.store == "postgresql":
            drop_pg_database(store_url)
    drain = None
    if args.backlog:
        print(f"part 4: a backlog of {args.backlog} (benchmarks/backlog.py) ...", flush=True)
        options = ["--dossiers", str(args.backlog), "--store", args.store, "--outage", "1", "--timeout",
                   str(args.timeout)]  # fmt: skip
        code, drain = backlog.run(backlog.parser().parse_args(options))
        problems += ["backlog: lost or doubled"] if code else []

    n = args.dossiers
    per = 1000 / n
    print(f"\n== {n} dossiers of {people:.0f} people on average, store {args.store}, default settings ==")
    # Each burst against the mean of the bare mapping measured just before and just after it.
    baselines = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(mapping)]
    ratios = [c["cpu"] * per / (1000 * ours) for c, (ours, _) in zip(costs, baselines, strict=True)]
    median = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
    cost, (ours, floor) = costs[median], baselines[median]
    print("bursts: " + ", ".join(
        f"{c['cpu'] * per:.2f} ms = {ratio:.1f}x" for c, ratio in zip(costs, ratios, strict=True)
    ) + f" (translate() {', '.join(f'{1000 * m[0]:.2f}' for m in mapping)} ms around them)")  # fmt: skip
    print(f"the median burst, {median + 1}: bare mapping per dossier translate() {1000 * ours:.2f} ms CPU, "
          f"XSLT floor {1000 * floor:.2f} ms")  # fmt: skip
    daemon = cost["cpu"] * per
    print(f"daemon CPU per dossier, first push to last Result: {daemon:.2f} ms "
          f"= {daemon / (1000 * ours):.1f}x translate(), {daemon / (1000 * floor):.1f}x the floor "
          f"({cost['elapsed']:.1f} s for the burst)")  # fmt: skip
    print(f"portal calls per dossier: {cost['calls']['requests'] / n:.2f} "
          f"(GetProcessingStatus {cost['calls']['status_requests'] / n:.2f})")  # fmt: skip
    stages = cost["stages"]
    covered = sum(stages.get(name, 0.0) for name in _TOP_LEVEL)
    print("\n| stage | CPU ms per dossier | share |\n| --- | ---: | ---: |")
    for name, what in STAGES:
        seconds = stages.get(name.strip(), 0.0)
        print(f"| {'&nbsp;&nbsp;' if name.startswith(' ') else ''}{name.strip()} ({what}) "
              f"| {seconds * per:.2f} | {100 * seconds / cost['cpu']:.0f}% |")  # fmt: skip
    rest = cost["cpu"] - covered
    print(f"| the rest (asyncio thread: HTTP in and out, /metrics; GC; idle loops) | {rest * per:.2f} "
          f"| {100 * rest / cost['cpu']:.0f}% |")  # fmt: skip
    print(f"| **daemon process** | **{daemon:.2f}** | 100% |")
    if args.store == "sqlite":
        print(cost["writer"])
    if receipt:  # --latency 0: part 3 skipped
        print(f"\nafter {args.quiet:g} s quiet spells ({len(receipt)} dossiers):")
        print(f"  last push answered -> portal receipt: p50 {percentile(receipt, 0.5):.3f} s, "
              f"p99 {percentile(receipt, 0.99):.3f} s")  # fmt: skip
        print(f"  officer's decision -> final Result at the NSW (decided {args.decision_delay:g} s after "
              f"the receipt): p50 {percentile(decision, 0.5):.2f} s, "
              f"p99 {percentile(decision, 0.99):.2f} s")  # fmt: skip
    if drain is not None:
        print(f"backlog of {args.backlog} (4-10 crew) drained in {drain:.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; logs in {workdir}")
    if problems:
        print(f"LOST OR DOUBLED: {problems[:5]}")
        return 1
    print("nothing lost, nothing doubled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
