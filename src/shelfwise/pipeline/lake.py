"""Lake storage: where bronze, silver, gold and eval tables live, one folder per table.

Two formats, chosen by the engine:

- `DeltaLake` (DuckDB engine, and Spark when the cluster provides Delta): Delta tables written
  with `deltalake`; every write is an atomic commit, old versions stay readable (time travel:
  `DeltaTable(path, version=n)`), a crashed write leaves only unreferenced files.
- `ParquetLake` (Spark engine by default): plain Parquet, versioned by hand. Every write goes
  to a fresh `v<N>/` folder and then a small pointer file `_current.json` (the list of data files
  of the table's current version) is switched with `os.replace`, so readers see the old or the
  new version, never half of one. An append writes only its new files and a pointer listing old
  plus new; replacing the rows from a day on keeps, where they are, the files whose statistics
  say they hold only earlier months. A file is deleted once none of the newest `KEEP_VERSIONS`
  versions lists it, and a version folder once none of its files is used.

Both expose the current data files, so DuckDB can read either with `read_parquet`.
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from shelfwise.pipeline.files import replace_file

if TYPE_CHECKING:
    from deltalake import DeltaTable, WriterProperties

LAYERS = ("bronze", "silver", "gold", "eval")
POINTER = "_current.json"
KEEP_VERSIONS = 3
ROW_GROUP_ROWS = 122_880
LAKE_COMPRESSION: Final = "SNAPPY"  # what Delta and Spark write by default, and BI tools read
# Compaction merges files below this size (an incremental run's appends, a few hundred kB each)
# and leaves a full load's files (~100 MB, the writer's target) as they are.
COMPACT_TARGET_BYTES = 32 * 1024 * 1024
# Tables whose files are split by a column, so that replacing their recent rows (an incremental
# run) rewrites the newest files instead of the whole table: Delta partitions (a folder per
# value); the Spark engine clusters its Parquet files by it (a file per value, column kept).
PARTITION_BY = {
    "fct_sales": "month",
    "fct_inventory_daily": "month",
    "agg_inventory_monthly": "month",
}


def _commit_stamp(table: Path, version: int) -> int | None:
    """When the log entry of `version` was written (None: there is none): a table dropped and
    written again reaches the same version with another entry."""
    try:
        return (table / "_delta_log" / f"{version:020d}.json").stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _last_checkpoint(table: Path) -> int:
    """The version of the table's last log checkpoint (-1: none yet)."""
    try:
        return int(json.loads((table / "_delta_log" / "_last_checkpoint").read_text())["version"])
    except (FileNotFoundError, ValueError, KeyError):
        return -1


def _add_actions(opened: DeltaTable) -> pa.Table:
    """The log's file list with per-file statistics. Read through the Arrow stream interface:
    `pa.table(...)` first asks whether it got a pandas frame, and importing pandas for that
    took ~0.25 s of an incremental run."""
    return pa.RecordBatchReader.from_stream(opened.get_add_actions(flatten=True)).read_all()


def _writer_properties() -> WriterProperties:
    """Row groups of DuckDB's size instead of the writer's default of 1 M rows: a reader skips
    row groups by their statistics (a watermark, a key range, a run's `_extracted_at`), and
    one of a million rows is rarely skippable.

    The codec is named because properties given replace all of `deltalake`'s defaults, and the
    Parquet writer's own is no compression (the daily fact's files took 78 MB instead of 36 MB,
    for the same CPU time).
    """
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression=LAKE_COMPRESSION)


