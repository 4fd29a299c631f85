"""What each event type adds to the dossier's facts (its `data` beyond the common part).

One small frozen class per type; `as_data()` gives the JSON fields the type's schema
(schemas/events/<type>.json) describes. Counts and codes only: no names, no document numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from nsw_adapter.events.types import EventType


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Received:
    """Complete and ready: the document types in effect (50 General Declaration, 51 Crew List, ...)."""

    TYPE: ClassVar[EventType] = EventType.RECEIVED
    documents: tuple[str, ...]

    def as_data(self) -> dict[str, Any]:
        return {"documents": sorted(self.documents)}


@dataclass(frozen=True, slots=True)
class Submitted:
    """The portal's receipt, and the receipt this version replaces (an amendment's)."""

    TYPE: ClassVar[EventType] = EventType.SUBMITTED
    receipt_number: str
    supersedes: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {"receipt_number": self.receipt_number, "supersedes": self.supersedes}


@dataclass(frozen=True, slots=True)
class ShorePasses:
    """The shore passes issued with a clearance: how many, and the span their validity covers."""

    count: int = 0
    valid_from: datetime | None = None  # the earliest ValidFrom
    valid_to: datetime | None = None  # the latest ValidTo

    @classmethod
    def of(cls, validities: Iterable[tuple[datetime, datetime]]) -> ShorePasses:
        """From each pass's (ValidFrom, ValidTo): the count and the span (numbers and names dropped)."""
        spans = list(validities)
        if not spans:
            return cls()
        return cls(len(spans), min(s[0] for s in spans), max(s[1] for s in spans))

    def as_data(self) -> dict[str, Any]:
        return {"count": self.count, "valid_from": _time(self.valid_from), "valid_to": _time(self.valid_to)}


@dataclass(frozen=True, slots=True)
class Cleared:
    """The Border Guard's clearance."""

    TYPE: ClassVar[EventType] = EventType.CLEARED
    receipt_number: str | None
    clearance_number: str | None
    decided_at: datetime | None
    shore_passes: ShorePasses = ShorePasses()

    def as_data(self) -> dict[str, Any]:
        return {
            "receipt_number": self.receipt_number,
            "clearance_number": self.clearance_number,
            "decided_at": _time(self.decided_at),
            "shore_passes": self.shore_passes.as_data(),
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule code and how many times it was found (E-DOC-EXPIRED twice: two persons)."""

    code: str
    count: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """Refused: by the adapter's own rules (`adapter`) or by the portal (`portal`), with the codes."""

    TYPE: ClassVar[EventType] = EventType.REJECTED
    by: Literal["adapter", "portal"]
    reasons: tuple[Reason, ...]
    receipt_number: str | None = None
    decided_at: datetime | None = None

    @staticmethod
    def count(codes: Iterable[str]) -> tuple[Reason, ...]:
        """Each code with its count, in code order."""
        return tuple(Reason(code, n) for code, n in sorted(Counter(codes).items()))

    def as_data(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "reasons": [{"code": r.code, "count": r.count} for r in self.reasons],
            "receipt_number": self.receipt_number,
            "decided_at": _time(self.decided_at),
        }


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Withdrawn by the agent; `receipt_number`: what the portal held and is asked to cancel."""

    TYPE: ClassVar[EventType] = EventType.CANCELLED
    receipt_number: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {"receipt_number": self.receipt_number}


@dataclass(frozen=True, slots=True)
class Superseded:
    """This version is replaced by `new_version` (an amendment); its receipt, when it had one."""

    TYPE: ClassVar[EventType] = EventType.SUPERSEDED
    receipt_number: str | None
    new_version: int

    def as_data(self) -> dict[str, Any]:
        return {"receipt_number": self.receipt_number, "new_version": self.new_version}


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """The adapter gave up on the dossier at `stage` (its state then) after `attempts`; an operator acts."""

    TYPE: ClassVar[EventType] = EventType.DEAD_LETTERED
    stage: str
    attempts: int

    def as_data(self) -> dict[str, Any]:
        return {"stage": self.stage, "attempts": self.attempts}


@dataclass(frozen=True, slots=True)
class StowawaysReported:
    """The General Declaration reports `count` stowaways on board (their details stay in the store)."""

    TYPE: ClassVar[EventType] = EventType.STOWAWAYS_REPORTED
    count: int

    def as_data(self) -> dict[str, Any]:
        return {"count": self.count}


@dataclass(frozen=True, slots=True)
class ArmsDeclared:
    """The General Declaration reports arms on board; `items`: the Arms Declaration's item count."""

    TYPE: ClassVar[EventType] = EventType.ARMS_DECLARED
    items: int | None = None

    def as_data(self) -> dict[str, Any]:
        return {"items": self.items}


Details = (
    Received
    | Submitted
    | Cleared
    | Rejected
    | Cancelled
    | Superseded
    | DeadLettered
    | StowawaysReported
    | ArmsDeclared
)
