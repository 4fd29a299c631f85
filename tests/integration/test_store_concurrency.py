"""Several workers on one store: claims are exclusive, pushes race safely, migrations run once."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from nsw_adapter.store import DossierState, IntakeOutcome, SqlStore, open_store
from nsw_adapter.store import engine as engines
from nsw_adapter.store import tables as t
from nsw_adapter.store.migrations import STEPS
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database
from tests.support.store import Clock, incoming, result

T = TypeVar("T")


def url_of(store: SqlStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def other(store: SqlStore, clock: Clock) -> Iterator[SqlStore]:
    """A second store on the same database: another worker process's view."""
    second = open_store(url_of(store), clock=clock)
    yield second
    second.close()


def race(*calls: Callable[[], T]) -> list[T]:
    """Run the calls at the same moment on their own threads; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_workers_racing_for_one_dossier_never_both_get_it(store: SqlStore, other: SqlStore) -> None:
    """Twenty times over, two workers claim at once: exactly one gets the dossier."""
    for i in range(20):
        reference = f"HPH-2026-R{i:05d}"
        store.receive(incoming(f"R{i}GD", "50", reference=reference))
        store.receive(incoming(f"R{i}CL", "51", reference=reference, sent_minute=1))
        first, second = race(lambda: store.claim_ready("w1", 1, 30), lambda: other.claim_ready("w2", 1, 30))
        assert len(first) + len(second) == 1, (first, second)
        winner = first or second
        store.reject_locally(winner[0].dossier_id, [], result("22"))


def test_many_workers_share_a_queue_without_overlap(store: SqlStore, other: SqlStore) -> None:
    """Four workers claiming batches at once get disjoint dossiers that cover the queue."""
    for i in range(40):
        reference = f"HPH-2026-Q{i:05d}"
        store.receive(incoming(f"Q{i}GD", "50", reference=reference))
        store.receive(incoming(f"Q{i}CL", "51", reference=reference, sent_minute=1))
    claims = race(
        lambda: store.claim_ready("w1", 15, 30),
        lambda: other.claim_ready("w2", 15, 30),
        lambda: store.claim_ready("w3", 15, 30),
        lambda: other.claim_ready("w4", 15, 30),
    )
    ids = [c.dossier_id for batch in claims for c in batch]
    assert len(ids) == len(set(ids)) == 40


def test_outbox_claims_do_not_overlap(store: SqlStore, other: SqlStore, clock: Clock) -> None:
    """Two senders claiming results at once never get the same entry."""
    for i in range(10):
        reference = f"HPH-2026-O{i:05d}"
        store.receive(incoming(f"O{i}GD", "50", reference=reference))
        store.receive(incoming(f"O{i}CL", "51", reference=reference, sent_minute=1))
    for claim in store.claim_ready("w1", 100, 30):
        store.reject_locally(claim.dossier_id, [], result("22"))
    first, second = race(
        lambda: store.claim_outbox("w1", 6, 30, clock.now), lambda: other.claim_outbox("w2", 6, 30, clock.now)
    )
    ids = [i.outbox_id for i in first + second]
    assert len(ids) == len(set(ids)) == 10


def test_the_same_message_pushed_at_once_is_stored_once(store: SqlStore, other: SqlStore) -> None:
    """Eight simultaneous pushes of one messageId: one STORED, seven DUPLICATE."""
    message = incoming("NSWSAME")
    outcomes = race(*[(lambda s=s: s.receive(message)) for s in [store, other] * 4])
    assert sorted(outcomes) == sorted([IntakeOutcome.STORED] + [IntakeOutcome.DUPLICATE] * 7)
    with store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(t.messages)).scalar() == 1


def test_documents_of_one_new_dossier_pushed_at_once_make_one_dossier(
    store: SqlStore, other: SqlStore
) -> None:
    """A dossier's documents arriving simultaneously create it once and assemble it; the one push
    that completed it says so (READY: the submit loop is rung once)."""
    called = frozenset({"50", "51", "52", "64", "65"})
    parts = [
        incoming("P50", "50", called_for=called),
        incoming("P51", "51", sent_minute=1),
        incoming("P52", "52", sent_minute=2),
        incoming("P64", "64", sent_minute=3),
        incoming("P65", "65", sent_minute=4),
    ]
    outcomes = race(
        *[(lambda s=s, m=m: s.receive(m)) for s, m in zip([store, other] * 3, parts, strict=False)]
    )
    assert sorted(outcomes) == sorted([IntakeOutcome.READY] + [IntakeOutcome.STORED] * 4)
    view = store.describe("HPH-2026-000123", "1")
    assert view is not None
    assert view.state is DossierState.READY
    assert [h.to_state for h in view.history] == ["receiving", "ready"]


@pytest.mark.postgres
def test_migrations_started_at_once_apply_once(pg_available: bool) -> None:
    """Four processes migrating a fresh PostgreSQL database at once: one applies it, none fails."""
    if not pg_available:
        pytest.skip("no PostgreSQL")
    url = create_pg_database()
    stores = [open_store(url) for _ in range(4)]
    try:
        race(*[s.migrate for s in stores])
        with stores[0].engine.connect() as c:
            assert sorted(c.execute(select(t.schema_version.c.version)).scalars()) == [v for v, _, _ in STEPS]
    finally:
        for s in stores:
            s.close()
        drop_pg_database(url)


def test_sqlite_migrations_started_at_once_apply_once(sqlite_url: str) -> None:
    """Four processes migrating a fresh SQLite file at once: one applies it, none fails."""
    stores = [open_store(sqlite_url) for _ in range(4)]
    try:
        race(*[s.migrate for s in stores])
        with stores[0].engine.connect() as c:
            assert sorted(c.execute(select(t.schema_version.c.version)).scalars()) == [v for v, _, _ in STEPS]
    finally:
        for s in stores:
            s.close()


def test_a_killed_workers_dossier_is_taken_over_after_its_lease(store: SqlStore) -> None:
    """A worker process that claims a dossier and is SIGKILLed holds it only until its lease ends."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from nsw_adapter.store import ClaimedDossier

    store.receive(incoming("K1", "50"))
    store.receive(incoming("K2", "51", sent_minute=1))
    script = (
        "import sys, time\n"
        "from nsw_adapter.store import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "print('claimed', len(s.claim_ready('doomed', 1, 1.5)), flush=True)\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script, url_of(store)], stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    line = worker.stdout.readline()
    while line and not line.startswith("claimed"):  # log lines may come first
        line = worker.stdout.readline()
    assert line.strip() == "claimed 1"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    real = open_store(url_of(store))  # real time, not the test clock
    try:
        assert real.claim_ready("heir", 1, 30) == []
        deadline = time.monotonic() + 10
        taken: list[ClaimedDossier] = []
        while not taken and time.monotonic() < deadline:
            time.sleep(0.2)
            taken = real.claim_ready("heir", 1, 30)
        assert [c.reference for c in taken] == ["HPH-2026-000123"]
    finally:
        real.close()


