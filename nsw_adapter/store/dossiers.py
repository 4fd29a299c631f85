"""A dossier's row: read and locked, a lifecycle Step written to it, its history, its documents."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import Connection, bindparam, select

from nsw_adapter.lifecycle import Dossier, Entry, PresentTypes, Step
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import UnknownRecord
from nsw_adapter.store.statements import Statement, locked

log = structlog.get_logger(__name__)
d = t.dossiers

_FOR_UPDATE = Statement(lambda dialect: locked(dialect, select(d).where(d.c.id == bindparam("did"))))
_UPDATE = Statement.of(d.update().where(d.c.id == bindparam("did")))
_INSERT_HISTORY = Statement.of(t.history.insert())
_PRESENT = Statement.of(select(t.documents.c.type).where(t.documents.c.dossier_id == bindparam("did")))


def for_update(db: Database, c: Connection, dossier_id: int) -> Dossier:
    """The dossier, locked for the transaction (UnknownRecord when there is none)."""
    row = db.run(c, _FOR_UPDATE, {"did": dossier_id}).first()
    if row is None:
        raise UnknownRecord(f"no dossier {dossier_id}")
    return Dossier.from_row(row)


def apply(db: Database, c: Connection, step: Step, now: datetime) -> Dossier:
    """Write what a lifecycle event returned: its column changes and history rows."""
    dossier = step.dossier
    if step.changes:
        db.run(c, _UPDATE, {"did": dossier.id, **step.changes})
    for entry in step.history:
        history(db, c, dossier.id, entry, now)
    for note in step.notes:
        log.info(note, reference=dossier.reference, dossier_id=dossier.id)
    if step.supplement is not None:
        from nsw_adapter.store import supplements  # supplements imports records, as this module does

        number, outcome = step.supplement
        supplements.end(db, c, number, outcome, now)
        log.info(
            "store.supplement_ended",
            reference=dossier.reference,
            request_number=number,
            outcome=outcome.value,
        )
    return dossier


def history(db: Database, c: Connection, dossier_id: int, entry: Entry, now: datetime) -> None:
    """One state-history row."""
    from_state = None if entry.from_state is None else entry.from_state.value
    db.run(
        c,
        _INSERT_HISTORY,
        {
            "dossier_id": dossier_id,
            "version": entry.version,
            "from_state": from_state,
            "to_state": entry.to_state.value,
            "at": now,
            "cause": entry.cause,
        },
    )


def present_types(db: Database, c: Connection, dossier_id: int) -> list[str]:
    """The types of the dossier's documents in effect."""
    return db.run(c, _PRESENT, {"did": dossier_id}).scalars()


def present(db: Database, c: Connection, dossier_id: int) -> PresentTypes:
    """Reads the dossier's document types in effect when a lifecycle rule asks."""
    return lambda: present_types(db, c, dossier_id)
