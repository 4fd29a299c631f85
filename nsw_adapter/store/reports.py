"""The Border Guard's figures per border gate and period, counted by SQL over the dossiers' facts.

A dossier belongs to the period its ship is expected in (ETA for an entry, ETD for an exit; the
time it was first received when its General Declaration gave none). Per gate:

* entries and exits: dossiers cleared, by direction (vessels that went through the gate);
* crew and passengers: as declared on those cleared dossiers; shore passes: issued with them;
* cleared, rejected by the portal and by the adapter, each with the number of dossiers rejected
  for each rule code (a dossier counts once per code, however many of its fields broke the rule);
* from a complete dossier (its last move to READY before the decision) to the portal's
  decision, and to that Result's delivery at the NSW: median and 95th percentile, seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median, quantiles
from typing import Any

from sqlalchemy import and_, case, func, select

from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database

d, f, h, o = t.dossiers, t.dossier_facts, t.history, t.outbox
UNKNOWN_GATE = "-"


@dataclass(frozen=True, slots=True)
class Delays:
    """Seconds from a complete dossier to something, over the dossiers it could be measured on."""

    count: int
    median: float | None
    p95: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> Delays:
        if not seconds:
            return cls(0, None, None)
        ordered = sorted(seconds)
        p95 = ordered[-1] if len(ordered) < 2 else quantiles(ordered, n=20, method="inclusive")[-1]
        return cls(len(ordered), median(ordered), p95)


@dataclass(slots=True)
class GateFigures:
    """One gate's figures over the period."""

    gate: str
    entries: int = 0
    exits: int = 0
    crew: int = 0
    passengers: int = 0
    shore_passes: int = 0
    cleared: int = 0
    rejected: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    rejected_locally: int = 0
    rejected_locally_by_code: dict[str, int] = field(default_factory=dict)
    to_decision: Delays = field(default_factory=lambda: Delays(0, None, None))
    to_result: Delays = field(default_factory=lambda: Delays(0, None, None))

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "entries": self.entries,
            "exits": self.exits,
            "crew": self.crew,
            "passengers": self.passengers,
            "shore_passes": self.shore_passes,
            "cleared": self.cleared,
            "rejected": self.rejected,
            "rejected_by_code": dict(sorted(self.rejected_by_code.items())),
            "rejected_locally": self.rejected_locally,
            "rejected_locally_by_code": dict(sorted(self.rejected_locally_by_code.items())),
            "to_decision_seconds": _delays(self.to_decision),
            "to_result_seconds": _delays(self.to_result),
        }


def report(db: Database, start: datetime, end: datetime, gate: str | None = None) -> list[GateFigures]:
    """Each gate's figures for dossiers expected in [start, end), gates in order."""
    when = func.coalesce(f.c.expected_at, d.c.created_at)
    gate_of = func.coalesce(f.c.gate, UNKNOWN_GATE)
    in_period = and_(when >= start, when < end)
    if gate is not None:
        in_period = and_(in_period, gate_of == gate)
    cleared = f.c.decision == "23"
    counted = (
        select(
            gate_of.label("gate"),
            func.sum(case((and_(cleared, d.c.document_type == "1"), 1), else_=0)).label("entries"),
            func.sum(case((and_(cleared, d.c.document_type == "2"), 1), else_=0)).label("exits"),
            func.sum(case((cleared, func.coalesce(f.c.crew, 0)), else_=0)).label("crew"),
            func.sum(case((cleared, func.coalesce(f.c.passengers, 0)), else_=0)).label("passengers"),
            func.sum(case((cleared, func.coalesce(f.c.shore_passes, 0)), else_=0)).label("shore_passes"),
            func.sum(case((cleared, 1), else_=0)).label("cleared"),
            func.sum(case((and_(f.c.decision == "22", f.c.decided_locally.is_(False)), 1), else_=0)).label(
                "rejected"
            ),
            func.sum(case((f.c.decided_locally.is_(True), 1), else_=0)).label("rejected_locally"),
        )
        .select_from(d.join(f, f.c.dossier_id == d.c.id, isouter=True))
        .where(in_period)
        .group_by(gate_of)
    )
    rejections = (
        select(gate_of.label("gate"), f.c.decided_locally, f.c.codes)
        .select_from(d.join(f, f.c.dossier_id == d.c.id))
        .where(in_period, f.c.decision == "22", f.c.codes.is_not(None))
    )
    ready_at = (
        select(func.max(h.c.at))
        .where(h.c.dossier_id == d.c.id, h.c.to_state == "ready", h.c.at <= f.c.decided_at)
        .scalar_subquery()
    )
    sent_at = (  # through the outbox's dossier index: a dossier has a handful of Results
        select(o.c.sent_at)
        .where(o.c.dossier_id == d.c.id, o.c.message_id == f.c.result_message_id)
        .limit(1)
        .scalar_subquery()
    )
    decided = (
        select(gate_of.label("gate"), ready_at.label("ready_at"), f.c.decided_at, sent_at.label("sent_at"))
        .select_from(d.join(f, f.c.dossier_id == d.c.id))
        .where(in_period, f.c.decision.in_(("22", "23")), f.c.decided_locally.is_(False))
    )
    figures: dict[str, GateFigures] = {}
    with db.read() as c:
        for row in c.execute(counted):
            n = {k: int(v or 0) for k, v in row._mapping.items() if k != "gate"}
            figures[row.gate] = GateFigures(
                gate=row.gate,
                entries=n["entries"],
                exits=n["exits"],
                crew=n["crew"],
                passengers=n["passengers"],
                shore_passes=n["shore_passes"],
                cleared=n["cleared"],
                rejected=n["rejected"],
                rejected_locally=n["rejected_locally"],
            )
        by_code: dict[tuple[str, bool], Counter[str]] = {}
        for rejection in c.execute(rejections):
            key = (rejection.gate, bool(rejection.decided_locally))
            by_code.setdefault(key, Counter()).update(set(rejection.codes.split(",")))  # dossiers per code
        to_decision: dict[str, list[float]] = {}
        to_result: dict[str, list[float]] = {}
        for timed in c.execute(decided):
            if timed.ready_at is None or timed.decided_at is None:
                continue
            ready = _aware(timed.ready_at)
            to_decision.setdefault(timed.gate, []).append((_aware(timed.decided_at) - ready).total_seconds())
            if timed.sent_at is not None:
                to_result.setdefault(timed.gate, []).append((_aware(timed.sent_at) - ready).total_seconds())
    for (gate_code, local), codes in by_code.items():
        target = figures.setdefault(gate_code, GateFigures(gate=gate_code))
        if local:
            target.rejected_locally_by_code = dict(codes)
        else:
            target.rejected_by_code = dict(codes)
    for gate_code, figure in figures.items():
        figure.to_decision = Delays.of(to_decision.get(gate_code, []))
        figure.to_result = Delays.of(to_result.get(gate_code, []))
    return [figures[key] for key in sorted(figures)]


def _aware(moment: datetime) -> datetime:
    """Aggregates lose the column's type on some dialects: read a naive time as UTC, as stored."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _delays(delays: Delays) -> dict[str, float | int | None]:
    return {
        "count": delays.count,
        "median": None if delays.median is None else round(delays.median, 1),
        "p95": None if delays.p95 is None else round(delays.p95, 1),
    }
