"""The operator console's pages: response time on a store of 100,000 dossiers against one of 1,000.

Each store is filled directly in SQL (a year of history: every dossier with its General
Declaration and Crew List received, its submission, its Results sent and its state changes, in
a realistic mix of outcomes over eight border gates), then served by the console's own app and
read over loopback by a logged-in client. Each page's median time of --runs requests is printed
for both stores, with the ratio large/small; `GET /login` (no store access) is the floor.

    .venv/bin/python benchmarks/console_pages.py [--dossiers 100000] [--baseline 1000]
        [--store sqlite|postgresql] [--runs 7]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests
import structlog
from aiohttp import web
from sqlalchemy import text

from nsw_adapter.console.app import create_console_app
from nsw_adapter.console.auth import hash_password
from nsw_adapter.console.config import ConsoleSettings, ConsoleUser
from nsw_adapter.console.store_model import StoreReadModel
from nsw_adapter.simulators.http import BackgroundServer
from nsw_adapter.store import engine as engines
from nsw_adapter.store import open_store
from nsw_adapter.store import tables as t

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "samples" / "nsw"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
GATES = ("CKCHPG", "CKCHGI", "CKCCPA", "CKCNSN", "CKCCLO", "CKCVAG", "CKCSDG", "CKCDNG")
PORTS = (b"VNHPH", b"VNHON", b"VNCPH", b"VNNSN", b"VNCLO", b"VNVAG", b"VNSDG", b"VNDNG")
BATCH = 2000
PASSWORD = "bench"  # a throwaway store's console login


def gd_payload(i: int) -> bytes:
    """The sample General Declaration with this dossier's IMO, ship name and port."""
    raw = (SAMPLES / "valid" / "arrival-general-cargo" / "50-general-declaration.xml").read_bytes()
    return (
        raw.replace(b"9471537", f"9{i:06d}".encode())
        .replace(b"OCEAN JADE", f"BENCH SHIP {i % 5000}".encode())
        .replace(b"<PortOfCallCode>VNHPH", b"<PortOfCallCode>" + PORTS[i % len(PORTS)])
    )


