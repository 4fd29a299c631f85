"""The durable replay cache of WS-Security nonces: one row per accepted token (tables.used_nonces).

Recording is one INSERT ... ON CONFLICT DO NOTHING on the nonce's digest: the row counts say
whether it was new, atomically on both dialects, so a token is accepted by one daemon only,
whichever of several on the store sees it first, and not again after a restart. On SQLite the
inserts of concurrent pushes share one commit (one writer, one fsync per commit), as receive does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam

from nsw_adapter.store import tables as t
from nsw_adapter.store._batch import GroupCommit
from nsw_adapter.store._ops import OpsMixin

n = t.used_nonces
_PURGE = n.delete().where(n.c.expires_at < bindparam("now", type_=t.UtcDateTime()))

#: (nonce digest, expires at)
_Nonce = tuple[str, datetime]


class NoncesMixin(OpsMixin):
    """remember_nonce, purge_nonces."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Batched like receive where receive is (SQLite): one more commit per push otherwise.
        self._nonce_commit: GroupCommit[_Nonce, bool] | None = (
            GroupCommit(self._remember_batch, name="store-nonces") if self._group_commit is not None else None
        )

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        """Record a used nonce's digest until `expires_at`: True when new, False when already held
        (a replay). Committed before returning."""
        if self._nonce_commit is not None:
            return self._nonce_commit.submit((key, expires_at))
        result = self._remember_batch([(key, expires_at)])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def purge_nonces(self, now: datetime) -> int:
        """Forget the nonces whose tokens can no longer be accepted; returns how many."""
        with self._tx() as c:
            return int(c.execute(_PURGE, {"now": now}).rowcount)

    def close(self) -> None:
        """Finish queued nonce commits too, then close as the rest of the store does."""
        if self._nonce_commit is not None:
            self._nonce_commit.close()
        super().close()

    def _remember_batch(self, nonces: Sequence[_Nonce]) -> list[bool | BaseException]:
        # One transaction for the lot; a repeat within the batch conflicts with the first, as it should.
        # RETURNING, not rowcount, says whether the row went in (psycopg reports -1 here).
        insert = self._cached(
            "insert_nonce",
            lambda: self._insert(n).on_conflict_do_nothing(index_elements=["digest"]).returning(n.c.digest),
        )
        now = self._now()
        with self._tx() as c:
            return [
                c.execute(insert, {"digest": key, "seen_at": now, "expires_at": until}).first() is not None
                for key, until in nonces
            ]
