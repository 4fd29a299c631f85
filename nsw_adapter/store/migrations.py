"""A small versioned migration runner: each step runs once, in order, in one transaction.

Why not Alembic: the schema is a handful of tables, both dialects are covered by SQLAlchemy
Core DDL, and the one hard part (two processes starting at once) is a lock: PostgreSQL takes a
transaction-level advisory lock, SQLite's BEGIN IMMEDIATE already serialises writers. Steps
are append-only: never edit a released step, add the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import Connection, Engine, Index, Table, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from nsw_adapter.errors import StoreNotReady, StoreUnreachable
from nsw_adapter.store import audit_chain, facts, schema_v1, tables
from nsw_adapter.store import engine as engines

log = structlog.get_logger(__name__)

_ADVISORY_LOCK_KEY = 0x4E535741  # "NSWA"


def _v1_initial(connection: Connection) -> None:
    """The first schema, as it was then (schema_v1.py): the later steps make today's from it."""
    schema_v1.metadata.create_all(connection)


def _add_columns(connection: Connection, table: Table, names: list[str]) -> None:
    """ALTER TABLE ... ADD COLUMN for each named column of `table` the database lacks.

    A store whose step 1 ran before schema_v1.py existed got that day's tables, later columns
    included: steps that add columns only add what is missing.
    """
    have = _columns(connection, table)
    for name in names:
        if name not in have:
            column = table.c[name]
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


def _v2_first_attempt_at(connection: Connection) -> None:
    _add_columns(connection, tables.dossiers, ["first_attempt_at"])
    _add_columns(connection, tables.outbox, ["first_attempt_at"])


def _v3_claim_indexes(connection: Connection) -> None:
    """Indexes the workers' claims, stats, heartbeat and release read instead of the rows (if missing)."""
    for name in (
        "nswa_dossiers_claim",
        "nswa_dossiers_polls",
        "nswa_dossiers_waiting",
        "nswa_dossiers_lease",
    ):
        _index(tables.dossiers, name).create(connection, checkfirst=True)
    for name in ("nswa_outbox_claim", "nswa_outbox_lease"):
        _index(tables.outbox, name).create(connection, checkfirst=True)
    # Made redundant by the ones above (each begins with the same column), so not kept up on writes.
    for name in ("nswa_dossiers_state", "nswa_outbox_status"):
        connection.execute(text(f"DROP INDEX IF EXISTS {name}"))


def _v4_drop_dossier_submission(connection: Connection) -> None:
    """The submission lives in the portal audit rows only (purged with them); the dossier's copy,
    no longer written, goes, and with it any personal data an older version left there."""
    if "submission" in _columns(connection, tables.dossiers):
        connection.execute(text(f"ALTER TABLE {tables.dossiers.name} DROP COLUMN submission"))


def _v5_used_nonces(connection: Connection) -> None:
    """The shared, durable replay cache of WS-Security nonces (see tables.used_nonces)."""
    tables.used_nonces.create(connection, checkfirst=True)


def _v6_signatures(connection: Connection) -> None:
    """The outcome of each pushed message's signature check and its signer, on its audit row."""
    names = ["signature", "signer_subject", "signer_issuer", "signer_serial", "signer_sha256"]
    _add_columns(connection, tables.messages, names)


def _v7_audit_chain(connection: Connection) -> None:
    """The audit rows' hash chain: its columns, indexes and head row; every existing row chained in
    id order (store/_chain.py)."""
    _add_columns(connection, tables.messages, ["chain_seq", "chain_hash"])
    for name in ("nswa_messages_chain", "nswa_messages_unsealed"):
        _index(tables.messages, name).create(connection, checkfirst=True)
    tables.audit_chain.create(connection, checkfirst=True)
    audit_chain.start(connection)


def _v8_drop_cancel_send_date(connection: Connection) -> None:
    """dossiers.cancel_send_date was written and never read: gone."""
    if "cancel_send_date" in _columns(connection, tables.dossiers):
        connection.execute(text(f"ALTER TABLE {tables.dossiers.name} DROP COLUMN cancel_send_date"))


def _v9_dossier_facts(connection: Connection) -> None:
    """Each dossier's vessel and decision facts (tables.dossier_facts), filled for existing dossiers
    from the General Declaration in effect and the last final Result enqueued, where their payloads
    have not been purged."""
    tables.dossier_facts.create(connection, checkfirst=True)
    facts.backfill(connection)


