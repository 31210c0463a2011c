"""Beyond one machine: the same statsforecast models on Spark, through fugue.

statsforecast accepts a Spark DataFrame wherever it takes pandas; fugue then partitions the
series across executors and runs the very same model code on each partition, so the forecasts
equal the single-machine ones. The global LightGBM is not distributed here (mlforecast's
distributed estimators need dask, ray or SynapseML); at M5 scale it trains in minutes on one
node, while the per-series models are what grows with the number of series.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from shelfwise.forecast.data import DS, ID, Y


@contextmanager
def local_spark(app_name: str = "shelfwise-forecast", cores: int = 2) -> Iterator[Any]:
    """A local Spark session (no cluster, no network), stopped afterwards."""
    from pyspark.sql import SparkSession

    # Workers must run this interpreter (with statsforecast), not whatever `python3` is.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, cores)))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        yield spark
    finally:
        spark.stop()


def to_spark(spark: Any, frame: pd.DataFrame) -> Any:
    """`unique_id, ds, y` as a Spark DataFrame (ids as strings, dates as timestamps)."""
    data = frame[[ID, DS, Y]].astype({ID: str, Y: float})
    return spark.createDataFrame(data)


def forecast_on_spark(
    spark: Any,
    frame: pd.DataFrame,
    models: list[Any],
    *,
    freq: str,
    h: int,
    level: list[int] | None = None,
) -> pd.DataFrame:
    """statsforecast's `forecast` on a Spark DataFrame; the result comes back as pandas."""
    engine = StatsForecast(models=models, freq=freq, fallback_model=Naive())
    result = engine.forecast(df=to_spark(spark, frame), h=h, level=level)
    return _sorted(result.toPandas())


def cross_validation_on_spark(
    spark: Any,
    frame: pd.DataFrame,
    models: list[Any],
    *,
    freq: str,
    h: int,
    n_windows: int,
    step_size: int | None = None,
) -> pd.DataFrame:
    """The rolling-origin backtest of local models on Spark."""
    engine = StatsForecast(models=models, freq=freq, fallback_model=Naive())
    result = engine.cross_validation(
        df=to_spark(spark, frame), h=h, n_windows=n_windows, step_size=step_size or h
    )
    return _sorted(result.toPandas())


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame[DS] = pd.to_datetime(frame[DS])
    keys = [c for c in (ID, "cutoff", DS) if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)
