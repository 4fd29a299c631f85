"""The outbox and operations in SQL: results to the NSW, leases, dead letters, stats, retention."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, func, not_, or_, select

from nsw_adapter import lifecycle
from nsw_adapter.lifecycle import Dossier
from nsw_adapter.store import migrations
from nsw_adapter.store import tables as t
from nsw_adapter.store._sql import IDS, NOW, PORTAL
from nsw_adapter.store._work import WorkMixin, lease_free
from nsw_adapter.store.base import (
    FINAL_STATES,
    AuditEntry,
    DeadLetter,
    DossierState,
    DossierView,
    OutboxItem,
    SignatureRecord,
    StoreStats,
    Transition,
    UnknownRecord,
)

S = DossierState
d, o, m = t.dossiers, t.outbox, t.messages
log = structlog.get_logger(__name__)
_RELEASED: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
OPERATOR = "operator"  # an audit row recording what an operator did (discard), with the reason
DISCARDED = "discarded"  # an outbox row's status once an operator closed its dead letter
_WAITING = (S.RECEIVING.value, S.READY.value, S.SUBMITTING.value, S.SUBMITTED.value)

# Statements built once (see SqlBase._cached).
_LEASE_OUTBOX = (
    o.update()
    .where(o.c.id.in_(IDS))
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=t.UtcDateTime()),
        first_attempt_at=func.coalesce(o.c.first_attempt_at, NOW),
    )
)
_CLAIMED_OUTBOX = (
    select(o, m.c.payload)
    .select_from(o.join(m, o.c.message_row == m.c.id))
    .where(o.c.id.in_(IDS))
    .order_by(o.c.id)
)
_UPDATE_OUTBOX = o.update().where(o.c.id == bindparam("oid"))
_MARK_SENT = (
    o.update()
    .where(o.c.id.in_(IDS))
    .values(status="sent", sent_at=bindparam("sent_at", type_=t.UtcDateTime()), **_RELEASED)
)


class OpsMixin(WorkMixin):
    """Outbox, leases, dead letters, stats, purge, migrations."""

    # --- lifecycle
    def migrate(self) -> None:
        """Bring the schema up to date (idempotent, safe to run from several processes)."""
        migrations.migrate(self._engine)

    def close(self) -> None:
        """Finish queued intake commits, then release connections."""
        if self._group_commit is not None:
            self._group_commit.close()
        self._engine.dispose()
        if self._writers is not None:
            self._writers.close()

    # --- outbox
    def claim_outbox(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[OutboxItem]:
        """Lease due outbox entries, oldest first; one dossier's entries go out in order."""
        query = self._cached("claim_outbox", self._claim_outbox_query)
        if self._nothing_due(query, now):
            return []
        with self._tx() as c:
            ids = list(c.execute(query, {"now": now, "lim": limit}).scalars())
            if not ids:
                return []
            c.execute(_LEASE_OUTBOX, {"ids": ids, "owner": worker_id, "now": now,
                                      "until": now + timedelta(seconds=lease_seconds)})  # fmt: skip
            rows = c.execute(_CLAIMED_OUTBOX, {"ids": ids}).all()
        return [
            OutboxItem(
                outbox_id=row.id,
                dossier_id=row.dossier_id,
                message_id=row.message_id,
                function=row.function,
                payload=row.payload or b"",
                attempts=row.attempts,
                first_attempt_at=row.first_attempt_at,
            )
            for row in rows
        ]

    def _claim_outbox_query(self) -> Any:
        earlier = o.alias("earlier")
        blocked = (
            select(earlier.c.id)
            .where(earlier.c.dossier_id == o.c.dossier_id, earlier.c.id < o.c.id, earlier.c.status != "sent")
            .exists()
        )
        query = (
            select(o.c.id)
            .where(
                o.c.status == "pending",
                o.c.next_attempt_at <= NOW,
                lease_free(o, NOW),
                or_(o.c.dossier_id.is_(None), not_(blocked)),
            )
            .order_by(o.c.id)
            .limit(bindparam("lim"))
        )
        return self._locked(query, skip_locked=True)

    def _outbox_update(self, outbox_id: int, **values: Any) -> None:
        with self._tx() as c:
            found = c.execute(_UPDATE_OUTBOX, {"oid": outbox_id, **values})
            if found.rowcount == 0:
                raise UnknownRecord(f"no outbox entry {outbox_id}")

    def mark_sent(self, *outbox_ids: int) -> None:
        """The NSW answered 99 (or a duplicate) to each: done, in one transaction."""
        if not outbox_ids:
            return
        with self._tx() as c:
            found = c.execute(_MARK_SENT, {"ids": list(outbox_ids), "sent_at": self._now()})
            if found.rowcount != len(set(outbox_ids)):
                raise UnknownRecord(f"no outbox entry among {sorted(outbox_ids)}")

    def defer_outbox(self, outbox_id: int, reason: str, retry_at: datetime) -> None:
        """A transient failure sending a result: try again later."""
        with self._tx() as c:
            found = c.execute(
                o.update()
                .where(o.c.id == outbox_id)
                .values(attempts=o.c.attempts + 1, last_error=reason, next_attempt_at=retry_at, **_RELEASED)
            )
            if found.rowcount == 0:
                raise UnknownRecord(f"no outbox entry {outbox_id}")

    def dead_letter_outbox(self, outbox_id: int, reason: str) -> None:
        """Give up on one result, keeping its payload."""
        self._outbox_update(outbox_id, status="dead", dead_at=self._now(), last_error=reason, **_RELEASED)
        log.warning("store.dead_letter_outbox", outbox_id=outbox_id)

    # --- operations
    def heartbeat(self, worker_id: str, lease_seconds: float) -> int:
        """Extend every lease this worker holds to now + lease_seconds; returns how many."""
        until = self._now() + timedelta(seconds=lease_seconds)
        with self._tx() as c:
            a = c.execute(d.update().where(d.c.lease_owner == worker_id).values(lease_expires_at=until))
            b = c.execute(o.update().where(o.c.lease_owner == worker_id).values(lease_expires_at=until))
        return a.rowcount + b.rowcount

    def release(self, worker_id: str) -> int:
        """Drop every lease this worker holds (graceful shutdown); returns how many."""
        with self._tx() as c:
            a = c.execute(d.update().where(d.c.lease_owner == worker_id).values(**_RELEASED))
            b = c.execute(o.update().where(o.c.lease_owner == worker_id).values(**_RELEASED))
        return a.rowcount + b.rowcount

    def dead_letters(self) -> list[DeadLetter]:
        """Everything in the dead-letter state."""
        # A dead dossier's payload: the submission of its current version, from the audit trail
        # (None when it died before one was made, or once purged).
        submission = (
            select(m.c.payload)
            .where(m.c.dossier_id == d.c.id, m.c.direction == PORTAL, m.c.message_id == d.c.client_message_id)
            .limit(1)
            .scalar_subquery()
        )
        with self._read() as c:
            dossiers = c.execute(
                select(d.c.id, d.c.reference, d.c.last_error, d.c.dead_at, submission.label("submission"))
                .where(d.c.state == S.DEAD.value)
                .order_by(d.c.dead_at)
            ).all()
            outbox = c.execute(
                select(o.c.id, o.c.last_error, o.c.dead_at, m.c.reference, m.c.payload)
                .select_from(o.join(m, o.c.message_row == m.c.id))
                .where(o.c.status == "dead")
                .order_by(o.c.dead_at)
            ).all()
        letters = [
            DeadLetter(row.id, "dossier", row.reference, row.last_error or "", row.dead_at, row.submission)
            for row in dossiers
        ]
        letters += [
            DeadLetter(row.id, "outbox", row.reference, row.last_error or "", row.dead_at, row.payload)
            for row in outbox
        ]
        return letters

    def retry_dead_letter(self, kind: str, id: int) -> bool:
        """Bring one dead letter back to be tried again; False when there is none with that id."""
        now = self._now()
        with self._tx() as c:
            if kind == "outbox":
                found = c.execute(
                    o.update()
                    .where(o.c.id == id, o.c.status == "dead")
                    .values(
                        status="pending",
                        attempts=0,
                        first_attempt_at=None,
                        next_attempt_at=now,
                        dead_at=None,
                        **_RELEASED,
                    )
                )
                return found.rowcount > 0
            if kind != "dossier":
                raise ValueError(f"unknown dead letter kind {kind!r}")
            dead = c.execute(self._locked(select(d).where(d.c.id == id, d.c.state == S.DEAD.value))).first()
            if dead is None:
                return False
            self._apply(c, lifecycle.dead_letter_retried(Dossier.from_row(dead), now), now)
            return True

    def discard_dead_letter(self, kind: str, id: int, reason: str) -> bool:
        """Close one dead letter for good, with the operator's reason kept in the audit trail (a
        hash-chained row, direction "operator"); False when there is no dead letter with that id."""
        now = self._now()
        with self._tx() as c:
            if kind == "outbox":
                row = c.execute(
                    select(o.c.id, o.c.dossier_id, m.c.reference, m.c.document_type)
                    .select_from(o.join(m, o.c.message_row == m.c.id))
                    .where(o.c.id == id, o.c.status == "dead")
                ).first()
                if row is None:
                    return False
                c.execute(o.update().where(o.c.id == id).values(status=DISCARDED, **_RELEASED))
                reference, document_type, dossier_id = row.reference, row.document_type, row.dossier_id
            elif kind == "dossier":
                locked = self._locked(select(d).where(d.c.id == id, d.c.state == S.DEAD.value))
                dead = c.execute(locked).first()
                if dead is None:
                    return False
                dossier = self._apply(c, lifecycle.discarded(Dossier.from_row(dead), now), now)
                reference, document_type, dossier_id = dossier.reference, dossier.document_type, dossier.id
            else:
                raise ValueError(f"unknown dead letter kind {kind!r}")
            note = json.dumps({"action": "discard", "dead_letter": f"{kind}:{id}", "reason": reason})
            c.execute(
                m.insert().values(
                    direction=OPERATOR,
                    dossier_id=dossier_id,
                    reference=reference,
                    document_type=document_type,
                    at=now,
                    sha256=hashlib.sha256(note.encode()).hexdigest(),
                    size=len(note.encode()),
                    problems=note,
                )
            )
        log.info("store.dead_letter_discarded", kind=kind, id=id, reference=reference)
        return True

    def describe(self, reference: str, document_type: str) -> DossierView | None:
        """One dossier with its documents in effect, state history and audit trail (None if unknown)."""
        h = t.history
        with self._tx() as c:
            row = c.execute(
                select(d).where(d.c.reference == reference, d.c.document_type == document_type)
            ).first()
            if row is None:
                return None
            documents = {
                doc.type: doc.message_id
                for doc in c.execute(select(t.documents).where(t.documents.c.dossier_id == row.id))
            }
            history = [
                Transition(e.version, e.from_state, e.to_state, e.at, e.cause)
                for e in c.execute(select(h).where(h.c.dossier_id == row.id).order_by(h.c.id))
            ]
            audit = [
                AuditEntry(
                    e.direction, e.message_id, e.type, e.function, e.at, e.sha256, e.payload, _signature(e)
                )
                for e in c.execute(select(m).where(m.c.dossier_id == row.id).order_by(m.c.id))
            ]
        return DossierView(
            dossier_id=row.id,
            reference=row.reference,
            document_type=row.document_type,
            state=S(row.state),
            version=row.version,
            client_message_id=row.client_message_id,
            supersedes=row.supersedes,
            receipt_number=row.receipt_number,
            documents=documents,
            history=history,
            messages=audit,
        )

    def stats(self, now: datetime) -> StoreStats:
        """Dossiers by state, the oldest waiting, dead letters, outbox backlog (reads only: no write lock)."""
        with self._read() as c:
            by_state = {
                row.state: row.n
                for row in c.execute(select(d.c.state, func.count().label("n")).group_by(d.c.state))
            }
            # One min() per state: each is a single probe of nswa_dossiers_waiting (an IN list scans).
            firsts = c.execute(
                select(
                    *(
                        select(func.min(d.c.created_at))
                        .where(d.c.state == state)
                        .scalar_subquery()
                        .label(state)
                        for state in _WAITING
                    )
                )
            ).one()
            oldest = min((first for first in firsts if first is not None), default=None)
            dead_outbox = c.execute(select(func.count()).select_from(o).where(o.c.status == "dead")).scalar()
            pending = c.execute(select(func.count()).select_from(o).where(o.c.status == "pending")).scalar()
        if isinstance(oldest, datetime) and oldest.tzinfo is None:  # SQLite aggregates lose the type
            oldest = oldest.replace(tzinfo=now.tzinfo)
        elif isinstance(oldest, str):
            oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
        return StoreStats(
            dossiers_by_state=by_state,
            oldest_waiting_seconds=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
            dead_letters=by_state.get(S.DEAD.value, 0) + int(dead_outbox or 0),
            outbox_pending=int(pending or 0),
        )

    def purge_payloads(self, older_than: datetime, *, dry_run: bool = False) -> int:
        """Remove payloads (personal data) of messages older than the horizon; keep audit rows.
        dry_run: only count the payloads that would go."""
        now = self._now()
        finished = [s.value for s in FINAL_STATES]
        unsent = (
            select(o.c.id).where(o.c.message_row == m.c.id, o.c.status.not_in(("sent", DISCARDED))).exists()
        )
        dossier_done = select(d.c.id).where(d.c.id == m.c.dossier_id, d.c.state.in_(finished)).exists()
        purgeable = (
            m.c.at < older_than,
            m.c.payload.is_not(None),
            or_(m.c.dossier_id.is_(None), dossier_done),
            not_(unsent),
        )
        if dry_run:
            with self._read() as c:
                return int(c.execute(select(func.count()).select_from(m).where(*purgeable)).scalar() or 0)
        with self._tx() as c:
            purged = c.execute(m.update().where(*purgeable).values(payload=None, purged_at=now)).rowcount
            c.execute(
                d.update()
                .where(
                    d.c.state.in_(finished),
                    d.c.updated_at < older_than,
                    d.c.lineage.is_not(None),
                )
                .values(lineage=None)
            )
        log.info("store.purged", messages=purged, older_than=older_than.isoformat())
        return int(purged)


def _signature(row: Any) -> SignatureRecord | None:
    """A message row's signature record (v6 columns), None when it has none."""
    if row.signature is None:
        return None
    return SignatureRecord(
        row.signature, row.signer_subject, row.signer_issuer, row.signer_serial, row.signer_sha256
    )
