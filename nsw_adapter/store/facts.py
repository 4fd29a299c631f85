"""Each dossier's facts (tables.dossier_facts): the vessel's, kept when its General Declaration
takes effect, and the decision's, kept when its final Result is enqueued (dossier_facts.py reads
both). Written in the transaction of the change that brings them; read by history and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from nsw_adapter.dossier_facts import (
    FINAL_FUNCTIONS,
    DecisionFacts,
    VesselFacts,
    decision_facts,
    vessel_facts_of_envelope,
)
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import OutgoingMessage
from nsw_adapter.store.statements import Statement, insert

f = t.dossier_facts
_VESSEL = (
    "imo",
    "vessel_name",
    "call_sign",
    "gate",
    "port",
    "expected_at",
    "crew",
    "passengers",
    "stowaways",
    "arms",
)
_DECISION = (
    "decision",
    "decided_locally",
    "decided_at",
    "result_message_id",
    "clearance_number",
    "shore_passes",
    "codes",
)


def _upsert(columns: tuple[str, ...]) -> Statement:
    def build(dialect: str) -> Any:
        statement = insert(dialect, f)
        return statement.on_conflict_do_update(
            index_elements=["dossier_id"], set_={name: statement.excluded[name] for name in columns}
        )

    return Statement(build)


_UPSERT_VESSEL = _upsert(_VESSEL)
_UPSERT_DECISION = _upsert(_DECISION)


def vessel_values(facts: VesselFacts) -> dict[str, Any]:
    return {
        "imo": facts.imo,
        "vessel_name": facts.vessel_name,
        "call_sign": facts.call_sign,
        "gate": facts.gate,
        "port": facts.port,
        "expected_at": facts.expected_at,
        "crew": facts.crew,
        "passengers": facts.passengers,
        "stowaways": facts.stowaways,
        "arms": facts.arms,
    }


def decision_values(facts: DecisionFacts, *, local: bool, message_id: str, at: datetime) -> dict[str, Any]:
    return {
        "decision": facts.function,
        "decided_locally": local,
        "decided_at": at,
        "result_message_id": message_id,
        "clearance_number": facts.clearance_number,
        "shore_passes": facts.shore_passes,
        "codes": ",".join(facts.codes) or None,
    }


def record_vessel(db: Database, c: Connection, dossier_id: int, facts: VesselFacts) -> None:
    """The General Declaration now in effect: its vessel facts replace the earlier ones."""
    db.run(c, _UPSERT_VESSEL, {"dossier_id": dossier_id, **vessel_values(facts)})


def record_result(
    db: Database, c: Connection, dossier_id: int, result: OutgoingMessage, now: datetime
) -> None:
    """A Result enqueued: a final one (22, 23, 24) is the dossier's decision, the last one counts."""
    facts = result.decision_facts()
    if facts is None:
        return
    local = facts.function == "22" and b"<ReceiptNumber>" not in result.payload
    values = decision_values(facts, local=local, message_id=result.message_id, at=now)
    db.run(c, _UPSERT_DECISION, {"dossier_id": dossier_id, **values})


def backfill(connection: Connection) -> None:
    """Facts for dossiers stored before the table existed (migration 9), from their payloads."""
    d, m, docs, o = t.dossiers, t.messages, t.documents, t.outbox
    general_declarations = connection.execute(
        select(docs.c.dossier_id, m.c.payload)
        .join(m, m.c.id == docs.c.message_row)
        .where(docs.c.type == "50", m.c.payload.is_not(None))
    )
    rows: dict[int, dict[str, Any]] = {}
    for dossier_id, payload in general_declarations:
        vessel = vessel_facts_of_envelope(payload)
        if vessel is not None:
            rows.setdefault(dossier_id, {}).update(vessel_values(vessel))
    finals = connection.execute(
        select(o.c.dossier_id, o.c.message_id, o.c.created_at, m.c.payload)
        .join(m, m.c.id == o.c.message_row)
        .where(o.c.function.in_(FINAL_FUNCTIONS), o.c.dossier_id.is_not(None), m.c.payload.is_not(None))
        .order_by(o.c.id)
    )
    for dossier_id, message_id, created_at, payload in finals:  # in order: the last one counts
        decision = decision_facts(payload)
        if decision is not None:
            local = decision.function == "22" and b"<ReceiptNumber>" not in payload
            values = decision_values(decision, local=local, message_id=message_id, at=created_at)
            rows.setdefault(dossier_id, {}).update(values)
    known = set(connection.execute(select(d.c.id)).scalars())
    batch = [
        {**dict.fromkeys(_VESSEL + _DECISION), **values, "dossier_id": i}
        for i, values in rows.items()
        if i in known
    ]
    if batch:
        connection.execute(f.insert(), batch)


def dossier_ids(
    db: Database, c: Connection, *, imo: str | None = None, vessel: str | None = None
) -> list[int]:
    """Dossiers of a vessel, by IMO number or by (part of) its name, case-insensitive."""
    query = select(f.c.dossier_id)
    if imo is not None:
        query = query.where(f.c.imo == bindparam("imo"))
    if vessel is not None:
        query = query.where(f.c.vessel_name.ilike(bindparam("vessel")))
    params = {"imo": imo, "vessel": None if vessel is None else f"%{vessel}%"}
    return list(
        c.execute(
            query.order_by(f.c.dossier_id), {k: v for k, v in params.items() if v is not None}
        ).scalars()
    )
