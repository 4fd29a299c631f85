"""SqlStore: the Store, every role, for SQLite and PostgreSQL, over the parts named for what they hold.

intake.py      pushed messages, documents in effect, dossiers moved; refused envelopes; deadlines
claims.py      dossiers claimed and leased (to submit, poll, cancel); heartbeats and release
outcomes.py    what the workers record: submissions, receipts, polls, cancellations, deferrals, dead letters
outbox.py      Results for the NSW: enqueued, claimed in order, sent, deferred, dead-lettered
operations.py  dead letters retried or discarded, describe, stats, purge, the audit chain verified
events.py      the event feed: events written with their change, fanned out, delivered, replayed
facts.py       each dossier's vessel and decision facts; history.py its timeline; reports.py per-gate figures
nonces.py      used WS-Security nonces
dossiers.py    a dossier's row: locked, a lifecycle Step written, history; audit.py the audit rows
database.py    engine, transactions, clock; statements.py how statements are defined and cached
group_commit.py  many callers' writes in one commit; audit_chain.py the hash chain
tables.py migrations.py engine.py  the schema, its versions, the two dialects' engines
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from nsw_adapter.errors import Problem
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.lifecycle import IntakeOutcome
from nsw_adapter.store import (
    claims,
    events,
    history,
    incarnation,
    intake,
    migrations,
    nonces,
    operations,
    outbox,
    outcomes,
    recovery,
    reports,
)
from nsw_adapter.store import engine as engines
from nsw_adapter.store.audit_chain import ChainReport
from nsw_adapter.store.database import Clock, Database, utc_now
from nsw_adapter.store.events import EventDelivery, EventRecord
from nsw_adapter.store.group_commit import GroupCommit
from nsw_adapter.store.history import DossierHistory
from nsw_adapter.store.incarnation import NameLock
from nsw_adapter.store.records import (
    ClaimedDossier,
    DeadLetter,
    DossierView,
    IncomingMessage,
    OutboxItem,
    OutgoingMessage,
    PendingCancellation,
    PendingPoll,
    PollOutcome,
    Purged,
    ReceiptRecord,
    RejectionFactory,
    SignatureRecord,
    StoreStats,
    SubmissionStart,
)
from nsw_adapter.store.reports import GateFigures
from nsw_adapter.store.roles import Store

log = structlog.get_logger(__name__)
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class SqlStore:
    """The adapter's durable state in SQLite (single writer, BEGIN IMMEDIATE) or PostgreSQL (SKIP LOCKED)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        deadline_minutes: float = 30.0,
        group_commit: bool | None = None,
    ) -> None:
        self._db = db = Database(engine, clock=clock, deadline_minutes=deadline_minutes)
        # Pushes (and their nonces) are committed in groups: on SQLite one writer makes one fsync
        # per commit; on PostgreSQL every commit that wrote audit rows takes its turn on the audit
        # chain's head (audit_chain.seal). Grouped: 154-159 pushes/s there against 108-123 alone.
        if group_commit is None:
            group_commit = True
        self._receives: GroupCommit[IncomingMessage, IntakeOutcome] | None = None
        self._nonces: GroupCommit[nonces.Nonce, bool] | None = None
        if group_commit:
            self._receives = GroupCommit(lambda batch: intake.receive_batch(db, batch), name="store-intake")
            self._nonces = GroupCommit(lambda batch: nonces.remember_batch(db, batch), name="store-nonces")

    @property
    def database(self) -> Database:
        """What the parts work through (for tests that drive a part directly)."""
        return self._db

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and operations)."""
        return self._db.engine

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._db.dialect

    def now(self) -> datetime:
        """The store's clock."""
        return self._db.now()

    # --- intake
    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        outcome = _one(self._receives, lambda: intake.receive_batch(self._db, [message]), message)
        log.info(
            "intake.stored",
            message_id=message.message_id,
            reference=message.reference,
            type=message.type,
            function=message.function,
            outcome=outcome.value,
        )
        return outcome

    def record_refused(
        self, raw: bytes, sha256: str, problems: Sequence[Problem], signature: SignatureRecord | None = None
    ) -> None:
        intake.record_refused(self._db, raw, sha256, problems, signature)

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        return _one(
            self._nonces, lambda: nonces.remember_batch(self._db, [(key, expires_at)]), (key, expires_at)
        )

    # --- submit
    def claim_ready(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedDossier]:
        return claims.ready(self._db, worker_id, limit, lease_seconds)

    def reject_locally(
        self,
        dossier_id: int,
        problems: Sequence[Problem],
        result: OutgoingMessage,
        *,
        version: int | None = None,
    ) -> None:
        outcomes.reject_locally(self._db, dossier_id, problems, result, version)

    def begin_submissions(self, starts: Sequence[SubmissionStart]) -> list[Exception | None]:
        return outcomes.each(self._db, starts, outcomes.begin_submission)

    def record_receipts(self, receipts: Sequence[ReceiptRecord]) -> list[Exception | None]:
        return outcomes.each(self._db, receipts, outcomes.record_receipt)

    def defer(self, dossier_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        outcomes.defer(self._db, dossier_id, reason, retry_at, counted=counted)

    def dead_letter(self, dossier_id: int, reason: str) -> None:
        outcomes.dead_letter(self._db, dossier_id, reason)

    def bring_forward_dossiers(self) -> int:
        return recovery.bring_forward_dossiers(self._db)

    # --- poll
    def claim_polls(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[PendingPoll]:
        return claims.polls(self._db, worker_id, limit, lease_seconds, now)

    def record_polls(self, outcomes_: Sequence[PollOutcome]) -> list[Exception | None]:
        outcomes.check_decisions(outcomes_)
        return outcomes.each(self._db, outcomes.with_decisions(outcomes_), outcomes.record_poll)

    # --- cancel
    def claim_cancellations(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[PendingCancellation]:
        return claims.cancellations(self._db, worker_id, limit, lease_seconds)

    def finish_cancellation(self, dossier_id: int, result: OutgoingMessage, request: bytes | None) -> None:
        outcomes.finish_cancellation(self._db, dossier_id, result, request)

    # --- outbox
    def claim_outbox(
        self, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[OutboxItem]:
        return outbox.claim(self._db, worker_id, limit, lease_seconds, now)

    def mark_sent(self, *outbox_ids: int) -> None:
        outbox.mark_sent(self._db, outbox_ids)

    def defer_outbox(self, outbox_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        outbox.defer(self._db, outbox_id, reason, retry_at, counted=counted)

    def dead_letter_outbox(self, outbox_id: int, reason: str) -> None:
        outbox.dead_letter(self._db, outbox_id, reason)

    def bring_forward_results(self) -> int:
        return recovery.bring_forward_results(self._db)

    def bring_forward_events(self, subscriber: str) -> int:
        return recovery.bring_forward_events(self._db, subscriber)

    # --- events
    def fan_out_events(self, subscribers: Sequence[SubscriberSettings], now: datetime) -> int:
        return events.fan_out(self._db, subscribers, now)

    def claim_events(
        self,
        subscriber: str,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        now: datetime,
        fan_out_to: Sequence[SubscriberSettings] = (),
    ) -> list[EventDelivery]:
        return events.claim(self._db, subscriber, worker_id, limit, lease_seconds, now, fan_out_to)

    def mark_events_delivered(self, *delivery_ids: int) -> None:
        events.mark_delivered(self._db, delivery_ids)

    def defer_event(self, delivery_id: int, reason: str, retry_at: datetime, *, counted: bool = True) -> None:
        events.defer(self._db, delivery_id, reason, retry_at, counted=counted)

    def dead_letter_event(self, delivery_id: int, reason: str) -> None:
        events.dead_letter(self._db, delivery_id, reason)

    # --- housekeeping
    def expire_incomplete(self, now: datetime, reject: RejectionFactory) -> int:
        return intake.expire_incomplete(self._db, now, reject)

    def hold_worker_name(self, name: str, timeout: float) -> NameLock:
        return incarnation.hold_name(self._db, name, timeout)

    def take_over(self, name: str, worker_id: str, lock: NameLock) -> int:
        return incarnation.take_over(self._db, name, worker_id, lock)

    def take_over_peers(self, name: str) -> int:
        return incarnation.take_over_peers(self._db, name)

    def heartbeat(self, worker_id: str, lease_seconds: float) -> int:
        return claims.heartbeat(self._db, worker_id, lease_seconds)

    def release(self, worker_id: str) -> int:
        return claims.release(self._db, worker_id)

    def stats(self, now: datetime) -> StoreStats:
        return operations.stats(self._db, now)

    def purge_payloads(self, older_than: datetime, *, dry_run: bool = False) -> Purged:
        return operations.purge_payloads(self._db, older_than, dry_run=dry_run)

    def purge_nonces(self, now: datetime) -> int:
        return nonces.purge(self._db, now)

    # --- operations
    def migrate(self) -> None:
        migrations.migrate(self._db.engine)

    def dead_letters(self) -> list[DeadLetter]:
        return operations.dead_letters(self._db)

    def retry_dead_letter(self, kind: str, id: int) -> bool:
        return operations.retry_dead_letter(self._db, kind, id)

    def discard_dead_letter(self, kind: str, id: int, reason: str) -> bool:
        return operations.discard_dead_letter(self._db, kind, id, reason)

    def describe(self, reference: str, document_type: str) -> DossierView | None:
        return operations.describe(self._db, reference, document_type)

    def verify_audit_chain(self) -> ChainReport:
        return operations.verify_audit_chain(self._db)

    def history(
        self, *, reference: str | None = None, imo: str | None = None, vessel: str | None = None
    ) -> list[DossierHistory]:
        return history.find(self._db, reference=reference, imo=imo, vessel=vessel)

    def report(self, start: datetime, end: datetime, gate: str | None = None) -> list[GateFigures]:
        return reports.report(self._db, start, end, gate)

    def events(self, subscriber: SubscriberSettings, start: datetime, end: datetime) -> list[EventRecord]:
        return events.listed(self._db, subscriber, start, end)

    def replay_events(self, subscriber: SubscriberSettings, start: datetime, end: datetime) -> int:
        return events.replay(self._db, subscriber, start, end)

    def forget_subscriber(self, name: str) -> int:
        return events.forget(self._db, name)

    def close(self) -> None:
        """Finish queued commits, then release connections."""
        for queued in (self._receives, self._nonces):
            if queued is not None:
                queued.close()
        self._db.close()


def _one(
    queue: GroupCommit[_Item, _Result] | None, alone: Callable[[], list[_Result | BaseException]], item: _Item
) -> _Result:
    """One item through the group commit when there is one, else in a transaction of its own."""
    if queue is not None:
        return queue.submit(item)
    result = alone()[0]
    if isinstance(result, BaseException):
        raise result
    return result


def open_store(
    url: str | URL,
    *,
    deadline_minutes: float = 30.0,
    clock: Clock = utc_now,
    pool_size: int = 8,
    migrate: bool = False,
    existing: bool = False,
    group_commit: bool | None = None,
) -> SqlStore:
    """A store on `sqlite:///path` (folder created) or `postgresql+psycopg://...`; migrate=True migrates.

    existing=True opens only a store that is there with this version's schema, creating and
    changing nothing (commands that read, and the daemon): StoreNotReady says what is missing or
    which version it holds, StoreUnreachable that its server does not answer.
    """
    if existing:
        migrations.check_existing(url)
    engine = engines.create(url, pool_size=pool_size)
    store = SqlStore(engine, clock=clock, deadline_minutes=deadline_minutes, group_commit=group_commit)
    if migrate:
        store.migrate()
    return store


def _implements_the_protocol(store: SqlStore) -> Store:
    """mypy checks here that SqlStore satisfies the Store protocol, every role."""
    return store
