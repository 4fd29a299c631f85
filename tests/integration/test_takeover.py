"""Fast, safe takeover (store/incarnation.py): a worker restarted under its name frees its SIGKILLed
predecessor's leases at once; a live worker's name and leases are never taken. Both stores, a real
second process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from nsw_adapter.errors import NameInUse
from nsw_adapter.store import SqlStore
from nsw_adapter.store.incarnation import TAKEOVER_GRACE_SECONDS
from nsw_adapter.worker import Worker
from tests.support.fakes import FakeNsw, FakePortal, make_context
from tests.support.store import Clock, incoming

pytestmark = pytest.mark.timeout(60)

NAME = "adapter-x"
#: A worker incarnation in a process of its own: holds NAME, claims every READY dossier (leased
#: for an hour), says how many, and waits to be killed.
_HOLDER = f"""
import sys, time
from nsw_adapter.store import open_store
store = open_store(sys.argv[1])
store.hold_worker_name({NAME!r}, 10)
print("claimed", len(store.claim_ready({NAME!r} + "/dead0001", 100, 3600)), flush=True)
time.sleep(600)
"""


def _ready(store: SqlStore, count: int) -> None:
    for n in range(count):
        reference = f"HPH-2026-{n + 300:06d}"
        store.receive(incoming(f"NSW{n + 300:06d}50", "50", reference=reference))
        store.receive(incoming(f"NSW{n + 300:06d}51", "51", reference=reference, sent_minute=1))


@pytest.fixture
def holder(store: SqlStore) -> Iterator[subprocess.Popen[str]]:
    """A live process holding NAME and the leases of 3 READY dossiers."""
    _ready(store, 3)
    url = store.engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = iter(process.stdout.readline, "")
        assert next(line for line in lines if line.startswith("claimed")).split() == ["claimed", "3"]
        yield process
    finally:
        process.kill()
        process.wait(10)


def test_a_restarted_worker_takes_over_its_killed_predecessors_claims_at_once(
    store: SqlStore, holder: subprocess.Popen[str], clock: Clock
) -> None:
    """SIGKILL the holder: within seconds (not the hour its leases last) the name is ours and its
    three dossiers are free to claim; another name's lease is left alone."""
    assert store.claim_ready("adapter-x2/other", 1, 3600) == []  # all three are the holder's
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    started = time.monotonic()
    lock = store.hold_worker_name(NAME, timeout=10)
    try:
        assert lock.exclusive
        assert lock.held()
        assert store.take_over(NAME, f"{NAME}/new00001", lock) == 3
        assert time.monotonic() - started < 5
        claimed = store.claim_ready(f"{NAME}/new00001", 100, 30)
        assert len(claimed) == 3
    finally:
        lock.release()


def test_a_live_workers_name_and_leases_are_never_taken(
    store: SqlStore, holder: subprocess.Popen[str], clock: Clock
) -> None:
    """While the holder lives, its name cannot be had (a worker under it does not start its loops),
    and its dossiers stay leased to it."""
    with pytest.raises(NameInUse, match=NAME):
        store.hold_worker_name(NAME, timeout=0.5)
    context = make_context(store, FakePortal(), FakeNsw(), clock, worker_id=f"{NAME}/live0002")
    worker = Worker(context, submit_threads=1, outbox_threads=1)
    with pytest.raises(NameInUse):
        worker.hold_name(timeout=0.5)
    assert store.claim_ready("someone-else/0003", 100, 30) == []  # still the holder's
    assert holder.poll() is None


def test_take_over_frees_only_the_names_other_incarnations(store: SqlStore, clock: Clock) -> None:
    """`<name>/` prefixes only: a worker named adapter-x2 (or with LIKE's wildcards) keeps its
    leases, and the caller's own are kept too."""
    _ready(store, 4)
    for owner in (f"{NAME}/old00001", f"{NAME}/new00001", "adapter-x2/live0001", "adapter_%/live0002"):
        assert len(store.claim_ready(owner, 1, 3600)) == 1
    lock = store.hold_worker_name(NAME, timeout=5)
    try:
        assert store.take_over(NAME, f"{NAME}/new00001", lock) == 1
    finally:
        lock.release()
    claimed = store.claim_ready("anyone/0001", 100, 30)
    assert len(claimed) == 1


