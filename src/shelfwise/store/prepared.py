"""Core statements compiled once per dialect and run straight on the driver's cursor.

Checkout writes an order, its lines, its event, the stock and the ledger: five statements that
take ~30 us each in SQLite and ~100-150 us each through `Connection.execute` (parameter
processing, events, result objects). On the hot path we keep SQLAlchemy's SQL and its type
conversions (the statement is compiled by SQLAlchemy for the connection's dialect and bound
values go through the same bind processors) and skip only the per-call machinery. Driver
errors are not wrapped in SQLAlchemy's exceptions: callers catch `dbapi_errors(...)`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

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


class PreparedQuery(PreparedStatement):
    """A SELECT whose rows come back as named tuples, converted by the result types'
    processors (Numeric to Decimal on SQLite...): `Connection.execute` costs ~4x the query."""

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        compiled = self._for(connection.dialect)
        cursor = driver_cursor(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            rows = cursor.fetchall()
            return compiled.rows(rows, cursor.description)
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


class _Bind(NamedTuple):
    name: str  # in the compiled SQL
    key: str  # in the caller's parameters
    process: Callable[[Any], Any] | None  # the type's conversion to the driver's value
    required: bool  # else it has a value of its own in the statement, `default`
    default: Any
    type_key: str  # binds of equal types convert a value alike


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.dialect = dialect
        self.sql = str(compiled)
        # Per bind name, the type's conversion (enums to names, dates to strings on SQLite...).
        # `_bind_processors` is SQLAlchemy's own table of them (private, stable since 1.4; the
        # store tests compare what was written with what was read back on all three backends).
        processors: dict[str, Callable[[Any], Any]] = {
            name: process
            for name, process in compiled._bind_processors.items()
            if callable(process)
        }
        self.positional = compiled.positional
        self.returning = bool(compiled.effective_returning)
        names = {name: bind for bind, name in compiled.bind_names.items()}
        defaults = compiled.construct_params({}, _check=False)
        order = compiled.positiontup if self.positional else list(names)
        self.binds = [
            _Bind(
                name=name,
                key=names[name].key,
                process=processors.get(name),
                required=names[name].required,
                default=defaults.get(name),
                type_key=repr(names[name].type),
            )
            for name in order or ()
        ]
        # `construct_params` resolves what a statement's binds may be (renamed, expanded, set
        # at execution); ours are plain named values, so the parameters are read directly.
        self.direct = (
            all(
                bind.key == name and not bind.expanding and not bind.literal_execute
                for name, bind in names.items()
            )
            and not compiled.post_compile_params
        )
        self._row_type: type[tuple[Any, ...]] | None = None
        self._result_processors: list[Callable[[Any], Any] | None] = []

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if not self.direct:
            return self._constructed(params)
        converted: dict[tuple[int, str], Any] = {}  # once per value: `now` is bound many times
        values = []
        for bind in self.binds:
            value = params[bind.key] if bind.required else params.get(bind.key, bind.default)
            if bind.process is not None and value is not None:
                if type(value) is datetime:
                    seen = (id(value), bind.type_key)
                    done = converted.get(seen, _MISSING)
                    if done is _MISSING:
                        done = converted[seen] = bind.process(value)
                    value = done
                else:
                    value = bind.process(value)
            values.append(value)
        if self.positional:
            return values
        return {bind.name: value for bind, value in zip(self.binds, values, strict=True)}

    def _constructed(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = self.compiled.construct_params(params)
        for bind in self.binds:
            if bind.process is not None and bind.name in values:
                values[bind.name] = bind.process(values[bind.name])
        if self.positional:
            return [values[bind.name] for bind in self.binds]
        return dict(values)

    def rows(self, rows: Sequence[Sequence[Any]], description: Any) -> list[Any]:
        """`rows` as named tuples of converted values; the processors are looked up at the
        first call, from the driver's column types (PostgreSQL's depend on them)."""
        if self._row_type is None:
            columns = self.compiled._result_columns
            self._result_processors = [
                column.type._cached_result_processor(self.dialect, described[1])
                for column, described in zip(columns, description, strict=True)
            ]
            self._row_type = namedtuple(  # type: ignore[misc]
                "Row", [column.keyname for column in columns], rename=True
            )
        make = self._row_type._make  # type: ignore[attr-defined]
        processors = self._result_processors
        if not any(processors):
            return [make(row) for row in rows]
        return [
            make(
                [
                    process(value) if process is not None else value
                    for process, value in zip(processors, row, strict=True)
                ]
            )
            for row in rows
        ]


_MISSING = object()


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
