"""What this process has seen of each dependency (the store, the portal, the NSW): its state, its
last success and its last error, as the loops observed them.

/healthz, `nsw-adapter status` and /metrics report these; nothing here calls anything, so a health
check costs no call to the portal or the NSW. A dependency refusing our credentials is `refused` and
`paused`: the loops claim nothing for it but one probe now and then, and dead-letter nothing for it
(loops/delivery.py), until a call succeeds again.

What was seen goes stale: a dependency `unreachable` or `refused` that nothing has used for
`stale_after_seconds` (longer than any deferral or probe interval, so while work waits for it it
is used again well before) is reported `unknown` again, its last error kept: with no work left for
it (every item dead-lettered, say) nobody would otherwise ever see it come back, and /healthz
would stay 503 for good.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from nsw_adapter.logging import get_logger

log = get_logger("nsw_adapter.health")


class DependencyState(StrEnum):
    UNKNOWN = "unknown"  # not used by this process yet
    OK = "ok"  # the last call succeeded (or the service answered, refusing one item)
    FAILING = "failing"  # the last call failed, its circuit still closed (not degraded yet)
    UNREACHABLE = "unreachable"  # calls kept failing: the circuit is open
    REFUSED = "refused"  # our credentials refused: paused for every item until they work


#: The states that make /healthz `degraded` (HTTP 503) for the portal and the NSW.
DEGRADED_STATES = frozenset({DependencyState.UNREACHABLE, DependencyState.REFUSED})
#: The default staleness (the daemon's is derived from its settings: worker.build_context).
STALE_AFTER_SECONDS = 900.0
#: How an event subscriber is named as a dependency ("subscriber customs").
SUBSCRIBER = "subscriber "


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DependencyView:
    """One dependency as this process last saw it."""

    name: str
    state: DependencyState
    last_success: datetime | None
    last_error: str | None  # our own one-line description (no remote text, no personal data)
    last_error_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


class Dependency:
    """One dependency's observed health; thread-safe (every loop thread reports into it)."""

    def __init__(
        self,
        name: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
        stale_after_seconds: float = STALE_AFTER_SECONDS,
    ) -> None:
        self.name = name
        self._clock = clock
        self._stale_after = stale_after_seconds
        self._lock = threading.Lock()
        self._state = DependencyState.UNKNOWN
        self._observed_at: datetime | None = None  # the last time a loop used it (or tried to)
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._resumed_at: datetime | None = None

    @property
    def state(self) -> DependencyState:
        """As reported: what was seen last, or `unknown` once a degraded state has gone stale."""
        with self._lock:
            return self._reported()

    def _reported(self) -> DependencyState:
        seen = self._observed_at
        if seen is not None and self._state in DEGRADED_STATES:
            stale = (self._clock() - seen).total_seconds() > self._stale_after
            return DependencyState.UNKNOWN if stale else self._state
        return self._state

    @property
    def paused(self) -> bool:
        """True while the service refuses our credentials."""
        with self._lock:
            return self._state is DependencyState.REFUSED

    @property
    def resumed_at(self) -> datetime | None:
        """When it last accepted our credentials again after refusing them (None: never refused here).
        A retry budget counts from then at the earliest: the pause was ours, not the item's."""
        with self._lock:
            return self._resumed_at

    def succeeded(self) -> bool:
        """A call went through (or the service answered, even refusing the item for its content).
        True when it ended an outage (the service was unreachable, or refused our credentials):
        the one call, of every thread's, that sees the service back."""
        with self._lock:
            now = self._clock()
            self._last_success = self._observed_at = now
            if self._state is DependencyState.REFUSED:
                self._resumed_at = now
            restored = self._state in DEGRADED_STATES
            self._set(DependencyState.OK)
            return restored

    def failed(self, error: str, *, unreachable: bool) -> None:
        """A call failed for a transient reason; `unreachable` when its circuit is open now."""
        with self._lock:
            self._last_error = error
            self._last_error_at = self._observed_at = self._clock()
            if self._state is not DependencyState.REFUSED:  # only a success ends a refusal
                self._set(DependencyState.UNREACHABLE if unreachable else DependencyState.FAILING)

    def circuit_open(self) -> None:
        """A call was not made, its circuit open: unreachable (the error that opened it stays)."""
        with self._lock:
            self._observed_at = self._clock()
            if self._state not in (DependencyState.REFUSED, DependencyState.UNREACHABLE):
                self._set(DependencyState.UNREACHABLE)

    def refused(self, error: str) -> bool:
        """Our credentials were refused; True when this starts a refusal (the caller logs it once)."""
        with self._lock:
            self._last_error = error
            self._last_error_at = self._observed_at = self._clock()
            starts = self._state is not DependencyState.REFUSED
            self._set(DependencyState.REFUSED)
            return starts

    def view(self) -> DependencyView:
        with self._lock:
            return DependencyView(
                self.name, self._reported(), self._last_success, self._last_error, self._last_error_at
            )

    def _set(self, state: DependencyState) -> None:
        before = self._state
        if state is before:
            return
        self._state = state
        if state is DependencyState.UNREACHABLE:
            log.warning("dependency.unreachable", service=self.name, error=self._last_error)
        elif state is DependencyState.OK and before in DEGRADED_STATES:
            log.info("dependency.restored", service=self.name, state=before.value)


