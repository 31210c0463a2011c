"""The PySpark engine: the same SQL on Spark, lake tables as versioned Parquet (or Delta).

Spark here cannot download the Delta Lake jars, so by default it stores Parquet, written
atomically per table version (`ParquetLake`). Where the cluster provides Delta
(`SHELFWISE_SPARK_DELTA=true`), it reads and writes Delta tables instead.

Timestamps are naive UTC everywhere (`spark.sql.timestampType=TIMESTAMP_NTZ`, session time
zone UTC), matching DuckDB's `TIMESTAMP`, so both engines produce identical gold tables.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shelfwise.pipeline.engines.base import DayBitmap, Dialect, Engine
from shelfwise.pipeline.files import process_alive
from shelfwise.pipeline.lake import PARTITION_BY, DeltaLake, Lake, ParquetLake, parquet_rows
from shelfwise.pipeline.settings import PipelineSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_DIALECT = Dialect(
    add_days=lambda day, n: f"date_add({day}, {n})",
    days_between=lambda start, end: f"datediff({end}, {start})",
    # `\z`, not `$`: in Java's regex `$` also matches before a final line break, so "DE\n"
    # passed the country rule here while DuckDB's regexp_full_match quarantined it (the SQL
    # literal's `\\` is one backslash once Spark reads it)
    full_match=lambda text, pattern: f"({text} RLIKE '^(?:{pattern})\\\\z')",
    day_series=lambda first, last: f"explode(sequence({first}, {last}))",
    json_text=lambda document, field: f"get_json_object({document}, '$.{field}')",
    # (timestamps without a zone, read as UTC: the session's zone, see SEMANTICS)
    micros=lambda stamp: f"unix_micros(CAST({stamp} AS TIMESTAMP_LTZ))",
    from_micros=lambda micros: f"CAST(timestamp_micros({micros}) AS TIMESTAMP_NTZ)",
    day_bitmap=DayBitmap(
        offset=lambda day, first: f"datediff({day}, DATE '{first}')",
        distinct=lambda bit: f"bit_count(bit_or(shiftleft(CAST(1 AS BIGINT), {bit})))",
        block=63,
    ),
)

# Session settings the shared SQL relies on; applied to an existing session too.
SEMANTICS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}


# At most this many files for a table clustered by month (ten years of months; Spark makes one
# range partition per distinct value below it, and writes a file per partition).
CLUSTER_PARTITIONS = 120


def _clustered_by(name: str) -> str | None:
    """The column a computed table's files are clustered by, where it has it: a day-keyed gold
    table's (`PARTITION_BY`), so that a daily run's replacement of its recent rows keeps the
    files of earlier months, and that of its recent rows (`_recent_<table>`), which join them."""
    return PARTITION_BY.get(name.removeprefix("_recent_"))


def spark_session(options: PipelineSettings) -> SparkSession:
    """The active session if there is one (tests share one), else a new one on
    `SHELFWISE_SPARK_MASTER`."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        builder = (
            SparkSession.builder.master(options.spark_master)
            .appName("shelfwise-pipeline")
            .config("spark.driver.memory", options.spark_driver_memory)
            .config("spark.sql.shuffle.partitions", str(options.spark_shuffle_partitions))
            .config("spark.ui.showConsoleProgress", "false")
        )
        for key, value in SEMANTICS.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # (PySpark's errors do not say which setting was wrong)
            raise RuntimeError(
                f"could not start Spark with SHELFWISE_SPARK_MASTER={options.spark_master!r} "
                f"and SHELFWISE_SPARK_DRIVER_MEMORY={options.spark_driver_memory!r}: {exc}"
            ) from exc
    for key, value in SEMANTICS.items():
        session.conf.set(key, value)
    return session


def _results_folder(scratch: Path) -> Path:
    """This engine's own folder for computed tables, under `scratch`; folders left by
    processes that ended without closing their engine (killed, crashed) are removed."""
    for folder in scratch.glob("*-*"):
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return scratch / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _link_parquet(source: Path, target: Path) -> None:
    """The Parquet files of folder `source` also in folder `target`: hard links (no copy; the
    run's folder is removed at its end, the lake's names keep the data), copies where the
    two are on different file systems."""
    target.mkdir(parents=True, exist_ok=True)
    for file in source.glob("*.parquet"):
        try:
            os.link(file, target / file.name)
        except OSError:
            shutil.copyfile(file, target / file.name)


