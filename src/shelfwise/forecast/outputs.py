"""Where forecasts land: `forecast.duckdb` beside the warehouse, published atomically.

The pipeline replaces `warehouse.duckdb` whole on every run (build aside, `os.replace`), so a
table written into it would vanish at the next run. Forecast tables therefore live in their
own file, `forecast.duckdb`, next to it, and are published the same way: built aside and
swapped in, so readers (the website) see the previous or the next complete set and never hold a
lock a writer needs. It holds:

- `fct_forecast` - one row per product, location and future day of the latest forecast run;
- `fct_forecast_levels` - one row per aggregate series (total, country, category, ...) and day;
- `fct_forecast_accuracy` - one row per forecast run and target day that has actuals.

Every run is also appended to `forecast_history.duckdb` (only the forecaster writes it), from
which the accuracy table is recomputed when actuals arrive. Readers can ATTACH both
`warehouse.duckdb` and `forecast.duckdb` in one DuckDB session.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from shelfwise.config import Settings

FORECAST_COLUMNS = (
    "unique_id VARCHAR, product_id BIGINT, location_id BIGINT, ds DATE, model VARCHAR, "
    "yhat DOUBLE, lo_80 DOUBLE, hi_80 DOUBLE, lo_95 DOUBLE, hi_95 DOUBLE, "
    "model_version VARCHAR, created_at TIMESTAMP"
)
HISTORY_COLUMNS = FORECAST_COLUMNS + ", origin DATE"
LEVEL_COLUMNS = (
    "level VARCHAR, unique_id VARCHAR, ds DATE, yhat DOUBLE, lo_80 DOUBLE, hi_80 DOUBLE, "
    "lo_95 DOUBLE, hi_95 DOUBLE, reconciler VARCHAR, model_version VARCHAR, created_at TIMESTAMP"
)
ACCURACY_COLUMNS = (
    "created_at TIMESTAMP, model_version VARCHAR, origin DATE, ds DATE, horizon_day INTEGER, "
    "series INTEGER, actual_units DOUBLE, forecast_units DOUBLE, mae DOUBLE, rmse DOUBLE, "
    "bias DOUBLE, coverage_80 DOUBLE, coverage_95 DOUBLE"
)
GRAINS = {
    "fct_forecast": "one row per product, location and forecast day of the latest forecast run",
    "fct_forecast_levels": "one row per aggregate series and forecast day of the latest run",
    "fct_forecast_accuracy": "one row per forecast run and target day with actuals",
}


def forecast_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name("forecast.duckdb")


def history_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name("forecast_history.duckdb")


def append_history(settings: Settings, bottom: pd.DataFrame, origin: pd.Timestamp) -> None:
    """Keep every forecast run, so that it can be scored once its days have passed."""
    path = history_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = bottom.assign(origin=pd.Timestamp(origin).normalize())
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS fct_forecast_history ({HISTORY_COLUMNS})")
        con.register("incoming", rows)
        con.execute(
            "INSERT INTO fct_forecast_history SELECT unique_id, product_id, location_id, "
            "CAST(ds AS DATE), model, yhat, lo_80, hi_80, lo_95, hi_95, model_version, "
            "created_at, CAST(origin AS DATE) FROM incoming"
        )


def read_history(settings: Settings) -> pd.DataFrame:
    path = history_path(settings)
    if not path.exists():
        return pd.DataFrame()
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT * FROM fct_forecast_history").df()


def publish(
    settings: Settings,
    *,
    forecast: pd.DataFrame | None = None,
    levels: pd.DataFrame | None = None,
    accuracy: pd.DataFrame | None = None,
) -> Path:
    """Rebuild `forecast.duckdb` with the given tables (others are carried over) and swap it in."""
    target = forecast_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    current = {name: read_table(settings, name) for name in GRAINS}
    tables = {
        "fct_forecast": (
            forecast if forecast is not None else current["fct_forecast"],
            FORECAST_COLUMNS,
        ),
        "fct_forecast_levels": (
            levels if levels is not None else current["fct_forecast_levels"],
            LEVEL_COLUMNS,
        ),
        "fct_forecast_accuracy": (
            accuracy if accuracy is not None else current["fct_forecast_accuracy"],
            ACCURACY_COLUMNS,
        ),
    }
    building = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    building.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(building)) as con:
            for name, (frame, columns) in tables.items():
                con.execute(f"CREATE TABLE {name} ({columns})")
                if frame is not None and len(frame):
                    names = [c.split()[0] for c in columns.split(", ")]
                    con.register("incoming", frame[names])
                    con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
                    con.unregister("incoming")
                con.execute(f"COMMENT ON TABLE {name} IS '{GRAINS[name]}'")
            con.execute("CHECKPOINT")
        building.replace(target)
    finally:
        building.unlink(missing_ok=True)
        Path(f"{building}.wal").unlink(missing_ok=True)
    return target


def read_table(settings: Settings, name: str) -> pd.DataFrame | None:
    """A table of `forecast.duckdb`, or None when it (or the file) does not exist yet."""
    path = forecast_path(settings)
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        try:
            return con.execute(f"SELECT * FROM {name}").df()
        except duckdb.CatalogException:
            return None
