"""Fault injection for the simulators' SOAP endpoints, from a SPEC string, deterministic with a seed.

Grammar (items separated by commas, each at most once except `outage`)::

    spec     := "" | "none" | item ("," item)*
    item     := "seed=" INT                 random seed (default 0): same seed, same fault sequence
              | "http503=" P                share of requests answered HTTP 503
              | "unavailable=" P            share answered with a SOAP fault soap:Server (portal: UNAVAILABLE)
              | "reset=" P                  share whose connection is aborted without an answer
              | "hang=" P ":" SECONDS       share left without an answer for SECONDS, then dropped
              | "lost-reply=" P             share processed as usual (the state changes) whose answer
                                            is then dropped: the connection aborted without a word
              | "latency=" RANGE ["@" P]    added delay before answering, on every request (or a share P)
              | "outage=" SECONDS "-" SECONDS   every request fails with HTTP 503 in that window,
                                            in seconds after the server started (repeatable)
    RANGE    := SECONDS | SECONDS "-" SECONDS   fixed, or uniform in the range
    P        := a number in [0, 1]; the shares of http503, unavailable, reset, hang and lost-reply
                add up to <= 1

Example: ``seed=7,http503=0.05,unavailable=0.05,latency=0.01-0.05,hang=0.01:5,reset=0.02,outage=10-20``.

One draw per request decides its fate (in arrival order), so a given seed and request order
always give the same faults. Faults apply to the SOAP endpoints only, never to /admin.
http503, unavailable, reset, hang and outage refuse the request before it is processed;
lost-reply after. A request whose caller goes away (during a latency, say) is processed all the
same, as a real server would: only its answer is lost.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["none", "http503", "unavailable", "reset", "hang", "lost-reply", "outage"]
KINDS: tuple[FaultKind, ...] = ("http503", "unavailable", "reset", "hang", "lost-reply", "outage")


class FaultSpecError(ValueError):
    """A SPEC string that does not follow the grammar (a usage error)."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Parsed fault injection settings; the default injects nothing."""

    seed: int = 0
    http503: float = 0.0
    unavailable: float = 0.0
    reset: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 0.0
    lost_reply: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)
    latency_share: float = 1.0
    outages: tuple[tuple[float, float], ...] = ()

    @property
    def active(self) -> bool:
        """Whether anything at all is injected."""
        return bool(
            self.http503
            or self.unavailable
            or self.reset
            or self.hang
            or self.lost_reply
            or self.latency[1]
            or self.outages
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request: `kind` of failure (or none), and a delay to add first."""

    kind: FaultKind = "none"
    delay: float = 0.0
    hang_seconds: float = 0.0


NO_FAULT = Decision()


def _number(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"{item!r}: {text!r} is not a number") from None
    if value != value or value < 0 or value == float("inf"):
        raise FaultSpecError(f"{item!r}: {text!r} must be a finite number >= 0")
    return value


def _share(text: str, item: str) -> float:
    value = _number(text, item)
    if value > 1:
        raise FaultSpecError(f"{item!r}: a share must be between 0 and 1")
    return value


def _range(text: str, item: str) -> tuple[float, float]:
    low_text, sep, high_text = text.partition("-")
    low = _number(low_text, item)
    high = _number(high_text, item) if sep else low
    if high < low:
        raise FaultSpecError(f"{item!r}: the range's end is before its start")
    return low, high


def parse_fault_spec(spec: str | None) -> FaultSpec:
    """Parse a SPEC string (see the module docstring); raise FaultSpecError saying what is wrong."""
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return FaultSpec()
    values: dict[str, object] = {}
    outages: list[tuple[float, float]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if not sep or not value:
            raise FaultSpecError(f"{item!r}: expected NAME=VALUE")
        if key != "outage" and key in values:
            raise FaultSpecError(f"{key} is given twice")
        if key == "seed":
            try:
                values["seed"] = int(value)
            except ValueError:
                raise FaultSpecError(f"{item!r}: the seed must be an integer") from None
        elif key in ("http503", "unavailable", "reset"):
            values[key] = _share(value, item)
        elif key == "lost-reply":
            values["lost_reply"] = _share(value, item)
        elif key == "hang":
            share, colon, seconds = value.partition(":")
            if not colon:
                raise FaultSpecError(f"{item!r}: expected hang=SHARE:SECONDS")
            values["hang"] = _share(share, item)
            values["hang_seconds"] = _number(seconds, item)
        elif key == "latency":
            span, at, share = value.partition("@")
            values["latency"] = _range(span, item)
            if at:
                values["latency_share"] = _share(share, item)
        elif key == "outage":
            if "-" not in value:
                raise FaultSpecError(f"{item!r}: expected outage=START-END (seconds after start)")
            window = _range(value, item)
            if window[0] == window[1]:
                raise FaultSpecError(f"{item!r}: the outage window is empty")
            outages.append(window)
        else:
            raise FaultSpecError(
                f"unknown fault {key!r} (known: seed, http503, unavailable, reset, hang, lost-reply, "
                "latency, outage)"
            )
    result = FaultSpec(outages=tuple(outages), **values)  # type: ignore[arg-type]
    if result.http503 + result.unavailable + result.reset + result.hang + result.lost_reply > 1.0 + 1e-9:
        raise FaultSpecError(
            "the shares of http503, unavailable, reset, hang and lost-reply add up to more than 1"
        )
    return result


@dataclass
class FaultInjector:
    """Draws a Decision for each request from a FaultSpec; thread-safe; counts what it injected."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    clock: Callable[[], float] = time.monotonic
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*KINDS, "latency"), 0))

    def __post_init__(self) -> None:
        self._random = random.Random(self.spec.seed)
        self._lock = threading.Lock()
        self._started = self.clock()

    def start(self) -> None:
        """Mark second 0 of the outage windows (called when the server starts listening)."""
        self._started = self.clock()

    def reset(self) -> None:
        """Start the fault sequence and the counts over (the outage clock keeps running)."""
        with self._lock:
            self._random = random.Random(self.spec.seed)
            self.counts = dict.fromkeys((*KINDS, "latency"), 0)

    def decide(self) -> Decision:
        """The fate of the next request."""
        spec = self.spec
        if not spec.active:
            return NO_FAULT
        elapsed = self.clock() - self._started
        with self._lock:
            # Always two draws per request, so one kind's share never shifts another's sequence.
            fate = self._random.random()
            latency_draw = self._random.random()
            delay = 0.0
            low, high = spec.latency
            if high > 0 and latency_draw < spec.latency_share:
                delay = low if high == low else low + (high - low) * (latency_draw / spec.latency_share)
                self.counts["latency"] += 1
            if any(start <= elapsed < end for start, end in spec.outages):
                self.counts["outage"] += 1
                return Decision("outage", delay)
            threshold = 0.0
            for kind, share in (
                ("http503", spec.http503),
                ("unavailable", spec.unavailable),
                ("reset", spec.reset),
                ("hang", spec.hang),
                ("lost-reply", spec.lost_reply),
            ):
                threshold += share
                if fate < threshold:
                    self.counts[kind] += 1
                    return Decision(kind, delay, spec.hang_seconds)  # type: ignore[arg-type]
            return Decision("none", delay) if delay else NO_FAULT

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts of injected faults by kind."""
        with self._lock:
            return dict(self.counts)
