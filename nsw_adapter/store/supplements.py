"""Supplement requests: each one announced (one row per RequestNumber, with its 25's messageId),
how it ended, and what history and stats read of them. Codes, numbers and times only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from nsw_adapter.lifecycle import Dossier, SupplementOutcome
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import SupplementRecord
from nsw_adapter.store.statements import Statement

r = t.supplement_requests

_FIND = Statement.of(select(r.c.message_id).where(r.c.request_number == bindparam("number")))
_INSERT = Statement.of(r.insert())
_END = Statement.of(
    r.update()
    .where(r.c.request_number == bindparam("number"), r.c.outcome.is_(None))
    .values(outcome=bindparam("ended_as"), outcome_at=bindparam("ended_at", type_=t.UtcDateTime()))
)


def announced(db: Database, c: Connection, request_number: str) -> str | None:
    """The messageId of the 25 that announced this request, or None when none did."""
    found = db.execute(c, _FIND, {"number": request_number}).scalar()
    return None if found is None else str(found)


def record(
    db: Database, c: Connection, dossier: Dossier, request: SupplementRecord, message_id: str, now: datetime
) -> None:
    """The request announced by the 25 `message_id` (the caller holds the dossier locked)."""
    db.execute(
        c,
        _INSERT,
        {
            "dossier_id": dossier.id,
            "version": dossier.version,
            "receipt_number": request.receipt_number,
            "request_number": request.request_number,
            "requested_at": request.requested_at,
            "respond_by": request.respond_by,
            "codes": ",".join(request.codes)[:1000],
            "message_id": message_id,
            "at": now,
            "outcome": None,
            "outcome_at": None,
        },
    )


def end(db: Database, c: Connection, request_number: str, outcome: SupplementOutcome, now: datetime) -> None:
    """How an open request ended (answered, expired, decided, cancelled); an ended one stays so."""
    db.execute(c, _END, {"number": request_number, "ended_as": outcome.value, "ended_at": now})