def parquet_rows(files: Iterable[str | Path]) -> int:
    """Rows of Parquet files, from their footers (no data is read)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _statistics(file: str | Path, column: str) -> list[pq.Statistics] | None:
    """The footer's statistics of `column` in each row group of a Parquet file that has rows
    (no data is read); None when the file lacks the column or a row group lacks them (only
    nulls, or a writer that keeps none)."""
    metadata = pq.read_metadata(file)
    names = metadata.schema.names
    if column not in names:
        return None
    index = names.index(column)
    found: list[pq.Statistics] = []
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        if row_group.num_rows == 0:
            continue
        statistics = row_group.column(index).statistics
        if statistics is None or not statistics.has_min_max:
            return None
        found.append(statistics)
    return found


def parquet_maxima(files: Iterable[str | Path], column: str) -> list[Any] | None:
    """The largest value of `column` in each row group of Parquet files, from their footers;
    None when a file has no statistics for it (see `_statistics`)."""
    maxima: list[Any] = []
    for file in files:
        statistics = _statistics(file, column)
        if statistics is None:
            return None
        maxima.extend(s.max for s in statistics)
    return maxima or None


class LakeFormatError(RuntimeError):
    """A table folder holds another format than this engine writes."""


def lake_root(uri: str) -> Path:
    """Local lake folder from `SHELFWISE_LAKE_URI` (a path or a `file://` URI)."""
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(
            f"lake URI {uri!r}: only local folders are supported by this version "
            "(set SHELFWISE_LAKE_URI to a path or file:// URI)"
        )
    return Path(uri.removeprefix("file://")).resolve()


def counted(reader: pa.RecordBatchReader, counter: list[int]) -> pa.RecordBatchReader:
    """The same stream of batches, adding each batch's rows to `counter[0]` as it passes."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            counter[0] += batch.num_rows
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