def test_take_over_frees_nothing_once_the_name_is_lost(store: SqlStore, clock: Clock) -> None:
    """The lock is checked again after the grace: a worker whose session ended (or that stopped)
    meanwhile leaves the dead incarnation's leases to the name's next holder."""
    _ready(store, 1)
    assert len(store.claim_ready(f"{NAME}/old00001", 1, 3600)) == 1
    lock = store.hold_worker_name(NAME, timeout=5)
    lock.release()
    assert not lock.held()
    assert store.take_over(NAME, f"{NAME}/new00001", lock) == 0
    assert store.claim_ready("anyone/0001", 100, 30) == []  # still the old incarnation's


def test_a_workers_start_takes_over_and_its_stop_lets_the_name_go(store: SqlStore, clock: Clock) -> None:
    """Worker.start holds the name, frees what a dead incarnation left and works on it (the two
    dossiers it had leased for an hour are submitted within seconds); after stop the name can be
    taken again at once."""
    _ready(store, 2)
    assert len(store.claim_ready(f"{NAME}/dead0001", 100, 3600)) == 2
    context = make_context(store, FakePortal(), FakeNsw(), clock, worker_id=f"{NAME}/live0001")
    worker = Worker(context, submit_threads=1, outbox_threads=1, idle_seconds=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while store.stats(clock()).dossiers_by_state.get("submitted", 0) < 2:
            assert time.monotonic() < deadline, store.stats(clock()).dossiers_by_state
            time.sleep(0.05)
    finally:
        worker.stop(5)
    lock = store.hold_worker_name(NAME, timeout=1)
    lock.release()


def test_a_worker_whose_postgresql_session_ends_stops_at_once(store: SqlStore, clock: Clock) -> None:
    """The name's lock lives with a session: cut it (the server ends it) and the worker stops
    working within a second, before any successor's takeover grace is over."""
    if store.backend != "postgresql":
        pytest.skip("an flock cannot be lost by a live process")
    lost = threading.Event()
    context = make_context(store, FakePortal(), FakeNsw(), clock, worker_id=f"{NAME}/live0003")
    worker = Worker(context, submit_threads=1, outbox_threads=1, on_name_lost=lost.set)
    worker.start()
    try:
        with store.engine.connect() as connection:
            ended = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one()
            connection.commit()
        assert ended == 1
        assert lost.wait(TAKEOVER_GRACE_SECONDS)
        assert context.stop_event.is_set()
    finally:
        worker.stop(2)


def test_a_peer_frees_a_killed_workers_claims_but_never_a_live_ones(
    store: SqlStore, holder: subprocess.Popen[str], clock: Clock
) -> None:
    """Another daemon frees the killed holder's leases while nobody has restarted under its name;
    while the holder lives, and once a new incarnation holds the name, its leases are left alone."""
    assert store.take_over_peers("adapter-peer") == 0  # the holder lives
    assert store.claim_ready("adapter-peer/0001", 100, 30) == []
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    started = time.monotonic()
    deadline = started + 10
    freed = 0
    while not freed:  # a killed process's PostgreSQL session may take a moment to end
        assert time.monotonic() < deadline
        freed = store.take_over_peers("adapter-peer")
    assert freed == 3
    assert time.monotonic() - started < 5
    # A new incarnation under the name (its lock held) keeps what it claims.
    lock = store.hold_worker_name(NAME, timeout=10)
    try:
        assert len(store.claim_ready(f"{NAME}/new00001", 100, 3600)) == 3
        assert store.take_over_peers("adapter-peer") == 0
        assert store.claim_ready("adapter-peer/0001", 100, 30) == []
    finally:
        lock.release()
    assert store.take_over_peers(NAME) == 0  # its own name is never a peer
