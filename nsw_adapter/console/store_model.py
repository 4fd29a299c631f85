"""The console's ReadModel over the SQL store: its public methods, plus read-only queries of its tables.

Reads that the store has no method for (the dossier list and search, the hourly chart, a
dossier's outbox deliveries) are plain SELECTs on `nsw_adapter.store.tables`, run on an engine
of their own in read-only transactions (on SQLite a WAL snapshot: the console never queues
behind a writer). A dossier's vessel facts (IMO, name, call sign, gate, counts, clearance
number, shore passes) come from `nswa_dossier_facts`; the statistics are the store's `report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine

from nsw_adapter.console.readmodel import (
    DeadLetterRow,
    DossierRow,
    GateStatistics,
    HourCount,
    Overview,
    Problem,
    SupplementRequestRow,
    Timeline,
    TimelineEvent,
    UnknownDeadLetter,
)
from nsw_adapter.envelope import collapse
from nsw_adapter.store import DossierView, Store
from nsw_adapter.store import engine as engines
from nsw_adapter.store import tables as t
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

log = structlog.get_logger(__name__)
d, m, f = t.dossiers, t.messages, t.dossier_facts

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
    "25": "supplement requested",
}


class StoreReadModel:
    """ReadModel over a SqlStore and its tables."""

    def __init__(self, store: Store, url: str, *, engine: Engine | None = None) -> None:
        self._store = store
        self._engine = (engine or engines.create(url, pool_size=2)).execution_options(
            **{engines.READ_ONLY: True}
        )

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
        """Newest first by id (the primary key: no sort of the whole table): a reference by its
        prefix, an IMO or a gate exactly (indexed), a vessel by any part of its name."""
        needle = text.strip().upper()
        query = _LISTED.order_by(d.c.id.desc()).limit(limit)
        if needle.isdigit() and len(needle) == 7:  # an IMO number: its index alone
            query = query.where(f.c.imo == needle)
        elif needle:
            query = query.where(
                or_(
                    d.c.reference.startswith(needle, autoescape=True),
                    f.c.imo == needle,
                    f.c.gate == needle,
                    func.upper(f.c.vessel_name).contains(needle, autoescape=True),
                )
            )
        with self._engine.begin() as c:
            return [_row(row) for row in c.execute(query)]

    def timeline(self, reference: str, document_type: str) -> Timeline | None:
        view = self._store.describe(reference, document_type)
        if view is None:
            return None
        with self._engine.begin() as c:
            row = c.execute(_LISTED.add_columns(*_FACTS).where(d.c.id == view.dossier_id)).one()
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
            requests = [
                SupplementRequestRow(
                    request_number=r.request_number,
                    receipt_number=r.receipt_number,
                    codes=tuple(code for code in r.codes.split(",") if code),
                    requested_at=r.requested_at,
                    respond_by=r.respond_by,
                    outcome=r.outcome or "open",
                )
                for r in c.execute(
                    select(t.supplement_requests)
                    .where(t.supplement_requests.c.dossier_id == view.dossier_id)
                    .order_by(t.supplement_requests.c.id)
                )
            ]
        events, problems, clearance, passes = _events(view, send_dates, sent)
        entry = document_type == "1"
        return Timeline(
            dossier=_row(row),
            version=view.version,
            receipt_number=view.receipt_number,
            client_message_id=view.client_message_id,
            events=events,
            problems=problems,
            clearance_number=row.clearance_number or clearance,
            shore_passes=row.shore_passes if row.shore_passes is not None else passes,
            call_sign=row.call_sign,
            eta=row.expected_at if entry else None,
            etd=None if entry else row.expected_at,
            crew=row.crew,
            passengers=row.passengers,
            requests=requests,
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
        """The store's report (issue 13 item 2) over the days [start, end]."""
        since = datetime.combine(start, time(), UTC)
        until = datetime.combine(end + timedelta(days=1), time(), UTC)
        return [
            GateStatistics(
                gate=g.gate,
                entries=g.entries,
                exits=g.exits,
                crew=g.crew,
                passengers=g.passengers,
                shore_passes=g.shore_passes,
                cleared=g.cleared,
                rejected=g.rejected,
                rejected_locally=g.rejected_locally,
                rejections_by_code={
                    **g.rejected_by_code,
                    **{f"{code} (local)": n for code, n in g.rejected_locally_by_code.items()},
                },
                decision_median_seconds=g.to_decision.median,
                decision_p95_seconds=g.to_decision.p95,
                result_median_seconds=g.to_result.median,
                result_p95_seconds=g.to_result.p95,
            )
            for g in self._store.report(since, until, gate)
        ]


_LISTED = select(
    d.c.id, d.c.reference, d.c.document_type, d.c.state, d.c.created_at, d.c.updated_at,
    f.c.imo, f.c.vessel_name, f.c.gate,
).select_from(d.outerjoin(f, f.c.dossier_id == d.c.id))  # fmt: skip
_FACTS = (f.c.call_sign, f.c.expected_at, f.c.crew, f.c.passengers, f.c.clearance_number, f.c.shore_passes)


def _row(row: Any) -> DossierRow:
    return DossierRow(
        reference=row.reference,
        document_type=row.document_type,
        state=row.state,
        created_at=row.created_at,
        updated_at=row.updated_at,
        imo=row.imo,
        vessel=row.vessel_name,
        gate=row.gate,
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
