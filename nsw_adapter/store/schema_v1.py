"""The schema as migration 1 created it, frozen: the first step builds these, never today's tables.

Later steps change this schema into today's (tables.py); tests/integration/test_migrations.py
proves that replaying every step gives what tables.py creates fresh. Never edit this file.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from nsw_adapter.store.tables import Id, UtcDateTime

metadata = MetaData()

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
    Column("cancel_send_date", UtcDateTime),
    Column("cancel_reason", Text),
    Column("cancel_requested", Boolean, nullable=False, default=False),  # waiting for a receipt
    Column("cancel_owed", Boolean, nullable=False, default=False),  # claim_cancellations
    Column("cancel_receipt", String(64)),  # the receipt to cancel at the portal (None: only the 24)
    Column("submission", LargeBinary),
    Column("lineage", LargeBinary),
    Column("problems", Text),  # JSON of the local rejection's problems
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("next_poll_at", UtcDateTime),
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime),
    Column("dead_from", String(20)),
    Column("dead_at", UtcDateTime),
    UniqueConstraint("reference", "document_type", name="nswa_dossiers_key"),
    Index("nswa_dossiers_state", "state"),
)

messages = Table(
    "nswa_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("direction", String(8), nullable=False),  # in | out | refused
    # direction:message_id for in/out (unique: nothing stored twice); NULL for refused ones.
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
    Index("nswa_messages_dossier", "dossier_id"),
    Index("nswa_messages_at", "at"),
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
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("dead_at", UtcDateTime),
    Index("nswa_outbox_status", "status", "next_attempt_at"),
    Index("nswa_outbox_dossier", "dossier_id", "id"),
)
