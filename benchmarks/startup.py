"""A daemon's start-up: CPU and wall time from `nsw-adapter run` to its first /healthz answer,
against a baseline checkout of the code in the same run (alternating starts, this VM drifts).

    git worktree add --detach /tmp/baseline REV
    .venv/bin/python benchmarks/startup.py [--starts 8] [--baseline /tmp/baseline]

Every start runs this venv's `nsw-adapter run` (a SQLite store, both simulators in this
process); a baseline start puts the checkout first on PYTHONPATH, so the same installed
dependencies run the baseline's code. It prints each side's median and range, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from end_to_end import BIN, Adapter, compile_package, cpu_seconds, migrate_store  # noqa: E402

from nsw_adapter.simulators import PortalSimulator  # noqa: E402
from nsw_adapter.simulators.nsw import NswSimulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8, help="starts per side")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    args = parser.parse_args()
    compile_package()
    sides = {"current": None} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    if args.baseline:
        compile_package(args.baseline.resolve())
    workdir = Path(tempfile.mkdtemp(prefix="nswa-startup-"))
    store_url = f"sqlite:///{workdir}/adapter.db"
    migrate_store(store_url)
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    with PortalSimulator() as portal, NswSimulator() as nsw:
        for n in range(args.starts):
            order = list(sides) if n % 2 == 0 else list(reversed(sides))
            for name in order:
                root = sides[name]
                if root is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = str(root)
                started = time.perf_counter()
                adapter = Adapter(f"start-{name}-{n}", store_url, portal.url, nsw.url, workdir, tuned=False)
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds(adapter.process.pid))
                adapter.stop()
    os.environ.pop("PYTHONPATH", None)
    print(
        f"{args.starts} starts per side ({BIN} run, SQLite), alternating; CPU and wall to the first /healthz:"
    )
    for name in sides:
        print(f"  {name:<9} CPU median {statistics.median(cpu[name]):.3f} s "
              f"({min(cpu[name]):.2f}-{max(cpu[name]):.2f}), "
              f"wall median {statistics.median(wall[name]):.3f} s "
              f"({min(wall[name]):.2f}-{max(wall[name]):.2f})")  # fmt: skip
    if "baseline" in sides:
        ratio = statistics.median(cpu["current"]) / statistics.median(cpu["baseline"])
        print(f"  current/baseline CPU {ratio:.3f}, wall "
              f"{statistics.median(wall['current']) / statistics.median(wall['baseline']):.3f}")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
