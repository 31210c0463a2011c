"""Core statements compiled once per dialect and run straight on the driver's cursor.

Checkout writes an order, its lines, its event, the stock and the ledger: five statements that
take ~30 us each in SQLite and ~100-150 us each through `Connection.execute` (parameter
processing, events, result objects). On the hot path we keep SQLAlchemy's SQL and its type
conversions (the statement is compiled by SQLAlchemy for the connection's dialect and bound
values go through the same bind processors) and skip only the per-call machinery. Driver
errors are not wrapped in SQLAlchemy's exceptions: callers catch `dbapi_errors(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class Outcome:
    rowcount: int
    inserted_id: int | None  # for a `PreparedInsert`


class PreparedStatement:
    """One statement, compiled lazily for each dialect it runs on, with a fixed set of
    parameter names (`keys`: for an INSERT, the columns it writes)."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _statement_for(self, dialect: Dialect) -> ClauseElement:
        return self.statement

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = _Compiled(self._statement_for(dialect), dialect, self.keys)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> Outcome:
        """Runs in the connection's current transaction."""
        compiled = self._for(connection.dialect)
        cursor = driver_cursor(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            if compiled.returning:
                row = cursor.fetchone()
                return Outcome(cursor.rowcount, int(row[0]) if row else None)
            return Outcome(cursor.rowcount, getattr(cursor, "lastrowid", None))
        finally:
            cursor.close()

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        compiled = self._for(connection.dialect)
        cursor = driver_cursor(connection)
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        finally:
            cursor.close()


class PreparedInsert(PreparedStatement):
    """An INSERT into `table` that reports the new row's id: the driver's `lastrowid` where
    the dialect relies on it (SQLite, MySQL), else `RETURNING` (PostgreSQL)."""

    def __init__(self, entity: type[Any], keys: Sequence[str]) -> None:
        table = entity.__table__
        assert isinstance(table, Table)
        super().__init__(insert(table), keys)
        self.table = table

    def _statement_for(self, dialect: Dialect) -> ClauseElement:
        if getattr(dialect, "postfetch_lastrowid", False):
            return self.statement
        (key,) = self.table.primary_key.columns
        return insert(self.table).returning(key)

    def insert(self, connection: Connection, params: Mapping[str, Any]) -> int:
        inserted = self.execute(connection, params).inserted_id
        if not inserted:
            raise RuntimeError(f"the database did not report the id of the new {self.table.name}")
        return inserted


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.sql = str(compiled)
        # Per bind name, the type's conversion (enums to names, dates to strings on SQLite...).
        # `_bind_processors` is SQLAlchemy's own table of them (private, stable since 1.4; the
        # store tests compare what was written with what was read back on all three backends).
        self.processors: dict[str, Callable[[Any], Any]] = {
            name: process
            for name, process in compiled._bind_processors.items()
            if callable(process)
        }
        self.positional = compiled.positional
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.returning = bool(compiled.effective_returning)

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = self.compiled.construct_params(params)
        for name, process in self.processors.items():
            if name in values:
                values[name] = process(values[name])
        if self.positional:
            return [values[name] for name in self.names]
        return dict(values)


def driver_cursor(connection: Connection) -> Any:
    """A cursor of the DBAPI connection under `connection` (same transaction)."""
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    return dbapi_connection.cursor()


def dbapi_errors(connection: Connection, name: str) -> tuple[type[BaseException], ...]:
    """The driver's exception class `name` (e.g. "IntegrityError"), to catch on this path."""
    dbapi = connection.dialect.loaded_dbapi
    error = getattr(dbapi, name)
    assert isinstance(error, type) and issubclass(error, BaseException)
    return (error,)