def _v10_unknown_portal_state(connection: Connection) -> None:
    """dossiers.unknown_portal_state (a newer portal's state this adapter does not know) and its index."""
    _add_columns(connection, tables.dossiers, ["unknown_portal_state"])
    _index(tables.dossiers, "nswa_dossiers_unknown_state").create(connection, checkfirst=True)


def _v11_supplement_requests(connection: Connection) -> None:
    """Supplement requests: dossiers.supplement_request (the one announced on the current receipt)
    and nswa_supplement_requests (each request, its 25's messageId, item codes and outcome)."""
    _add_columns(connection, tables.dossiers, ["supplement_request"])
    tables.supplement_requests.create(connection, checkfirst=True)


def _v12_events(connection: Connection) -> None:
    """The event feed's outbox (tables.events) and its deliveries to each subscriber
    (tables.event_deliveries); the port of call's LOCODE among the dossier facts."""
    _add_columns(connection, tables.dossier_facts, ["port"])
    tables.events.create(connection, checkfirst=True)
    tables.event_deliveries.create(connection, checkfirst=True)


def _columns(connection: Connection, table: Table) -> set[str]:
    """The names of the columns the database has in `table`."""
    return {c["name"] for c in inspect(connection).get_columns(table.name)}


def _index(table: Table, name: str) -> Index:
    return next(index for index in table.indexes if index.name == name)


#: (version, name, step) in order.
STEPS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1_initial),
    (2, "first_attempt_at on dossiers and outbox (retry budgets)", _v2_first_attempt_at),
    (3, "indexes for the claims, stats, heartbeat and release", _v3_claim_indexes),
    (4, "dossiers.submission dropped (the portal audit rows keep submissions)", _v4_drop_dossier_submission),
    (5, "used_nonces (durable WS-Security replay cache)", _v5_used_nonces),
    (6, "messages: signature outcome and signer (subject, issuer, serial, thumbprint)", _v6_signatures),
    (7, "audit_chain and messages.chain_seq/chain_hash (tamper-evident audit trail)", _v7_audit_chain),
    (8, "dossiers.cancel_send_date dropped (never read)", _v8_drop_cancel_send_date),
    (
        9,
        "dossier_facts: vessel, gate, counts and decision of each dossier (history, reports)",
        _v9_dossier_facts,
    ),
    (10, "dossiers.unknown_portal_state (a newer portal's state, polled on)", _v10_unknown_portal_state),
    (
        11,
        "supplement requests: dossiers.supplement_request, nswa_supplement_requests",
        _v11_supplement_requests,
    ),
    (12, "events and event_deliveries (the event feed's outbox); dossier_facts.port", _v12_events),
]


#: The schema this version of the adapter reads and writes.
LATEST = STEPS[-1][0]


def applied_version(connection: Connection) -> int | None:
    """The highest applied version, reading only (None: no adapter schema in this database)."""
    if not inspect(connection).has_table(tables.schema_version.name):
        return None
    found = connection.execute(select(tables.schema_version.c.version)).scalars().all()
    return max(found, default=0)


def current_version(connection: Connection) -> int:
    """The highest applied version (0 on an empty database)."""
    tables.schema_version.create(connection, checkfirst=True)
    found = connection.execute(select(tables.schema_version.c.version)).scalars().all()
    return max(found, default=0)


def migrate(engine: Engine) -> list[int]:
    """Apply every missing step; returns the versions applied (empty when up to date)."""
    applied: list[int] = []
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        have = current_version(connection)
        for version, name, step in STEPS:
            if version <= have:
                continue
            step(connection)
            connection.execute(
                tables.schema_version.insert().values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
    if applied:
        log.info("store.migrated", versions=applied)
    return applied


def check_existing(url: str | URL) -> None:
    """Raise StoreNotReady unless `url` holds a store at LATEST, without creating anything."""
    parsed = engines.normalise_url(url)
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or ""
        if not Path(where).is_file():  # before any engine: connecting would create the file
            raise StoreNotReady(f"no store at {where}")
    engine = engines.create(parsed, pool_size=1)
    try:
        with engine.connect() as connection:
            have = applied_version(connection)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise StoreUnreachable(f"cannot reach the store at {where}: {reason}") from None
    finally:
        engine.dispose()
    want = LATEST
    if have is None:
        raise StoreNotReady(f"no nsw-adapter store in {where}")
    if have < want:
        raise StoreNotReady(
            f"the store at {where} has schema version {have}, this nsw-adapter needs {want}: "
            "run `nsw-adapter db migrate`"
        )
    if have > want:
        raise StoreNotReady(
            f"the store at {where} has schema version {have}, newer than this nsw-adapter knows ({want}): "
            "upgrade nsw-adapter"
        )