def rows(i: int, now: datetime, span: timedelta, count: int, ids: dict[str, int]) -> dict[str, list[Any]]:
    """One dossier's rows in every table; its outcome by i modulo 100."""
    created = now - span + span * (i + 0.5) / count
    outcome = i % 100
    state = (
        "cleared" if outcome < 85 else "rejected" if outcome < 93 else "rejected_locally" if outcome < 96
        else "cancelled" if outcome < 98 else "submitted" if outcome < 99 else "dead"
    )  # fmt: skip
    reference, receipt = f"BCP-2026-{i:07d}", f"CKCHPG-2026-{i:07d}"
    dossier_id = ids["d"] = ids["d"] + 1
    out: dict[str, list[Any]] = {"dossiers": [], "messages": [], "documents": [], "history": [], "outbox": [],
                                 "facts": []}  # fmt: skip

    def message(direction: str, type: str | None, function: str | None, at: datetime, payload: bytes) -> int:
        ids["m"] += 1
        message_id = f"{direction[:1].upper()}{i:08d}{ids['m']:09d}"
        out["messages"].append({
            "id": ids["m"], "direction": direction, "dedup_key": f"{direction}:{message_id}",
            "message_id": message_id, "dossier_id": dossier_id, "reference": reference, "document_type": "1",
            "type": type, "function": function, "send_date": at if direction == "in" else None, "at": at,
            "sha256": "0" * 64, "size": len(payload), "payload": payload, "chain_seq": ids["m"],
            "chain_hash": "0" * 64,
        })  # fmt: skip
        return ids["m"]

    def change(before: str | None, after: str, at: datetime, cause: str) -> None:
        out["history"].append(
            {"dossier_id": dossier_id, "version": 1, "from_state": before, "to_state": after, "at": at,
             "cause": cause}
        )  # fmt: skip

    second = timedelta(seconds=1)
    gd = message("in", "50", "01", created, gd_payload(i))
    crew = message("in", "51", "01", created + second, b"<Envelope><!-- crew list --></Envelope>")
    for type, row in (("50", gd), ("51", crew)):
        document = {"message_id": f"x{row}", "function": "01", "send_date": created}
        out["documents"].append({"dossier_id": dossier_id, "type": type, "message_row": row, **document})
    change(None, "receiving", created, "first document")
    change("receiving", "ready", created + second, "complete")
    updated = created + 60 * second
    if state == "rejected_locally":
        change("ready", state, updated, "rejected locally")
        result = message("out", "26", "22", updated, RESULT_22)
        out["outbox"].append(outbox(dossier_id, result, "22", updated))
    elif state != "dead":
        message("portal", None, None, created + 2 * second, b"<Submission/>")
        change("ready", "submitting", created + 2 * second, "submitting")
        change("submitting", "submitted", created + 3 * second, f"receipt {receipt}")
        accepted = message("out", "26", "21", created + 3 * second, b"<Envelope/>")
        out["outbox"].append(outbox(dossier_id, accepted, "21", created + 3 * second))
        if state in ("cleared", "rejected", "cancelled"):
            function = {"cleared": "23", "rejected": "22", "cancelled": "24"}[state]
            payload = {"23": RESULT_23, "22": RESULT_22, "24": b"<Envelope/>"}[function]
            change("submitted", state, updated, f"decision {state}")
            decided = message("out", "26", function, updated, payload)
            out["outbox"].append(outbox(dossier_id, decided, function, updated))
    else:
        change("ready", "dead", updated, "portal retry budget exhausted")
    decision = {"cleared": "23", "rejected": "22", "rejected_locally": "22", "cancelled": "24"}.get(state)
    out["facts"].append({
        "dossier_id": dossier_id, "imo": f"9{i:06d}", "vessel_name": f"BENCH SHIP {i % 5000}",
        "call_sign": "3FJD7", "gate": GATES[i % len(GATES)], "expected_at": created + timedelta(hours=6),
        "crew": 21, "passengers": 0, "stowaways": 0, "arms": False, "decision": decision,
        "decided_locally": state == "rejected_locally", "decided_at": updated if decision else None,
        "clearance_number": f"CKCHPG/NC/2026/{i:06d}" if decision == "23" else None,
        "shore_passes": 3 if decision == "23" else None, "codes": "E-IMO" if decision == "22" else None,
    })  # fmt: skip
    out["dossiers"].append({
        "id": dossier_id, "reference": reference, "document_type": "1", "state": state, "version": 1,
        "seen": True, "called_for": "51", "gd_message_id": f"x{gd}", "created_at": created,
        "updated_at": updated, "deadline_at": created + 30 * 60 * second,
        "client_message_id": str(uuid.UUID(int=i)), "receipt_number": None if state == "dead" else receipt,
        "attempted": state != "rejected_locally", "amend_pending": False, "cancel_requested": False,
        "cancel_owed": False, "attempts": 1, "dead_from": "ready" if state == "dead" else None,
        "dead_at": updated if state == "dead" else None, "last_error": "portal retry budget exhausted"
        if state == "dead" else None,
    })  # fmt: skip
    return out


def outbox(dossier_id: int, row: int, function: str, at: datetime) -> dict[str, Any]:
    return {"dossier_id": dossier_id, "message_row": row, "message_id": f"x{row}", "function": function,
            "status": "sent", "created_at": at, "next_attempt_at": at, "attempts": 1,
            "sent_at": at}  # fmt: skip


RESULT_23 = (SAMPLES / "results" / "result-23-completed.xml").read_bytes()
RESULT_22 = (SAMPLES / "results" / "result-22-rejected.xml").read_bytes()


