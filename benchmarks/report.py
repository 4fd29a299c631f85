"""`report` and `show` over a year of dossiers: a store filled with N decided dossiers (default
100,000) spread over 12 months and 10 border gates, then the year's report, one gate's month, and a
vessel looked up by IMO, each timed (best of --repeat), on SQLite and PostgreSQL.

The store is filled by SQL through the store's own tables (dossiers, their facts, state history,
outbox rows), as the daemon would leave them after a year; `fill()` is also what the console's
benchmark uses. Usage:

    .venv/bin/python benchmarks/report.py [--dossiers 100000] [--backend sqlite|postgresql|both] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nsw_adapter.store import open_store  # noqa: E402
from nsw_adapter.store import tables as t  # noqa: E402
from nsw_adapter.store.facade import SqlStore  # noqa: E402
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database  # noqa: E402

GATES = ("CKCHPG", "CKCDNG", "CKCSGN", "CKCQNH", "CKCVTU", "CKCNTG", "CKCCMY", "CKCHGI", "CKCDQT", "CKCCLO")
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 5_000


def fill(store: SqlStore, dossiers: int, seed: int = 1) -> str:
    """N decided dossiers over 2026 (about 90% cleared, 7% rejected by the portal, 3% locally);
    returns one IMO number present in the store."""
    rng = random.Random(seed)
    engine = store.database.engine
    imo_seen = ""
    with engine.begin() as c:
        # The Results' audit rows are not what a report reads: every outbox row points at one.
        c.execute(
            t.messages.insert(),
            {
                "id": 1,
                "direction": "out",
                "dedup_key": "out:bench",
                "at": YEAR_START,
                "sha256": "0" * 64,
                "size": 0,
            },
        )
        for start in range(0, dossiers, BATCH):
            rows: dict[str, list[dict[str, Any]]] = {"d": [], "f": [], "h": [], "o": []}
            for i in range(start, min(dossiers, start + BATCH)):
                _one(rng, i, rows)
            c.execute(t.dossiers.insert(), rows["d"])
            c.execute(t.dossier_facts.insert(), rows["f"])
            c.execute(t.history.insert(), rows["h"])
            if rows["o"]:
                c.execute(t.outbox.insert(), rows["o"])
            imo_seen = rows["f"][0]["imo"]
    return imo_seen


def _one(rng: random.Random, i: int, rows: dict[str, list[dict[str, Any]]]) -> None:
    dossier_id = i + 1
    created = YEAR_START + timedelta(seconds=rng.uniform(0, 365 * 86400))
    ready = created + timedelta(minutes=rng.uniform(1, 60))
    decided = ready + timedelta(seconds=rng.uniform(30, 3600))
    roll = rng.random()
    decision, local, state = ("23", False, "cleared") if roll < 0.9 else ("22", roll > 0.97, "rejected")
    if local:
        state = "rejected_locally"
    crew = rng.randint(8, 30)
    rows["d"].append(
        {
            "id": dossier_id,
            "reference": f"HPH-2026-B{i:07d}",
            "document_type": rng.choice("12"),
            "state": state,
            "version": 1,
            "seen": True,
            "created_at": created,
            "updated_at": decided,
            "deadline_at": created + timedelta(minutes=30),
            "receipt_number": None if local else f"{GATES[i % 10]}-2026-{i:06d}",
        }
    )
    rows["f"].append(
        {
            "dossier_id": dossier_id,
            "imo": f"9{rng.randint(0, 999999):06d}",
            "vessel_name": f"BENCH VESSEL {i % 5000}",
            "call_sign": f"BV{i % 9999:04d}",
            "gate": GATES[i % len(GATES)],
            "expected_at": ready + timedelta(hours=rng.uniform(6, 48)),
            "crew": crew,
            "passengers": rng.choice((0, 0, 0, rng.randint(1, 400))),
            "stowaways": 0,
            "arms": False,
            "decision": decision,
            "decided_locally": local,
            "decided_at": decided,
            "result_message_id": f"BQPB{i:031d}",
            "clearance_number": f"{GATES[i % 10]}/NC/2026/{i:06d}" if decision == "23" else None,
            "shore_passes": rng.randint(0, crew) if decision == "23" else 0,
            "codes": None if decision == "23" else rng.choice(("BG-DOC-ALERT", "E-IMO", "E-DOB,E-COUNT")),
        }
    )
    for function, at, message_id in (("21", ready, f"BQPA{i:031d}"), (decision, decided, f"BQPB{i:031d}")):
        rows["o"].append(
            {"dossier_id": dossier_id, "message_row": 1, "message_id": message_id, "function": function,
             "status": "sent", "created_at": at, "next_attempt_at": at, "attempts": 1,
             "sent_at": at + timedelta(seconds=rng.uniform(0.05, 2))}
        )  # fmt: skip
    rows["h"].append(
        {"dossier_id": dossier_id, "version": 1, "from_state": "receiving", "to_state": "ready", "at": ready,
         "cause": "bench"}
    )  # fmt: skip
    rows["h"].append(
        {"dossier_id": dossier_id, "version": 1, "from_state": "submitted", "to_state": state, "at": decided,
         "cause": "bench"}
    )  # fmt: skip


def timed(label: str, repeat: int, action: Callable[[], Any]) -> float:
    best = min(_once(action) for _ in range(repeat))
    print(f"  {label:38s} {best * 1000:8.1f} ms (best of {repeat})")
    return best


def _once(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(backend: str, dossiers: int, repeat: int) -> None:
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tempfile.mkdtemp(prefix='nswa-report-')}/store.db", None
    else:
        url = cleanup = create_pg_database()
    store = open_store(url, migrate=True)
    try:
        started = time.perf_counter()
        imo = fill(store, dossiers)
        print(f"{backend}: {dossiers} dossiers written in {time.perf_counter() - started:.1f} s")
        year_end = YEAR_START.replace(year=2027)
        figures = store.report(YEAR_START, year_end)
        print(f"  the year: {sum(f.cleared for f in figures)} cleared over {len(figures)} gates")
        timed("report, the year, every gate", repeat, lambda: store.report(YEAR_START, year_end))
        march = (YEAR_START.replace(month=3), YEAR_START.replace(month=4))
        timed("report, one month, one gate", repeat, lambda: store.report(*march, gate="CKCHPG"))
        timed("show --imo (history of one vessel)", repeat, lambda: store.history(imo=imo))
        timed("show REFERENCE", repeat, lambda: store.history(reference="HPH-2026-B0050000"))
    finally:
        store.close()
        if cleanup:
            drop_pg_database(cleanup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        run(backend, args.dossiers, args.repeat)


if __name__ == "__main__":
    main()
