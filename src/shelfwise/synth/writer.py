"""Bulk row writers: columns of numpy arrays in, rows stored exactly as the ORM would store them.

SQLite gets the fast path (see `sqlite_sink`): the raw `sqlite3` connection, `executemany` over
tuples, one transaction for the whole load, secondary indexes of the bulk tables dropped and
rebuilt at the end, foreign-key and CHECK enforcement paused for that connection only (the
generator builds consistent ids; the tests verify every constraint afterwards with
`PRAGMA foreign_key_check` and `PRAGMA integrity_check`). Values are converted the way
SQLAlchemy's SQLite dialect binds them: DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff', Date as
'YYYY-MM-DD', Numeric as float, Boolean as 0/1.

PostgreSQL and MySQL get SQLAlchemy Core `executemany` inserts in batches through the real
column types (aware datetimes, Decimals), in one transaction, parents before children.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection as Channel
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy import Boolean, Connection, Date, Integer, Numeric, Table, inspect, text

from shelfwise.store.db import SQLITE_BUSY_TIMEOUT_MS, Database
from shelfwise.store.errors import InvalidRequest
from shelfwise.store.models import Base, UTCDateTime
from shelfwise.synth import sqlite_sink, timeutil

ColumnValues = np.ndarray | Sequence[Any] | str | int | None
Converter = Callable[[Any, int], Iterable[Any]]
FLUSH_ROWS = 100_000
# Tables the generator fills in bulk; their secondary indexes are rebuilt after the load.
BULK_TABLES = (
    "orders",
    "order_lines",
    "order_events",
    "stock_movements",
    "synth_true_demand",
    "purchase_orders",
    "purchase_order_lines",
    "purchase_receipts",
    "customers",
)


class BulkWriter:
    """Buffers rows per table and inserts them in dependency order; one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tables: dict[str, Table] = {t.name: t for t in Base.metadata.sorted_tables}
        self.buffers: dict[str, list[tuple[Any, ...]]] = {name: [] for name in self.tables}
        self.counts: dict[str, int] = dict.fromkeys(self.tables, 0)
        self.buffered = 0
        self._kinds = {name: [_kind(c.type) for c in t.columns] for name, t in self.tables.items()}

    # -- to be provided by a backend -------------------------------------------------------

    def _convert(self, kind: tuple[str, int], values: np.ndarray) -> Iterable[Any]:
        raise NotImplementedError

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _scalar(self, sql: str) -> Any:
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def finish(self, progress: Callable[[str, int, int], None] | None) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------

    def __enter__(self) -> BulkWriter:
        self.begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None:
            self.abort()

    def ensure_empty(self) -> None:
        """Refuse to write into a store that already holds business data."""
        self._raise_if_holding(
            [
                name
                for name in self.tables
                if self._scalar(f"SELECT 1 FROM {name} LIMIT 1") is not None
            ]
        )

    def _raise_if_holding(self, holding: list[str]) -> None:
        if holding:
            raise InvalidRequest(
                f"the database {self.db.engine.url.render_as_string(hide_password=True)} already "
                f"holds data ({', '.join(holding[:3])}{' and more' if len(holding) > 3 else ''}"
                "); the generator fills an empty store "
                "only: give a new --database-url, or delete the SQLite file and run again"
            )

    def add(self, table: str, rows: int, **columns: ColumnValues) -> None:
        """Queue `rows` rows; each column is an array/list of that length or one scalar."""
        if rows == 0:
            return
        target = self.tables[table]
        unknown = set(columns) - set(target.columns.keys())
        if unknown:
            raise ValueError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
        converted: list[Iterable[Any]] = []
        cache: dict[tuple[int, str], list[Any]] = {}
        for column, kind in zip(target.columns, self._kinds[table], strict=True):
            value = columns.get(column.key)
            if column.key not in columns:
                if not column.nullable:
                    raise ValueError(f"{table}.{column.key} is required")
                converted.append(itertools.repeat(None, rows))
            elif value is None or isinstance(value, str | int):
                converted.append(itertools.repeat(value, rows))
            elif isinstance(value, np.ma.MaskedArray):  # masked entries are NULL
                values = list(self._convert(kind, np.asarray(value.data)))
                for index in np.flatnonzero(np.ma.getmaskarray(value)).tolist():
                    values[index] = None
                converted.append(values)
            elif isinstance(value, np.ndarray):
                key = (id(value), kind[0])
                if key not in cache:
                    cache[key] = list(self._convert(kind, value))
                converted.append(cache[key])
            else:
                converted.append(value)
        self.buffers[table].extend(zip(*converted, strict=False))
        self.counts[table] += rows
        self.buffered += rows
        if self.buffered >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for name, table in self.tables.items():  # dependency order
            rows = self.buffers[name]
            if rows:
                self._insert(table, rows)
                self.buffers[name] = []
        self.buffered = 0