def fill(url: str, count: int, now: datetime) -> None:
    """`count` dossiers created evenly over the year before `now`, inserted in batches."""
    store = open_store(url, migrate=True)
    store.close()
    engine = engines.create(url, pool_size=1)  # the store's own engine settings (WAL, BEGIN IMMEDIATE)
    ids = {"d": 0, "m": 0}
    tables = {"dossiers": t.dossiers, "messages": t.messages, "documents": t.documents,
              "history": t.history, "outbox": t.outbox, "facts": t.dossier_facts}  # fmt: skip
    order = ("dossiers", "messages", "documents", "history", "outbox", "facts")
    for start in range(0, count, BATCH):
        batch: dict[str, list[Any]] = {name: [] for name in order}
        for i in range(start, min(count, start + BATCH)):
            for name, values in rows(i, now, timedelta(days=365), count, ids).items():
                batch[name].extend(values)
        with engine.begin() as c:
            for name in order:
                if batch[name]:
                    c.execute(tables[name].insert(), batch[name])
    with engine.begin() as c:
        c.execute(t.audit_chain.delete())
        c.execute(t.audit_chain.insert(), {"id": 1, "seq": ids["m"], "hash": "0" * 64})
        if engine.dialect.name == "postgresql":
            for table in ("nswa_dossiers", "nswa_messages"):
                serial = f"pg_get_serial_sequence('{table}', 'id')"
                c.execute(text(f"SELECT setval({serial}, (SELECT max(id) FROM {table}))"))
            c.execute(text("ANALYZE"))
    engine.dispose()


@contextmanager
def console(url: str) -> Iterator[tuple[str, requests.Session]]:
    store = open_store(url)
    model = StoreReadModel(store, url)
    settings = ConsoleSettings(
        enabled=True, users=[ConsoleUser(name="bench", password_hash=hash_password(PASSWORD), role="viewer")]
    )

    async def make() -> web.Application:
        return create_console_app(settings, model)

    server = BackgroundServer(make, host="127.0.0.1", port=0, name="console-bench")
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    client = requests.Session()
    form = client.get(base + "/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    client.post(base + "/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
    try:
        yield base, client
    finally:
        server.stop()
        model.close()
        store.close()


def pages(count: int) -> dict[str, str]:
    newest = count - 1
    return {
        "stylesheet (floor)": "/static/console.css",
        "overview (last day)": "/",
        "overview (last week)": "/?window=week",
        "dossier list (newest 200)": "/dossiers",
        "search by IMO": f"/dossiers?q=9{newest:06d}",
        "search by reference": f"/dossiers?q=BCP-2026-{newest // 2:07d}",
        "dossier page": f"/dossiers/BCP-2026-{newest:07d}/1",
        "dead letters": "/dead-letters",
        "statistics (30 days)": "/statistics",
        "statistics (the year)": f"/statistics?from={(datetime.now(UTC) - timedelta(days=366)).date()}",
    }


def measure(url: str, count: int, runs: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    with console(url) as (base, client):
        for name, path in pages(count).items():
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = client.get(base + path, allow_redirects=False)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 200, (path, answer.status_code)
            timings[name] = statistics.median(samples)
    return timings


@contextmanager
def store_url(kind: str, folder: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/{name}.db"
        return
    database = f"nswa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    now = datetime.now(UTC)
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for count in (args.baseline, args.dossiers):
            with store_url(args.store, Path(folder), f"s{count}") as url:
                started = time.perf_counter()
                fill(url, count, now)
                print(f"{args.store}: {count:,} dossiers filled in {time.perf_counter() - started:.1f} s")
                results[count] = measure(url, count, args.runs)
    small, large = results[args.baseline], results[args.dossiers]
    print(f"\n{'page':28} {args.baseline:>10,} {args.dossiers:>10,}  ratio   (median of {args.runs}, ms)")
    for name in small:
        ratio = large[name] / small[name]
        print(f"{name:28} {small[name] * 1000:10.1f} {large[name] * 1000:10.1f}  {ratio:5.1f}x")


if __name__ == "__main__":
    main()
