"""Periodic chores: deadline expiry (E-INCOMPLETE), payload purge, lease heartbeat, metrics refresh,
and forgetting used WS-Security nonces once their tokens can no longer be accepted."""

from __future__ import annotations

import time
from datetime import timedelta

from nsw_adapter.logging import get_logger
from nsw_adapter.loops.context import LoopContext
from nsw_adapter.results import rejection_factory_in
from nsw_adapter.wakeup import Topic

log = get_logger("nsw_adapter.housekeeping")


class HousekeepingLoop:
    """Runs each chore when it is due; one thread."""

    name = "housekeeping"
    wakes_on: Topic | None = None
    rings: tuple[Topic, ...] = (Topic.OUTBOX, Topic.EVENTS)  # deadlines passed: 22s for the NSW, events

    def __init__(
        self,
        context: LoopContext,
        *,
        expiry_interval: float = 10.0,
        stats_interval: float = 5.0,  # store.stats scans the dossiers: keep it off the hot path
        retention_days: int = 90,
        purge_interval: float = 3600.0,
        nonce_purge_interval: float = 60.0,  # a push leaves one row: a minute's worth at most per sweep
    ) -> None:
        self.context = context
        self._intervals = {
            "expire": expiry_interval,
            "heartbeat": max(1.0, context.lease_seconds / 3),
            "stats": stats_interval,
            "purge": purge_interval,
            "nonces": nonce_purge_interval,
        }
        self._due = dict.fromkeys(self._intervals, 0.0)
        self._retention = timedelta(days=retention_days)

    def close(self) -> None:
        """Nothing to release."""

    def run_once(self) -> int:
        now = time.monotonic()
        done = 0
        for chore, interval in self._intervals.items():
            if now >= self._due[chore]:
                self._due[chore] = now + interval
                done += getattr(self, f"_{chore}")()
        return 0 if done == 0 else done

    def _expire(self) -> int:
        c = self.context
        expired = c.store.expire_incomplete(c.clock(), rejection_factory_in(c.agent_language))
        if expired:
            log.info("housekeeping.expired", expired=expired)
        return int(expired)

    def _heartbeat(self) -> int:
        c = self.context
        c.store.heartbeat(c.worker_id, c.lease_seconds)
        return 0

    def _stats(self) -> int:
        c = self.context
        c.metrics.update_stats(c.store.stats(c.clock()))
        return 0

    def _purge(self) -> int:
        c = self.context
        purged = c.store.purge_payloads(c.clock() - self._retention)
        if purged:
            log.info("housekeeping.purged", messages=purged.messages, events=purged.events)
        return 0

    def _nonces(self) -> int:
        c = self.context
        forgotten = c.store.purge_nonces(c.clock())
        if forgotten:
            log.debug("housekeeping.nonces_purged", purged=forgotten)
        return 0
