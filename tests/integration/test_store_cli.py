"""`nsw-adapter db migrate` and `nsw-adapter purge` on a real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nsw_adapter.cli import main
from nsw_adapter.store import DossierState, open_store
from nsw_adapter.store.migrations import STEPS
from tests.support.store import incoming, result


def test_db_migrate_creates_the_schema_and_is_safe_to_repeat(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run applies the migrations, the second finds the schema up to date."""
    assert main(["db", "migrate", "--store", sqlite_url]) == 0
    assert f"applied {[version for version, _, _ in STEPS]}" in capsys.readouterr().out
    assert main(["db", "migrate", "--store", sqlite_url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_purge_removes_old_payloads_of_finished_dossiers(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`purge --older-than 0` empties the payloads of a finished dossier and reports how many."""
    store = open_store(sqlite_url, migrate=True)
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    [claim] = store.claim_ready("w1", 1, 30)
    store.reject_locally(claim.dossier_id, [], result("22"))
    for item in store.claim_outbox("w1", 10, 30, datetime.now(UTC)):
        store.mark_sent(item.outbox_id)
    store.close()
    assert main(["purge", "--older-than", "0", "--dry-run", "--store", sqlite_url]) == 0
    assert "would purge the payloads of 3 messages and the bodies of 2 events no subscriber waits for" in (
        capsys.readouterr().out
    )
    assert main(["purge", "--older-than", "0", "--store", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert "purged the payloads of 3 messages and the bodies of 2 events no subscriber waits for" in out
    store = open_store(sqlite_url)
    view = store.describe("HPH-2026-000123", "1")
    store.close()
    assert view is not None
    assert view.state is DossierState.REJECTED_LOCALLY
    assert [m.payload for m in view.messages] == [None, None, None]


@pytest.mark.parametrize("days", ["-1", "nan", "soon"])
def test_purge_with_a_bad_retention_is_a_usage_error(days: str, sqlite_url: str) -> None:
    """`purge --older-than` takes a number of days >= 0; anything else exits 2 before the store is touched."""
    with pytest.raises(SystemExit) as stopped:
        main(["purge", "--older-than", days, "--store", sqlite_url])
    assert stopped.value.code == 2
