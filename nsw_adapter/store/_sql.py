"""Shared SQL plumbing of the store: transactions, dialect upserts, locking reads, history, outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import BindParameter, Connection, Engine, Select, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from nsw_adapter.lifecycle import Dossier, Entry, Step
from nsw_adapter.store import _chain
from nsw_adapter.store import engine as engines
from nsw_adapter.store import tables as t
from nsw_adapter.store._batch import GroupCommit
from nsw_adapter.store._digest import sha256_hex
from nsw_adapter.store._prepared import PreparedCache, PreparedRows
from nsw_adapter.store.base import (
    IncomingMessage,
    IntakeOutcome,
    OutgoingMessage,
    UnknownRecord,
)

Clock = Callable[[], datetime]
log = structlog.get_logger(__name__)
RESULT_TYPE = "26"
#: The audit direction of requests sent to the portal (submissions, cancellations).
PORTAL = "portal"

# Statements built once: building Core constructs per call costs more CPU than the commit.
_SELECT_DOSSIER = select(t.dossiers).where(t.dossiers.c.id == bindparam("did"))
_UPDATE_DOSSIER = t.dossiers.update().where(t.dossiers.c.id == bindparam("did"))
_INSERT_HISTORY = t.history.insert()
_INSERT_OUTBOX = t.outbox.insert()
#: The parameters of the statements built once for claims and batches: the time, and a list of ids.
NOW = bindparam("now", type_=t.UtcDateTime())
IDS: BindParameter[Any] = bindparam("ids", expanding=True)


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class SqlBase:
    """Engine, clock and the helpers every part of the store shares."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        deadline_minutes: float = 30.0,
        group_commit: bool | None = None,
    ) -> None:
        self._engine = engine
        self._read_engine = engine.execution_options(**{engines.READ_ONLY: True})
        self._clock = clock
        self._deadline = timedelta(minutes=deadline_minutes)
        self._dialect = engine.dialect.name
        self._statements: dict[str, Any] = {}
        self._prepared = PreparedCache(engine.dialect)
        # SQLite has one writer: its writers queue (see WriterQueue). PostgreSQL needs no queue.
        self._writers = engines.WriterQueue(engine.url.database or "") if self._dialect == "sqlite" else None
        # SQLite: one writer, one fsync per commit, so pushes are committed in groups.
        # PostgreSQL commits concurrent transactions in parallel and needs none.
        if group_commit is None:
            group_commit = self._dialect == "sqlite"
        self._group_commit: GroupCommit[IncomingMessage, IntakeOutcome] | None = (
            GroupCommit(self._receive_batch, name="store-intake") if group_commit else None
        )

    def _receive_batch(self, messages: Sequence[IncomingMessage]) -> list[IntakeOutcome | BaseException]:
        raise NotImplementedError

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and operations)."""
        return self._engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction (BEGIN IMMEDIATE on SQLite), committed on success with the audit rows it
        inserted chained (_chain.seal) just before the commit."""
        with self._writers or nullcontext(), self._engine.begin() as connection:
            yield connection
            _chain.seal(connection)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite a WAL snapshot, without the write lock."""
        with self._read_engine.begin() as connection:
            yield connection

    def _run(self, c: Connection, statement: Any, params: dict[str, Any]) -> PreparedRows:
        """A hot statement on the driver's cursor (see _prepared): same SQL, without Core's per-call cost."""
        return self._prepared.run(c, statement, params)

    def _nothing_due(self, ids_query: Any, now: datetime) -> bool:
        """True when a claim would find nothing, read on SQLite from a WAL snapshot without the
        write lock: idle loops then never queue behind intake's commits for nothing. (PostgreSQL
        claims lock rows, not the database: there it is always False.)"""
        if self._writers is None:
            return False
        with self._read() as c:
            return c.execute(ids_query, {"now": now, "lim": 1}).first() is None

    def _now(self) -> datetime:
        return self._clock()

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """A dialect INSERT that knows ON CONFLICT."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _cached(self, name: str, build: Callable[[], Any]) -> Any:
        """A statement built once per store (per dialect) and reused: building Core constructs and
        their cache keys on every call costs more CPU than running them."""
        found = self._statements.get(name)
        if found is None:
            found = self._statements[name] = build()
        return found

    def _statement(self, name: str) -> Any:
        """A dialect statement built once per store: INSERTs with ON CONFLICT DO NOTHING RETURNING."""
        found = self._statements.get(name)
        if found is None:
            if name == "insert_dossier":  # the whole new row back: no second read
                found = (
                    self._insert(t.dossiers)
                    .on_conflict_do_nothing(index_elements=["reference", "document_type"])
                    .returning(*t.dossiers.c)
                )
            elif name == "insert_document":
                found = (
                    self._insert(t.documents)
                    .on_conflict_do_nothing(index_elements=["dossier_id", "type"])
                    .returning(t.documents.c.type)
                )
            else:
                found = (
                    self._insert(t.messages)
                    .on_conflict_do_nothing(index_elements=["dedup_key"])
                    .returning(t.messages.c.id)
                )
            self._statements[name] = found
        return found

    def _locked(self, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        """FOR UPDATE [SKIP LOCKED] on PostgreSQL; SQLite's write transaction already excludes others."""
        if self._dialect == "postgresql":
            return query.with_for_update(skip_locked=skip_locked)
        return query

    def _dossier_for_update(self, c: Connection, dossier_id: int) -> Dossier:
        query = self._cached("dossier_for_update", lambda: self._locked(_SELECT_DOSSIER))
        row = self._run(c, query, {"did": dossier_id}).first()
        if row is None:
            raise UnknownRecord(f"no dossier {dossier_id}")
        return Dossier.from_row(row)

    def _apply(self, c: Connection, step: Step, now: datetime) -> Dossier:
        """Write what a lifecycle event returned: its column changes and history rows."""
        dossier = step.dossier
        if step.changes:
            self._run(c, _UPDATE_DOSSIER, {"did": dossier.id, **step.changes})
        for entry in step.history:
            self._history(c, dossier.id, entry, now)
        for note in step.notes:
            log.info(note, reference=dossier.reference, dossier_id=dossier.id)
        return dossier

    def _history(self, c: Connection, dossier_id: int, entry: Entry, now: datetime) -> None:
        self._run(
            c,
            _INSERT_HISTORY,
            {
                "dossier_id": dossier_id,
                "version": entry.version,
                "from_state": None if entry.from_state is None else entry.from_state.value,
                "to_state": entry.to_state.value,
                "at": now,
                "cause": entry.cause,
            },
        )

    def _audit_portal_request(
        self, c: Connection, dossier: Dossier, key: str, payload: bytes, now: datetime
    ) -> None:
        """Keep a request sent to the portal in the audit trail, once per `key` (its ClientMessageId,
        or the receipt it cancels): a retry of the same request adds no second row."""
        self._run(
            c,
            self._statement("insert_message"),
            {
                "direction": PORTAL,
                "dedup_key": f"{PORTAL}:{key}",
                "message_id": key[:50],
                "dossier_id": dossier.id,
                "reference": dossier.reference,
                "document_type": dossier.document_type,
                "type": None,
                "function": None,
                "pre_reference": None,
                "send_date": None,
                "at": now,
                "sha256": sha256_hex(payload),
                "size": len(payload),
                "payload": payload,
                "called_for": None,
            },
        )

    def _enqueue(
        self, c: Connection, dossier: Dossier | None, result: OutgoingMessage, now: datetime
    ) -> None:
        """Put a Result in the outbox (and the audit trail); the same messageId is never enqueued twice."""
        inserted = self._run(
            c,
            self._statement("insert_message"),
            {
                "direction": "out",
                "dedup_key": f"out:{result.message_id}",
                "message_id": result.message_id,
                "dossier_id": None if dossier is None else dossier.id,
                "reference": None if dossier is None else dossier.reference,
                "document_type": None if dossier is None else dossier.document_type,
                "type": RESULT_TYPE,
                "function": result.function,
                "pre_reference": None,
                "send_date": None,
                "at": now,
                "sha256": sha256_hex(result.payload),
                "size": len(result.payload),
                "payload": result.payload,
                "called_for": None,
            },
        ).scalar()
        if inserted is None:
            return
        self._run(
            c,
            _INSERT_OUTBOX,
            {
                "dossier_id": None if dossier is None else dossier.id,
                "message_row": inserted,
                "message_id": result.message_id,
                "function": result.function,
                "status": "pending",
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
            },
        )
