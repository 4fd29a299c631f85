"""docs/runbook.md's upgrade, backup and restore steps, run as an operator would run them.

Each block marked `<!-- runbook-test: NAME -->` is run as written by bash, with the runbook's
variables (CONFIG, DB, BACKUP, PG_DSN) pointed at a test store and this checkout's
`nsw-adapter` first on PATH.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.stack import AdapterStack, fast_settings
from nsw_adapter.store import engine as engines
from nsw_adapter.store import migrations
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- runbook-test: ([a-z0-9-]+) -->\s*```sh\n(.*?)```", re.DOTALL)
STEPS = dict(BLOCK.findall(RUNBOOK))


def run_step(name: str, variables: dict[str, str]) -> str:
    """Run one runbook block with `bash -euo pipefail`; its output, or the test fails with it."""
    env = {**os.environ, **variables, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", STEPS[name]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"runbook step {name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def config(path: Path, store_url: str) -> Path:
    path.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    return path


def fill(store_url: str, count: int) -> list[str]:
    """A real run of both simulators and the adapter clears `count` dossiers into the store."""
    with (
        PortalSimulator(decision_delay=0.1) as portal,
        NswSimulator(backoff_max=0.3) as nsw,
        AdapterStack(fast_settings(store_url, portal.url, nsw.url)) as stack,
    ):
        nsw.agency_url = stack.intake_url
        references = [
            nsw.push_dossier(generate_dossier(crew=3, seed=i, reference=f"HPH-2026-0095{i:02d}"))
            for i in range(count)
        ]
        nsw.wait_all_final(timeout=60)
    return references


def test_the_runbook_names_its_tested_steps() -> None:
    """The runbook keeps the blocks this test runs (renaming one must not skip it silently)."""
    assert set(STEPS) == {
        "upgrade",
        "backup-sqlite",
        "restore-sqlite",
        "backup-postgresql",
        "restore-postgresql",
    }


@pytest.mark.timeout(120)
def test_upgrading_a_store_of_an_older_schema_by_the_runbook(tmp_path: Path) -> None:
    """A store at schema 4 is backed up and migrated to the current schema; the audit trail verifies."""
    db = tmp_path / "nsw-adapter.db"
    engine = engines.create(f"sqlite:///{db}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(migrations, "STEPS", migrations.STEPS[:4])
            assert migrations.migrate(engine) == [1, 2, 3, 4]
    finally:
        engine.dispose()
    variables = {
        "CONFIG": str(config(tmp_path / "adapter.toml", f"sqlite:///{db}")),
        "DB": str(db),
        "BACKUP": str(tmp_path / "backups"),
    }
    run_step("upgrade", variables)
    with sqlite3.connect(db) as c:
        versions = {row[0] for row in c.execute("SELECT version FROM nswa_schema_version")}
    assert versions == {version for version, _name, _step in migrations.STEPS}
    with sqlite3.connect(tmp_path / "backups" / "before-upgrade.db") as c:
        assert max(row[0] for row in c.execute("SELECT version FROM nswa_schema_version")) == 4


@pytest.mark.timeout(180)
def test_a_sqlite_store_backed_up_and_restored_by_the_runbook_keeps_every_dossier(tmp_path: Path) -> None:
    """An online backup of cleared dossiers, restored over a lost file, verifies and shows them."""
    db = tmp_path / "nsw-adapter.db"
    store_url = f"sqlite:///{db}"
    references = fill(store_url, 2)
    variables = {
        "CONFIG": str(config(tmp_path / "adapter.toml", store_url)),
        "DB": str(db),
        "BACKUP": str(tmp_path / "backups"),
    }
    assert "ok" in run_step("backup-sqlite", variables)
    db.unlink()  # the disk lost it
    status = run_step("restore-sqlite", variables)
    with sqlite3.connect(db) as c:
        kept = {row[0] for row in c.execute("SELECT reference FROM nswa_dossiers WHERE state = 'cleared'")}
    assert kept == set(references)
    assert "CLEARED" in status.upper()


@pytest.fixture
def two_pg_databases() -> Iterator[tuple[str, str]]:
    first, second = create_pg_database(), create_pg_database()
    try:
        yield first, second
    finally:
        drop_pg_database(first)
        drop_pg_database(second)


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_postgresql_store_dumped_and_restored_by_the_runbook_keeps_every_dossier(
    tmp_path: Path, pg_available: bool, two_pg_databases: tuple[str, str]
) -> None:
    """pg_dump of a store with cleared dossiers, restored into an empty database, verifies and holds them."""
    source, target = two_pg_databases
    references = fill(source, 2)
    backup = str(tmp_path / "backups")
    libpq = source.replace("postgresql+psycopg://", "postgresql://")
    run_step("backup-postgresql", {"PG_DSN": libpq, "BACKUP": backup, "CONFIG": "", "DB": ""})
    restored = target.replace("postgresql+psycopg://", "postgresql://")
    variables = {
        "PG_DSN": restored,
        "BACKUP": backup,
        "CONFIG": str(config(tmp_path / "adapter.toml", target)),
        "DB": "",
    }
    run_step("restore-postgresql", variables)
    with psycopg.connect(restored) as c:
        kept = {row[0] for row in c.execute("SELECT reference FROM nswa_dossiers WHERE state = 'cleared'")}
    assert kept == set(references)
