"""The benchmarks the README's figures come from still run, end to end, on a few dossiers.

Their figures are not asserted (speed is a benchmark's business, not a test's); what is: each
exits 0, checked that nothing was lost or doubled, and printed the figures the README and the
issues quote. cost.py broke once when backlog.py grew an option and nothing ran it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_cost_prints_the_ratio_latencies_and_the_backlog() -> None:
    few = "--dossiers 6 --latency 2 --quiet 0.3 --decision-delay 0.2 --backlog 20"
    out = _run("cost.py", *few.split())
    assert "x translate()" in out
    assert "last push answered -> portal receipt: p50" in out
    assert "officer's decision -> final Result at the NSW" in out
    assert "backlog of 20 (4-10 crew) drained in" in out
    assert "half final" in out  # backlog.py's breakdown, through cost.py
    assert "SQLite's writer: held" in out  # the burst's and the drain's (nsw_adapter_sqlite_writer_*)
    assert out.rstrip().endswith("nothing lost, nothing doubled")


def test_chaos_prints_the_share_of_the_calm_rate_and_the_start_ups() -> None:
    out = _run("chaos.py", "--dossiers", "12", "--window", "6", "--kill-every", "1-2")
    assert "of the calm rate; longest stretch" in out
    assert "start-ups to the first /healthz: median" in out
    assert "LOST OR DOUBLED" not in out


def test_startup_compares_with_a_baseline_checkout() -> None:
    """The same tree as its own baseline: both sides start and answer /healthz, the ratio printed."""
    root = str(BENCHMARKS.parent)
    out = _run("startup.py", "--starts", "1", "--baseline", root)
    assert "current   CPU median" in out
    assert "baseline  CPU median" in out
    assert "current/baseline CPU" in out


def test_store_writes_compares_with_a_baseline_checkout() -> None:
    """The same tree as its own baseline: each step measured on both sides, the writer's share too."""
    root = str(BENCHMARKS.parent)
    out = _run("store_writes.py", "--rounds", "1", "--dossiers", "8", "--batch", "4", "--baseline", root)
    for step in ("begin_submissions", "record_receipts", "record_polls"):
        line = next(x for x in out.splitlines() if x.strip().startswith(step))
        assert "current/baseline CPU" in line
        assert " - " not in line  # held CPU measured on both sides
