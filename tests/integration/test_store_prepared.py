"""Prepared statements (store/_prepared.py) give what SQLAlchemy Core gives, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from nsw_adapter.store import SqlStore
from nsw_adapter.store import tables as t
from nsw_adapter.store.prepared import Prepared, PreparedCache
from tests.support.store import T0, incoming

_BY_ID = select(t.dossiers).where(t.dossiers.c.id == bindparam("did"))


def _a_dossier(store: SqlStore) -> int:
    store.receive(incoming("NSW-PREP-1"))
    with store.engine.connect() as c:
        found = c.execute(select(t.dossiers.c.id)).scalar()
    assert isinstance(found, int)
    return found


def test_a_prepared_select_returns_the_rows_core_returns(store: SqlStore) -> None:
    dossier_id = _a_dossier(store)
    cache = PreparedCache(store.engine.dialect)
    with store.engine.begin() as c:
        core = c.execute(_BY_ID, {"did": dossier_id}).one()._asdict()
        prepared = cache.run(c, _BY_ID, {"did": dossier_id}).one()._asdict()
    assert prepared == core
    # Typed as Core types them: aware UTC datetimes, booleans, integers.
    assert prepared["created_at"].utcoffset() == timedelta(0)
    assert prepared["seen"] is True
    assert isinstance(prepared["version"], int)


def test_a_prepared_update_binds_through_the_column_types_and_counts_rows(store: SqlStore) -> None:
    dossier_id = _a_dossier(store)
    update = t.dossiers.update().where(t.dossiers.c.id == bindparam("did"))
    later = T0 + timedelta(hours=3)
    cache = PreparedCache(store.engine.dialect)
    with store.engine.begin() as c:
        found = cache.run(c, update, {"did": dossier_id, "next_poll_at": later, "amend_pending": True})
        assert found.rowcount == 1
        missing = cache.run(
            c, update, {"did": dossier_id + 1000, "next_poll_at": later, "amend_pending": True}
        )
        assert missing.rowcount == 0
    with store.engine.connect() as c:
        row = c.execute(_BY_ID, {"did": dossier_id}).one()
    assert row.next_poll_at == later
    assert row.amend_pending is True


def test_an_insert_fills_constant_defaults_and_literals_of_the_statement(store: SqlStore) -> None:
    insert = t.dossiers.insert().returning(t.dossiers.c.id, t.dossiers.c.attempts, t.dossiers.c.version)
    cache = PreparedCache(store.engine.dialect)
    values = {"reference": "HPH-2026-000999", "document_type": "1", "state": "receiving",
              "created_at": T0, "updated_at": T0, "deadline_at": T0}  # fmt: skip
    with store.engine.begin() as c:
        row = cache.run(c, insert, values).one()
    assert (row.attempts, row.version) == (0, 1)  # the columns' defaults
    literal = select(t.dossiers.c.reference).where(t.dossiers.c.state == "receiving").limit(1)
    with store.engine.begin() as c:
        assert cache.run(c, literal, {}).scalar() == "HPH-2026-000999"


def test_a_driver_error_is_sqlalchemys_and_does_not_show_the_parameters(store: SqlStore) -> None:
    dossier_id = _a_dossier(store)
    cache = PreparedCache(store.engine.dialect)
    duplicate = {"reference": "HPH-2026-000123", "document_type": "1", "state": "receiving",
                 "created_at": T0, "updated_at": T0, "deadline_at": T0,
                 "cancel_reason": "CAPTAIN NGUYEN VAN A"}  # fmt: skip
    with pytest.raises(IntegrityError) as raised, store.engine.begin() as c:
        cache.run(c, t.dossiers.insert(), duplicate)
    assert "NGUYEN" not in str(raised.value)
    with pytest.raises(IntegrityError) as raised, store.engine.begin() as c:
        c.execute(t.dossiers.insert(), duplicate)  # Core's own errors hide them too (the engine's setting)
    assert "NGUYEN" not in str(raised.value)
    assert dossier_id  # the first row is untouched by the failed insert
    with store.engine.connect() as c:
        assert c.execute(select(t.dossiers.c.id)).scalars().all() == [dossier_id]


def test_statements_core_must_run_are_refused(store: SqlStore) -> None:
    expanding = select(t.dossiers.c.id).where(t.dossiers.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        Prepared(expanding, store.engine.dialect, ["ids"])