def _kind(sql_type: Any) -> tuple[str, int]:
    if isinstance(sql_type, UTCDateTime):
        return ("datetime", 0)
    if isinstance(sql_type, Date):
        return ("date", 0)
    if isinstance(sql_type, Boolean):
        return ("bool", 0)
    if isinstance(sql_type, Integer):
        return ("int", 0)
    if isinstance(sql_type, Numeric):
        return ("numeric", int(sql_type.scale or 0))
    return ("text", 0)


class SQLiteBulkWriter(BulkWriter):
    """Encodes columns into SQLite's storage form here (numpy, vectorised) and hands them to a
    `SQLiteSink` that builds tuples and inserts them: in a child process for big worlds, so the
    two halves run on two cores, or in this process for small ones and in-memory databases."""

    SEND_ROWS = 50_000

    def __init__(self, db: Database, *, parallel: bool) -> None:
        super().__init__(db)
        path = db.engine.url.database
        self.parallel = parallel and bool(path) and path != ":memory:"
        self._pending: list[tuple[str, int, list[Any]]] = []
        self._pending_rows = 0
        self._holding: list[str] = []

    def begin(self) -> None:
        statements = {
            name: f"INSERT INTO {name} ({', '.join(c.name for c in t.columns)})"
            for name, t in self.tables.items()
        }
        if self.parallel:
            # A plain child interpreter (not multiprocessing's spawn, which would re-import the
            # caller's main module) talking pickled messages over a socket pair.
            ours, theirs = socket.socketpair()
            self._child = subprocess.Popen(
                [
                    sys.executable, "-m", "shelfwise.synth.sqlite_sink", str(theirs.fileno()),
                    str(self.db.engine.url.database), str(SQLITE_BUSY_TIMEOUT_MS),
                ],
                pass_fds=(theirs.fileno(),),
            )  # fmt: skip
            theirs.close()
            self._pipe = Channel(ours.detach())
        else:
            self._raw = self.db.engine.raw_connection()
            self._sink = sqlite_sink.SQLiteSink(self._raw.driver_connection)  # type: ignore[arg-type]
        self._holding = self._request(("begin", statements, BULK_TABLES))

    def _request(self, message: tuple[Any, ...]) -> Any:
        if not self.parallel:
            command = message[0]
            if command == "begin":
                return self._sink.begin(message[1], message[2])
            if command == "finish":
                self._sink.finish()
                self._raw.close()
            return None
        self._pipe.send(message)
        try:
            status, value = self._pipe.recv()
        except EOFError:
            raise RuntimeError(
                "the SQLite writer process ended unexpectedly; nothing was committed"
            ) from None
        if status == "error":
            raise RuntimeError(f"writing to SQLite failed: {value}; nothing was committed")
        return value

    def ensure_empty(self) -> None:
        self._raise_if_holding(self._holding)

    def add(self, table: str, rows: int, **columns: ColumnValues) -> None:
        if rows == 0:
            return
        target = self.tables[table]
        unknown = set(columns) - set(target.columns.keys())
        if unknown:
            raise ValueError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
        encoded: list[Any] = []
        cache: dict[tuple[int, str], Any] = {}
        for column, kind in zip(target.columns, self._kinds[table], strict=True):
            if column.key not in columns:
                if not column.nullable:
                    raise ValueError(f"{table}.{column.key} is required")
                encoded.append(("const", None))
                continue
            value = columns[column.key]
            if value is None or isinstance(value, str | int):
                encoded.append(("const", value))
            elif isinstance(value, np.ma.MaskedArray):
                data = _sqlite_wire(kind, np.asarray(value.data))
                encoded.append(("masked", data, np.ma.getmaskarray(value)))
            elif isinstance(value, np.ndarray):
                key = (id(value), kind[0])
                if key not in cache:
                    cache[key] = _sqlite_wire(kind, value)
                encoded.append(cache[key])
            else:
                encoded.append(list(value))
        self._pending.append((table, rows, encoded))
        self._pending_rows += rows
        self.counts[table] += rows
        if self._pending_rows >= self.SEND_ROWS:
            self._send()

    def _send(self) -> None:
        if not self._pending:
            return
        if self.parallel:
            self._pipe.send(("rows", self._pending))
        else:
            self._sink.insert(self._pending)
        self._pending = []
        self._pending_rows = 0

    def finish(self, progress: Callable[[str, int, int], None] | None) -> None:
        self._send()
        if progress:
            progress("indexing", 0, 1)
        self._request(("finish",))
        if progress:
            progress("indexing", 1, 1)
        if self.parallel:
            self._child.wait()
            self._pipe.close()

    def abort(self) -> None:
        if self.parallel:
            with contextlib.suppress(OSError):
                self._pipe.send(("abort",))
            try:
                self._child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            self._pipe.close()
        else:
            self._sink.abort()
            self._raw.close()


