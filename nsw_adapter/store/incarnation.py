"""Fast, safe takeover: a daemon restarted under its name resumes its dead predecessor's claims
at once, instead of after their leases run out.

A worker leases under `<name>/<token>`, the token drawn at each start (worker.lease_owner), so a
new process never keeps alive leases it is not working on. Its name is held, for the whole life
of the process, by a lock that only a live process can hold and that its death frees at once:

* SQLite: an flock of `<database>-worker-<hash of the name>` beside the database (the kernel drops
  it when the process dies, however it dies; SQLite is a one-host store);
* PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a connection kept open for it (the
  server drops it when the session ends: a killed process's socket closes at once).

A worker takes its name's lock before its loops start (waiting a few seconds if need be, as a
killed predecessor's session may take a moment to end), then, while its loops already work on
whatever is free, releases every lease held under `<name>/` with any other token (`take_over`)
and rings its loops: those leases were taken by earlier incarnations, which held the lock while
they lived, and the lock is ours, so they are dead. The dossiers and Results are free at once
for any worker, this one first.

Why two live daemons never work on one dossier: a lease is released by its holder, by its
expiry, or by `take_over` -- and `take_over` only frees leases of incarnations that no longer hold
the name's lock. A second live daemon under the same name never gets the lock: it does not start
its loops (NameInUse; the names must be unique, as they always had to be for the logs to mean
anything). On PostgreSQL a session can end while its process lives (the server restarted, the
connection cut): the worker checks its lock's session with every heartbeat (`held`) and stops
working at once when it is gone (Worker: the process exits), and `take_over` waits
`TAKEOVER_GRACE_SECONDS` -- more than two heartbeats of the smallest -- before it frees anything,
so such a process has stopped before its leases are freed; after the grace it checks its own
lock again, and frees nothing if that session ended meanwhile. A process that holds its lock never
has its leases freed except by expiry, as before.

Peers too (`take_over_peers`): while a killed daemon is restarting (its start-up takes seconds),
the other live daemons free its leases. Each reads the lease owners first, then tries each other
name's lock and lets it go at once: an owner whose name's lock was free after its lease was seen
is an incarnation that no longer holds it (its loops took the lock before any lease, and hold it
for life), so it is dead, or a live process whose session ended and that stops within a heartbeat
-- hence the same grace before its leases, and only its (`<name>/<token>` exactly, never a newer
incarnation's), are freed. A restarted incarnation never holds an owner seen before: its token is
new.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, select, text

from nsw_adapter.errors import NameInUse
from nsw_adapter.lifecycle import RELEASED
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database

log = structlog.get_logger(__name__)

#: After the lock is ours, wait this long before freeing a PostgreSQL predecessor's leases (see
#: the module docstring): its process, if alive, notices the lost session within one heartbeat.
TAKEOVER_GRACE_SECONDS = 1.0


class NameLock(Protocol):
    """A worker name held for the life of the process."""

    exclusive: bool  # False: a store with no such lock (in memory): no takeover

    def held(self) -> bool:
        """Whether the lock is still ours (PostgreSQL: its session is alive)."""

    def release(self) -> None:
        """Let the name go (the process is stopping)."""


class _NoLock:
    exclusive = False

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class _FileLock:
    """An flock of a file beside the SQLite database."""

    exclusive = True

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def held(self) -> bool:
        return self._fd is not None  # a process cannot lose an flock it holds

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the one descriptor drops the lock
            self._fd = None


class _SessionLock:
    """A PostgreSQL session advisory lock on a connection of its own."""

    exclusive = True

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection

    def held(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            connection.execute(text("SELECT 1")).scalar_one()
            connection.commit()
            return True
        except Exception:  # the session is gone, and its lock with it
            return False

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                # The session itself is ended, not handed back to the pool (which would keep the
                # session, and its lock, alive).
                connection.invalidate()
                connection.close()
            except Exception as exc:  # a dead session holds nothing any more
                log.info("store.name_release_failed", error=type(exc).__name__)


def _in_use(name: str) -> str:
    return f"another live daemon works under worker_id {name!r}: give each daemon its own"


def _key(name: str) -> int:
    """The advisory lock's 64-bit key for a worker name."""
    digest = hashlib.sha256(f"nsw-adapter worker {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def hold_name(db: Database, name: str, timeout: float) -> NameLock:
    """Take the worker name's lock, trying for up to `timeout` seconds; NameInUse when another
    live process keeps it."""
    deadline = time.monotonic() + timeout
    if db.dialect == "sqlite":
        database = db.engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return _NoLock()
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        fd = os.open(f"{database}-worker-{digest}", os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return _FileLock(fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise NameInUse(_in_use(name)) from None
                time.sleep(0.05)
    connection = db.engine.connect()
    try:
        while True:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _key(name)}).scalar()
            connection.commit()
            if got:
                return _SessionLock(connection)
            if time.monotonic() >= deadline:
                raise NameInUse(_in_use(name))
            time.sleep(0.1)
    except BaseException:
        connection.close()
        raise


def take_over(db: Database, name: str, worker_id: str, lock: NameLock) -> int:
    """Release every lease held under `name` by an incarnation other than `worker_id` (the caller
    holds the name's `lock`: they are dead); how many dossiers and Results were freed. Nothing if
    the lock was lost meanwhile (a session ended during the grace, or the worker stopped): the
    next holder of the name frees them instead."""
    if db.dialect == "postgresql":
        time.sleep(TAKEOVER_GRACE_SECONDS)
    if not lock.held():
        log.warning("store.take_over_skipped_name_lost", worker_id=worker_id)
        return 0
    prefix = f"{name}/"
    with db.tx() as c:
        return sum(_release_others(c, table, prefix, worker_id) for table in (t.dossiers, t.outbox))


def take_over_peers(db: Database, name: str) -> int:
    """Free the leases of other names' dead incarnations (see the module docstring); how many
    dossiers and Results were freed. Nothing on an in-memory store (no locks there)."""
    with db.engine.connect() as c:
        owners = {
            str(owner)
            for table in (t.dossiers, t.outbox)
            for owner in c.execute(
                select(table.c.lease_owner).where(table.c.lease_owner.is_not(None)).distinct()
            )
            .scalars()
            .all()
        }
    names = {owner.rsplit("/", 1)[0] for owner in owners if "/" in owner} - {name}
    dead = {owner for owner in owners if "/" in owner and owner.rsplit("/", 1)[0] in _free_names(db, names)}
    if not dead:
        return 0
    if db.dialect == "postgresql":
        time.sleep(TAKEOVER_GRACE_SECONDS)
    freed = 0
    with db.tx() as c:
        for table in (t.dossiers, t.outbox):
            statement = table.update().where(table.c.lease_owner.in_(sorted(dead))).values(**RELEASED)
            freed += int(c.execute(statement).rowcount)
    if freed:
        log.info(
            "store.peers_taken_over", workers=sorted({owner.rsplit("/", 1)[0] for owner in dead}), count=freed
        )
    return freed


def _free_names(db: Database, names: set[str]) -> set[str]:
    """The names no live process holds now (each lock taken and let go at once)."""
    free: set[str] = set()
    if not names:
        return free
    if db.dialect == "sqlite":
        database = db.engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return free
        for name in names:
            digest = hashlib.sha256(name.encode()).hexdigest()[:16]
            fd = os.open(f"{database}-worker-{digest}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            finally:
                os.close(fd)  # closing drops the flock, if taken
            free.add(name)
        return free
    with db.engine.connect() as c:
        for name in names:
            if c.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _key(name)}).scalar():
                c.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _key(name)})
                free.add(name)
        c.commit()
    return free


def _release_others(c: Connection, table: Any, prefix: str, worker_id: str) -> int:
    owner = table.c.lease_owner
    statement = (
        table.update().where(owner.startswith(prefix, autoescape=True), owner != worker_id).values(**RELEASED)
    )
    return int(c.execute(statement).rowcount)