def test_writer_threads_of_one_sqlite_store_queue_for_the_lock(
    sqlite_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no busy timeout at all, eight threads writing at once never meet SQLite's lock:
    the store queues its own writers instead of leaving them to SQLite's sleeping busy handler."""
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 0)
    store = open_store(sqlite_url, clock=clock, migrate=True)
    try:
        race(*[lambda: [store.heartbeat(f"w{n}", 30) for n in range(100)] for _ in range(8)])
    finally:
        store.close()


def _write_many(url: str) -> None:
    """In a forked child: a store of its own, 200 write transactions; exit 1 if SQLite was busy."""
    store = open_store(url)
    try:
        for n in range(200):
            store.heartbeat(f"w{n}", 30)
    except OperationalError:
        os._exit(1)
    store.close()
    os._exit(0)


def test_writer_processes_on_one_sqlite_file_queue_for_the_lock(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three processes writing at once, with no busy timeout, never meet SQLite's lock either."""
    open_store(sqlite_url, migrate=True).close()
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 0)  # inherited by the forked children
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_write_many, args=(sqlite_url,)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0, 0]


def test_a_writer_blocked_by_a_stuck_process_fails_as_sqlite_would(
    sqlite_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the writer queue too long: 'database is locked', not a silent hang."""
    store = open_store(sqlite_url, clock=clock, migrate=True)
    monkeypatch.setattr(engines, "WRITER_QUEUE_TIMEOUT_SECONDS", 0.2)
    holder = os.open(f"{store.engine.url.database}-writer", os.O_RDWR | os.O_CREAT)  # another writer
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            store.heartbeat("w1", 30)
        fcntl.flock(holder, fcntl.LOCK_UN)
        store.heartbeat("w1", 30)  # free again: writes go through
    finally:
        os.close(holder)
        store.close()


def test_a_claim_with_nothing_due_does_not_wait_for_the_writer_lock(
    sqlite_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle loops ask from a WAL snapshot first: with the writer queue held elsewhere, a claim
    that would find nothing returns at once; one that finds work waits for the lock as it must."""
    store = open_store(sqlite_url, clock=clock, migrate=True)
    monkeypatch.setattr(engines, "WRITER_QUEUE_TIMEOUT_SECONDS", 0.2)
    holder = os.open(f"{store.engine.url.database}-writer", os.O_RDWR | os.O_CREAT)  # another writer
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert store.claim_ready("w1", 32, 30) == []
        assert store.claim_polls("w1", 100, 30, clock.now) == []
        assert store.claim_outbox("w1", 32, 30, clock.now) == []
        assert store.claim_cancellations("w1", 32, 30) == []
        fcntl.flock(holder, fcntl.LOCK_UN)
        store.receive(incoming("NSW-IDLE-GD", "50"))
        store.receive(incoming("NSW-IDLE-CL", "51", sent_minute=1))
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            store.claim_ready("w1", 32, 30)  # a dossier is ready: the claim writes its lease
    finally:
        os.close(holder)
        store.close()
