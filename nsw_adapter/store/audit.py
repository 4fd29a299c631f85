"""The audit trail's rows (nswa_messages): messages received and refused, Results sent, requests
made to the portal, operators' actions; each chained at commit (audit_chain.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from nsw_adapter.errors import Problem
from nsw_adapter.lifecycle import Dossier, problems_json
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.records import NO_SIGNATURE, SignatureRecord
from nsw_adapter.store.statements import Statement, insert

#: Audit directions besides "in" and "out": requests sent to the portal (submissions,
#: cancellations), envelopes refused at intake, what an operator did (a discard, with the reason).
PORTAL, REFUSED, OPERATOR = "portal", "refused", "operator"

#: An audit row, once per dedup_key (a message is never stored twice): its id, None when held.
INSERT = Statement(
    lambda dialect: (
        insert(dialect, t.messages)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(t.messages.c.id)
    )
)
_INSERT_PLAIN = Statement.of(t.messages.insert())
#: The columns an audit row of our own leaves empty.
_NOT_RECEIVED: dict[str, Any] = {
    "type": None,
    "function": None,
    "pre_reference": None,
    "send_date": None,
    "called_for": None,
}


def sha256_hex(payload: bytes) -> str:
    """The digest the audit trail keeps of every payload: SHA-256, hex."""
    return hashlib.sha256(payload).hexdigest()


def portal_request(
    db: Database, c: Connection, dossier: Dossier, key: str, payload: bytes, now: datetime
) -> None:
    """Keep a request sent to the portal, once per `key` (its ClientMessageId, or "cancel-" and the
    receipt it cancels): a retry of the same request adds no second row."""
    db.run(
        c,
        INSERT,
        {
            **_NOT_RECEIVED,
            "direction": PORTAL,
            "dedup_key": f"{PORTAL}:{key}",
            "message_id": key[:50],
            "dossier_id": dossier.id,
            "reference": dossier.reference,
            "document_type": dossier.document_type,
            "at": now,
            "sha256": sha256_hex(payload),
            "size": len(payload),
            "payload": payload,
        },
    )


def result(
    db: Database,
    c: Connection,
    dossier: Dossier | None,
    message_id: str,
    function: str,
    payload: bytes,
    now: datetime,
) -> int | None:
    """Keep a Result enqueued for the NSW (type 26): its row's id, None when that messageId is held."""
    row_id: int | None = db.run(
        c,
        INSERT,
        {
            **_NOT_RECEIVED,
            "direction": "out",
            "dedup_key": f"out:{message_id}",
            "message_id": message_id,
            "dossier_id": None if dossier is None else dossier.id,
            "reference": None if dossier is None else dossier.reference,
            "document_type": None if dossier is None else dossier.document_type,
            "type": "26",
            "function": function,
            "at": now,
            "sha256": sha256_hex(payload),
            "size": len(payload),
            "payload": payload,
        },
    ).scalar()
    return row_id


def refused(
    db: Database,
    c: Connection,
    raw: bytes,
    sha256: str,
    problems: Sequence[Problem],
    signature: SignatureRecord | None,
    now: datetime,
) -> None:
    """Keep an envelope refused at intake with its problems; it is never processed."""
    db.execute(
        c,
        _INSERT_PLAIN,
        {
            "direction": REFUSED,
            "dedup_key": None,
            "at": now,
            "sha256": sha256 or sha256_hex(raw),
            "size": len(raw),
            "payload": raw,
            "problems": problems_json(problems),
            **(NO_SIGNATURE if signature is None else signature.columns()),
        },
    )


def operator_action(
    db: Database,
    c: Connection,
    action: dict[str, str],
    *,
    dossier_id: int | None,
    reference: str | None,
    document_type: str | None,
    now: datetime,
) -> None:
    """Keep what an operator did, and why, as a chained audit row (JSON in its problems column)."""
    note = json.dumps(action)
    db.execute(
        c,
        _INSERT_PLAIN,
        {
            "direction": OPERATOR,
            "dossier_id": dossier_id,
            "reference": reference,
            "document_type": document_type,
            "at": now,
            "sha256": sha256_hex(note.encode()),
            "size": len(note.encode()),
            "problems": note,
        },
    )