class SparkEngine(Engine):
    name = "spark"
    dialect = SPARK_DIALECT

    def __init__(self, root: Path, options: PipelineSettings) -> None:
        self.spark = spark_session(options)
        self.delta = options.spark_delta
        self.lake: Lake = DeltaLake(root) if self.delta else ParquetLake(root)
        self._views: set[str] = set()
        self._results = _results_folder(self.lake.scratch("spark"))
        self._stored = itertools.count()
        self._files: dict[str, Path] = {}  # a computed table's name -> the folder of its files

    def _publish(self, name: str, frame: DataFrame, files: Path | None = None) -> None:
        frame.createOrReplaceTempView(name)
        self._views.add(name)
        if files is None:
            self._files.pop(name, None)
        else:
            self._files[name] = files

    def materialize(self, name: str, sql: str, *, lazy: bool = False) -> None:
        """Computed once into Parquet files of the run (beside the lake, where a cluster's
        executors reach them too) and read back: later queries see a plain scan of the result,
        not the whole plan behind it, and read only the columns they need.

        (A local checkpoint held the rows in Spark's block store, where every scan decodes
        every column, and spilled them to disk at a million order lines: the checks took 82 s
        over checkpointed gold, 27 s over Parquet. `persist()` keeps the plan, and Spark
        compares every new plan against every cached one, which grows with each table.)
        """
        frame = self.spark.sql(sql)
        if lazy:
            self._publish(name, frame)
            return
        path = self._results / f"{next(self._stored)}-{name}"
        column = _clustered_by(name)
        if column in frame.columns:  # a file per month (Hive partitioning drops the column)
            frame = frame.repartitionByRange(CLUSTER_PARTITIONS, column)
        frame.write.parquet(str(path))
        self._publish(name, self.spark.read.parquet(str(path)), files=path)

    def view(self, name: str, sql: str) -> None:
        self._publish(name, self.spark.sql(sql))

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self._publish(name, self.spark.createDataFrame(table.to_pandas()))

    def load(self, layer: str, table: str, name: str | None = None) -> bool:
        if self.delta:
            path = self.lake.path(layer, table)
            if not (path / "_delta_log").is_dir():
                return False
            frame = self.spark.read.format("delta").load(str(path))
        else:
            files = self.lake.files(layer, table)
            if files is None:
                return False
            frame = self.spark.read.option("mergeSchema", "true").parquet(*files)
        self._publish(name or table, frame)
        return True

    def save(self, layer: str, table: str, source: str | None = None) -> int:
        frame = self.spark.table(source or table)
        if self.delta:
            path = self.lake.path(layer, table)
            frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
                str(path)
            )
            return int(frame.count())
        assert isinstance(self.lake, ParquetLake)
        _, version_dir = self.lake.new_version(layer, table)
        computed = self._files.get(source or table)
        if computed is None:
            frame.write.mode("overwrite").parquet(str(version_dir / "data"))
        else:  # its files are the version's: linked, not written again
            _link_parquet(computed, version_dir / "data")
        self.lake.commit(layer, table, version_dir, append=False)
        return parquet_rows(version_dir.rglob("*.parquet"))

    def replace_from(self, layer: str, table: str, source: str, column: str, since: str) -> int:
        """The rows of `source` written by Spark, not collected into the driver: into a Delta
        table with `replaceWhere`; into a Parquet table as `source`'s computed files, linked
        into the new version beside the earlier rows it keeps."""
        frame = self.spark.table(source)
        if self.delta:
            path = self.lake.path(layer, table)
            frame.write.format("delta").mode("overwrite").option(
                "replaceWhere", f"{column} >= '{since}'"
            ).save(str(path))
            return int(frame.count())
        computed = self._files.get(source)
        if computed is None or not isinstance(self.lake, ParquetLake):
            return super().replace_from(layer, table, source, column, since)
        _, version_dir = self.lake.new_version(layer, table)
        _link_parquet(computed, version_dir / "data")
        self.lake.commit_replacing(layer, table, version_dir, column, since)
        return parquet_rows(computed.glob("*.parquet"))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(sql).collect()]

    def arrow(self, name: str) -> pa.RecordBatchReader:
        table = self.spark.table(name).toArrow()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    def arrow_schema(self, name: str) -> pa.Schema:
        return self.spark.table(name).limit(0).toArrow().schema

    def has(self, name: str) -> bool:
        return name in self._views and bool(self.spark.catalog.tableExists(name))

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)
        self._files.pop(name, None)

    def close(self) -> None:
        for name in list(self._views):
            self.drop(name)
        shutil.rmtree(self._results, ignore_errors=True)
