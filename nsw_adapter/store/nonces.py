"""The durable replay cache of WS-Security nonces: one row per accepted token (tables.used_nonces).

Recording is one INSERT ... ON CONFLICT DO NOTHING on the nonce's digest: whether a row came
back says whether it was new, atomically on both dialects, so a token is accepted by one daemon
only, whichever of several on the store sees it first, and not again after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam

from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.statements import Statement, insert

n = t.used_nonces
#: (nonce digest, expires at)
Nonce = tuple[str, datetime]

# RETURNING, not rowcount, says whether the row went in (psycopg reports -1 here).
_INSERT = Statement(
    lambda dialect: insert(dialect, n).on_conflict_do_nothing(index_elements=["digest"]).returning(n.c.digest)
)
_PURGE = Statement.of(n.delete().where(n.c.expires_at < bindparam("now", type_=t.UtcDateTime())))


def remember_batch(db: Database, nonces: Sequence[Nonce]) -> list[bool | BaseException]:
    """Record each nonce, all in one transaction: True when new, False when already held (a repeat
    within the batch conflicts with the first, as it should)."""
    now = db.now()
    with db.tx() as c:
        return [
            db.run(c, _INSERT, {"digest": key, "seen_at": now, "expires_at": until}).first() is not None
            for key, until in nonces
        ]


def purge(db: Database, now: datetime) -> int:
    """Forget the nonces whose tokens can no longer be accepted; returns how many."""
    with db.tx() as c:
        return int(db.execute(c, _PURGE, {"now": now}).rowcount)