def _sqlite_wire(kind: tuple[str, int], values: np.ndarray) -> Any:
    """A column as SQLAlchemy's SQLite dialect would bind it, still as a numpy array."""
    name, scale = kind
    if name == "datetime":
        if len(values) > 1 and values.min() == values.max():  # one instant for all rows
            return ("const", timeutil.sqlite_datetimes(values[:1])[0])
        return timeutil.sqlite_datetime_codes(values)
    if name == "date":
        return np.array(timeutil.sqlite_dates(values))
    if name == "numeric":
        return values / 10**scale
    if name == "bool":
        return values.astype(np.int64)
    return values


class CoreBulkWriter(BulkWriter):
    """PostgreSQL and MySQL: SQLAlchemy Core executemany through the real column types."""

    BATCH = 5_000

    def begin(self) -> None:
        self.connection: Connection = self.db.engine.connect()
        self.transaction = self.connection.begin()

    def _scalar(self, sql: str) -> Any:
        return self.connection.execute(text(sql)).scalar()

    def _convert(self, kind: tuple[str, int], values: np.ndarray) -> Iterable[Any]:
        name, scale = kind
        if name == "datetime":
            return timeutil.aware_datetimes(values)
        if name == "date":
            return timeutil.dates(values)
        if name == "numeric":
            return timeutil.decimals(values, scale)
        if name == "bool":
            return values.astype(bool).tolist()  # type: ignore[no-any-return]
        return values.tolist()  # type: ignore[no-any-return]

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        keys = [c.key for c in table.columns]
        statement = table.insert()
        for first in range(0, len(rows), self.BATCH):
            batch = [dict(zip(keys, row, strict=True)) for row in rows[first : first + self.BATCH]]
            self.connection.execute(statement, batch)

    def finish(self, progress: Callable[[str, int, int], None] | None) -> None:
        self.flush()
        if self.db.backend == "postgresql":
            self._advance_sequences()
        self.transaction.commit()
        self.connection.close()

    def _advance_sequences(self) -> None:
        """Explicit ids do not move PostgreSQL's sequences; move them past the loaded rows."""
        for name, table in self.tables.items():
            if "id" not in table.columns or not self.counts[name]:
                continue
            self.connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT MAX(id) FROM {name}))"
                )
            )

    def abort(self) -> None:
        self.transaction.rollback()
        self.connection.close()


def open_writer(db: Database, *, parallel: bool = True) -> BulkWriter:
    """The bulk writer for the store's backend; raises if the schema is not there yet."""
    present = set(inspect(db.engine).get_table_names())
    missing = sorted(t.name for t in Base.metadata.sorted_tables if t.name not in present)
    if missing:
        raise InvalidRequest(
            f"the database {db.engine.url.render_as_string(hide_password=True)} has no "
            f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} table: it is not "
            "migrated; run `shelfwise init` (or `shelfwise generate`, which migrates) first"
        )
    if db.backend == "sqlite":
        return SQLiteBulkWriter(db, parallel=parallel)
    return CoreBulkWriter(db)
