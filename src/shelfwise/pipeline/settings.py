"""Pipeline tuning read from the environment (prefix SHELFWISE_), beside the main Settings.

Kept here so the pipeline's knobs live with the pipeline; they may move into
`shelfwise.config.Settings` later without changing their environment names.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHELFWISE_", env_file=".env", extra="ignore")

    pipeline_overlap_seconds: int = Field(
        default=300,
        ge=0,
        description="re-read window before each table's watermark, for late-committing writes",
    )
    pipeline_silver_merge_min_rows: int = Field(
        default=50_000,
        ge=0,
        description="silver tables with at least this many rows merge changed keys; smaller "
        "ones are rebuilt from bronze",
    )
    pipeline_extract_workers: int = Field(
        default=2,
        ge=1,
        description="tables extracted at once (a source scan keeps about one core busy)",
    )
    pipeline_step_workers: int = Field(
        default=2,
        ge=1,
        description="silver and gold tables built at once when none reads another (DuckDB engine)",
    )
    pipeline_maintenance_hours: int = Field(
        default=168,
        ge=0,
        description="compact and vacuum the lake at the end of a run when the last time is "
        "this old (0: only with `shelfwise pipeline maintain`)",
    )
    pipeline_retain_hours: int = Field(
        default=168,
        ge=0,
        description="a vacuum deletes files no table version has used for this long (older "
        "versions stop being readable)",
    )
    pipeline_compact_min_files: int = Field(
        default=32, ge=2, description="compact a lake table once it has this many files"
    )
    duckdb_memory_limit: str = Field(
        default="2GB", description="DuckDB spills to disk above it (e.g. 2GB, 512MB, 4GiB)"
    )
    spark_master: str = Field(default="local[*]", description="spark.master for --engine spark")
    spark_driver_memory: str = Field(
        default="4g",
        description="spark.driver.memory for a session we start: in local mode the whole of "
        "Spark's memory (Spark's own default, 1g, spills the daily fact of a million order "
        "lines to disk)",
    )
    spark_shuffle_partitions: int = Field(
        default=16, ge=1, description="spark.sql.shuffle.partitions for a session we start"
    )
    spark_delta: bool = Field(
        default=False,
        description="the Spark cluster provides Delta Lake (delta-spark jars); else Parquet",
    )

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _a_size(cls, value: str) -> str:
        """Checked here, with the units DuckDB's `memory_limit` takes, so that a bad value is
        named by its variable instead of failing the run in DuckDB's parser."""
        if not _SIZE.match(value):
            raise ValueError("expected a size such as 2GB, 512MB or 4GiB")
        return value


_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(b|bytes|[kmgt](i?b)?)\s*$", re.IGNORECASE)
