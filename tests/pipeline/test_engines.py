"""DuckDB and Spark run the same transformations over the same store: identical gold."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shelfwise.config import Settings
from shelfwise.pipeline import run_pipeline
from shelfwise.pipeline.engines import open_engine
from shelfwise.pipeline.engines.duckdb import DUCKDB_DIALECT
from shelfwise.pipeline.engines.spark import SPARK_DIALECT
from shelfwise.pipeline.gold import GOLD_NAMES
from shelfwise.pipeline.lake import ParquetLake
from shelfwise.pipeline.runlog import RunSummary
from shelfwise.pipeline.settings import PipelineSettings
from shelfwise.pipeline.silver import EMAIL_PATTERN
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import assert_same_gold, column_types, gold_frames
from tests.pipeline.test_quarantine import _inject_bad_rows
from tests.pipeline.test_run import _add_orders
from tests.pipeline.test_silver import HISTORY_CASES, assert_history
from tests.pipeline.test_silver_merge import ALWAYS_MERGE, _quarantine


@pytest.mark.spark
def test_spark_and_duckdb_build_identical_gold(
    spark: object, settings: Settings, store: Path, tmp_path: Path
) -> None:
    """In full, then in a daily run on Spark that merges silver's changed keys (re-examining
    quarantined ones) and recomputes only the days from its changes on (replacing the rows of
    those days in the Parquet lake), against a rebuild on DuckDB."""
    on_spark = settings_for(tmp_path / "spark-home", store)
    _inject_bad_rows(store)

    duck = run_pipeline(settings, engine="duckdb")
    sparked = run_pipeline(on_spark, engine="spark")

    assert duck.status == sparked.status == "succeeded"
    duck_gold = gold_frames(settings.warehouse_path)
    spark_gold = gold_frames(on_spark.warehouse_path)
    assert all(len(duck_gold[name]) > 0 for name in GOLD_NAMES)
    assert_same_gold(duck_gold, spark_gold)
    for name in GOLD_NAMES:  # same SQL types in both warehouses, not just equal values
        assert column_types(settings.warehouse_path, name) == column_types(
            on_spark.warehouse_path, name
        ), name
    # Spark keeps its lake as Parquet, versioned behind a pointer file
    lake = Path(on_spark.resolved_lake_uri)
    assert (lake / "gold" / "fct_sales" / "_current.json").is_file()
    assert not (lake / "gold" / "fct_sales" / "_delta_log").exists()
    assert _quarantined(sparked) == _quarantined(duck)
    assert _quarantined(sparked)["silver order_lines"] == 4  # see _inject_bad_rows
    # the tables Spark computed during the run went with its engine
    assert list((lake / "_tmp" / "spark").iterdir()) == []
    _assert_spark_daily_run_recomputes_recent_days(settings, on_spark, store)


@pytest.mark.spark
def test_both_engines_match_a_rule_s_pattern_against_the_whole_value(spark: object) -> None:
    """Java's `$` also matches before a final line break: "DE" and a line break passed the
    country rule on Spark while DuckDB quarantined it (a probe of incremental runs found it)."""
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    values = {
        "'DE'": True,
        "concat('DE', chr(10))": False,
        "concat(chr(10), 'DE')": False,
        "'DEU'": False,
        "'de'": False,
    }
    emails = {"'a@b.co'": True, "'a b@c.co'": False, "concat('a@b.co', chr(13))": True}
    cases = [(value, "[A-Z][A-Z]", ok) for value, ok in values.items()]
    cases += [(value, EMAIL_PATTERN, ok) for value, ok in emails.items()]
    with duckdb.connect() as con:
        for value, pattern, expected in cases:
            on_duckdb = con.sql(f"SELECT {DUCKDB_DIALECT.full_match(value, pattern)}").fetchone()
            on_spark = spark.sql(f"SELECT {SPARK_DIALECT.full_match(value, pattern)}").collect()
            assert on_duckdb == (expected,) and on_spark[0][0] is expected, (value, pattern)


@pytest.mark.spark
def test_both_engines_count_a_timestamp_s_microseconds_alike(spark: object) -> None:
    """The product history orders versions by microseconds since 1970 (`history_sql`): Spark
    must read a timestamp without a zone as UTC, as DuckDB does, and back."""
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    stamps = ["2024-03-31 01:30:00.000001", "1999-12-31 23:59:59.999999", "1970-01-01 00:00:00"]
    with duckdb.connect() as con:
        for stamp in stamps:
            moment = datetime.fromisoformat(stamp)
            micros = (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)
            value = f"CAST('{stamp}' AS TIMESTAMP)"
            on_duckdb = con.sql(
                f"SELECT {DUCKDB_DIALECT.micros(value)}, "
                f"{DUCKDB_DIALECT.from_micros(str(micros + 1))}"
            ).fetchone()
            on_spark = spark.sql(
                f"SELECT {SPARK_DIALECT.micros(value)}, "
                f"{SPARK_DIALECT.from_micros(str(micros + 1))}"
            ).first()
            expected = (micros, moment + timedelta(microseconds=1))
            assert on_spark is not None and on_duckdb == tuple(on_spark) == expected, stamp


@pytest.mark.spark
def test_spark_orders_the_product_history_as_duckdb_does(spark: object, tmp_path: Path) -> None:
    """The cases `test_silver.py` runs on DuckDB, on Spark (its timestamps have no zone)."""
    engine = open_engine("spark", str(tmp_path / "lake"), PipelineSettings())
    try:
        for stamps, history in HISTORY_CASES.values():
            assert_history(engine, stamps, history)
    finally:
        engine.close()


@pytest.mark.spark
def test_spark_keeps_computed_tables_as_parquet_until_closed(spark: object, tmp_path: Path) -> None:
    """A computed table is read back from Parquet files beside the lake, which the engine
    removes when closed; a folder left by a process that is gone is removed by the next.
    Saving a computed table links its files into the lake instead of writing them again."""
    scratch = tmp_path / "lake" / "_tmp" / "spark"
    left = scratch / "999999999-0badf00d"  # (above any pid this system hands out)
    (left / "0-x").mkdir(parents=True)
    mine = scratch / f"{os.getpid()}-cafe0123"  # another engine of this process, still open
    mine.mkdir()
    engine = open_engine("spark", str(tmp_path / "lake"), PipelineSettings())

    engine.materialize("numbers", "SELECT id, id * 2 AS twice FROM range(5)")

    assert engine.rows("SELECT SUM(twice) FROM numbers") == [(20,)]
    (results,) = [f for f in scratch.iterdir() if f not in (left, mine)]
    assert [f.name for f in results.iterdir()] == ["0-numbers"]
    assert not left.exists() and mine.exists()
    assert engine.save("silver", "numbers") == 5
    saved = engine.lake.files("silver", "numbers")
    computed = list((results / "0-numbers").glob("*.parquet"))
    assert saved and len(saved) == len(computed)
    assert {Path(f).stat().st_ino for f in saved} == {f.stat().st_ino for f in computed}
    engine.close()
    assert not results.exists()
    assert pq.read_table(saved).to_pydict()["twice"] == [0, 2, 4, 6, 8]


def _quarantined(run: RunSummary) -> dict[str, int]:
    return {s.name: s.rows_quarantined for s in run.steps if s.name.startswith("silver ")}


def _assert_spark_daily_run_recomputes_recent_days(
    settings: Settings, on_spark: Settings, store: Path
) -> None:
    lake = ParquetLake(Path(on_spark.resolved_lake_uri))
    before = {f: Path(f).stat().st_ino for f in lake.files("gold", "fct_inventory_daily") or []}
    _add_orders(store, 3)

    daily = run_pipeline(on_spark, engine="spark", options=ALWAYS_MERGE)
    run_pipeline(settings, engine="duckdb", full=True)

    steps = {s.name: s.detail for s in daily.steps}
    for name in ("orders", "order_lines"):  # keys in quarantine too: see `merge_silver_table`
        assert steps[f"silver {name}"]["mode"] == "merge", name
    for name in ("fct_sales", "fct_inventory_daily", "agg_inventory_monthly"):
        assert "recomputed" in steps[f"gold {name}"], name
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(on_spark.warehouse_path))
    pd.testing.assert_frame_equal(
        _quarantine(on_spark.warehouse_path), _quarantine(settings.warehouse_path)
    )
    # the daily fact's files (a file a month) of the months before stay as they were
    after = {f: Path(f).stat().st_ino for f in lake.files("gold", "fct_inventory_daily") or []}
    assert len(before) > 1 and len(before.items() & after.items()) == len(before) - 1


def _days_sql(first: str, last: str, value: int) -> str:
    """A row per day from `first` to `last`, with the month and a few of Spark's types."""
    return (
        "SELECT d AS date, CAST(trunc(d, 'MM') AS DATE) AS month, CAST(d AS TIMESTAMP) AS at, "
        f"CAST(1.25 AS DECIMAL(12,2)) AS price, {value} AS value "
        f"FROM (SELECT explode(sequence(DATE '{first}', DATE '{last}')) AS d)"
    )


