"""The audit trail's hash chain: every audit row (nswa_messages) linked to the one before it.

Each row gets `chain_seq` (1, 2, 3... in chain order) and `chain_hash` = SHA-256 of the previous
row's hash and the row's canonical fields (`CHAINED`, as JSON). The payload itself is not hashed,
its `sha256` column is: `purge` can empty payloads (personal data) without breaking a link. The
head row (`nswa_audit_chain`, one row) holds the last `chain_seq` and hash, so a deleted tail is
seen too; an operator who keeps the head hash that `audit verify` prints elsewhere can later prove
that nothing before it was rewritten (recomputing every hash after an edit would need that too).

Sealing happens in the transaction that inserted the rows, just before its commit (`seal`, called
by `Database.tx`): the rows this transaction inserted are the only unsealed ones it can see (on
PostgreSQL other transactions' rows are either committed, hence sealed, or invisible). It takes
the head row FOR UPDATE as its *last* lock, so sealing serialises only the commits of
transactions that wrote audit rows, for as long as their commit takes, and can never deadlock with
the dossier locks taken before it. On SQLite the writer lock already serialises transactions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from nsw_adapter.store import tables as t
from nsw_adapter.store.prepared import PreparedCache

GENESIS = "0" * 64
HEAD_ID = 1
m, head = t.messages, t.audit_chain

#: The columns a link covers: everything an audit row records except the payload (purged) and
#: purged_at (set by purge). A change to any of them breaks the link.
CHAINED = (
    "id", "direction", "dedup_key", "message_id", "dossier_id", "reference", "document_type", "type",
    "function", "pre_reference", "send_date", "at", "sha256", "size", "called_for", "problems",
    "signature", "signer_subject", "signer_issuer", "signer_serial", "signer_sha256",
)  # fmt: skip

_UNSEALED = select(m.c.id).where(m.c.chain_seq.is_(None)).limit(1)
_UNSEALED_ROWS = select(*(m.c[name] for name in CHAINED)).where(m.c.chain_seq.is_(None)).order_by(m.c.id)
_SEAL_ROW = m.update().where(m.c.id == bindparam("row_id"))
_HEAD = select(head.c.seq, head.c.hash).where(head.c.id == HEAD_ID)
_HEAD_LOCKED = _HEAD.with_for_update()  # built once: prepared statements are cached by identity
_UPDATE_HEAD = head.update().where(head.c.id == HEAD_ID)


def link(previous: str, seq: int, row: Any) -> str:
    """The hash of one link: SHA-256 of the previous hash and the row's canonical fields."""
    fields: dict[str, Any] = {name: _plain(getattr(row, name)) for name in CHAINED}
    fields["chain_seq"] = seq
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}\n{canonical}".encode()).hexdigest()


def _plain(value: Any) -> Any:
    """A column value as JSON renders it the same on both dialects (times as UTC ISO 8601)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def seal(c: Connection, prepared: PreparedCache | None = None) -> int:
    """Chain the rows this transaction inserted (none: nothing locked, nothing written); how many.

    Every transaction runs this before its commit, so its statements are prepared (prepared.py):
    Core's set-up per statement was most of its cost.
    """
    cache = prepared or PreparedCache(c.dialect)
    if cache.run(c, _UNSEALED, {}).first() is None:
        return 0
    locked = _HEAD_LOCKED if c.dialect.name == "postgresql" else _HEAD
    found = cache.run(c, locked, {}).first()
    if found is None:
        # No head: an emptied store, or rows deleted by hand. Linking on from the genesis hash keeps
        # the store writable while `verify` shows the seam at the next link. Two transactions may
        # get here at once: one inserts, the other waits for it and then locks the row it made.
        last = c.execute(select(func.max(m.c.chain_seq))).scalar() or 0
        insert = (postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert)(head)
        c.execute(insert.values(id=HEAD_ID, seq=last, hash=GENESIS).on_conflict_do_nothing())
        found = c.execute(locked).one()
    seq, previous = found
    rows = cache.run(c, _UNSEALED_ROWS, {}).all()
    for row in rows:
        seq += 1
        previous = link(previous, seq, row)
        cache.run(c, _SEAL_ROW, {"row_id": row.id, "chain_seq": seq, "chain_hash": previous})
    cache.run(c, _UPDATE_HEAD, {"seq": seq, "hash": previous})
    return len(rows)


def start(c: Connection) -> None:
    """Migration 7: the head row at the genesis hash, and every existing row chained in id order."""
    if c.execute(_HEAD).first() is None:
        c.execute(head.insert().values(id=HEAD_ID, seq=0, hash=GENESIS))
    seal(c)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What `verify` found: how many links held, the head, and the first broken link (None: intact)."""

    links: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None  # the chain_seq of the first link that does not hold
    row_id: int | None = None  # that row's id, when there is a row
    problem: str | None = None

    @property
    def intact(self) -> bool:
        """True when every link holds and the head names the last one."""
        return self.problem is None


def verify(c: Connection) -> ChainReport:
    """Walk the chain in order; the first link whose hash, position or head does not match."""
    found = c.execute(_HEAD).first()
    seq_head, hash_head = (0, GENESIS) if found is None else found  # none: as if nothing was chained
    columns = (*(m.c[name] for name in CHAINED), m.c.chain_seq, m.c.chain_hash)
    previous, expected = GENESIS, 1
    for row in c.execute(select(*columns).where(m.c.chain_seq.is_not(None)).order_by(m.c.chain_seq)):
        if row.chain_seq != expected:
            problem = f"link {expected} is missing (the next row holds link {row.chain_seq})"
            return ChainReport(expected - 1, seq_head, hash_head, expected, row.id, problem)
        if link(previous, row.chain_seq, row) != row.chain_hash:
            problem = f"row {row.id} does not match its hash: it, or its link, was changed"
            return ChainReport(expected - 1, seq_head, hash_head, expected, row.id, problem)
        previous, expected = row.chain_hash, expected + 1
    links = expected - 1
    if links != seq_head or previous != hash_head:
        problem = f"the head names link {seq_head}, but the chain ends at link {links}"
        if links == seq_head:
            problem = f"the head's hash is not link {links}'s"
        return ChainReport(links, seq_head, hash_head, links + 1, None, problem)
    unsealed = c.execute(_UNSEALED).first()
    if unsealed is not None:
        problem = f"row {unsealed.id} was never chained (written around the store)"
        return ChainReport(links, seq_head, hash_head, links + 1, unsealed.id, problem)
    return ChainReport(links, seq_head, hash_head)
