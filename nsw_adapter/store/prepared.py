"""The store's hot statements run on the driver's cursor, compiled once per statement and key set.

SQLAlchemy Core spends about 40 µs per statement on top of the driver's 10 (cache key, execution
context, result set-up; measured on this machine). Intake and the worker loops run some 40
statements per dossier, and on SQLite every write runs inside the one write lock, so that
overhead is the daemon's throughput. A prepared statement keeps what Core computes on each
call: the SQL text, the order of its parameters, the type processors of its parameters and of
its result columns. Driver errors are raised as SQLAlchemy's (`sqlalchemy.exc.IntegrityError`,
`OperationalError` ...), without their parameters, which may be personal data.

Only plain statements qualify: no expanding IN lists, no defaults other than constants. The
rest (claims, operations, reports) goes through `Connection.execute` as before.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import ScalarElementColumnDefault

Processor = Callable[[Any], Any] | None


class PreparedRows:
    """The rows of one execution (all fetched) and its rowcount: the part of CursorResult the store uses."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any | None:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


class Prepared:
    """One statement compiled for one dialect and one set of parameter keys."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Iterable[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        self._dialect = dialect
        self.sql = compiled.string
        names = list(compiled.positiontup or compiled.binds)
        self._positional = compiled.positiontup is not None
        self._names = names
        self._constants: dict[str, Any] = {}
        for name in names:
            bind = compiled.binds[name]
            if bind.expanding:
                raise ValueError(f"{name}: expanding parameters are not prepared")
            if not bind.required and bind.callable is None:
                self._constants[name] = bind.value  # a literal of the statement
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default
            if not isinstance(default, ScalarElementColumnDefault):
                raise ValueError(f"{column.key}: only constant defaults are prepared")
            self._constants[column.key] = default.arg
        self._bind_processors: list[Processor] = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        columns = list(getattr(statement, "exported_columns", ()))
        self._row = namedtuple("PreparedRow", [c.key for c in columns]) if columns else None
        self._result_processors: list[Processor] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]

    def _parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        constants = self._constants
        values = [
            params[name] if name in params else constants[name] for name in self._names
        ]  # a KeyError names a missing parameter, as Core's error would
        processors = self._bind_processors
        processed = [v if p is None or v is None else p(v) for v, p in zip(values, processors, strict=True)]
        return processed if self._positional else dict(zip(self._names, processed, strict=True))

    def run(self, connection: Connection, params: Mapping[str, Any]) -> PreparedRows:
        """Execute in the connection's transaction; every result row fetched and processed."""
        return self.run_on(connection.connection, params)

    def run_on(self, dbapi_connection: Any, params: Mapping[str, Any]) -> PreparedRows:
        """Execute on a driver connection (pooled, outside Core), in whatever transaction it is in."""
        parameters = self._parameters(params)
        cursor = dbapi_connection.cursor()
        dbapi = self._dialect.loaded_dbapi
        try:
            cursor.execute(self.sql, parameters)
            rows = self._rows(cursor.fetchall()) if self._row is not None else []
            return PreparedRows(rows, cursor.rowcount)
        except dbapi.Error as exc:
            raise DBAPIError.instance(
                self.sql, None, exc, dbapi.Error, hide_parameters=True, dialect=self._dialect
            ) from exc
        finally:
            cursor.close()

    def _rows(self, fetched: Sequence[Any]) -> list[Any]:
        make = self._row
        assert make is not None
        processors = self._result_processors
        if not any(processors):
            return [make(*row) for row in fetched]
        return [
            make(*(v if p is None or v is None else p(v) for v, p in zip(row, processors, strict=True)))
            for row in fetched
        ]


class PreparedCache:
    """Prepared statements by (statement, parameter keys): each compiled on its first use."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._prepared: dict[tuple[int, frozenset[str]], tuple[ClauseElement, Prepared]] = {}

    def run(
        self, connection: Connection, statement: ClauseElement, params: Mapping[str, Any]
    ) -> PreparedRows:
        return self.get(statement, params).run(connection, params)

    def get(self, statement: ClauseElement, params: Mapping[str, Any]) -> Prepared:
        """`statement` prepared for the keys of `params` (compiled on first use)."""
        key = (id(statement), frozenset(params))
        found = self._prepared.get(key)
        if found is None or found[0] is not statement:
            # The statement is kept beside its compiled form, so its id is never reused meanwhile.
            found = self._prepared[key] = (statement, Prepared(statement, self._dialect, params))
        return found[1]
