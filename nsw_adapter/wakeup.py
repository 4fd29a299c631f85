"""Wake a loop when work arrives for it, instead of letting it sleep out its idle back-off.

A loop that found nothing to do sleeps `idle_seconds`, doubling up to 8x (1.6 s by default): a
dossier completed during that sleep would wait for it. So whatever makes work commits and then
rings the topic's bell (intake: SUBMIT after the push that made a dossier ready, CANCEL after a
cancellation, daemon.rings_for; submit, poll, cancel and housekeeping: OUTBOX after work that may
have queued a Result; a service back after an outage: its loops' topics), and a loop sleeping on
that topic starts at once. A ring is a hint, never the work itself: a loop woken for nothing finds nothing
and sleeps again, and one that missed a ring still finds its work at the end of its sleep.

Across processes (an intake process beside worker processes, `roles`), a `Relay` carries rings
from one process to the others: on PostgreSQL, LISTEN/NOTIFY (store/wake_channel.py). On SQLite
there is no such channel; a worker-only process polls every `idle_seconds` (no back-off) instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum


class Topic(StrEnum):
    """What kind of work a ring announces: the loops that take it sleep on its topic."""

    SUBMIT = "submit"  # a dossier may have become ready (or an amendment may supersede one)
    CANCEL = "cancel"  # a cancellation may wait for the portal
    OUTBOX = "outbox"  # a Result may wait for the NSW
    EVENTS = "events"  # an event may wait for the feed's subscribers (a change that may have made one)


#: Sends a ring to the other processes (it must not block: coalesce and send on its own thread).
Relay = Callable[[Topic], None]


class _Signal:
    """One topic's bell: a ring wakes one sleeper (the others keep sleeping: one thread claims what
    arrived, and when it claims a full batch it looks again at once), or, with nobody asleep,
    stays pending until a sleeper comes."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending = False

    def ring(self, *, everyone: bool = False) -> None:
        with self._condition:
            self._pending = True
            if everyone:
                self._condition.notify_all()
            else:
                self._condition.notify()

    def arm(self) -> None:
        with self._condition:
            self._pending = False

    def wait(self, timeout: float) -> bool:
        with self._condition:
            if not self._pending:
                self._condition.wait(timeout)
            rang, self._pending = self._pending, False
            return rang


class Bell:
    """One signal per topic, shared by the loops and the intake of one process."""

    def __init__(self) -> None:
        self._signals = {topic: _Signal() for topic in Topic}
        self._relays: list[Relay] = []

    def relay_to(self, relay: Relay) -> None:
        """Also send each ring (rung here, not one that came from elsewhere) to other processes."""
        self._relays.append(relay)

    def ring(self, *topics: Topic) -> None:
        for topic in topics:
            self._signals[topic].ring()
            for relay in self._relays:
                relay(topic)

    def ring_here(self, topic: Topic) -> None:
        """A ring that came from another process: wake a loop of this process, send it nowhere."""
        self._signals[topic].ring()

    def ring_all_here(self) -> None:
        """Wake every sleeper of every topic (at shutdown they see the stop and end; after a
        takeover they claim what was freed)."""
        for signal in self._signals.values():
            signal.ring(everyone=True)

    def arm(self, topic: Topic) -> None:
        """Forget earlier rings, before looking for work: a ring after this wakes the next wait."""
        self._signals[topic].arm()

    def wait(self, topic: Topic, timeout: float) -> bool:
        """Sleep up to `timeout` seconds or until `topic` rings; True when a ring was taken."""
        return self._signals[topic].wait(timeout)
