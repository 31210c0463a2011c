"""What an engine must do, and the few SQL spellings that differ between engines.

Transformations are written once as SQL in the common subset of DuckDB SQL and Spark SQL
(`TRY_CAST`, window functions, `IS DISTINCT FROM`, `STRING`/`DECIMAL`/`TIMESTAMP` types).
The handful of functions spelled differently live in a `Dialect`: one small table per engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shelfwise.pipeline.lake import Lake

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class DayBitmap:
    """How an engine counts the distinct days of a group cheaply: a bit per day of a block of
    `block` days. `offset(day column, first day 'YYYY-MM-DD')` is the day's offset from the
    first day (an integer); `distinct(bit)` an aggregate counting the distinct values of `bit`
    (0 to `block` - 1) in a group."""

    offset: Callable[[str, str], str]
    distinct: Callable[[str], str]
    block: int


@dataclass(frozen=True)
class Dialect:
    add_days: Callable[[str, str], str]  # (date, n) -> date n days later
    days_between: Callable[[str, str], str]  # (start, end) -> whole days from start to end
    full_match: Callable[[str, str], str]  # (text, regex without backslashes) -> boolean
    day_series: Callable[[str, str], str]  # (first, last) -> one output row per day (select list)
    json_text: Callable[[str, str], str]  # (JSON object text, field) -> the field's text
    micros: Callable[[str], str]  # (timestamp) -> microseconds since 1970 (BIGINT)
    from_micros: Callable[[str], str]  # (microseconds since 1970) -> timestamp
    day_bitmap: DayBitmap | None = None  # None where the engine has no such spelling


class Engine(ABC):
    """Runs SQL over named tables and reads/writes them in its lake."""

    name: str
    dialect: Dialect
    lake: Lake

    @abstractmethod
    def materialize(self, name: str, sql: str, *, lazy: bool = False) -> None:
        """Keep the result of `sql` under `name`, computed once. `lazy` allows an engine to
        compute it only when read (Spark, for results read once)."""

    @abstractmethod
    def view(self, name: str, sql: str) -> None:
        """Name a query without computing it (read where used: a union over a large table)."""

    @abstractmethod
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make a small Arrow table (the calendar) queryable as `name`."""

    @abstractmethod
    def load(self, layer: str, table: str, name: str | None = None) -> bool:
        """Make a lake table queryable (as `name`, default its own name); False if absent."""

    @abstractmethod
    def save(self, layer: str, table: str, source: str | None = None) -> int:
        """Overwrite lake table `table` with the engine table `source` (default `table`)."""

    # Whether `save_changes` merges the changes into the lake table itself (and the engine
    # table then reads the lake's new version), so the whole table need not be built first.
    merges_in_lake = False
    # Whether steps may call the engine from several threads at once: silver and gold tables
    # that do not read each other are then built side by side, the reconciliation runs beside
    # the checks, and a daily run's warehouse is patched beside the lake writes.
    parallel_steps = False
    # Whether a small extra query is cheap enough to save work (DuckDB: milliseconds; Spark: a
    # job each): silver then asks whether a table's keys are unique before deduplicating it.
    cheap_queries = False

    def save_changes(self, layer: str, table: str, changes: str, keys: tuple[str, ...]) -> int:
        """Bring lake table `table` up to date with the engine table of the same name, given
        `changes` (its changed rows by `keys`, and the keys to delete flagged `_delete`).
        By default the whole table is rewritten."""
        del changes, keys
        return self.save(layer, table)

    def duckdb_connection(self) -> duckdb.DuckDBPyConnection | None:
        """This thread's DuckDB connection to the engine's tables, for engines that are DuckDB
        (the warehouse is then built straight from them); None otherwise."""
        return None

    def replace_from(self, layer: str, table: str, source: str, column: str, since: str) -> int:
        """Replace the rows of lake table `table` whose `column` >= `since` with the engine
        table `source`, in one atomic commit; returns rows written."""
        return self.lake.replace_where(layer, table, self.arrow(source), column, since)

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query that returns a few rows (counts, checks)."""

    @abstractmethod
    def arrow(self, name: str) -> pa.RecordBatchReader:
        """Stream an engine table as Arrow batches (for publishing)."""

    @abstractmethod
    def has(self, name: str) -> bool:
        """Whether a table or view called `name` is defined."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Forget an engine table."""

    def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        """Release connections and memory."""

    @abstractmethod
    def arrow_schema(self, name: str) -> pa.Schema:
        """Column names and types of an engine table or view, without reading its rows (taken
        from `arrow`, Spark collected a 52 M-row daily fact into the driver and failed)."""

    def scalar(self, sql: str) -> Any:
        result = self.rows(sql)
        return result[0][0] if result else None

    def count(self, name: str) -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM {name}") or 0)

    def build(self, name: str, sql: str) -> int:
        """Materialize and count (one pass on Spark: the count fills the cache)."""
        self.materialize(name, sql)
        return self.count(name)

    def ensure(self, layer: str, table: str) -> None:
        """Load `table` from the lake unless this engine already holds it."""
        if not self.has(table) and not self.load(layer, table):
            raise LookupError(
                f"lake table {layer}/{table} does not exist yet: run the steps before it "
                "(`shelfwise pipeline run`) first"
            )
