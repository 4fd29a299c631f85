"""Rings carried between processes on PostgreSQL: NOTIFY in the ringing one, LISTEN in the others.

An intake process (`roles = ["intake"]`) sends each topic it rings (nsw_adapter/wakeup.py) as
`NOTIFY nswa_wake, '<topic>'`; a worker process LISTENs and rings its own bell. Sends are
coalesced on a thread of their own: a burst of pushes costs one NOTIFY per topic and slice, and
the intake's threads never wait for the database to carry a hint. A notification is only a hint
(PostgreSQL drops them for a listener that is not connected): a worker that missed one still
finds its work when its idle sleep ends, so losing the channel costs latency, never work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from nsw_adapter.logging import describe_error, get_logger
from nsw_adapter.store.engine import dead_peer_params

log = get_logger("nsw_adapter.store.wake_channel")

CHANNEL = "nswa_wake"
#: A failed connection is tried again after this long (the store's own errors say the rest).
RECONNECT_SECONDS = 2.0


def driver_dsn(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (postgresql+psycopg://...),
    with the store's dead-peer TCP settings (store/engine.py) unless the URL sets its own."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return make_conninfo(plain, **dead_peer_params(url))


class WakeSender:
    """Sends rung topics as notifications, coalesced every `slice_seconds`."""

    def __init__(self, url: str, *, slice_seconds: float = 0.01) -> None:
        self._dsn = driver_dsn(url)
        self._slice = slice_seconds
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wake-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def send(self, topic: str) -> None:
        with self._lock:
            self._pending.add(topic)
        self._wanted.set()

    def close(self) -> None:
        self._stop.set()
        self._wanted.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        connection: psycopg.Connection[tuple[object, ...]] | None = None
        try:
            while not self._stop.is_set():
                self._wanted.wait()
                self._wanted.clear()
                with self._lock:
                    topics, self._pending = self._pending, set()
                if not topics or self._stop.is_set():
                    continue
                try:
                    if connection is None or connection.closed:
                        connection = psycopg.connect(self._dsn, autocommit=True)
                    for topic in sorted(topics):
                        connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))
                except psycopg.Error as exc:
                    log.warning("wake.send_failed", error=describe_error(exc))
                    connection = None
                    self._stop.wait(RECONNECT_SECONDS)
                    continue
                self._stop.wait(self._slice)  # rings meanwhile share the next round
        finally:
            if connection is not None:
                connection.close()


class WakeListener:
    """Calls `on_ring(topic)` for each notification another process sent."""

    def __init__(self, url: str, on_ring: Callable[[str], None]) -> None:
        self._dsn = driver_dsn(url)
        self._on_ring = on_ring
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wake-listener", daemon=True)
        self.listening = threading.Event()  # set once LISTEN is in force (tests wait for it)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        # Wakes every second to see the stop; a notification ends the wait at once.
                        for notify in connection.notifies(timeout=1.0):
                            self._on_ring(notify.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("wake.listen_failed", error=describe_error(exc))
                self._stop.wait(RECONNECT_SECONDS)
