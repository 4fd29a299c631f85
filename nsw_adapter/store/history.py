"""A dossier's history as port IT reads it: every message received, state change, portal call and
Result, in time order, with the vessel and decision facts. Ids, codes, XPaths and counts only:
never a name, a document number or a payload (the officer's own words are left out too)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nsw_adapter.envelope import collapse
from nsw_adapter.store import facts
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

d, m, h, o, f = t.dossiers, t.messages, t.history, t.outbox, t.dossier_facts
r = t.supplement_requests


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline: when, what kind, and its details (ids, codes, states)."""

    at: datetime
    kind: str  # received | state | portal | result | request (a supplement request)
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProblemRef:
    """A problem as the history shows it: its code, where (XPath and document type), from whom."""

    code: str
    xpath: str | None
    document_type: str | None
    source: str  # adapter | portal


@dataclass(frozen=True, slots=True)
class DossierHistory:
    """One dossier (reference and direction) with its facts and timeline."""

    reference: str
    document_type: str  # 1 entry, 2 exit
    state: str
    version: int
    receipt_number: str | None
    facts: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    problems: list[ProblemRef] = field(default_factory=list)
    unknown_portal_state: str | None = None  # a newer portal's state, not known here (polled on)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "procedure": "entry" if self.document_type == "1" else "exit",
            "state": self.state,
            "version": self.version,
            "receipt_number": self.receipt_number,
            "unknown_portal_state": self.unknown_portal_state,
            "facts": {k: _plain(v) for k, v in self.facts.items()},
            "events": [{"at": e.at.isoformat(), "kind": e.kind, **e.details} for e in self.events],
            "problems": [
                {"code": p.code, "xpath": p.xpath, "document_type": p.document_type, "source": p.source}
                for p in self.problems
            ],
        }


def find(
    db: Database, *, reference: str | None = None, imo: str | None = None, vessel: str | None = None
) -> list[DossierHistory]:
    """Every dossier of a reference (entry and exit), of an IMO number, or of a vessel name."""
    with db.read() as c:
        if reference is not None:
            ids = list(c.execute(select(d.c.id).where(d.c.reference == reference).order_by(d.c.id)).scalars())
        else:
            ids = facts.dossier_ids(db, c, imo=imo, vessel=vessel)
        return [_history(c, dossier_id) for dossier_id in ids]


def _history(c: Connection, dossier_id: int) -> DossierHistory:
    row = c.execute(select(d).where(d.c.id == dossier_id)).one()
    fact_row = c.execute(select(f).where(f.c.dossier_id == dossier_id)).first()
    known = {} if fact_row is None else {k: v for k, v in fact_row._mapping.items() if k != "dossier_id"}
    events: list[Event] = []
    problems = [
        ProblemRef(p["code"], p.get("xpath"), p.get("document_type"), "adapter")
        for p in json.loads(row.problems or "[]")
    ]
    for entry in c.execute(select(h).where(h.c.dossier_id == dossier_id).order_by(h.c.id)):
        events.append(
            Event(
                entry.at,
                "state",
                {
                    "version": entry.version,
                    "from": entry.from_state,
                    "to": entry.to_state,
                    "cause": entry.cause,
                },
            )
        )
    sent = {
        r.message_row: (r.status, r.sent_at, r.attempts)
        for r in c.execute(select(o).where(o.c.dossier_id == dossier_id))
    }
    for request in c.execute(select(r).where(r.c.dossier_id == dossier_id).order_by(r.c.id)):
        events.append(Event(request.at, "request", _request(request)))
    for message in c.execute(select(m).where(m.c.dossier_id == dossier_id).order_by(m.c.id)):
        if message.direction == "in":
            details = {
                "message_id": message.message_id,
                "type": message.type,
                "function": message.function,
                "send_date": None if message.send_date is None else message.send_date.isoformat(),
                "answer": "99",  # a message is stored only once it is answered 99
                "signature": message.signature,
            }
            if message.signer_sha256:  # who vouched for it (a certificate, not a crew member)
                details["signer"] = {
                    "subject": message.signer_subject,
                    "issuer": message.signer_issuer,
                    "serial": message.signer_serial,
                    "sha256": message.signer_sha256,
                }
            events.append(Event(message.at, "received", details))
        elif message.direction == "portal":
            call = (
                "CancelDeclaration"
                if (message.dedup_key or "").startswith("portal:cancel-")
                else "SubmitDeclaration"
            )
            events.append(
                Event(message.at, "portal", {"call": call, "client_message_id": message.message_id})
            )
        elif message.direction == "out":
            status, sent_at, attempts = sent.get(message.id, (None, None, 0))
            details = {
                "message_id": message.message_id,
                "function": message.function,
                "status": status,
                "sent_at": None if sent_at is None else sent_at.isoformat(),
                "attempts": attempts,
            }
            events.append(Event(message.at, "result", details))
            if message.function == "22" and message.payload is not None:
                problems.extend(_portal_problems(message.payload))
    events.sort(key=lambda e: e.at)
    return DossierHistory(
        reference=row.reference,
        document_type=row.document_type,
        state=row.state,
        version=row.version,
        receipt_number=row.receipt_number,
        facts=known,
        events=events,
        problems=_unique(problems),
        unknown_portal_state=row.unknown_portal_state,
    )


def _request(row: Any) -> dict[str, Any]:
    """A supplement request as the history shows it: numbers, item codes, deadline, outcome (never
    the officer's words, which may name a person or quote a document number)."""
    return {
        "request_number": row.request_number,
        "receipt_number": row.receipt_number,
        "version": row.version,
        "requested_at": row.requested_at.isoformat(),
        "respond_by": row.respond_by.isoformat(),
        "codes": [code for code in row.codes.split(",") if code],
        "message_id": row.message_id,
        "outcome": row.outcome or "open",
        "outcome_at": None if row.outcome_at is None else row.outcome_at.isoformat(),
    }


def _portal_problems(result: bytes) -> list[ProblemRef]:
    """The Error items of a 22 the adapter sent: code, Field and DocumentType (never the text)."""
    try:
        root = parse_untrusted(result)
    except UntrustedXmlError:
        return []
    if root.find("Body/Content/Result/ReceiptNumber") is None:
        return []  # a local rejection: its problems are on the dossier already
    return [
        ProblemRef(
            collapse(e.findtext("Code")) or "",
            collapse(e.findtext("Field")),
            collapse(e.findtext("DocumentType")),
            "portal",
        )
        for e in root.iterfind("Body/Content/Result/Error")
    ]


def _unique(problems: list[ProblemRef]) -> list[ProblemRef]:
    """Each problem once, in the order first found (a 22 sent twice lists its errors once)."""
    return list(dict.fromkeys(problems))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
