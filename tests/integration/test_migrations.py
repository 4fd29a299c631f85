"""The migrations replayed from an empty database give exactly the schema tables.py creates fresh,
on SQLite and on PostgreSQL (as procrastinate's migration test does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect

from nsw_adapter.store import engine as engines
from nsw_adapter.store import migrations, schema_v1, tables
from nsw_adapter.testing.postgres import create_pg_database, drop_pg_database


def schema(engine: Engine) -> dict[str, Any]:
    """Every table's columns (type, nullable), primary key, indexes, unique constraints and foreign
    keys, as the database reports them (column order aside: ALTER TABLE appends)."""
    found = inspect(engine)
    described: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        described[table] = {
            "columns": {
                c["name"]: (str(c["type"].compile(dialect=engine.dialect)), c["nullable"])
                for c in found.get_columns(table)
            },
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (
                    i["name"],
                    tuple(i["column_names"]),
                    bool(i["unique"]),
                    _options(i.get("dialect_options", {})),
                )
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
            ),
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(table)
            ),
        }
    return described


def _options(options: dict[str, Any]) -> str:
    """An index's dialect options (a partial index's WHERE) as text."""
    return repr(sorted((name, str(value)) for name, value in options.items()))


def replayed_and_fresh(make_url: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    replayed, fresh = engines.create(make_url("replayed")), engines.create(make_url("fresh"))
    try:
        migrations.migrate(replayed)
        tables.metadata.create_all(fresh)
        return schema(replayed), schema(fresh)
    finally:
        replayed.dispose()
        fresh.dispose()


def test_replayed_migrations_equal_a_fresh_schema_on_sqlite(tmp_path: Path) -> None:
    """SQLite: every step from an empty file gives the same tables, columns, keys and indexes as
    creating today's tables outright."""
    replayed, fresh = replayed_and_fresh(lambda name: f"sqlite:///{tmp_path / name}.db")
    assert replayed == fresh


@pytest.mark.postgres
def test_replayed_migrations_equal_a_fresh_schema_on_postgresql(pg_available: bool) -> None:
    """PostgreSQL: the same, in two throwaway databases."""
    if not pg_available:
        pytest.skip("no PostgreSQL")
    urls = {"replayed": create_pg_database(), "fresh": create_pg_database()}
    try:
        replayed, fresh = replayed_and_fresh(urls.__getitem__)
        assert replayed == fresh
    finally:
        for url in urls.values():
            drop_pg_database(url)


def test_the_first_migration_builds_the_first_schema_not_todays(tmp_path: Path) -> None:
    """Step 1 creates the tables as they were (schema_v1), not today's: the columns later steps
    add are not there after it, the one later steps drop is."""
    engine = engines.create(f"sqlite:///{tmp_path / 'v1.db'}")
    try:
        with engine.begin() as connection:
            version, _name, step = migrations.STEPS[0]
            assert version == 1
            step(connection)
        columns = {c["name"] for c in inspect(engine).get_columns("nswa_dossiers")}
    finally:
        engine.dispose()
    assert columns == {c.name for c in schema_v1.dossiers.c}
    assert "submission" in columns  # dropped by step 4
    assert "first_attempt_at" not in columns  # added by step 2