@pytest.mark.spark
def test_spark_replaces_the_recent_days_of_a_table_clustered_by_month(
    spark: object, tmp_path: Path
) -> None:
    """A day-keyed gold table is written a file per month; replacing its rows from a day on
    keeps the earlier months' files, copies the earlier days of the month across the day, and
    links the recomputed rows' files in."""
    engine = open_engine("spark", str(tmp_path / "lake"), PipelineSettings())
    lake = engine.lake
    engine.materialize("fct_sales", _days_sql("2024-01-01", "2024-03-31", 1))
    engine.save("gold", "fct_sales")
    saved = {f: Path(f).stat().st_ino for f in lake.files("gold", "fct_sales") or []}
    engine.materialize("_recent_fct_sales", _days_sql("2024-02-15", "2024-04-02", 2))

    assert engine.replace_from("gold", "fct_sales", "_recent_fct_sales", "date", "2024-02-15") == 48

    replaced = {f: Path(f).stat().st_ino for f in lake.files("gold", "fct_sales") or []}
    (january,) = [f for f in saved if pq.read_table(f)["month"][0].as_py().month == 1]
    assert len(saved) == 3 and replaced[january] == saved[january]  # kept, not copied
    assert len(replaced) == 1 + 1 + 3  # January, February's first half, then a file a month
    engine.load("gold", "fct_sales", "replaced")
    assert engine.rows(
        "SELECT value, COUNT(*), MIN(date), MAX(at), SUM(price) FROM replaced GROUP BY value "
        "ORDER BY value"
    ) == [
        (1, 45, date(2024, 1, 1), datetime(2024, 2, 14), Decimal("56.25")),
        (2, 48, date(2024, 2, 15), datetime(2024, 4, 2), Decimal("60.00")),
    ]
    assert engine.arrow_schema("replaced") == engine.arrow_schema("fct_sales")
    engine.close()
