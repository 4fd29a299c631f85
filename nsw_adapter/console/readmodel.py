"""What the console's pages read and do: one small interface, and the records it returns.

Every record holds ids, references, codes, counts and times only: no crew or passenger name,
no document number, no payload. The pages render these records and nothing else, so what a
page can show is decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DependencyHealth:
    """One thing the daemon depends on, as it knows it now (a breaker's state, a query answered)."""

    name: str  # "store", "portal", "nsw", "subscriber NAME", "loops"
    status: str  # "ok", "degraded", "failing", "unknown"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview page's figures."""

    by_state: dict[str, int]
    oldest_waiting_seconds: float | None
    dead_letters: int
    outbox_pending: int


@dataclass(frozen=True, slots=True)
class HourCount:
    """Dossiers received (General Declarations 01), cleared (23 sent) and rejected (22 sent) in an hour."""

    hour: datetime  # the hour's start, UTC
    received: int = 0
    cleared: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class DossierRow:
    """One line of the dossier list."""

    reference: str
    document_type: str  # "1" arrival, "2" departure
    state: str
    created_at: datetime
    updated_at: datetime
    imo: str | None = None
    vessel: str | None = None
    gate: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem answered in a 22: its rule code, its text, where in which NSW document."""

    code: str
    text: str
    xpath: str | None
    document_type: str | None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One thing that happened to a dossier, in time order."""

    at: datetime
    kind: str  # "received", "refused", "state", "portal", "result"
    summary: str  # e.g. "General Declaration (50) 01", "submitted -> cleared"
    message_id: str | None = None
    detail: str = ""  # sendDate, the answer given, the cause of a state change


@dataclass(frozen=True, slots=True)
class SupplementRequestRow:
    """An officer's request for more on a dossier: numbers, item codes, deadline, how it ended
    (never the officer's words, which may quote a person's particulars)."""

    request_number: str
    receipt_number: str
    codes: tuple[str, ...]
    requested_at: datetime
    respond_by: datetime
    outcome: str  # open | answered | expired | decided | cancelled


@dataclass(frozen=True, slots=True)
class Timeline:
    """A dossier's page: what it is, where it stands and everything that happened to it."""

    dossier: DossierRow
    version: int
    receipt_number: str | None
    client_message_id: str | None
    events: list[TimelineEvent]
    problems: list[Problem] = field(default_factory=list)
    clearance_number: str | None = None
    shore_passes: int = 0
    call_sign: str | None = None
    eta: datetime | None = None
    etd: datetime | None = None
    crew: int | None = None
    passengers: int | None = None
    requests: list[SupplementRequestRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A dead letter as the console lists it (never its payload)."""

    kind: str  # "dossier" | "outbox"
    id: int
    reference: str | None
    reason: str
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class GateStatistics:
    """One gate's figures over a period (the `report` statistics, issue 13 item 2)."""

    gate: str
    entries: int = 0
    exits: int = 0
    crew: int = 0
    passengers: int = 0
    shore_passes: int = 0
    cleared: int = 0
    rejected: int = 0
    rejected_locally: int = 0
    rejections_by_code: dict[str, int] = field(default_factory=dict)
    decision_median_seconds: float | None = None
    decision_p95_seconds: float | None = None
    result_median_seconds: float | None = None
    result_p95_seconds: float | None = None


class UnknownDeadLetter(LookupError):
    """No dead letter of that kind and id (already retried or discarded, or never one)."""


class ReadModel(Protocol):
    """What the console needs from the store, and the two things it may change."""

    def overview(self, now: datetime) -> Overview:
        """Dossiers by state, the oldest waiting, dead letters, Results not yet sent."""

    def hourly(self, since: datetime, until: datetime) -> list[HourCount]:
        """Dossiers received, cleared and rejected per hour in [since, until), every hour present."""

    def find_dossiers(self, text: str, limit: int) -> list[DossierRow]:
        """Dossiers whose reference, IMO, vessel name or gate holds `text` (all when empty), newest first."""

    def timeline(self, reference: str, document_type: str) -> Timeline | None:
        """One dossier's timeline (None when unknown)."""

    def dead_letters(self) -> list[DeadLetterRow]:
        """Everything given up on, oldest first."""

    def retry(self, kind: str, id: int, user: str) -> None:
        """Bring a dead letter back to be tried again (UnknownDeadLetter when there is none)."""

    def discard(self, kind: str, id: int, user: str, reason: str) -> None:
        """Give a dead letter up for good, with the operator's reason kept in the audit trail."""

    def can_discard(self) -> bool:
        """Whether the store can discard dead letters (it keeps the reason in its audit trail)."""

    def statistics(self, start: date, end: date, gate: str | None) -> Sequence[GateStatistics]:
        """Per gate, over the days [start, end]: the `report` figures."""
