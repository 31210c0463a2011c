"""The SQLite end of the bulk load: turns column batches into tuples and `executemany`s them.

It runs in a child interpreter (see `writer.SQLiteBulkWriter`) so that SQLite's work and the
simulation producing the next rows use both cores: threads would not, because every row's
parameter binding needs the GIL. It imports only numpy and sqlite3, so the child starts fast.

Columns arrive "on the wire" already in SQLite's storage form: numpy arrays (ints, floats,
fixed-width strings of formatted timestamps), lists of strings, ("const", value) for one value
in every row, or ("masked", column, mask) for NULLs in a typed column.
"""

from __future__ import annotations

import gc
import itertools
import sqlite3
from collections.abc import Iterable
from typing import Any

import numpy as np

Wire = Any
FLUSH_ROWS = 100_000


def decode(column: Wire, rows: int, cache: dict[int, list[Any]]) -> Iterable[Any]:
    if isinstance(column, np.ndarray):
        key = id(column)
        if key not in cache:
            cache[key] = column.tolist()
        return cache[key]
    if isinstance(column, tuple) and column and column[0] == "const":
        return itertools.repeat(column[1], rows)
    if isinstance(column, tuple) and column and column[0] == "masked":
        values = list(decode(column[1], rows, cache))
        for index in np.flatnonzero(column[2]).tolist():
            values[index] = None
        return values
    return column  # type: ignore[no-any-return]


def literal(value: Any) -> str:
    """A constant as SQL text, stored exactly as the same value bound as a parameter."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")


class SQLiteSink:
    """One write transaction on one connection; FK and CHECK enforcement paused meanwhile."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.con = connection
        # (statement, rows) in arrival order, so every table still receives ascending ids
        self.segments: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.statements: dict[str, str] = {}
        self.buffered = 0
        self.indexes: list[str] = []

    @classmethod
    def open(cls, path: str, busy_timeout_ms: int) -> SQLiteSink:
        connection = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        return cls(connection)

    def begin(self, statements: dict[str, str], rebuild_tables: tuple[str, ...]) -> list[str]:
        """Start the transaction; returns the tables that already hold rows."""
        self.statements = statements
        self.segments = []
        self.con.execute("PRAGMA foreign_keys=OFF")
        self.con.execute("PRAGMA ignore_check_constraints=ON")
        self.con.execute("PRAGMA cache_size=-262144")  # 256 MiB for this connection
        self.con.execute("PRAGMA temp_store=MEMORY")
        self.con.execute("PRAGMA threads=2")  # helper threads for the index sorts
        self.con.execute("BEGIN IMMEDIATE")
        holding = [
            name
            for name in statements
            if self.con.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is not None
        ]
        if not holding:
            self._drop_indexes(rebuild_tables)
        return holding

    def _drop_indexes(self, tables: tuple[str, ...]) -> None:
        """Secondary indexes are rebuilt once at the end, by sorting, which measured faster
        than growing them row by row; the drop is part of the transaction, so a failure
        rolls it back with everything else."""
        names = ", ".join(f"'{t}'" for t in tables)
        found = self.con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names}) ORDER BY name"
        ).fetchall()
        for name, sql in found:
            self.con.execute(f'DROP INDEX "{name}"')
            self.indexes.append(sql)

    def insert(self, batches: list[tuple[str, int, list[Wire]]]) -> None:
        for table, rows, columns in batches:
            statement, varying = self._statement(table, columns)
            cache: dict[int, list[Any]] = {}
            decoded = [decode(column, rows, cache) for column in varying]
            if not self.segments or self.segments[-1][0] != statement:
                self.segments.append((statement, []))
            self.segments[-1][1].extend(zip(*decoded, strict=False))
            self.buffered += rows
        if self.buffered >= FLUSH_ROWS:
            self.flush()

    def _statement(self, table: str, columns: list[Wire]) -> tuple[str, list[Wire]]:
        """The INSERT for this batch's shape: a value shared by every row is written into the
        SQL as a literal, a column repeated (created_at = updated_at = occurred_at) reuses
        one numbered parameter, so each row tuple carries only what varies."""
        values: list[str] = []
        varying: list[Wire] = []
        seen: dict[int, int] = {}
        for column in columns:
            if isinstance(column, tuple) and column and column[0] == "const":
                values.append(literal(column[1]))
            elif id(column) in seen:
                values.append(f"?{seen[id(column)]}")
            else:
                varying.append(column)
                seen[id(column)] = len(varying)
                values.append(f"?{len(varying)}")
        return f"{self.statements[table]} VALUES ({', '.join(values)})", varying

    def flush(self) -> None:
        for statement, rows in self.segments:
            self.con.executemany(statement, rows)
        self.segments = []
        self.buffered = 0

    def finish(self) -> None:
        self.flush()
        for sql in self.indexes:
            self.con.execute(sql)
        self.con.execute("COMMIT")
        self._restore()

    def abort(self) -> None:
        if self.con.in_transaction:
            self.con.execute("ROLLBACK")
        self._restore()

    def _restore(self) -> None:
        self.con.execute("PRAGMA ignore_check_constraints=OFF")
        self.con.execute("PRAGMA foreign_keys=ON")


def serve(pipe: Any, path: str, busy_timeout_ms: int) -> None:
    """Child process loop: ('begin', statements, tables) → holding tables; ('rows', batches);
    ('finish',) → None; ('abort',). Replies ('ok', value) or ('error', message)."""
    gc.disable()  # millions of short-lived tuples, no cycles
    sink = SQLiteSink.open(path, busy_timeout_ms)
    failed: str | None = None
    try:
        while True:
            try:
                message = pipe.recv()
            except EOFError:  # the generator went away: nothing is committed
                sink.abort()
                return
            command = message[0]
            if command == "rows":
                if failed is None:
                    try:
                        sink.insert(message[1])
                    except Exception as error:  # reported at the next reply
                        failed = f"{type(error).__name__}: {error}"
                continue
            if command == "abort":
                sink.abort()
                return
            if failed is not None:
                pipe.send(("error", failed))
                sink.abort()
                return
            try:
                if command == "begin":
                    pipe.send(("ok", sink.begin(message[1], message[2])))
                elif command == "finish":
                    sink.finish()
                    pipe.send(("ok", None))
                    return
            except Exception as error:
                pipe.send(("error", f"{type(error).__name__}: {error}"))
                sink.abort()
                return
    finally:
        sink.con.close()


def main(argv: list[str]) -> None:
    """`python -m shelfwise.synth.sqlite_sink FD PATH BUSY_TIMEOUT_MS` (started by the writer)."""
    from multiprocessing.connection import Connection

    serve(Connection(int(argv[0])), argv[1], int(argv[2]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
