"""Store fixtures for any test: `store` (SQLite and PostgreSQL), `pg_url` (a throwaway DB), `sqlite_url`.

Every PostgreSQL database made here is this run's own (`nswa_<random>`, from template0) and is
dropped afterwards, so concurrent test runs on the same server never share tables.

The PostgreSQL is at NSW_ADAPTER_TEST_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test).
When it cannot be reached, every test that needs it errors, naming the DSN tried, so a run
never passes with half its store tests silently skipped; NSW_ADAPTER_TEST_SKIP_PG=1 skips
them instead (as does deselecting them with `-m "not postgres"`).

Register with `pytest_plugins = ["tests.support.store"]` (tests/conftest.py does).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nsw_adapter.envelope import new_message_id
from nsw_adapter.errors import Problem
from nsw_adapter.store import (
    DossierState,
    IncomingMessage,
    OutgoingMessage,
    PollOutcome,
    ReceiptRecord,
    SqlStore,
    SubmissionStart,
    open_store,
    tables,
)
from nsw_adapter.testing.postgres import SKIP_PG, create_pg_database, drop_pg_database, pg_error, shown_dsn


class Clock:
    """A settable clock for stores under test (starts at a fixed UTC moment)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 12, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def pg_available() -> bool:
    """Whether the test PostgreSQL answers (if not: an error, or False with NSW_ADAPTER_TEST_SKIP_PG=1)."""
    error = pg_error()
    if error is None:
        return True
    if os.environ.get(SKIP_PG) == "1":
        return False
    pytest.fail(
        f"the test PostgreSQL at {shown_dsn()} cannot be reached: {error}\n"
        f"Start it, point NSW_ADAPTER_TEST_PG_DSN at one, or set {SKIP_PG}=1 to skip the "
        'PostgreSQL tests (or deselect them with -m "not postgres").',
        pytrace=False,
    )


@pytest.fixture(scope="module")
def pg_url(pg_available: bool) -> Iterator[str]:
    """A throwaway PostgreSQL database for this test module (dropped afterwards)."""
    if not pg_available:
        pytest.skip(f"no PostgreSQL at {shown_dsn()} ({SKIP_PG}=1)")
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'var' / 'store.db'}"


@pytest.fixture
def clock() -> Clock:
    """A settable clock the `store` fixture uses."""
    return Clock()


def _empty(store: SqlStore) -> None:
    with store.engine.begin() as connection:
        for table in reversed(tables.metadata.sorted_tables):
            if table is not tables.schema_version:
                connection.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SqlStore]:
    """A migrated, empty store on SQLite and on PostgreSQL (the test runs once per backend)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = open_store(url, clock=clock, deadline_minutes=30, migrate=True)
    _empty(opened)
    try:
        yield opened
    finally:
        opened.close()


# --- building records for store tests ------------------------------------------------------

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def incoming(
    message_id: str,
    type_: str = "50",
    function: str = "01",
    *,
    reference: str = "HPH-2026-000123",
    document_type: str = "1",
    sent_minute: float = 0,
    called_for: frozenset[str] | None = None,
    reason: str | None = None,
    pre_reference: str | None = None,
) -> IncomingMessage:
    """A pushed message as intake hands it to the store (the payload is a stand-in envelope)."""
    raw = f"<Envelope><messageId>{message_id}</messageId></Envelope>".encode()
    if type_ == "50" and function != "03" and called_for is None:
        called_for = frozenset({"50", "51"})
    return IncomingMessage(
        message_id=message_id,
        reference=reference,
        document_type=document_type,
        type=type_,
        function=function,
        send_date=T0 + timedelta(minutes=sent_minute),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        called_for=called_for if type_ == "50" and function != "03" else None,
        pre_reference=pre_reference,
        reason=reason,
    )


def result(function: str) -> OutgoingMessage:
    """A Result for the outbox, with a fresh messageId."""
    message_id = new_message_id()
    return OutgoingMessage(message_id, function, f"<Envelope>{message_id} {function}</Envelope>".encode())


class RecordingRejections:
    """A RejectionFactory that records what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, list[Problem]]] = []

    def __call__(
        self, reference: str, document_type: str, pre_reference: str | None, problems: Sequence[Problem]
    ) -> OutgoingMessage:
        self.calls.append((reference, document_type, pre_reference, list(problems)))
        return result("22")


# --- one dossier at a time, through the store's batch methods ----------------------------------


def begin_submission(
    store: SqlStore, dossier_id: int, submission: bytes, lineage: bytes, *, version: int | None = None
) -> None:
    """READY -> SUBMITTING for one dossier (begin_submissions of one), raising what it met."""
    [error] = store.begin_submissions([SubmissionStart(dossier_id, submission, lineage, version)])
    if error is not None:
        raise error


def record_receipt(
    store: SqlStore, dossier_id: int, receipt_number: str, duplicate: bool, result: OutgoingMessage
) -> None:
    """SUBMITTING -> SUBMITTED for one dossier (record_receipts of one), raising what it met."""
    [error] = store.record_receipts([ReceiptRecord(dossier_id, receipt_number, duplicate, result)])
    if error is not None:
        raise error


def record_pending(store: SqlStore, dossier_id: int, next_poll_at: datetime) -> None:
    """Still pending at the portal (record_polls of one), raising what it met."""
    [error] = store.record_polls([PollOutcome(dossier_id, next_poll_at=next_poll_at)])
    if error is not None:
        raise error


def record_decision(store: SqlStore, dossier_id: int, state: DossierState, result: OutgoingMessage) -> None:
    """The portal's decision for one dossier (record_polls of one), raising what it met."""
    [error] = store.record_polls([PollOutcome(dossier_id, decision=state, result=result)])
    if error is not None:
        raise error
