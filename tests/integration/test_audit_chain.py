"""The tamper-evident audit trail: every audit row hash-chained at insert; `audit verify` finds an edit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from nsw_adapter.cli import main
from nsw_adapter.errors import Problem
from nsw_adapter.store import SqlStore, open_store
from nsw_adapter.store import tables as t
from tests.support.store import begin_submission, incoming, record_receipt, result

m = t.messages


def fill(store: SqlStore) -> None:
    """One of every kind of audit row: received, refused, a portal request and a Result sent."""
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    store.record_refused(b"<not-xml", "", [Problem("E-ENVELOPE", "not well-formed")])
    [claim] = store.claim_ready("w1", 1, 30)
    begin_submission(store, claim.dossier_id, b"<Submission/>", b"lineage", version=claim.version)
    record_receipt(store, claim.dossier_id, "CKCHPG-2026-000001", False, result("21"))


def rows(store: SqlStore) -> list[Any]:
    """Every audit row in id order."""
    with store.engine.connect() as c:
        return list(c.execute(select(m).order_by(m.c.id)))


def edit(store: SqlStore, row_id: int, **values: Any) -> None:
    """Change one audit row behind the store's back, as someone with database access could."""
    with store.engine.begin() as c:
        c.execute(m.update().where(m.c.id == row_id).values(**values))


def test_every_kind_of_audit_row_is_chained_in_order(store: SqlStore) -> None:
    """Received, refused, portal and Result rows each get the next link; the chain verifies intact."""
    fill(store)
    found = rows(store)
    assert {row.direction for row in found} == {"in", "refused", "portal", "out"}
    assert sorted(row.chain_seq for row in found) == list(range(1, len(found) + 1))
    assert all(len(row.chain_hash) == 64 for row in found)
    report = store.verify_audit_chain()
    assert report.intact
    assert report.links == report.head_seq == len(found)


def test_an_edited_row_is_the_first_broken_link(store: SqlStore) -> None:
    """Changing a refused row's recorded digest breaks exactly its link; the links before it hold."""
    fill(store)
    refused = next(row for row in rows(store) if row.direction == "refused")
    edit(store, refused.id, sha256="0" * 64)
    report = store.verify_audit_chain()
    assert not report.intact
    assert (report.broken_at, report.row_id, report.links) == (
        refused.chain_seq,
        refused.id,
        refused.chain_seq - 1,
    )


def test_a_signer_rewritten_after_the_fact_is_seen(store: SqlStore) -> None:
    """The signature columns are chained too: claiming a message was verified shows."""
    fill(store)
    first = rows(store)[0]
    edit(store, first.id, signature="verified", signer_subject="CN=Someone")
    assert store.verify_audit_chain().broken_at == 1


def test_a_deleted_row_is_a_missing_link(store: SqlStore) -> None:
    """Deleting a row in the middle leaves a gap the walk reports."""
    fill(store)
    second = next(row for row in rows(store) if row.chain_seq == 2)
    with store.engine.begin() as c:
        c.execute(t.outbox.delete())  # the outbox and documents refer to audit rows
        c.execute(t.documents.delete())
        c.execute(m.delete().where(m.c.id == second.id))
    report = store.verify_audit_chain()
    assert report.broken_at == 2
    assert report.problem is not None
    assert "missing" in report.problem


def test_a_deleted_tail_no_longer_matches_the_head(store: SqlStore) -> None:
    """Deleting the newest row is seen: the head names a link the chain no longer reaches."""
    fill(store)
    last = max(rows(store), key=lambda row: row.chain_seq)
    with store.engine.begin() as c:
        c.execute(t.outbox.delete())
        c.execute(t.documents.delete())
        c.execute(m.delete().where(m.c.id == last.id))
    report = store.verify_audit_chain()
    assert not report.intact
    assert report.broken_at == last.chain_seq


def test_purging_payloads_keeps_the_chain_intact(store: SqlStore) -> None:
    """Purge empties payloads (personal data) but the chain hashes their digests, so it still verifies."""
    fill(store)
    with store.engine.begin() as c:
        c.execute(m.update().values(payload=None, purged_at=datetime.now(UTC)))
    assert store.verify_audit_chain().intact


def test_a_rolled_back_transaction_leaves_no_link(store: SqlStore) -> None:
    """A duplicate push (rolled back inside the store) takes no link: the chain stays contiguous."""
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    assert [row.chain_seq for row in rows(store)] == [1, 2]
    assert store.verify_audit_chain().intact


@pytest.mark.postgres
def test_two_daemons_inserting_at_once_keep_one_chain(pg_url: str) -> None:
    """Two stores (as two daemons) pushing concurrently on PostgreSQL make one contiguous, valid chain."""
    stores = [open_store(pg_url, migrate=True, pool_size=8) for _ in range(2)]
    with stores[0].engine.begin() as c:
        for table in reversed(t.metadata.sorted_tables):
            if table is not t.schema_version:
                c.execute(table.delete())

    def push(store: SqlStore, prefix: str) -> None:
        for i in range(40):
            store.receive(incoming(f"{prefix}{i}", "50", reference=f"HPH-2026-{prefix}{i:04d}"))

    threads = [
        threading.Thread(target=push, args=(store, f"N{n}{k}"))
        for n, store in enumerate(stores)
        for k in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        found = rows(stores[0])
        assert len(found) == 240
        assert sorted(row.chain_seq for row in found) == list(range(1, 241))
        assert stores[1].verify_audit_chain().intact
    finally:
        for store in stores:
            store.close()


def test_audit_verify_exits_1_naming_the_broken_link(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit verify` says intact (exit 0), then after an edit names the first broken link (exit 1)."""
    store = open_store(sqlite_url, migrate=True)
    fill(store)
    assert main(["audit", "verify", "--store", sqlite_url]) == 0
    assert "audit trail intact: 5 links" in capsys.readouterr().out
    edit(store, rows(store)[2].id, size=1)
    store.close()
    assert main(["audit", "verify", "--store", sqlite_url]) == 1
    out = capsys.readouterr().out
    assert "broken at link 3" in out
    assert "links before it hold: 2" in out


def test_migration_7_chains_the_rows_already_there(sqlite_url: str) -> None:
    """A store migrated from version 6 gets its existing audit rows chained in id order."""
    store = open_store(sqlite_url, migrate=True)
    fill(store)
    with store.engine.begin() as c:  # back to version 6: no links, no head
        c.execute(m.update().values(chain_seq=None, chain_hash=None))
        c.execute(t.audit_chain.delete())
        c.execute(t.schema_version.delete().where(t.schema_version.c.version >= 7))
    store.migrate()
    found = rows(store)
    store_report = store.verify_audit_chain()
    store.close()
    assert [row.chain_seq for row in found] == list(range(1, len(found) + 1))
    assert store_report.intact
