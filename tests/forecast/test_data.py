"""Series from gold: stock-out imputation, launch trimming, weekly series, missing warehouse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.forecast.data import (
    DemandPanel,
    WarehouseNotReady,
    future_exogenous,
    impute_stockouts,
    load_panel,
    to_weekly,
)
from shelfwise.forecast.synthetic_panel import SyntheticPanel


def _daily(observed: list[float], stocked_out: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": "1/1",
            "ds": pd.date_range("2024-01-01", periods=len(observed), freq="D"),
            "y_observed": observed,
            "stocked_out": [bool(s) for s in stocked_out],
        }
    )


def test_stockout_day_gets_same_weekday_mean() -> None:
    # 22 days; day 14 is stocked out having sold 1. Same weekday, up to 3 weeks either side:
    # days 0, 7 and 21 sold 4, 6 and 5 -> estimate 5, above the 1 sold -> 5.
    observed = [2.0] * 22
    observed[0], observed[7], observed[14], observed[21] = 4, 6, 1, 5
    stocked = [0] * 22
    stocked[14] = 1
    filled = impute_stockouts(_daily(observed, stocked))
    assert filled[14] == pytest.approx(5.0)
    unchanged = [i for i in range(22) if i != 14]
    assert filled[unchanged].tolist() == [observed[i] for i in unchanged]


def test_imputation_never_goes_below_sales() -> None:
    # Stocked-out day sold 9 while its weekday neighbours sold 2: keep the 9.
    observed = [2.0] * 15
    observed[7] = 9
    stocked = [0] * 15
    stocked[7] = 1
    assert impute_stockouts(_daily(observed, stocked))[7] == pytest.approx(9.0)


def test_falls_back_to_nearby_days_when_weekday_neighbours_are_censored() -> None:
    # Days 0, 7, 14 (one weekday) all stocked out with 0 sold; other days sell 3 -> estimate 3.
    observed = [3.0] * 15
    stocked = [0] * 15
    for day in (0, 7, 14):
        observed[day], stocked[day] = 0.0, 1
    filled = impute_stockouts(_daily(observed, stocked))
    assert filled[[0, 7, 14]].tolist() == pytest.approx([3.0, 3.0, 3.0])


def test_panel_from_gold(panel: DemandPanel, synthetic: SyntheticPanel) -> None:
    spec = synthetic.spec
    assert panel.n_series == spec.products * spec.locations
    assert set(panel.attributes.columns) >= {
        "unique_id",
        "product_id",
        "location_id",
        "country",
        "category",
    }
    # ids follow "<product_id>/<location_id>"
    first = panel.attributes.iloc[0]
    assert first["unique_id"] == f"{first['product_id']}/{first['location_id']}"
    frame = panel.frame
    # demand is never below sales, and only stocked-out days are raised
    assert (frame["y"] >= frame["y_observed"]).all()
    assert not (frame["imputed"] & ~frame["stocked_out"]).any()
    assert frame["imputed"].any()
    weights = panel.revenue_weights()
    assert weights.sum() == pytest.approx(1.0)


def test_missing_warehouse_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(WarehouseNotReady, match="shelfwise pipeline run"):
        load_panel(tmp_path / "absent.duckdb")


def test_weekly_series_keep_complete_weeks(panel: DemandPanel) -> None:
    weekly = to_weekly(panel)
    assert weekly.season_length == 52
    assert (weekly.frame["ds"].dt.dayofweek == 0).all()
    one = panel.frame[panel.frame["unique_id"] == "1/1"]
    week = weekly.frame[weekly.frame["unique_id"] == "1/1"].iloc[1]
    days = one[(one["ds"] >= week["ds"]) & (one["ds"] < week["ds"] + pd.Timedelta(days=7))]
    assert week["y"] == pytest.approx(days["y"].sum())


def test_future_features_use_planned_promotions(panel: DemandPanel) -> None:
    day = panel.end + pd.Timedelta(days=2)
    planned = pd.DataFrame({"unique_id": ["1/1"], "ds": [day], "promo_discount": [0.2]})
    future = future_exogenous(panel, 5, promotions=planned, holidays={day})
    assert len(future) == panel.n_series * 5
    row = future[(future["unique_id"] == "1/1") & (future["ds"] == day)].iloc[0]
    assert row["promo_discount"] == pytest.approx(0.2)
    assert row["is_holiday"] == 1.0
    assert future.loc[future["unique_id"] != "1/1", "promo_discount"].eq(0).all()
    assert np.isfinite(future["price_ratio"]).all()
