"""The one way the store defines its statements: at module level, built once per dialect, reused.

Building Core constructs (and their cache keys) on every call costs more CPU than running them,
so every statement is a `Statement` made at import time from a function of the dialect's name
("sqlite" or "postgresql"): it is built the first time a store of that dialect runs it and kept.
Values always travel as bind parameters. `Database.run` executes one on the driver's cursor
(prepared.py: the hot path), `Database.execute` through Core (expanding IN lists, reports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import BindParameter, Select, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from nsw_adapter.store import tables as t

#: The parameters most statements share: the time, a list of ids, a limit.
NOW = bindparam("now", type_=t.UtcDateTime())
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
LIMIT: BindParameter[int] = bindparam("lim")


class Statement:
    """One statement, defined once: `build(dialect)` runs on first use for each dialect."""

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[str], Any]) -> None:
        self._build = build
        self._built: dict[str, Any] = {}

    @classmethod
    def of(cls, statement: Any) -> Statement:
        """A statement the same on both dialects."""
        return cls(lambda _dialect: statement)

    def on(self, dialect: str) -> Any:
        """The Core construct for `dialect` (two threads building it at once build the same thing)."""
        found = self._built.get(dialect)
        if found is None:
            found = self._built[dialect] = self._build(dialect)
        return found


def locked(dialect: str, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    """FOR UPDATE [SKIP LOCKED] on PostgreSQL; SQLite's write transaction already excludes others."""
    if dialect == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
