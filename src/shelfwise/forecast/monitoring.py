"""Accuracy once actuals arrive, and a drift alarm when errors grow beyond the backtest's.

Past forecast runs (from the history file) are joined with the warehouse's daily sales on the
days that were not stocked out; the result, one row per run and target day, is
`fct_forecast_accuracy`. Drift compares the point MAE of the freshest forecast for each of the
last `window` scored days with the MAE the champion showed in its backtest: a ratio above the
threshold, or an 80 % interval that covers clearly less than it should, is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from shelfwise.config import Settings
from shelfwise.forecast.outputs import history_path

DRIFT_RATIO = 1.3
COVERAGE_TOLERANCE = 0.10
WINDOW_DAYS = 7


def score_history(settings: Settings) -> pd.DataFrame:
    """Per forecast run and target day: series scored, units, MAE, RMSE, bias, coverage."""
    history, warehouse = history_path(settings), settings.warehouse_path
    if not history.exists() or not warehouse.exists():
        return pd.DataFrame()
    with duckdb.connect(str(history), read_only=True) as con:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        return con.execute(
            """
            SELECT h.created_at, h.model_version, h.origin, h.ds,
                   CAST(date_diff('day', h.origin, h.ds) AS INTEGER) AS horizon_day,
                   CAST(count(*) AS INTEGER) AS series,
                   sum(f.units_sold) AS actual_units,
                   sum(h.yhat) AS forecast_units,
                   avg(abs(f.units_sold - h.yhat)) AS mae,
                   sqrt(avg((f.units_sold - h.yhat) ^ 2)) AS rmse,
                   avg(h.yhat - f.units_sold) AS bias,
                   avg(CASE WHEN f.units_sold BETWEEN h.lo_80 AND h.hi_80 THEN 1.0 ELSE 0.0 END)
                     AS coverage_80,
                   avg(CASE WHEN f.units_sold BETWEEN h.lo_95 AND h.hi_95 THEN 1.0 ELSE 0.0 END)
                     AS coverage_95
            FROM fct_forecast_history h
            JOIN wh.fct_inventory_daily f
              ON f.product_id = h.product_id AND f.location_id = h.location_id
             AND f.date = h.ds AND NOT f.stocked_out
            GROUP BY ALL
            ORDER BY h.ds, h.created_at
            """
        ).df()


@dataclass(frozen=True)
class DriftReport:
    status: str  # "ok", "drift" or "no data"
    recent_mae: float
    reference_mae: float
    ratio: float
    recent_coverage_80: float
    days: int
    message: str


def freshest_per_day(accuracy: pd.DataFrame) -> pd.DataFrame:
    """For each target day, the scores of the most recent run that forecast it."""
    ordered = accuracy.sort_values(["ds", "created_at"])
    return ordered.groupby("ds", as_index=False).tail(1)


def detect_drift(
    accuracy: pd.DataFrame,
    reference_mae: float | None,
    *,
    window: int = WINDOW_DAYS,
    threshold: float = DRIFT_RATIO,
) -> DriftReport:
    """Compare the last `window` scored days with the champion's backtest MAE."""
    if accuracy.empty or reference_mae is None or not np.isfinite(reference_mae):
        return DriftReport(
            "no data", np.nan, reference_mae or np.nan, np.nan, np.nan, 0, "no scored forecasts yet"
        )
    recent = freshest_per_day(accuracy).tail(window)
    weights = recent["series"].to_numpy(dtype=float)
    recent_mae = float(np.average(recent["mae"], weights=weights))
    coverage = float(np.average(recent["coverage_80"], weights=weights))
    ratio = recent_mae / reference_mae if reference_mae > 0 else np.inf
    problems = []
    if ratio > threshold:
        problems.append(
            f"MAE over the last {len(recent)} days is {recent_mae:.3f}, "
            f"{ratio:.2f}x the backtest's "
            f"{reference_mae:.3f} (threshold {threshold:.2f}x)"
        )
    if coverage < 0.80 - COVERAGE_TOLERANCE:
        problems.append(f"80 % intervals covered only {coverage:.0%} of actuals")
    if problems:
        message = "; ".join(problems) + ": retrain with `shelfwise forecast train`"
        return DriftReport(
            "drift", recent_mae, reference_mae, ratio, coverage, len(recent), message
        )
    message = f"MAE {recent_mae:.3f} is {ratio:.2f}x the backtest's {reference_mae:.3f}"
    return DriftReport("ok", recent_mae, reference_mae, ratio, coverage, len(recent), message)
