"""The store's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Times are stored as aware UTC timestamps (`UtcDateTime` normalises SQLite's naive ones).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out, whatever the dialect keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


schema_version = Table(
    "nswa_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

dossiers = Table(
    "nswa_dossiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reference", String(40), nullable=False),
    Column("document_type", String(1), nullable=False),
    Column("state", String(20), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("seen", Boolean, nullable=False, default=False),  # a 01 message has arrived
    Column("called_for", String(40)),  # comma-separated types, from the GD in effect
    Column("gd_message_id", String(50)),  # the General Declaration in effect
    Column("first_orphan_message_id", String(50)),  # first 02/03 while not seen
    Column("first_orphan_type", String(2)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("deadline_at", UtcDateTime, nullable=False),
    Column("client_message_id", String(64)),
    Column("supersedes", String(64)),
    Column("receipt_number", String(64)),
    Column("attempted", Boolean, nullable=False, default=False),  # begin_submission on this version
    Column("amend_pending", Boolean, nullable=False, default=False),
    Column("cancel_message_id", String(50)),
    # cancel_send_date (never read) until v8, which drops it.
    Column("cancel_reason", Text),
    Column("cancel_requested", Boolean, nullable=False, default=False),  # waiting for a receipt
    Column("cancel_owed", Boolean, nullable=False, default=False),  # claim_cancellations
    Column("cancel_receipt", String(64)),  # the receipt to cancel at the portal (None: only the 24)
    Column("lineage", LargeBinary),
    Column("problems", Text),  # JSON of the local rejection's problems
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("next_poll_at", UtcDateTime),
    Column("first_attempt_at", UtcDateTime),  # this version's first begin_submission (retry budget); v2
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime),
    Column("dead_from", String(20)),
    Column("dead_at", UtcDateTime),
    # v10: a state a newer portal reported that this adapter does not know (None otherwise); the
    # dossier keeps being polled, and status / show / metrics name it for port IT.
    Column("unknown_portal_state", String(40)),
    # v11: the RequestNumber of the supplement request announced (its 25) on the current receipt.
    Column("supplement_request", String(40)),
    UniqueConstraint("reference", "document_type", name="nswa_dossiers_key"),
    # nswa_dossiers_state ("state") until v3, which drops it: the indexes below all begin with state.
    # v3, for the workers' claims and stats: each picks ids from one of these alone, never the row
    # (whose lease columns sit after the blobs). claim_ready / claim_cancellations scan one state
    # in id order; claim_polls one state in next_poll_at order; stats takes min(created_at) per state.
    Index(
        "nswa_dossiers_claim",
        "state",
        "id",
        "next_attempt_at",
        "lease_owner",
        "lease_expires_at",
        "cancel_owed",
    ),
    Index("nswa_dossiers_polls", "state", "next_poll_at", "lease_owner", "lease_expires_at"),
    Index("nswa_dossiers_waiting", "state", "created_at"),
    Index("nswa_dossiers_lease", "lease_owner"),  # v3: heartbeat and release
    # v10: stats count the few dossiers in a portal state unknown here without reading the rest.
    Index(
        "nswa_dossiers_unknown_state",
        "unknown_portal_state",
        sqlite_where=text("unknown_portal_state IS NOT NULL"),
        postgresql_where=text("unknown_portal_state IS NOT NULL"),
    ),
)

messages = Table(
    "nswa_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("direction", String(8), nullable=False),  # in | out | portal | refused
    # direction:message_id for in/out, portal:ClientMessageId / portal:cancel-receipt (unique:
    # nothing stored twice); NULL for refused ones.
    Column("dedup_key", String(60), unique=True),
    Column("message_id", String(50)),
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id")),
    Column("reference", String(40)),
    Column("document_type", String(1)),
    Column("type", String(2)),
    Column("function", String(2)),
    Column("pre_reference", String(50)),
    Column("send_date", UtcDateTime),
    Column("at", UtcDateTime, nullable=False),  # received or enqueued
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("payload", LargeBinary),  # NULL once purged
    Column("purged_at", UtcDateTime),
    Column("called_for", String(40)),
    Column("problems", Text),  # JSON, for refused envelopes
    # v6: the declarant's ds:Signature of a pushed message (signature.SignatureOutcome: verified,
    # failed, missing, unchecked; NULL when unsigned and not required, and on our own rows) and, when
    # a certificate was read, who signed: RFC 4514 subject and issuer, hex serial, SHA-256 thumbprint.
    Column("signature", String(10)),
    Column("signer_subject", Text),
    Column("signer_issuer", Text),
    Column("signer_serial", String(40)),
    Column("signer_sha256", String(64)),
    # v7: the hash chain (store/_chain.py): this row's place in the chain and its link's hash,
    # set in the transaction that inserted it, just before its commit.
    Column("chain_seq", BigInteger),
    Column("chain_hash", String(64)),
    Index("nswa_messages_dossier", "dossier_id"),
    Index("nswa_messages_at", "at"),
    Index("nswa_messages_chain", "chain_seq", unique=True),  # v7: verify walks it; no link twice
    # v7: the rows a transaction has yet to seal (few, briefly): every write transaction looks here.
    Index(
        "nswa_messages_unsealed",
        "id",
        sqlite_where=text("chain_seq IS NULL"),
        postgresql_where=text("chain_seq IS NULL"),
    ),
)

documents = Table(
    "nswa_documents",
    metadata,
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id"), primary_key=True),
    Column("type", String(2), primary_key=True),
    Column("message_row", Id, ForeignKey("nswa_messages.id"), nullable=False),
    Column("message_id", String(50), nullable=False),
    Column("function", String(2), nullable=False),
    Column("send_date", UtcDateTime, nullable=False),
)

history = Table(
    "nswa_state_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("cause", String(200), nullable=False),  # a message id or a reason (never personal data)
    Index("nswa_state_history_dossier", "dossier_id"),
)

outbox = Table(
    "nswa_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id")),
    Column("message_row", Id, ForeignKey("nswa_messages.id"), nullable=False),
    Column("message_id", String(50), nullable=False),
    Column("function", String(2), nullable=False),
    Column("status", String(10), nullable=False),  # pending | sent | dead
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("first_attempt_at", UtcDateTime),  # first claimed for sending (retry budget); v2
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("dead_at", UtcDateTime),
    # nswa_outbox_status ("status", "next_attempt_at") until v3, which drops it for nswa_outbox_claim.
    Index("nswa_outbox_dossier", "dossier_id", "id"),
    # v3: claim_outbox scans the pending entries in id order, filtering on the index alone.
    Index(
        "nswa_outbox_claim",
        "status",
        "id",
        "next_attempt_at",
        "lease_owner",
        "lease_expires_at",
        "dossier_id",
    ),
    Index("nswa_outbox_lease", "lease_owner"),  # v3: heartbeat and release
)

used_nonces = Table(
    "nswa_used_nonces",
    metadata,
    # v5: one row per accepted WS-Security UsernameToken nonce, kept for the timestamp window so
    # that neither a restart nor a second intake daemon on the same store accepts a token twice.
    # The key is a digest of user and nonce (never the nonce itself): the PRIMARY KEY makes
    # "record" and "was it seen" one atomic INSERT on both dialects.
    Column("digest", String(64), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("nswa_used_nonces_expiry", "expires_at"),  # housekeeping deletes by expiry
)

audit_chain = Table(
    "nswa_audit_chain",
    metadata,
    # v7: the head of the audit rows' hash chain (store/_chain.py), one row (id 1): the last link's
    # chain_seq and hash. Sealing takes it FOR UPDATE (PostgreSQL), so links are made one commit
    # at a time whatever the number of daemons; a deleted tail no longer matches it.
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

dossier_facts = Table(
    "nswa_dossier_facts",
    metadata,
    # v9: what port IT looks a ship up by and the Border Guard's reports count (dossier_facts.py),
    # one row per dossier, none of it personal data: from the General Declaration in effect, and
    # from the final Result enqueued. Kept apart from nswa_dossiers, whose row the workers rewrite.
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id"), primary_key=True),
    Column("imo", String(7)),
    Column("vessel_name", String(200)),
    Column("call_sign", String(20)),
    Column("gate", String(10)),  # the border gate station (CKCHPG...)
    Column("port", String(5)),  # v12: the port of call's UN/LOCODE (the event feed's `port`)
    Column("expected_at", UtcDateTime),  # ETA (entry) or ETD (exit)
    Column("crew", Integer),  # as declared (NumberOfCrew)
    Column("passengers", Integer),
    Column("stowaways", Integer),
    Column("arms", Boolean),
    Column("decision", String(2)),  # the final Result's function: 22, 23 or 24
    Column("decided_locally", Boolean),  # a 22 without a ReceiptNumber: rejected by the adapter
    Column("decided_at", UtcDateTime),  # when the final Result was enqueued
    Column("result_message_id", String(50)),  # that Result (its sent_at is in nswa_outbox)
    Column("clearance_number", String(64)),
    Column("shore_passes", Integer),
    Column("codes", Text),  # the rejection's rule codes, comma-separated in order
    Index("nswa_dossier_facts_imo", "imo"),
    Index("nswa_dossier_facts_gate", "gate", "expected_at"),
    Index("nswa_dossier_facts_decided", "decided_at"),
)

supplement_requests = Table(
    "nswa_supplement_requests",
    metadata,
    # v11: each officer's request for more (portal SUPPLEMENT_REQUESTED) the adapter announced with
    # a 25: one row per RequestNumber (unique: never two 25s for one request), the item codes only
    # (never the officer's words, which may name a person), and how it ended.
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("receipt_number", String(64), nullable=False),
    Column("request_number", String(40), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("respond_by", UtcDateTime, nullable=False),
    Column("codes", String(1000), nullable=False),  # the items' codes, comma-separated, in order
    Column("message_id", String(50), nullable=False),  # the 25's
    Column("at", UtcDateTime, nullable=False),  # when the adapter saw it
    Column("outcome", String(20)),  # None while open; answered | expired | decided | cancelled
    Column("outcome_at", UtcDateTime),
    UniqueConstraint("request_number", name="nswa_supplement_requests_number"),
    Index("nswa_supplement_requests_dossier", "dossier_id"),
    Index("nswa_supplement_requests_outcome", "outcome"),
)

events = Table(
    "nswa_events",
    metadata,
    # v12: the event feed's transactional outbox (nsw_adapter/events, store/events.py): one row per
    # event, written in the transaction of the state change that causes it. `body` is the
    # CloudEvent every subscriber receives, the same bytes on every attempt; no personal data.
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),  # the CloudEvents id (a UUID), unique
    Column("dossier_id", Id, ForeignKey("nswa_dossiers.id"), nullable=False),
    Column("sequence", Integer, nullable=False),  # 1, 2, ... per dossier
    Column("type", String(40), nullable=False),
    Column("gate", String(12)),  # station code, for the subscribers' filters
    Column("port", String(5)),  # UN/LOCODE, ditto
    Column("routing_key", String(80), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("body", LargeBinary),  # None once purged (events.purge)
    # False until a worker has made its subscribers' delivery rows (store/events.fan_out).
    Column("fanned_out", Boolean, nullable=False),
    UniqueConstraint("event_id", name="nswa_events_event_id"),
    UniqueConstraint("dossier_id", "sequence", name="nswa_events_dossier_sequence"),
    Index("nswa_events_fan_out", "fanned_out", "id"),
    Index("nswa_events_created", "created_at"),
)

event_deliveries = Table(
    "nswa_event_deliveries",
    metadata,
    # v12: one event to one subscriber: pending until the subscriber has it (a webhook's 2xx, the
    # broker's confirm), then delivered; dead when given up on (`events replay` sends it again).
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_row", Id, ForeignKey("nswa_events.id"), nullable=False),
    Column("subscriber", String(40), nullable=False),
    Column("dossier_id", Id, nullable=False),  # the event's: one dossier's events go out in order
    Column("status", String(10), nullable=False),  # pending | delivered | dead
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_attempt_at", UtcDateTime),
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("dead_at", UtcDateTime),
    UniqueConstraint("subscriber", "event_row", name="nswa_event_deliveries_once"),
    Index("nswa_event_deliveries_claim", "subscriber", "status", "id", "next_attempt_at"),
    Index("nswa_event_deliveries_dossier", "subscriber", "dossier_id", "event_row"),
    Index("nswa_event_deliveries_lease", "lease_owner"),
)
