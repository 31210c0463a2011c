"""Extract → bronze: incremental, streamed, read-only copies of the operational tables.

Each run takes, per table, the rows whose `updated_at` is at or after the table's watermark (the
newest `updated_at` already in bronze) minus an overlap window. The overlap catches rows of
transactions that took their `updated_at` before the previous run but committed after it; rows
already in bronze (identical in every column) are dropped again, so re-reading costs nothing
downstream. Silver keeps the latest version of each key.

Bronze holds the catalog's types, whatever the source: SQLite is read as text (it lets any
column hold any value) and cast here, once, so that bronze stores numbers and timestamps instead
of their text and silver need not parse it again. A value that does not fit its column's type
is not lost: its column is NULL and its text is kept in `_untyped` (a JSON object of column
name to text, NULL for rows where every value fits), where silver finds it and quarantines the
row. A bronze table written before this (every column text) is cast in place on the next run.

Rows flow source → DuckDB (the source's own scanner runs the filtered query inside the source, so
its `updated_at` index serves it; a whole SQLite or PostgreSQL table is read by DuckDB's
parallel scan of the attached table) → Arrow record batches → the lake. No table is ever held in
Python objects. The watermark lives in bronze itself, so it commits atomically with the rows.

Tables are read children first (order lines before orders): a parent committed between two reads
is then always at least as new as its children, and silver never sees a line without its order.
The runner reads tables that do not wait on each other side by side, each on its own cursor.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from shelfwise.pipeline.catalog import (
    EXTRACTED_AT,
    UNTYPED,
    WATERMARK,
    SourceColumn,
    SourceTable,
)
from shelfwise.pipeline.duckdb_support import connect, quote, source_query
from shelfwise.pipeline.lake import Lake

BATCH_ROWS = 122_880  # DuckDB's row-group size: batches stream without re-chunking
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores timestamps in SQLite


@dataclass(frozen=True)
class ExtractResult:
    table: str
    rows_read: int  # rows the source returned
    rows_written: int  # new row versions appended to bronze
    watermark: str | None  # updated_at cutoff used (None: full load)
    retyped: bool = False  # bronze written before it was typed was cast first (`retype`)


def _identifier(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value).replace("T", " "))


def typed_select(table: SourceTable, relation: str, *, keep: tuple[str, ...] = ()) -> str:
    """The rows of `relation` (a table expression with the store's column names) in the
    catalog's types, with `_untyped` (see the module docstring) and the columns `keep`."""
    values: list[str] = []
    casts: list[str] = []
    failed: list[tuple[SourceColumn, str]] = []
    for index, column in enumerate(table.columns):
        name = f'"{column.source}"'
        if column.sql_type == "STRING":
            values.append(f"CAST({name} AS VARCHAR) AS {name}")
            continue
        typed = f"_typed_{index}"
        casts.append(f"TRY_CAST({name} AS {column.sql_type}) AS {typed}")
        values.append(f"{typed} AS {name}")
        failed.append((column, f"({name} IS NOT NULL AND {typed} IS NULL)"))
    untyped = "CAST(NULL AS VARCHAR)"
    if failed:
        fields = ", ".join(
            f"'{column.source}', CASE WHEN {test} THEN CAST(\"{column.source}\" AS VARCHAR) END"
            for column, test in failed
        )
        any_failed = " OR ".join(test for _, test in failed)
        untyped = f"CASE WHEN {any_failed} THEN json_object({fields}) END"
    selected = ", ".join([*values, f"{untyped} AS {UNTYPED}", *(f'"{k}"' for k in keep)])
    inner = ", ".join(["*", *casts])
    return f"SELECT {selected} FROM (SELECT {inner} FROM {relation})"


def _columns(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[str]:
    return con.sql(f"SELECT * FROM read_parquet({files!r}, union_by_name = true) LIMIT 0").columns


def retype(
    con: duckdb.DuckDBPyConnection, lake: Lake, table: SourceTable, files: list[str]
) -> list[str]:
    """Cast a bronze table written before bronze was typed (every SQLite column text), in one
    atomic overwrite that keeps every row and its load metadata; returns the new files. A
    column the store gained since is NULL in the old rows, as a new column's rows would be."""
    held = set(_columns(con, files))
    added = "".join(
        f', CAST(NULL AS VARCHAR) AS "{c.source}"' for c in table.columns if c.source not in held
    )
    rows = f"(SELECT *{added} FROM read_parquet({files!r}, union_by_name = true))"
    relation = con.sql(typed_select(table, rows, keep=("_batch_id", EXTRACTED_AT)))
    lake.overwrite(table.layer, table.raw, relation.to_arrow_reader(BATCH_ROWS))
    return lake.files(table.layer, table.raw) or []


def watermark(
    lake: Lake,
    table: SourceTable,
    files: list[str],
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> datetime | None:
    """Newest `updated_at` in bronze, but never after the newest extraction (`_extracted_at`):
    one row stamped ahead of the clock (a writer whose clock runs fast, a year typed as 2099)
    would otherwise move the watermark past every row written since, and the table would stop
    being extracted, `--full` or not. Capped, such a row is only read again until its time
    comes (and is not appended again: it is already in bronze).

    From the lake's statistics where it keeps them (a Delta log, Parquet footers), else by
    reading the columns (at 1 M order lines the 19 scans took ~0.2-0.4 s of an incremental
    run) with `con`, or a connection of its own opened only then. (The overlap window absorbs
    the Delta log's rounding to milliseconds.)"""
    if not files:
        return None
    newest, extracted = (_newest(lake, table, column) for column in (WATERMARK, EXTRACTED_AT))
    if newest is None or extracted is None:
        scan = (
            f"SELECT max({WATERMARK}), max({EXTRACTED_AT}) "
            f"FROM read_parquet({files!r}, union_by_name = true)"
        )
        if con is None:
            with connect() as own:
                row = own.sql(scan).fetchone()
        else:
            row = con.sql(scan).fetchone()
        newest, extracted = (None, None) if row is None else (_optional_datetime(v) for v in row)
    if newest is None or extracted is None:
        return newest
    return min(newest, extracted)


def _newest(lake: Lake, table: SourceTable, column: str) -> datetime | None:
    maxima = lake.column_maxima(table.layer, table.raw, column)
    return max(_as_datetime(value) for value in maxima) if maxima else None


def _optional_datetime(value: object) -> datetime | None:
    return None if value is None else _as_datetime(value)


def _whole_table(backend: str, alias: str, table: SourceTable, select: str) -> str:
    """A table expression reading every row of `table`. SQLite's and PostgreSQL's through
    DuckDB's scan of the attached table, which splits it over the threads (SQLite by rowid,
    PostgreSQL by page ranges read in one exported snapshot) instead of reading it on one
    through `<backend>_query`: for SQLite's 1.4 M stock movements 0.65-0.86 s
    against 1.4-2.0 s; from PostgreSQL the five largest tables of the 1 M store 4.0-4.3 s
    against 5.0-5.2 s, with half of our CPU. MySQL keeps `mysql_query`: the mysql extension
    reads an attached table on one connection as well, and was no faster (1.4 M stock movements
    from MariaDB: 7.0-7.7 s either way, bound by the server's thread for that connection)."""
    if backend in ("sqlite", "postgres"):
        columns = ", ".join(f'"{c.source}"' for c in table.columns)
        return f'(SELECT {columns} FROM {alias}."{table.name}")'
    return source_query(backend, alias, select)


def read_changed(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """The store's rows in the overlap window and after, as the temporary table `_changed`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _changed AS {query}")


def extract_table(
    con: duckdb.DuckDBPyConnection,
    *,
    backend: str,
    table: SourceTable,
    lake: Lake,
    batch_id: str,
    extracted_at: datetime,
    full: bool,
    overlap: timedelta,
    alias: str = "src",
    source_reads: AbstractContextManager[object] | None = None,
) -> ExtractResult:
    """Append this table's new and changed rows to `raw_<table>` (or reload it when `full`).
    `source_reads`: held while an incremental read queries the store (a lock shared by the
    tables read side by side, so that only their comparison with bronze and the lake writes
    overlap)."""
    columns = ", ".join(_identifier(backend, c.source) for c in table.columns)
    select = f"SELECT {columns} FROM {_identifier(backend, table.name)}"
    files = None if full else lake.files(table.layer, table.raw)
    retyped = bool(files) and UNTYPED not in _columns(con, (files or [])[:1])
    if retyped:
        files = retype(con, lake, table, files or [])
    newest = watermark(lake, table, files, con=con) if files else None
    metadata = (
        f"{quote(batch_id)} AS _batch_id, TIMESTAMP {quote(str(extracted_at))} AS {EXTRACTED_AT}"
    )
    plain = ", ".join(f'"{c.source}"' for c in table.columns) + f", {UNTYPED}"

    if newest is None:
        typed = typed_select(table, _whole_table(backend, alias, table, select))
        reader = con.sql(f"SELECT *, {metadata} FROM ({typed})").to_arrow_reader(BATCH_ROWS)
        # (a table without files has no rows to keep, only a schema, maybe an older one)
        written = (lake.append if files else lake.overwrite)(table.layer, table.raw, reader)
        return ExtractResult(table.name, written, written, None, retyped)

    cutoff = (newest - overlap).strftime(TIMESTAMP_FORMAT)
    changed = f"{select} WHERE {_identifier(backend, WATERMARK)} >= {quote(cutoff)}"
    with source_reads or nullcontext():
        read_changed(con, typed_select(table, source_query(backend, alias, changed)))
    read_row = con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE {WATERMARK} IS NULL) FROM _changed"
    ).fetchone()
    rows_read, untimed = (int(read_row[0]), int(read_row[1])) if read_row else (0, 0)
    # A row whose `updated_at` is no timestamp (bronze holds its text) is read every time: it
    # is compared with bronze's such rows too, or it would be appended again by every run.
    in_window = f"{WATERMARK} >= {quote(cutoff)}" + (f" OR {WATERMARK} IS NULL" if untimed else "")
    fresh = (
        f"SELECT {plain} FROM _changed EXCEPT SELECT {plain} FROM read_parquet({files!r}, "
        f"union_by_name = true) WHERE {in_window}"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fresh AS SELECT *, {metadata} FROM ({fresh})")
    fresh_row = con.sql("SELECT count(*) FROM _fresh").fetchone()
    written = 0
    if fresh_row and fresh_row[0]:
        reader = con.sql("SELECT * FROM _fresh").to_arrow_reader(BATCH_ROWS)
        written = lake.append(table.layer, table.raw, reader)
    con.execute("DROP TABLE _changed")
    con.execute("DROP TABLE _fresh")
    return ExtractResult(table.name, rows_read, written, cutoff, retyped)
