"""Intake and assembly in SQL: storing pushed messages and applying them to their dossiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import Connection, bindparam, select

from nsw_adapter import lifecycle
from nsw_adapter.envelope import CANCELLATION
from nsw_adapter.errors import Problem
from nsw_adapter.lifecycle import Dossier, problems_json
from nsw_adapter.store import tables as t
from nsw_adapter.store._digest import sha256_hex
from nsw_adapter.store._sql import SqlBase
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
        return self._apply_message(c, dossier, message, row_id, now)

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
            for dossier in map(Dossier.from_row, due):
                expiry = lifecycle.deadline_passed(dossier, self._present_types(c, dossier.id), now)
                answers = expiry.answers
                if answers is None and dossier.seen:
                    answers = self._first_message_id(c, dossier.id)
                result = reject(dossier.reference, dossier.document_type, answers, expiry.problems)
                self._apply(c, expiry.step, now)
                self._enqueue(c, dossier, result, now)
                log.info("assembly.expired", reference=dossier.reference, code=expiry.code)
                count += 1
        return count

    # --- helpers ------------------------------------------------------------------------

    def _dossier_for_intake(self, c: Connection, message: IncomingMessage, now: datetime) -> Dossier:
        """The message's dossier, locked; created RECEIVING (with its history row) when new."""
        query = self._cached("dossier_by_key", lambda: self._locked(_DOSSIER_BY_KEY))
        key = {"reference": message.reference, "document_type": message.document_type}
        row = self._run(c, query, key).first()
        if row is not None:
            return Dossier.from_row(row)
        values, entry = lifecycle.created(message.reference, message.document_type, message.message_id, now,
                                          self._deadline)  # fmt: skip
        created = self._run(c, self._statement("insert_dossier"), values).first()
        if created is None:  # made by a concurrent push since we looked
            return Dossier.from_row(self._run(c, query, key).one())
        self._history(c, created.id, entry, now)
        return Dossier.from_row(created)

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

    def _apply_message(
        self, c: Connection, dossier: Dossier, message: IncomingMessage, row_id: int, now: datetime
    ) -> IntakeOutcome:
        """The message applied to its dossier by the lifecycle's rules."""
        if message.function == CANCELLATION:
            step = lifecycle.cancellation_received(dossier, message, now)
        else:
            in_effect = lifecycle.takes_documents(dossier) and self._apply_document(
                c, dossier, message, row_id
            )
            step = lifecycle.document_received(
                dossier, message, in_effect, lambda: self._present_types(c, dossier.id), now, self._deadline
            )
        self._apply(c, step, now)
        return step.outcome

    def _apply_document(self, c: Connection, dossier: Dossier, message: IncomingMessage, row_id: int) -> bool:
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
        candidate = lifecycle.precedence(message.send_date, message.function, message.message_id)
        existing = lifecycle.precedence(current.send_date, current.function, current.message_id)
        if not lifecycle.takes_effect(candidate, existing):
            log.info("assembly.stale", message_id=message.message_id, reference=dossier.reference)
            return False
        self._run(c, _UPDATE_DOCUMENT, {"did": dossier.id, "dtype": message.type, **values})
        return True

    def _present_types(self, c: Connection, dossier_id: int) -> list[str]:
        return self._run(c, _PRESENT, {"did": dossier_id}).scalars()

    def _first_message_id(self, c: Connection, dossier_id: int) -> str | None:
        found: str | None = self._run(c, _FIRST_INCOMING, {"did": dossier_id}).scalar()
        return found
