"""A service back after an outage: the work deferred for it is due now, not at the end of its back-off.

While the portal (or the NSW, or an event subscriber) is down, each item tried is deferred along
an exponential back-off (up to `defer_max_seconds`, two minutes by default), so when the service
returns those items would wait that long behind the ones that arrived later. The first call that
goes through after its circuit opened (loops/delivery.py) brings them forward: due now, their
attempts and retry budgets unchanged. The claims still pace what goes out.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_

from nsw_adapter.lifecycle import DossierState as S
from nsw_adapter.store import tables as t
from nsw_adapter.store.database import Database
from nsw_adapter.store.events import PENDING as DELIVERY_PENDING
from nsw_adapter.store.outbox import PENDING
from nsw_adapter.store.statements import NOW, Statement

d, o, dl = t.dossiers, t.outbox, t.event_deliveries

# The portal's: dossiers to submit, and cancellations it is owed.
_DOSSIERS = Statement.of(
    d.update()
    .where(
        or_(d.c.state == S.READY.value, and_(d.c.state == S.CANCELLED.value, d.c.cancel_owed.is_(True))),
        d.c.next_attempt_at > NOW,
    )
    .values(next_attempt_at=NOW)
)
# The NSW's: Results waiting in the outbox.
_RESULTS = Statement.of(
    o.update().where(o.c.status == PENDING, o.c.next_attempt_at > NOW).values(next_attempt_at=NOW)
)

# A subscriber's: its event deliveries.
_DELIVERIES = Statement.of(
    dl.update()
    .where(
        dl.c.subscriber == bindparam("name"),
        dl.c.status == DELIVERY_PENDING,
        dl.c.next_attempt_at > NOW,
    )
    .values(next_attempt_at=NOW)
)


def bring_forward_dossiers(db: Database) -> int:
    """Every dossier deferred for the portal (to submit, or a cancellation owed) due now; how many."""
    return _due_now(db, _DOSSIERS)


def bring_forward_results(db: Database) -> int:
    """Every Result deferred for the NSW due now; how many."""
    return _due_now(db, _RESULTS)


def bring_forward_events(db: Database, subscriber: str) -> int:
    """Every event delivery deferred for `subscriber` due now; how many."""
    return _due_now(db, _DELIVERIES, name=subscriber)


def _due_now(db: Database, statement: Statement, **params: str) -> int:
    """Run one of the statements above at the store's now, in a transaction of its own; rows changed."""
    with db.tx() as c:
        return int(db.execute(c, statement, {"now": db.now(), **params}).rowcount)