class Lake(ABC):
    format: str
    partial_replace: bool  # can replace a table's recent rows without rewriting the rest
    exact_maxima: bool  # `column_maxima` gives values as stored, not rounded

    def __init__(self, root: Path) -> None:
        self.root = root

    def scratch(self, purpose: str) -> Path:
        """A folder for a run's temporary files (DuckDB spills, small tables handed over)."""
        return self.root / "_tmp" / purpose

    def path(self, layer: str, table: str) -> Path:
        if layer not in LAYERS:
            raise ValueError(f"unknown lake layer {layer!r}; one of {', '.join(LAYERS)}")
        return self.root / layer / table

    @abstractmethod
    def files(self, layer: str, table: str) -> list[str] | None:
        """Parquet files of the current version, or None when the table does not exist."""

    @abstractmethod
    def append(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        """Add batches to a table (created if missing); returns rows written."""

    @abstractmethod
    def overwrite(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        """Replace a table's contents in one atomic step; returns rows written."""

    @abstractmethod
    def replace_where(
        self, layer: str, table: str, reader: pa.RecordBatchReader, column: str, since: str
    ) -> int:
        """Replace the rows whose `column` >= `since` (a date) with `reader`, atomically
        (only where `partial_replace`)."""

    def upsert(
        self, layer: str, table: str, reader: pa.RecordBatchReader, keys: tuple[str, ...]
    ) -> int:
        """Insert or update the rows of `reader` by `keys`, delete those flagged `_delete`, in
        one atomic commit; returns the rows changed (Delta only)."""
        raise NotImplementedError(f"the {self.format} lake does not merge rows")

    def column_maxima(self, layer: str, table: str, column: str) -> list[Any] | None:
        """The largest value of `column` in each data file (or part of one), if the format
        records it (no data is read); None when it does not, or a file has no such statistic."""
        del layer, table, column
        return None

    def max_value(self, layer: str, table: str, column: str) -> int | None:
        """The largest value of an integer column if the format knows it without reading."""
        maxima = self.column_maxima(layer, table, column)
        return int(max(maxima)) if maxima else None

    def row_count(self, layer: str, table: str) -> int:
        """Rows of the current version, from the Parquet footers (no data is read)."""
        return parquet_rows(self.files(layer, table) or [])

    def empty_table(self, layer: str, table: str) -> pa.Table:
        """A table with no data files, as an empty Arrow table with its schema (only Delta
        keeps a schema without files)."""
        raise NotImplementedError(f"the {self.format} lake has no table without files")

    def exists(self, layer: str, table: str) -> bool:
        return self.files(layer, table) is not None

    def drop(self, layer: str, table: str) -> None:
        shutil.rmtree(self.path(layer, table), ignore_errors=True)

    def drop_layer(self, layer: str) -> None:
        shutil.rmtree(self.root / layer, ignore_errors=True)

    def tables(self) -> list[tuple[str, str]]:
        """Every (layer, table) with a folder in the lake."""
        return [
            (layer, folder.name)
            for layer in LAYERS
            if (self.root / layer).is_dir()
            for folder in sorted((self.root / layer).iterdir())
            if folder.is_dir()
        ]

    def vacuum(self, layer: str, table: str, retain_hours: int) -> int:
        """Delete files the table no longer uses and stopped using over `retain_hours` ago;
        returns how many. (A Parquet lake removes old versions at every write.)"""
        del layer, table, retain_hours
        return 0

    def compact(self, layer: str, table: str, min_files: int) -> int:
        """Rewrite the small files of a table that has at least `min_files` into fewer, larger
        ones (same rows, new version); returns the files replaced."""
        del layer, table, min_files
        return 0

    def checkpoint(self, layer: str, table: str, every: int) -> bool:
        """Sum up the table's log once `every` commits were made since it last was, if the
        format keeps a log; returns whether it did."""
        del layer, table, every
        return False

    def check_format(self, layer: str, table: str) -> None:
        folder = self.path(layer, table)
        is_delta = (folder / "_delta_log").is_dir()
        is_parquet = (folder / POINTER).is_file()
        other = (is_parquet and self.format == "delta") or (is_delta and self.format == "parquet")
        if other:
            raise LakeFormatError(
                f"{folder} was written as {'Parquet' if is_parquet else 'Delta'} by another "
                f"engine; this engine writes {self.format}. Run the same command with `--full` "
                "(`shelfwise pipeline run --full --engine <this engine>`) to rebuild the lake "
                "in this engine's format, or point SHELFWISE_LAKE_URI elsewhere"
            )


class DeltaLake(Lake):
    format = "delta"
    partial_replace = True  # Delta's replaceWhere: one commit, rewrites only matching files
    exact_maxima = False  # the log keeps timestamps to the millisecond

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._opened: dict[Path, tuple[DeltaTable, int]] = {}

    def _table(self, layer: str, table: str) -> DeltaTable | None:
        """The table's current version, None if there is no table. Opening one reads its log
        (~8 ms) and a run asks ~170 times, mostly of tables it did not change: an open table
        is kept while its log's newest commit is still the one it was opened at."""
        from deltalake import DeltaTable

        path = self.path(layer, table)
        kept = self._opened.get(path)
        if kept is not None:
            opened, stamp = kept
            if (
                _commit_stamp(path, opened.version()) == stamp
                and _commit_stamp(path, opened.version() + 1) is None
            ):
                return opened
            del self._opened[path]
        if not DeltaTable.is_deltatable(str(path)):
            return None
        opened = DeltaTable(str(path))
        written = _commit_stamp(path, opened.version())
        if written is not None:
            self._opened[path] = (opened, written)
        return opened

    def _existing(self, layer: str, table: str) -> DeltaTable:
        opened = self._table(layer, table)
        if opened is None:
            raise FileNotFoundError(f"no Delta table at {self.path(layer, table)}")
        return opened

    def files(self, layer: str, table: str) -> list[str] | None:
        self.check_format(layer, table)
        opened = self._table(layer, table)
        return None if opened is None else list(opened.file_uris())

    def row_count(self, layer: str, table: str) -> int:
        """Rows of the current version, from the log's per-file counts (no file is opened)."""
        opened = self._table(layer, table)
        if opened is None:
            return 0
        actions = _add_actions(opened)
        counts = (
            actions.column("num_records").to_pylist()
            if "num_records" in actions.column_names
            else [None] * actions.num_rows
        )
        if None in counts:  # a file written without statistics
            return super().row_count(layer, table)
        return int(sum(counts))

    def empty_table(self, layer: str, table: str) -> pa.Table:
        schema = pa.schema(self._existing(layer, table).schema().to_arrow())
        return pa.Table.from_batches([], schema=schema)  # reading the schema is enough

    def _write(
        self,
        layer: str,
        table: str,
        reader: pa.RecordBatchReader,
        mode: str,
        *,
        predicate: str | None = None,
    ) -> int:
        from deltalake import write_deltalake

        properties = _writer_properties()
        path = self.path(layer, table)
        self.check_format(layer, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        counter = [0]
        stream = counted(reader, counter)
        partition = PARTITION_BY.get(table)
        partition_by = [partition] if partition else None
        if predicate is not None:
            write_deltalake(
                str(path),
                stream,
                mode="overwrite",
                predicate=predicate,
                partition_by=partition_by,
                writer_properties=properties,
            )
        elif mode == "overwrite":
            write_deltalake(
                str(path),
                stream,
                mode="overwrite",
                schema_mode="overwrite",
                partition_by=partition_by,
                writer_properties=properties,
            )
        else:
            write_deltalake(
                str(path), stream, mode="append", schema_mode="merge", writer_properties=properties
            )
        return counter[0]

    def append(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        return self._write(layer, table, reader, "append")

    def overwrite(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        return self._write(layer, table, reader, "overwrite")

    def replace_where(
        self, layer: str, table: str, reader: pa.RecordBatchReader, column: str, since: str
    ) -> int:
        return self._write(layer, table, reader, "overwrite", predicate=f"{column} >= '{since}'")

    def vacuum(self, layer: str, table: str, retain_hours: int) -> int:
        opened = self._table(layer, table)
        if opened is None:
            return 0
        # Below Delta's default of a week only when asked: readers of an older version (time
        # travel, a BI tool mid-query) lose its files once they are vacuumed. `full`: also the
        # files no commit names, which a write killed before its commit leaves behind.
        removed = opened.vacuum(
            retention_hours=retain_hours,
            dry_run=False,
            enforce_retention_duration=False,
            full=True,
        )
        return len(removed)

    def checkpoint(self, layer: str, table: str, every: int) -> bool:
        """Opening a table replays every commit after its last checkpoint (1-2 ms with none,
        10-13 ms with 40), and `deltalake` writes one only every 100 commits by itself."""
        opened = self._table(layer, table)
        if opened is None or opened.version() - _last_checkpoint(self.path(layer, table)) < every:
            return False
        opened.create_checkpoint()
        return True

    def compact(self, layer: str, table: str, min_files: int) -> int:
        opened = self._table(layer, table)
        if opened is None or len(opened.file_uris()) < min_files:
            return 0
        metrics = opened.optimize.compact(
            target_size=COMPACT_TARGET_BYTES, writer_properties=_writer_properties()
        )
        return int(metrics.get("numFilesRemoved", 0))

    def column_maxima(self, layer: str, table: str, column: str) -> list[Any] | None:
        """From the files' statistics in the Delta log; None when the table is missing or
        empty, or a file has no statistics (or only nulls) for the column."""
        opened = self._table(layer, table)
        if opened is None:
            return None
        actions = _add_actions(opened)
        name = f"max.{column}"
        if name not in actions.column_names:
            return None
        values: list[Any] = actions.column(name).to_pylist()
        if not values or any(value is None for value in values):
            return None
        return values

    def upsert(
        self, layer: str, table: str, reader: pa.RecordBatchReader, keys: tuple[str, ...]
    ) -> int:
        """Delta MERGE: only files holding a changed key are rewritten, new keys are added as
        new files; an append-mostly table (movements, order lines) is barely touched."""
        self.check_format(layer, table)
        columns = [name for name in reader.schema.names if name != "_delete"]
        counter = [0]
        values = {c: f"s.{c}" for c in columns}
        (
            self._existing(layer, table)
            .merge(
                counted(reader, counter),
                " AND ".join(f"t.{k} = s.{k}" for k in keys),
                source_alias="s",
                target_alias="t",
                writer_properties=_writer_properties(),
            )
            .when_matched_delete(predicate="s._delete")
            .when_matched_update(values, predicate="NOT s._delete")
            .when_not_matched_insert(values, predicate="NOT s._delete")
            .execute()
        )
        return counter[0]


class ParquetLake(Lake):
    format = "parquet"
    partial_replace = True  # old files whose statistics say they hold only old days are kept
    exact_maxima = True

    def column_maxima(self, layer: str, table: str, column: str) -> list[Any] | None:
        """From the files' footers (on a Spark engine, the newest `_extracted_at` of every
        bronze table then costs no Spark job)."""
        return parquet_maxima(self.files(layer, table) or [], column)

    def _pointer(self, layer: str, table: str) -> dict[str, Any] | None:
        pointer = self.path(layer, table) / POINTER
        if not pointer.is_file():
            return None
        data: dict[str, Any] = json.loads(pointer.read_text())
        return data

    def files(self, layer: str, table: str) -> list[str] | None:
        self.check_format(layer, table)
        pointer = self._pointer(layer, table)
        if pointer is None:
            return None
        folder = self.path(layer, table)
        return [str(folder / name) for name in pointer["files"]]

    def new_version(self, layer: str, table: str) -> tuple[int, Path]:
        """A fresh, empty version folder. Numbers never repeat, even after a crashed write."""
        self.check_format(layer, table)
        folder = self.path(layer, table)
        folder.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit()]
        version = max(taken, default=0) + 1
        target = folder / f"v{version:06d}"
        target.mkdir()
        return version, target

    def commit(self, layer: str, table: str, version_dir: Path, *, append: bool) -> None:
        """Switch the pointer to include `version_dir`'s Parquet files (atomically)."""
        previous = self._pointer(layer, table) if append else None
        self._switch(layer, table, version_dir, list(previous["files"]) if previous else [])

    def commit_replacing(
        self, layer: str, table: str, version_dir: Path, column: str, since: str
    ) -> None:
        """Switch the pointer to `version_dir`'s files (the rows from `since` on) plus the
        current version's rows with `column` before `since` (a date). A file whose statistics
        say it holds only months before that of `since` is kept where it is; the earlier rows
        of the others (and of files without statistics) are copied into one file, so a month
        replaced from a later day every day stays one file, not one a day (as Delta rewrites
        the partition of that month)."""
        folder = self.path(layer, table)
        first = date.fromisoformat(since)
        kept: list[str] = []
        copied: list[Path] = []
        for name in (self._pointer(layer, table) or {"files": []})["files"]:
            span = _date_span(folder / name, column)
            if span is not None and span[1] < first.replace(day=1):
                kept.append(name)
            elif span is None or span[0] < first:
                copied.append(folder / name)
        _copy_rows_before(copied, column, first, version_dir / "earlier.parquet")
        self._switch(layer, table, version_dir, kept)

    def _switch(self, layer: str, table: str, version_dir: Path, kept: list[str]) -> None:
        """The version switch: a pointer listing `kept` (files of earlier versions) and the
        Parquet files of `version_dir`, written atomically; then the garbage is collected."""
        folder = self.path(layer, table)
        version = int(version_dir.name[1:])
        new_files = sorted(p.relative_to(folder).as_posix() for p in version_dir.rglob("*.parquet"))
        files = kept + new_files
        retired = _retired(self._pointer(layer, table), files, version)
        expired = {
            name for name, dropped in retired.items() if dropped <= version - KEEP_VERSIONS + 1
        }
        pointer = {
            "version": version,
            "files": files,
            "retired": {n: d for n, d in retired.items() if n not in expired},
        }
        replace_file(folder / POINTER, json.dumps(pointer), durable=True)  # the version switch
        for name in expired:
            (folder / name).unlink(missing_ok=True)
        self._collect_garbage(folder, pointer)

    def _collect_garbage(self, folder: Path, pointer: dict[str, Any]) -> None:
        """Remove version folders holding no file of the current version nor a retired one a
        reader may still use, keeping the newest few (a write under way, a crashed one)."""
        used = [*pointer["files"], *pointer["retired"]]
        referenced = {name.split("/", 1)[0] for name in used}
        versions = sorted(p for p in folder.glob("v*") if p.is_dir())
        recent = {p.name for p in versions[-KEEP_VERSIONS:]}
        for version in versions:
            if version.name not in referenced and version.name not in recent:
                shutil.rmtree(version, ignore_errors=True)

    def _write(self, layer: str, table: str, reader: pa.RecordBatchReader, append: bool) -> int:
        _, target = self.new_version(layer, table)
        rows = _write_parquet(target / "part-00000.parquet", reader)
        self.commit(layer, table, target, append=append)
        return rows

    def append(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        return self._write(layer, table, reader, append=True)

    def overwrite(self, layer: str, table: str, reader: pa.RecordBatchReader) -> int:
        return self._write(layer, table, reader, append=False)

    def replace_where(
        self, layer: str, table: str, reader: pa.RecordBatchReader, column: str, since: str
    ) -> int:
        _, target = self.new_version(layer, table)
        rows = _write_parquet(target / "part-00000.parquet", reader)
        self.commit_replacing(layer, table, target, column, since)
        return rows

    def compact(self, layer: str, table: str, min_files: int) -> int:
        """Merge the files under `COMPACT_TARGET_BYTES` of a table with at least `min_files`
        into files of about that size, in a new version that keeps the larger files where they
        are (every daily run appends a file to each bronze table it reads rows into). The
        day-keyed gold tables are left alone: their file per month is what lets a daily run's
        replacement keep the earlier months' files."""
        files = self.files(layer, table)
        if table in PARTITION_BY or not files or len(files) < min_files:
            return 0
        folder = self.path(layer, table)
        sizes = {Path(f): Path(f).stat().st_size for f in files}
        small = {f: size for f, size in sizes.items() if size < COMPACT_TARGET_BYTES}
        if len(small) < 2:
            return 0
        _, target = self.new_version(layer, table)
        for number, group in enumerate(_groups_of_size(small, COMPACT_TARGET_BYTES)):
            _concatenate_parquet(group, target / f"part-{number:05d}.parquet")
        merged = {f.relative_to(folder).as_posix() for f in small}
        pointer = self._pointer(layer, table) or {"files": []}
        self._switch(layer, table, target, [n for n in pointer["files"] if n not in merged])
        return len(small)


def _groups_of_size(files: dict[Path, int], size: int) -> Iterator[list[Path]]:
    """Consecutive runs of `files` (in order, with their sizes) of about `size` bytes together,
    each at least one file."""
    group: list[Path] = []
    total = 0
    for file, file_size in files.items():
        if group and total + file_size > size:
            yield group
            group, total = [], 0
        group.append(file)
        total += file_size
    if group:
        yield group


def _concatenate_parquet(sources: list[Path], target: Path) -> None:
    """The rows of Parquet files `sources`, in order, as one file `target`, streamed, with
    their schemas merged as a reader merges them (`_conformed`). Timestamps are written in
    microseconds, which Spark reads (Arrow reads a legacy INT96 timestamp in nanoseconds,
    which Spark does not)."""
    schema = pa.unify_schemas([pq.read_schema(source) for source in sources])
    with pq.ParquetWriter(
        target, schema, compression=LAKE_COMPRESSION, coerce_timestamps="us"
    ) as writer:
        for source in sources:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=ROW_GROUP_ROWS):
                writer.write_table(_conformed(batch, schema), row_group_size=ROW_GROUP_ROWS)


def _conformed(rows: pa.Table | pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """`rows` with the columns of `schema` (the union of a table's files' schemas): cast where
    they are, null where an older file lacks them (added to the table since)."""
    columns = [
        rows.column(field.name).cast(field.type)
        if field.name in rows.schema.names
        else pa.nulls(rows.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def lake_at(root: Path) -> Lake:
    """The lake at `root` in the format its tables were written in: Parquet versions behind
    pointer files (the Spark engine's), else Delta (the DuckDB engine's, Spark's where the
    cluster has Delta, and a lake with no tables yet)."""
    return ParquetLake(root) if any(root.glob(f"*/*/{POINTER}")) else DeltaLake(root)


def _write_parquet(path: Path, reader: pa.RecordBatchReader) -> int:
    """Write a stream of batches as one Parquet file; returns its rows."""
    rows = 0
    with pq.ParquetWriter(path, reader.schema, compression=LAKE_COMPRESSION) as writer:
        for batch in reader:
            writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            rows += batch.num_rows
    return rows


def _date_span(path: Path, column: str) -> tuple[date, date] | None:
    """The first and last day in date column `column` of a Parquet file, from its row groups'
    statistics (no data is read); None when a row group has none, or holds nulls."""
    statistics = _statistics(path, column)
    if not statistics:
        return None
    lows: list[date] = []
    highs: list[date] = []
    for group in statistics:
        if group.null_count != 0:
            return None
        if not isinstance(group.min, date) or not isinstance(group.max, date):
            return None
        lows.append(group.min)
        highs.append(group.max)
    return min(lows), max(highs)


def _copy_rows_before(sources: list[Path], column: str, first: date, target: Path) -> None:
    """Copy the rows of Parquet files `sources` with `column` before `first` into one Parquet
    file `target` (none when there are no such rows), a source at a time."""
    if not sources:
        return
    schema = pa.unify_schemas([pq.read_schema(source) for source in sources])
    rows = 0
    with pq.ParquetWriter(target, schema, compression=LAKE_COMPRESSION) as writer:
        for source in sources:
            earlier = pq.read_table(source, filters=[(column, "<", first)], partitioning=None)
            writer.write_table(_conformed(earlier, schema), row_group_size=ROW_GROUP_ROWS)
            rows += earlier.num_rows
    if not rows:
        target.unlink()


def _retired(previous: dict[str, Any] | None, files: list[str], version: int) -> dict[str, int]:
    """Files earlier versions read and version `version` (listing `files`) does not, each with
    the version that dropped it: a reader that opened an older pointer a moment ago still
    reads them, so they go only once KEEP_VERSIONS newer versions exist."""
    if previous is None:
        return {}
    retired: dict[str, int] = dict(previous.get("retired", {}))
    listed = set(files)
    retired.update({name: version for name in previous["files"] if name not in listed})
    return {name: dropped for name, dropped in retired.items() if name not in listed}
