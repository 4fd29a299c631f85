"""The console's ReadModel over the SQL store: its public methods, plus read-only queries of its tables.

Reads that the Store protocol has no method for (the dossier list, the hourly chart, the period
statistics) are plain SELECTs on `nsw_adapter.store.tables`, run on an engine of their own in
read-only transactions (on SQLite a WAL snapshot: the console never queues behind a writer).

ADAPTER (issue 13 items 1 and 2): until the store keeps IMO, vessel, call sign, gate and counts
as columns, and offers `discard_dead_letter` and the `report` statistics, this module reads the
vessel's particulars from each listed dossier's General Declaration (through the hardened
parser, a dossier at a time, cached) and counts the period's figures from states alone. Each
such place is marked `ADAPTER`; it gives way to the store's own column or method when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from nsw_adapter.console.readmodel import (
    DeadLetterRow,
    DossierRow,
    GateStatistics,
    HourCount,
    Overview,
    Problem,
    Timeline,
    TimelineEvent,
    UnknownDeadLetter,
)
from nsw_adapter.envelope import collapse
from nsw_adapter.results import station_of_port
from nsw_adapter.store import DossierView, Store
from nsw_adapter.store import engine as engines
from nsw_adapter.store import tables as t
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

log = structlog.get_logger(__name__)
d, m, h = t.dossiers, t.messages, t.history

TITLES = {
    "50": "General Declaration",
    "51": "Crew List",
    "52": "Passenger List",
    "64": "Arms Declaration",
    "65": "Stowaway Declaration",
    "26": "Result",
}
FUNCTIONS = {
    "01": "new",
    "02": "amendment",
    "03": "cancellation",
    "21": "accepted",
    "22": "rejected",
    "23": "cleared",
    "24": "cancellation confirmed",
}
_GD = "Body/Content/GeneralDeclaration/"
_SCANNED = 2000  # ADAPTER: how many of the newest dossiers a search by IMO, vessel or gate reads


@dataclass(frozen=True, slots=True)
class Particulars:
    """What the list shows of a vessel: public particulars from its General Declaration."""

    imo: str | None = None
    vessel: str | None = None
    gate: str | None = None
    call_sign: str | None = None
    eta: str | None = None
    crew: int | None = None
    passengers: int | None = None


class StoreReadModel:
    """ReadModel over a SqlStore and its tables."""

    def __init__(self, store: Store, url: str, *, engine: Engine | None = None) -> None:
        self._store = store
        self._engine = (engine or engines.create(url, pool_size=2)).execution_options(
            **{engines.READ_ONLY: True}
        )
        self._particulars: dict[int, Particulars] = {}  # ADAPTER: until the columns exist

    def close(self) -> None:
        self._engine.dispose()

    # --- overview
    def overview(self, now: datetime) -> Overview:
        stats = self._store.stats(now)
        return Overview(
            by_state=dict(stats.dossiers_by_state),
            oldest_waiting_seconds=stats.oldest_waiting_seconds,
            dead_letters=stats.dead_letters,
            outbox_pending=stats.outbox_pending,
        )

    def hourly(self, since: datetime, until: datetime) -> list[HourCount]:
        """From the audit trail (indexed by time): General Declarations 01 received, 23 and 22 sent."""
        since = since.replace(minute=0, second=0, microsecond=0)
        received = and_(m.c.direction == "in", m.c.type == "50", m.c.function == "01")
        cleared = and_(m.c.direction == "out", m.c.function == "23")
        rejected = and_(m.c.direction == "out", m.c.function == "22")
        query = select(m.c.at, m.c.direction, m.c.function).where(
            m.c.at >= since, m.c.at < until, or_(received, cleared, rejected)
        )
        counts: dict[datetime, list[int]] = {}
        hour = since
        while hour < until:
            counts[hour] = [0, 0, 0]
            hour += timedelta(hours=1)
        with self._engine.begin() as c:
            for row in c.execute(query):
                at = row.at.replace(minute=0, second=0, microsecond=0)
                slot = counts.get(at)
                if slot is None:
                    continue
                slot[0 if row.direction == "in" else 1 if row.function == "23" else 2] += 1
        return [HourCount(hour, *values) for hour, values in counts.items()]

    # --- dossiers
    def find_dossiers(self, text: str, limit: int) -> list[DossierRow]:
        """Newest first by id (the primary key: no sort of the whole table); a reference by its prefix."""
        needle = text.strip().upper()
        query = select(d.c.id, d.c.reference, d.c.document_type, d.c.state, d.c.created_at, d.c.updated_at)
        query = query.order_by(d.c.id.desc())
        with self._engine.begin() as c:
            if not needle:
                return [self._row(c, row) for row in c.execute(query.limit(limit)).all()]
            prefix = query.where(d.c.reference.startswith(needle, autoescape=True))
            by_reference = c.execute(prefix.limit(limit)).all()
            found = [self._row(c, row) for row in by_reference]
            seen = {row.id for row in by_reference}
            # ADAPTER: IMO, vessel and gate from the General Declarations of the newest dossiers
            # (bounded), until the store keeps them as columns (issue 13 item 1).
            for row in c.execute(query.limit(_SCANNED)).all():
                if len(found) >= limit:
                    break
                if row.id in seen:
                    continue
                item = self._row(c, row)
                fields = (item.imo, item.vessel, item.gate)
                if any(value and needle in value.upper() for value in fields):
                    found.append(item)
        return found

    def _row(self, c: Any, row: Any) -> DossierRow:
        p = self._particulars_of(c, row.id)
        return DossierRow(
            reference=row.reference,
            document_type=row.document_type,
            state=row.state,
            created_at=row.created_at,
            updated_at=row.updated_at,
            imo=p.imo,
            vessel=p.vessel,
            gate=p.gate,
        )

    def _particulars_of(self, c: Any, dossier_id: int) -> Particulars:
        """ADAPTER: the vessel's particulars from the dossier's General Declaration in effect."""
        known = self._particulars.get(dossier_id)
        if known is not None:
            return known
        payload = c.execute(
            select(m.c.payload)
            .select_from(t.documents.join(m, t.documents.c.message_row == m.c.id))
            .where(t.documents.c.dossier_id == dossier_id, t.documents.c.type == "50")
        ).scalar()
        found = _particulars(payload) if payload else Particulars()
        if payload:  # a dossier whose GD has not arrived yet is looked at again next time
            self._particulars[dossier_id] = found
        return found

    def timeline(self, reference: str, document_type: str) -> Timeline | None:
        view = self._store.describe(reference, document_type)
        if view is None:
            return None
        with self._engine.begin() as c:
            row = c.execute(
                select(
                    d.c.id, d.c.reference, d.c.document_type, d.c.state, d.c.created_at, d.c.updated_at
                ).where(d.c.id == view.dossier_id)
            ).one()
            dossier = self._row(c, row)
            particulars = self._particulars_of(c, view.dossier_id)
            send_dates = {
                r.message_id: r.send_date
                for r in c.execute(
                    select(m.c.message_id, m.c.send_date).where(
                        m.c.dossier_id == view.dossier_id, m.c.direction == "in"
                    )
                )
            }
            sent = {
                r.message_id: _delivery(r.status, r.sent_at)
                for r in c.execute(
                    select(t.outbox.c.message_id, t.outbox.c.status, t.outbox.c.sent_at).where(
                        t.outbox.c.dossier_id == view.dossier_id
                    )
                )
            }
        events, problems, clearance, passes = _events(view, send_dates, sent)
        return Timeline(
            dossier=dossier,
            version=view.version,
            receipt_number=view.receipt_number,
            client_message_id=view.client_message_id,
            events=events,
            problems=problems,
            clearance_number=clearance,
            shore_passes=passes,
            call_sign=particulars.call_sign,
            crew=particulars.crew,
            passengers=particulars.passengers,
        )

    # --- dead letters
    def dead_letters(self) -> list[DeadLetterRow]:
        return [
            DeadLetterRow(letter.kind, letter.id, letter.reference, letter.reason, letter.failed_at)
            for letter in self._store.dead_letters()
        ]

    def retry(self, kind: str, id: int, user: str) -> None:
        if kind not in ("dossier", "outbox") or not self._store.retry_dead_letter(kind, id):
            raise UnknownDeadLetter(f"no dead {kind} {id}")
        log.info("console.dead_letter_retried", kind=kind, id=id, console_user=user)

    def can_discard(self) -> bool:
        return callable(getattr(self._store, "discard_dead_letter", None))

    def discard(self, kind: str, id: int, user: str, reason: str) -> None:
        # The store's discard_dead_letter keeps the reason in a hash-chained audit row; the console
        # adds who discarded it (a configured console user) to that reason.
        discard = getattr(self._store, "discard_dead_letter", None)
        if discard is None:
            raise NotImplementedError("this store cannot discard dead letters")
        if kind not in ("dossier", "outbox") or not discard(kind, id, f"{reason} (console user {user})"):
            raise UnknownDeadLetter(f"no dead {kind} {id}")
        log.info("console.dead_letter_discarded", kind=kind, id=id, console_user=user, reason=reason)

    # --- statistics
    def statistics(self, start: date, end: date, gate: str | None) -> Sequence[GateStatistics]:
        """ADAPTER (issue 13 item 2): per gate and direction, from the dossiers' final states."""
        since = datetime.combine(start, time(), UTC)
        until = datetime.combine(end + timedelta(days=1), time(), UTC)
        query = select(d.c.id, d.c.document_type, d.c.state).where(
            d.c.created_at >= since, d.c.created_at < until
        )
        gates: dict[str, dict[str, int]] = {}
        with self._engine.begin() as c:
            for row in c.execute(query).all():
                p = self._particulars_of(c, row.id)
                name = p.gate or "unknown"
                if gate and name != gate:
                    continue
                figures = gates.setdefault(name, {})
                key = "entries" if row.document_type == "1" else "exits"
                figures[key] = figures.get(key, 0) + 1
                figures[row.state] = figures.get(row.state, 0) + 1
                figures["crew"] = figures.get("crew", 0) + (p.crew or 0)
                figures["passengers"] = figures.get("passengers", 0) + (p.passengers or 0)
        return [
            GateStatistics(
                gate=name,
                entries=f.get("entries", 0),
                exits=f.get("exits", 0),
                crew=f.get("crew", 0),
                passengers=f.get("passengers", 0),
                cleared=f.get("cleared", 0),
                rejected=f.get("rejected", 0),
                rejected_locally=f.get("rejected_locally", 0),
            )
            for name, f in sorted(gates.items())
        ]


