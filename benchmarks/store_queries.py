"""The store's hot queries: how long each worker-loop claim and `stats` take on a store holding N dossiers.

Builds a store through its own API (SQLite in a temporary file, or a throwaway PostgreSQL
database dropped afterwards), in a realistic mix of states: a READY backlog, SUBMITTED ones
waiting for a decision, CLEARED ones with their Results sent, and some Results still pending.
Then times each call (median of --runs; every claim's leases are released again, untimed) and
prints a table. --explain prints the plan of every SELECT each call runs.

    .venv/bin/python benchmarks/store_queries.py [--dossiers 3000] [--store sqlite|postgresql]
        [--limit 10] [--runs 15] [--explain]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import structlog
from sqlalchemy import event, text

from nsw_adapter.envelope import new_message_id, read_message
from nsw_adapter.fixtures import DEFAULT_SENT_AT, generate_dossier
from nsw_adapter.intake import to_incoming
from nsw_adapter.store import (
    DossierState,
    OutgoingMessage,
    PollOutcome,
    ReceiptRecord,
    SqlStore,
    SubmissionStart,
    open_store,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
WORKER = "bench"


def create_pg_database() -> str:
    name = f"nswa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def result(function: str) -> OutgoingMessage:
    message_id = new_message_id()
    return OutgoingMessage(message_id, function, f"<Envelope>{message_id} {function}</Envelope>".encode())


def populate(store: SqlStore, count: int) -> None:
    """count dossiers in a backlog's mix of states (by reference number modulo 20).

    0-3 READY, never tried; 4-5 READY, deferred once and due again; 6-7 READY, deferred until
    an hour from now (the portal is down); 8-10 SUBMITTED; 11-18 CLEARED with their Results sent;
    19 SUBMITTED with its 21 Result still pending. Tried ones carry an 8 KB submission and a 4 KB
    lineage (as large as a small real dossier's), which sit before the lease columns in the row.
    """
    for i in range(count):
        envelopes = generate_dossier(
            crew=2, seed=i, reference=f"BSQ-2026-{i:06d}", sent_at=DEFAULT_SENT_AT + timedelta(seconds=30 * i)
        )
        for _, raw in envelopes:
            store.receive(to_incoming(read_message(raw), hashlib.sha256(raw).hexdigest()))
    claimed = store.claim_ready("setup", count, 600)
    kinds = {c.dossier_id: int(c.reference.rsplit("-", 1)[1]) % 20 for c in claimed}
    now = datetime.now(UTC)
    for claim in claimed:
        kind = kinds[claim.dossier_id]
        if kind < 4:
            continue
        start = SubmissionStart(claim.dossier_id, os.urandom(8192), os.urandom(4096), claim.version)
        store.begin_submissions([start])
        if kind < 8:
            retry_at = now - timedelta(minutes=1) if kind < 6 else now + timedelta(hours=1)
            store.defer(claim.dossier_id, "portal unreachable", retry_at)
            continue
        store.record_receipts([ReceiptRecord(claim.dossier_id, f"R{claim.dossier_id}", False, result("21"))])
        if 11 <= kind <= 18:
            decision = PollOutcome(claim.dossier_id, decision=DossierState.CLEARED, result=result("22"))
            store.record_polls([decision])
    store.release("setup")
    # Send every Result but those of kind 19 (and anything else still pending: intake's acknowledgements).
    later = now + timedelta(days=1)
    while items := store.claim_outbox("setup", 500, 600, later):
        for item in items:
            if item.dossier_id is not None and kinds.get(item.dossier_id) == 19:
                continue
            store.mark_sent(item.outbox_id)
        if all(item.dossier_id is not None and kinds.get(item.dossier_id) == 19 for item in items):
            break
    store.release("setup")


@contextmanager
def captured(store: SqlStore) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def time_selects(store: SqlStore, call: Callable[[], object], runs: int) -> float:
    """Median ms to run (and fetch) the SELECTs one call makes, re-run alone: its reads without the commit."""
    with captured(store) as statements:
        call()
    store.release(WORKER)
    totals: list[float] = []
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for _ in range(runs):
            total = 0.0
            for statement, parameters in statements:
                cursor = raw.cursor()
                started = time.perf_counter()
                cursor.execute(statement, parameters)
                cursor.fetchall()
                total += time.perf_counter() - started
                cursor.close()
            raw.rollback()
            totals.append(total * 1000)
    return statistics.median(totals)


def explain(store: SqlStore, name: str, call: Callable[[], object]) -> None:
    with captured(store) as statements:
        call()
    store.release(WORKER)
    seen: set[str] = set()
    print(f"\n=== {name}")
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for statement, parameters in statements:
            if statement in seen:
                continue
            seen.add(statement)
            print("  " + " ".join(statement.split())[:400])
            prefix = "EXPLAIN QUERY PLAN " if store.backend == "sqlite" else "EXPLAIN "
            cursor = raw.cursor()
            cursor.execute(prefix + statement, parameters)
            for row in cursor.fetchall():
                print("    ", row[-1] if store.backend == "sqlite" else row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=3000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    workdir = Path(tempfile.mkdtemp(prefix="nswa-storeq-"))
    url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/store.db"
    try:
        store = open_store(url, migrate=True)
        try:
            started = time.perf_counter()
            populate(store, args.dossiers)
            print(
                f"{args.store}: {args.dossiers} dossiers populated in {time.perf_counter() - started:.1f} s"
            )
            print(f"  {store.stats(datetime.now(UTC)).dossiers_by_state}, outbox pending "
                  f"{store.stats(datetime.now(UTC)).outbox_pending}")  # fmt: skip
            if args.store == "postgresql":
                with store.engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            n = args.limit
            calls: dict[str, Callable[[], object]] = {
                "claim_ready": lambda: store.claim_ready(WORKER, n, 60),
                "claim_polls": lambda: store.claim_polls(WORKER, n, 60, datetime.now(UTC)),
                "claim_outbox": lambda: store.claim_outbox(WORKER, n, 60, datetime.now(UTC)),
                "claim_cancellations": lambda: store.claim_cancellations(WORKER, n, 60),
                "stats": lambda: store.stats(datetime.now(UTC)),
                "heartbeat": lambda: [store.heartbeat(WORKER, 60)],
                "release": lambda: [store.release(WORKER)],
            }
            print(
                f"\n{'call':<22}{'median ms':>11}{'min ms':>10}{'SELECTs ms':>12}{'rows':>7}"
                f"   (limit {n}, {args.runs} runs; SELECTs: its reads re-run alone, no commit)"
            )
            for name, call in calls.items():
                timings: list[float] = []
                rows = 0
                for _ in range(args.runs):
                    started = time.perf_counter()
                    got = call()
                    timings.append((time.perf_counter() - started) * 1000)
                    rows = len(got) if isinstance(got, list) else 1
                    store.release(WORKER)
                print(
                    f"{name:<22}{statistics.median(timings):>11.2f}{min(timings):>10.2f}"
                    f"{time_selects(store, call, args.runs):>12.2f}{rows:>7}"
                )
            if args.explain:
                for name, call in calls.items():
                    explain(store, name, call)
        finally:
            store.close()
    finally:
        if args.store == "postgresql":
            drop_pg_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
