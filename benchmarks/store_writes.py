"""The store's write transactions of a dossier's way through the worker, against a baseline checkout.

On a SQLite store in a temporary folder: `--dossiers` generated dossiers (20 crew) stored as intake
stores them, then in batches of `--batch` as the loops record them: submissions begun, receipts
(the contract's 21) and clearances (the contract's 23, two shore passes). Per item: this thread's
CPU, and the part of it spent holding SQLite's writer lock (store/engine.py's writer figures),
which every other writer waits for. Each round runs in a child process; with `--baseline`, rounds
alternate between this checkout and the baseline's code (put first on PYTHONPATH, the same
installed dependencies), medians and ratios printed. A baseline older than the writer figures
(b44572f) shows its held CPU as -.

    git worktree add --detach /tmp/baseline REV
    .venv/bin/python benchmarks/store_writes.py [--rounds 5] [--dossiers 400] [--baseline /tmp/baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("begin_submissions", "record_receipts", "record_polls")


def measure(dossiers: int, batch: int) -> dict[str, dict[str, float | None]]:
    """In a child: each step's CPU and writer-held CPU per item, µs (held None when not measured)."""
    import hashlib

    from sqlalchemy import select

    from nsw_adapter.envelope import read_message
    from nsw_adapter.fixtures import generate_dossier
    from nsw_adapter.intake import to_incoming
    from nsw_adapter.lifecycle import DossierState
    from nsw_adapter.logging import configure_logging
    from nsw_adapter.store import (
        OutgoingMessage,
        PollOutcome,
        ReceiptRecord,
        SubmissionStart,
        engine,
        open_store,
        tables,
    )

    # A baseline from before the writer figures has none: its held CPU is not measured.
    figures_of: Callable[[], Any] | None = getattr(engine, "writer_figures", None)

    configure_logging("warning", stream=open(os.devnull, "w"))  # noqa: SIM115
    samples = ROOT / "fixtures" / "samples" / "nsw" / "results"
    accepted = (samples / "result-21-accepted.xml").read_bytes()
    cleared = (samples / "result-23-completed.xml").read_bytes()

    def own(payload: bytes, message_id: str) -> bytes:
        start = payload.index(b"<messageId>") + len(b"<messageId>")
        return payload[:start] + message_id.encode() + payload[payload.index(b"</messageId>") :]

    store = open_store(f"sqlite:///{tempfile.mkdtemp(prefix='nswa-writes-')}/store.db", migrate=True)
    for seed in range(dossiers):
        for _, raw in generate_dossier(crew=20, seed=seed, native_scripts=False):
            store.receive(to_incoming(read_message(raw), hashlib.sha256(raw).hexdigest()))
    with store.engine.connect() as c:
        ids = list(c.execute(select(tables.dossiers.c.id).order_by(tables.dossiers.c.id)).scalars())
    submission = b"<Submission>" + b"x" * 20_000 + b"</Submission>"

    def items(step: str, chunk: list[int]) -> list[Any]:
        if step == "begin_submissions":
            return [SubmissionStart(i, submission, b"lineage", None) for i in chunk]
        if step == "record_receipts":
            answers = {i: OutgoingMessage(f"A{i}", "21", own(accepted, f"A{i}")) for i in chunk}
            return [ReceiptRecord(i, f"BG-2026-{i:06d}", False, answers[i]) for i in chunk]
        result = {i: OutgoingMessage(f"C{i}", "23", own(cleared, f"C{i}")) for i in chunk}
        return [PollOutcome(i, decision=DossierState.CLEARED, result=result[i]) for i in chunk]

    figures: dict[str, dict[str, float | None]] = {}
    for step in STEPS:
        before = figures_of().holding_cpu if figures_of else 0.0
        spent = 0.0
        for k in range(0, len(ids), batch):
            batch_items = items(step, ids[k : k + batch])
            started = time.thread_time()
            errors = getattr(store, step)(batch_items)
            spent += time.thread_time() - started
            if any(errors):
                raise SystemExit(f"{step}: {[e for e in errors if e][:1]}")
        held = (figures_of().holding_cpu - before) if figures_of else None
        per_item = None if held is None else 1e6 * held / len(ids)
        figures[step] = {"cpu": 1e6 * spent / len(ids), "held": per_item}
    store.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dossiers", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32, help="items per transaction ([worker] claim_batch)")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.dossiers, args.batch)))
        return 0
    sides = {"current": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    runs: dict[str, list[dict[str, dict[str, float | None]]]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side, checkout in sides.items():
            print(f"round {r + 1}/{args.rounds}: {side} ...", flush=True)
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            sizes = ["--dossiers", str(args.dossiers), "--batch", str(args.batch)]
            command = [sys.executable, __file__, "--child", *sizes]
            done = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True, check=True)
            runs[side].append(json.loads(done.stdout.splitlines()[-1]))

    def median(side: str, step: str, key: str) -> float | None:
        values = [run[step][key] for run in runs[side]]
        return None if None in values else statistics.median(v for v in values if v is not None)

    print(f"\n{args.dossiers} dossiers of 20 crew, {args.batch} per transaction, SQLite; µs per item, "
          f"median of {args.rounds} rounds (this thread's CPU / of it holding the writer)")  # fmt: skip
    for step in STEPS:
        line = f"  {step:<18}"
        for side in sides:
            cpu, held = median(side, step, "cpu"), median(side, step, "held")
            line += f"  {side} {cpu:6.0f} / {'-' if held is None else f'{held:.0f}':>5}"
        if "baseline" in sides:
            cpu_ratio = (median("current", step, "cpu") or 0) / (median("baseline", step, "cpu") or 1)
            line += f"  current/baseline CPU {cpu_ratio:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
