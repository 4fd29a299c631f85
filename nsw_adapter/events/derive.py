"""Which events a dossier's state change causes: pure functions over a lifecycle Step's history.

The store (store/events.py) calls `events_of` with the Step it has just applied, inside the same
transaction, and writes one outbox row per event returned. Each history row (from -> to) maps to
at most a few events; moves that other agencies need not hear of (a submission begun, a deferral,
an expired lease, a dead letter retried or closed, a supplement request: the feed has no type
for it) cause none.

    RECEIVING/None/a decided state -> READY   received (+ stowaways-reported, arms-declared)
    READY -> READY (a new version)            superseded, received
    X -> X, then the next version's row       superseded (an amendment)
    SUBMITTING -> SUBMITTED                   submitted
    SUBMITTED/SUPPLEMENT_REQUESTED -> CLEARED / REJECTED   cleared / rejected (by the portal)
    * -> REJECTED_LOCALLY                     rejected (by the adapter)
    not CANCELLED -> CANCELLED                cancelled
    * -> DEAD                                 dead-lettered
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from nsw_adapter.events.details import (
    ArmsDeclared,
    Cancelled,
    Cleared,
    DeadLettered,
    Details,
    Received,
    Rejected,
    ShorePasses,
    StowawaysReported,
    Submitted,
    Superseded,
)
from nsw_adapter.events.facts import DossierFacts, Vessel
from nsw_adapter.lifecycle import NEW_VERSION_STATES, POLLED_STATES, Dossier, DossierState, Entry

S = DossierState

#: The moves into READY that make a version complete and ready (not a retry coming back).
_RECEIVED_FROM = frozenset({None, S.RECEIVING}) | NEW_VERSION_STATES


@dataclass(frozen=True, slots=True)
class Decision:
    """What the final Result enqueued with the change says (store.facts, and its shore passes)."""

    clearance_number: str | None = None
    codes: tuple[str, ...] = ()
    shore_passes: ShorePasses = field(default_factory=ShorePasses)


def causes_events(entries: Sequence[Entry]) -> bool:
    """Whether any history row causes an event (checked before anything is read for them)."""
    return any(_kind(entries, i) is not None for i in range(len(entries)))


def _kind(entries: Sequence[Entry], index: int) -> str | None:
    entry = entries[index]
    source, target = entry.from_state, entry.to_state
    if source is target and target in NEW_VERSION_STATES:
        # A version superseded: the row the next version's row follows (a second supplement
        # request, SUPPLEMENT_REQUESTED -> itself, is no new version).
        following = entries[index + 1] if index + 1 < len(entries) else None
        return "superseded" if following is not None and following.version > entry.version else None
    if target is S.READY and (source in _RECEIVED_FROM or source is S.READY):
        return "received"
    if target is S.SUBMITTED and source is S.SUBMITTING:
        return "submitted"
    if source in POLLED_STATES and target in (S.CLEARED, S.REJECTED):
        return target.value
    if target is S.REJECTED_LOCALLY:
        return "rejected_locally"
    if target is S.CANCELLED and source is not S.CANCELLED:
        return "cancelled"
    if target is S.DEAD:
        return "dead"
    return None


def events_of(
    dossier: Dossier,
    entries: Sequence[Entry],
    facts: DossierFacts,
    documents: Callable[[], Collection[str]],
    decision: Callable[[], Decision],
    now: datetime,
    arms_items: Callable[[], int | None] = lambda: None,
) -> list[tuple[int, Details]]:
    """(version, details) of each event the history rows cause, in order. `dossier` is the dossier
    after the change; `documents`, `decision` and `arms_items` (the Arms Declaration's item count)
    are read only when an event needs them."""
    found: list[tuple[int, Details]] = []
    for index, entry in enumerate(entries):
        kind = _kind(entries, index)
        version = entry.version
        if kind == "superseded":
            found.append((version, Superseded(dossier.supersedes, version + 1)))
        elif kind == "received":
            if entry.from_state is S.READY:  # amended before it reached the portal: a new version
                found.append((version - 1, Superseded(None, version)))
            found.append((version, Received(tuple(sorted(documents())))))
            if facts.stowaway_count > 0:
                found.append((version, StowawaysReported(facts.stowaway_count)))
            if facts.arms_on_board:
                found.append((version, ArmsDeclared(arms_items())))
        elif kind == "submitted":
            found.append((version, Submitted(dossier.receipt_number or "", dossier.supersedes)))
        elif kind == "cleared":
            d = decision()
            found.append((version, Cleared(dossier.receipt_number, d.clearance_number, now, d.shore_passes)))
        elif kind == "rejected":
            codes = Rejected.count(decision().codes)
            found.append((version, Rejected("portal", codes, dossier.receipt_number, now)))
        elif kind == "rejected_locally":
            found.append((version, Rejected("adapter", Rejected.count(decision().codes), None, now)))
        elif kind == "cancelled":
            found.append((version, Cancelled(dossier.cancel_receipt)))
        elif kind == "dead":
            assert entry.from_state is not None
            found.append((version, DeadLettered(dead_letter_stage(entry.from_state), dossier.attempts)))
    return found


# What the schemas allow (schemas/events/*.json): a value a declaration got wrong is left out
# (null) rather than sent in a shape consumers do not expect; the rules reject such a dossier.
_GATE = re.compile(r"^[A-Z0-9]{2,12}$")
_PORT = re.compile(r"^[A-Za-z0-9]{5}$")
_IMO = re.compile(r"^[0-9]{7}$")
_CALL_SIGN = re.compile(r"^[A-Z0-9]{3,8}$")


def _fits(pattern: re.Pattern[str], value: str | None) -> str | None:
    return value if value is not None and pattern.match(value) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def facts_of_row(reference: str, procedure: str, row: Any | None) -> DossierFacts:
    """The event's facts from the dossier's nswa_dossier_facts row (None: no declaration yet)."""
    facts = DossierFacts(reference, "entry" if procedure == "1" else "exit")
    if row is None:
        return facts
    imo, name, call_sign = _fits(_IMO, row.imo), row.vessel_name, _fits(_CALL_SIGN, row.call_sign)
    vessel = Vessel(imo, name, call_sign) if imo and name and call_sign and len(name) <= 70 else None
    return replace(
        facts,
        gate=_fits(_GATE, row.gate),
        port=_fits(_PORT, row.port),
        vessel=vessel,
        expected_at=row.expected_at,
        crew_count=_count(row.crew),
        passenger_count=_count(row.passengers),
        stowaway_count=_count(row.stowaways) or 0,
        arms_on_board=bool(row.arms),
    )


def dead_letter_stage(state: DossierState) -> str:
    """The `stage` a dead letter reports: the state it died in, a supplement request being a
    submitted dossier to the feed (which has no supplement type, and whose schema lists no such stage)."""
    return S.SUBMITTED.value if state is S.SUPPLEMENT_REQUESTED else state.value
