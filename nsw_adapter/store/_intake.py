"""Intake and assembly in SQL: storing pushed messages and applying them to their dossiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, select

from nsw_adapter import assembly
from nsw_adapter.envelope import CANCELLATION, NEW
from nsw_adapter.errors import Problem
from nsw_adapter.store import tables as t
from nsw_adapter.store._digest import sha256_hex
from nsw_adapter.store._sql import DossierRow, SqlBase, dossier_row, new_client_message_id, problems_json
from nsw_adapter.store.base import (
    NO_SIGNATURE,
    DossierState,
    IncomingMessage,
    IntakeOutcome,
    RejectionFactory,
    SignatureRecord,
)

S = DossierState
log = structlog.get_logger(__name__)


# Statements built once (see _sql): the intake path runs them on every push.
_DOSSIER_BY_KEY = select(t.dossiers).where(
    t.dossiers.c.reference == bindparam("reference"), t.dossiers.c.document_type == bindparam("document_type")
)
_DOCUMENT = select(t.documents).where(
    t.documents.c.dossier_id == bindparam("did"), t.documents.c.type == bindparam("type")
)
_UPDATE_DOCUMENT = t.documents.update().where(
    t.documents.c.dossier_id == bindparam("did"), t.documents.c.type == bindparam("dtype")
)
_HELD = select(t.messages.c.id).where(t.messages.c.dedup_key == bindparam("key"))
_PRESENT = select(t.documents.c.type).where(t.documents.c.dossier_id == bindparam("did"))
_INSERT_REFUSED = t.messages.insert()
_FIRST_INCOMING = (
    select(t.messages.c.message_id)
    .where(t.messages.c.dossier_id == bindparam("did"), t.messages.c.direction == "in")
    .order_by(t.messages.c.id)
    .limit(1)
)


class _Duplicate(Exception):
    """Raised inside a transaction to roll it back: the messageId is already held."""


class IntakeMixin(SqlBase):
    """receive, record_refused, expire_incomplete."""

    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        """Store a pushed message and apply it to its dossier, committed before returning."""
        if self._group_commit is not None:
            outcome = self._group_commit.submit(message)
        else:
            result = self._receive_batch([message])[0]
            if isinstance(result, BaseException):
                raise result
            outcome = result
        log.info(
            "intake.stored",
            message_id=message.message_id,
            reference=message.reference,
            type=message.type,
            function=message.function,
            outcome=outcome.value,
        )
        return outcome

    def _receive_batch(self, messages: Sequence[IncomingMessage]) -> list[IntakeOutcome | BaseException]:
        """Apply messages in one transaction with one commit; if one fails, each again on its own."""
        now = self._now()
        if len(messages) == 1:
            try:
                with self._tx() as c:
                    return [self._receive_one(c, messages[0], now)]
            except _Duplicate:
                return [IntakeOutcome.DUPLICATE]
            except Exception as exc:
                return [exc]
        try:
            results: list[IntakeOutcome | BaseException] = []
            with self._tx() as c:
                for message in messages:
                    if self._run(c, _HELD, {"key": f"in:{message.message_id}"}).first() is not None:
                        results.append(IntakeOutcome.DUPLICATE)  # nothing written for it
                    else:
                        results.append(self._receive_one(c, message, now))
            return results
        except Exception:  # rolled back as a whole: one failure must not cost the others
            return [result for message in messages for result in self._receive_batch([message])]

    def _receive_one(self, c: Connection, message: IncomingMessage, now: datetime) -> IntakeOutcome:
        # The dossier first (locking it orders pushes of one dossier); a messageId already held
        # then conflicts on insert and _Duplicate rolls back everything this message did.
        dossier = self._dossier_for_intake(c, message, now)
        row_id = self._insert_incoming(c, message, dossier.id, now)
        if row_id is None:
            raise _Duplicate
        return self._apply(c, dossier, message, row_id, now)

    def record_refused(
        self,
        raw: bytes,
        sha256: str,
        problems: Sequence[Problem],
        signature: SignatureRecord | None = None,
    ) -> None:
        """Keep an unusable envelope (answered 22 E-ENVELOPE, or E-SIGNATURE with its `signature`
        record) for audit; it is never processed."""
        with self._tx() as c:
            values = {
                "direction": "refused",
                "dedup_key": None,
                "at": self._now(),
                "sha256": sha256 or sha256_hex(raw),
                "size": len(raw),
                "payload": raw,
                "problems": problems_json(problems),
                **(NO_SIGNATURE if signature is None else signature.columns()),
            }
            c.execute(_INSERT_REFUSED, values)

    def expire_incomplete(self, now: datetime, reject: RejectionFactory) -> int:
        """Reject RECEIVING dossiers past their deadline with E-INCOMPLETE; returns how many.

        A dossier never seen (only 02/03 messages) is rejected with E-UNKNOWN-DOSSIER instead.
        """
        count = 0
        with self._tx() as c:
            due = c.execute(
                self._locked(
                    select(t.dossiers)
                    .where(t.dossiers.c.state == S.RECEIVING.value, t.dossiers.c.deadline_at <= now)
                    .order_by(t.dossiers.c.deadline_at)
                    .limit(500),
                    skip_locked=True,
                )
            ).all()
            for dossier in map(dossier_row, due):
                if dossier.seen:
                    present = self._present_types(c, dossier.id)
                    called = _split(dossier.called_for)
                    problems = assembly.incomplete_problems(assembly.missing_types(called, present))
                    pre_reference = dossier.gd_message_id or self._first_message_id(c, dossier.id)
                    code = "E-INCOMPLETE"
                else:
                    problems = [
                        assembly.unknown_dossier_problem(dossier.reference, dossier.first_orphan_type)
                    ]
                    pre_reference = dossier.first_orphan_message_id
                    code = "E-UNKNOWN-DOSSIER"
                result = reject(dossier.reference, dossier.document_type, pre_reference, problems)
                self._transition(
                    c,
                    dossier,
                    S.REJECTED_LOCALLY,
                    code,
                    now,
                    problems=problems_json(problems),
                    lease_owner=None,
                    lease_expires_at=None,
                )
                self._enqueue(c, dossier, result, now)
                log.info("assembly.expired", reference=dossier.reference, code=code)
                count += 1
        return count

    # --- helpers ------------------------------------------------------------------------

    def _dossier_for_intake(self, c: Connection, message: IncomingMessage, now: datetime) -> DossierRow:
        """The message's dossier, locked; created RECEIVING (with its history row) when new."""
        query = self._cached("dossier_by_key", lambda: self._locked(_DOSSIER_BY_KEY))
        key = {"reference": message.reference, "document_type": message.document_type}
        row = self._run(c, query, key).first()
        if row is not None:
            return dossier_row(row)
        created = self._run(
            c,
            self._statement("insert_dossier"),
            {
                **key,
                "state": S.RECEIVING.value,
                "version": 1,
                "seen": False,
                "created_at": now,
                "updated_at": now,
                "deadline_at": now + timedelta(minutes=self._deadline_minutes),
                "attempted": False,
                "amend_pending": False,
                "cancel_requested": False,
                "cancel_owed": False,
                "attempts": 0,
            },
        ).first()
        if created is None:  # made by a concurrent push since we looked
            return dossier_row(self._run(c, query, key).one())
        self._history(c, created.id, 1, None, S.RECEIVING, message.message_id, now)
        return dossier_row(created)

    def _insert_incoming(
        self, c: Connection, message: IncomingMessage, dossier_id: int, now: datetime
    ) -> int | None:
        called = None if message.called_for is None else ",".join(sorted(message.called_for))
        row_id: int | None = self._run(
            c,
            self._statement("insert_message"),
            {
                "direction": "in",
                "dedup_key": f"in:{message.message_id}",
                "message_id": message.message_id,
                "dossier_id": dossier_id,
                "reference": message.reference,
                "document_type": message.document_type,
                "type": message.type,
                "function": message.function,
                "pre_reference": message.pre_reference,
                "send_date": message.send_date,
                "at": now,
                "sha256": message.sha256,
                "size": len(message.raw),
                "payload": message.raw,
                "called_for": called,
                **(NO_SIGNATURE if message.signature is None else message.signature.columns()),
            },
        ).scalar()
        return row_id

    def _apply(
        self, c: Connection, dossier: DossierRow, message: IncomingMessage, row_id: int, now: datetime
    ) -> IntakeOutcome:
        if message.function == CANCELLATION:
            return self._apply_cancellation(c, dossier, message, now)
        state = S(dossier.state)
        if state is S.CANCELLED:
            return IntakeOutcome.STORED  # a cancellation is final: kept for audit only
        doc_changed = self._apply_document(c, dossier, message, row_id)
        seen = bool(dossier.seen) or message.function == NEW
        updates: dict[str, Any] = {}
        if seen and not dossier.seen:
            updates["seen"] = True
        if doc_changed and message.type == assembly.GENERAL_DECLARATION:
            called = None if message.called_for is None else ",".join(sorted(message.called_for))
            updates.update(called_for=called, gd_message_id=message.message_id)
        if not seen and dossier.first_orphan_message_id is None:
            updates.update(first_orphan_message_id=message.message_id, first_orphan_type=message.type)
        if updates:
            self._update_dossier(c, dossier, **updates)
        if seen and dossier.cancel_message_id is not None:
            # The dossier's cancellation arrived first: now that the dossier is known, it applies.
            self._cancel(c, dossier, dossier.cancel_message_id, now)
            return IntakeOutcome.STORED
        if not (doc_changed or "seen" in updates):
            return IntakeOutcome.STORED  # stale: an older document than the one in effect
        self._after_change(c, dossier, message.message_id, doc_changed, now)
        return IntakeOutcome.STORED if seen else IntakeOutcome.UNKNOWN_DOSSIER

    def _apply_document(
        self, c: Connection, dossier: DossierRow, message: IncomingMessage, row_id: int
    ) -> bool:
        """Make the message the document of its type in effect, unless a newer one is; True if it did."""
        values = {
            "message_row": row_id,
            "message_id": message.message_id,
            "function": message.function,
            "send_date": message.send_date,
        }
        first = {"dossier_id": dossier.id, "type": message.type, **values}
        if self._run(c, self._statement("insert_document"), first).first() is not None:
            return True  # the first document of its type
        current = self._run(c, _DOCUMENT, {"did": dossier.id, "type": message.type}).one()
        candidate = assembly.precedence(message.send_date, message.function, message.message_id)
        existing = assembly.precedence(current.send_date, current.function, current.message_id)
        if not assembly.takes_effect(candidate, existing):
            log.info("assembly.stale", message_id=message.message_id, reference=dossier.reference)
            return False
        self._run(c, _UPDATE_DOCUMENT, {"did": dossier.id, "dtype": message.type, **values})
        return True

    def _after_change(
        self, c: Connection, dossier: DossierRow, cause: str, doc_changed: bool, now: datetime
    ) -> None:
        """What a change of the documents in effect (or the first 01) does in each state."""
        state = S(dossier.state)
        complete = assembly.is_complete(
            bool(dossier.seen), _split(dossier.called_for), self._present_types(c, dossier.id)
        )
        if state is S.RECEIVING:
            if complete:
                self._transition(
                    c,
                    dossier,
                    S.READY,
                    cause,
                    now,
                    client_message_id=dossier.client_message_id or new_client_message_id(),
                    next_attempt_at=now,
                )
            return
        if not doc_changed:
            return
        if state is S.READY and not dossier.attempted:
            # Nothing reached the portal: the claim (if any) is stale; start this version again.
            target = S.READY if complete else S.RECEIVING
            changes: dict[str, Any] = {
                "version": dossier.version + 1,
                "client_message_id": new_client_message_id(),
                "lease_owner": None,
                "lease_expires_at": None,
                "next_attempt_at": now,
            }
            if target is S.RECEIVING:
                changes["deadline_at"] = now + timedelta(minutes=self._deadline_minutes)
                self._transition(c, dossier, target, cause, now, **changes)
            else:
                self._update_dossier(c, dossier, **changes)
                self._history(c, dossier.id, dossier.version + 1, state, S.READY, f"{cause} amended", now)
            return
        if state in (S.READY, S.SUBMITTING):
            # A submission may be in flight: never lose it. The new version follows its receipt.
            self._update_dossier(c, dossier, amend_pending=True)
            log.info("assembly.amend_pending", reference=dossier.reference, message_id=cause)
            return
        if state in assembly.NEW_VERSION_STATES:
            self._new_version(c, dossier, cause, complete, now)

    def _new_version(
        self, c: Connection, dossier: DossierRow, cause: str, complete: bool, now: datetime
    ) -> None:
        """The dossier's next version: READY (or RECEIVING) superseding the current receipt."""
        version = dossier.version + 1
        self._history(
            c,
            dossier.id,
            dossier.version,
            S(dossier.state),
            S(dossier.state),
            f"version {dossier.version} superseded by {cause}",
            now,
        )
        target = S.READY if complete else S.RECEIVING
        self._transition(
            c,
            dossier,
            target,
            cause,
            now,
            history_version=version,
            version=version,
            supersedes=dossier.receipt_number or dossier.supersedes,
            client_message_id=new_client_message_id(),
            attempted=False,
            amend_pending=False,
            attempts=0,
            first_attempt_at=None,
            next_attempt_at=now,
            next_poll_at=None,
            problems=None,
            lineage=None,
            lease_owner=None,
            lease_expires_at=None,
            deadline_at=now + timedelta(minutes=self._deadline_minutes),
            # Still not seen: E-UNKNOWN-DOSSIER at the new deadline answers this message.
            first_orphan_message_id=dossier.first_orphan_message_id if dossier.seen else cause,
        )

    def _apply_cancellation(
        self, c: Connection, dossier: DossierRow, message: IncomingMessage, now: datetime
    ) -> IntakeOutcome:
        state = S(dossier.state)
        if state is S.CANCELLED or dossier.cancel_message_id is not None:
            return IntakeOutcome.STORED  # already cancelled (or cancelling): kept for audit
        self._update_dossier(
            c,
            dossier,
            cancel_message_id=message.message_id,
            cancel_send_date=message.send_date,
            cancel_reason=message.reason or "",
        )
        if not dossier.seen:
            if dossier.first_orphan_message_id is None:
                self._update_dossier(
                    c, dossier, first_orphan_message_id=message.message_id, first_orphan_type=message.type
                )
            return IntakeOutcome.UNKNOWN_DOSSIER
        self._cancel(c, dossier, message.message_id, now)
        return IntakeOutcome.STORED

    def _cancel(self, c: Connection, dossier: DossierRow, cause: str, now: datetime) -> None:
        """Withdraw a seen dossier: CANCELLED with the cancellation owed, or remembered while in flight."""
        state = S(dossier.state)
        if state is S.SUBMITTING or (state is S.READY and dossier.attempted):
            self._update_dossier(c, dossier, cancel_requested=True)
            log.info("assembly.cancel_pending", reference=dossier.reference, message_id=cause)
            return
        holds = state in (S.SUBMITTED, S.CLEARED) or (state is S.DEAD and dossier.receipt_number)
        self._transition(
            c,
            dossier,
            S.CANCELLED,
            cause,
            now,
            cancel_receipt=dossier.receipt_number if holds else None,
            cancel_owed=True,
            cancel_requested=False,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            attempts=0,
        )

    def _present_types(self, c: Connection, dossier_id: int) -> list[str]:
        return self._run(c, _PRESENT, {"did": dossier_id}).scalars()

    def _first_message_id(self, c: Connection, dossier_id: int) -> str | None:
        found: str | None = self._run(c, _FIRST_INCOMING, {"did": dossier_id}).scalar()
        return found


def _split(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(v for v in value.split(",") if v)