def _particulars(payload: bytes) -> Particulars:
    """The public particulars of a General Declaration (never its master's or agent's names)."""
    try:
        root = parse_untrusted(payload)
    except UntrustedXmlError:
        return Particulars()

    def text(name: str) -> str | None:
        return collapse(root.findtext(_GD + name))

    def number(name: str) -> int | None:
        value = text(name)
        return int(value) if value and value.isdigit() else None

    return Particulars(
        imo=text("IMONumber"),
        vessel=text("NameOfShip"),
        gate=station_of_port(text("PortOfCallCode")),
        call_sign=text("CallSign"),
        eta=text("ArrivalOrDepartureTime"),
        crew=number("NumberOfCrew"),
        passengers=number("NumberOfPassengers"),
    )


def _delivery(status: str, sent_at: datetime | None) -> str:
    """What became of a Result in the outbox."""
    if sent_at is not None:
        return f"sent to the NSW {sent_at:%Y-%m-%d %H:%M:%S}"
    return {"pending": "waiting to be sent", "dead": "dead letter"}.get(status, status)


def _events(
    view: DossierView, send_dates: dict[str | None, datetime | None], deliveries: dict[str, str]
) -> tuple[list[TimelineEvent], list[Problem], str | None, int]:
    """The dossier's messages and state changes as events; what its Results say (codes, numbers)."""
    events: list[TimelineEvent] = []
    problems: list[Problem] = []
    clearance: str | None = None
    passes = 0
    for entry in view.messages:
        title = TITLES.get(entry.type or "", f"type {entry.type}")
        function = FUNCTIONS.get(entry.function or "", entry.function or "")
        if entry.direction == "in":
            sent = send_dates.get(entry.message_id)
            detail = f"sendDate {sent:%Y-%m-%d %H:%M:%S} UTC; answered 99" if sent else "answered 99"
            summary = f"{title} ({entry.type}) {entry.function} {function}"
            events.append(TimelineEvent(entry.at, "received", summary, entry.message_id, detail))
        elif entry.direction == "portal":
            what = (
                "CancelDeclaration" if (entry.message_id or "").startswith("cancel") else "SubmitDeclaration"
            )
            events.append(TimelineEvent(entry.at, "portal", what, entry.message_id, "ClientMessageId"))
        elif entry.direction == "out":
            summary = f"Result {entry.function} {function}"
            delivery = deliveries.get(entry.message_id or "", "")
            events.append(TimelineEvent(entry.at, "result", summary, entry.message_id, delivery))
            if entry.payload and entry.function in ("22", "23"):
                found, number, count = _read_result(entry.payload)
                problems.extend(found)
                clearance = number or clearance
                passes = count or passes
        elif entry.direction == "operator":  # an operator's action (its typed reason is not shown)
            events.append(TimelineEvent(entry.at, "operator", "dead letter discarded by an operator"))
        else:
            events.append(TimelineEvent(entry.at, entry.direction, title, entry.message_id))
    for change in view.history:
        arrow = f"{change.from_state or 'new'} -> {change.to_state}"
        events.append(TimelineEvent(change.at, "state", arrow, None, f"v{change.version}: {change.cause}"))
    events.sort(key=lambda event: event.at)
    return events, problems, clearance, passes


def _read_result(payload: bytes) -> tuple[list[Problem], str | None, int]:
    """A Result's problems (code, XPath, document type: never the text, which may quote values),
    clearance number and number of shore passes (never who holds them)."""
    try:
        root = parse_untrusted(payload)
    except UntrustedXmlError:
        return [], None, 0
    result = root.find("Body/Content/Result")
    if result is None:
        return [], None, 0
    problems = [
        Problem(
            code=collapse(error.findtext("Code")) or "?",
            text="",
            xpath=collapse(error.findtext("Field")),
            document_type=collapse(error.findtext("DocumentType")),
        )
        for error in result.findall("Error")
    ]
    return problems, collapse(result.findtext("ClearanceNumber")), len(result.findall("ShorePass"))