class Health:
    """The dependencies of one process: the store, the portal and the NSW; and each event
    subscriber, reported apart (a subscriber's trouble never makes the adapter itself degraded)."""

    def __init__(
        self, *, clock: Callable[[], datetime] = _utcnow, stale_after_seconds: float = STALE_AFTER_SECONDS
    ) -> None:
        self._clock = clock
        self._stale_after = stale_after_seconds
        self.store = Dependency("store", clock=clock, stale_after_seconds=stale_after_seconds)
        self.portal = Dependency("portal", clock=clock, stale_after_seconds=stale_after_seconds)
        self.nsw = Dependency("nsw", clock=clock, stale_after_seconds=stale_after_seconds)
        self._subscribers: dict[str, Dependency] = {}
        self._lock = threading.Lock()

    def of(self, service: str) -> Dependency:
        """The dependency a channel's service names ("portal", "NSW" or "nsw", "store", or
        "subscriber NAME")."""
        if service.startswith(SUBSCRIBER):
            return self.subscriber(service.removeprefix(SUBSCRIBER))
        found: Dependency = getattr(self, service.lower())
        return found

    def subscriber(self, name: str) -> Dependency:
        """An event subscriber, shared by the threads that send to it."""
        with self._lock:
            found = self._subscribers.get(name)
            if found is None:
                found = Dependency(
                    f"{SUBSCRIBER}{name}", clock=self._clock, stale_after_seconds=self._stale_after
                )
                self._subscribers[name] = found
            return found

    def subscriber_views(self) -> dict[str, DependencyView]:
        """Each subscriber this process has sent to, as last seen."""
        with self._lock:
            known = dict(self._subscribers)
        return {name: dependency.view() for name, dependency in known.items()}

    def report(self, names: tuple[str, ...] = ("store", "portal", "nsw")) -> dict[str, dict[str, Any]]:
        """Each named dependency as /healthz shows it."""
        return {name: self.of(name).view().as_dict() for name in names}

    def degraded(self, names: tuple[str, ...] = ("portal", "nsw")) -> list[str]:
        """The named remote services that are unreachable or refusing our credentials."""
        return [name for name in names if self.of(name).state in DEGRADED_STATES]

    def __iter__(self) -> Iterator[Dependency]:
        """The store, the portal, the NSW, then each subscriber this process has sent to."""
        with self._lock:
            subscribers = list(self._subscribers.values())
        return iter((self.store, self.portal, self.nsw, *subscribers))
