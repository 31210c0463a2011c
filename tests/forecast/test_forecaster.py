"""The forecaster end to end on the small panel: choice, intervals, new series, champion score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.forecast.data import DemandPanel, prepare_panel
from shelfwise.forecast.forecaster import DemandForecaster
from shelfwise.forecast.models import BASELINES
from shelfwise.forecast.selection import CHOSEN, NEW_SERIES_MODEL


def test_backtest_scores_every_candidate(fitted: DemandForecaster) -> None:
    report = fitted.report_
    assert report is not None
    models = set(report.summary["model"])
    assert set(BASELINES) <= models
    assert {"CrostonSBA", "TSB", "LightGBM", "Ensemble", CHOSEN} <= models
    assert len(report.cutoffs) == 4
    for column in ("mae", "rmse", "mape", "smape", "mase", "rmsse", "wrmsse", "bias", "pinball"):
        assert np.isfinite(report.summary[column]).all(), column
    chosen = report.summary.set_index("model").loc[CHOSEN]
    naive = report.summary.set_index("model").loc["SeasonalNaive"]
    assert chosen["wrmsse"] < naive["wrmsse"]
    assert report.score == pytest.approx(chosen["wrmsse"])


def test_forecasts_have_ordered_intervals(fitted: DemandForecaster, panel: DemandPanel) -> None:
    bottom = fitted.predict(panel).bottom
    assert len(bottom) == panel.n_series * fitted.config.h
    assert bottom["ds"].min() == panel.end + pd.Timedelta(days=1)
    assert (bottom["yhat"] >= 0).all()
    assert (bottom["lo_95"] <= bottom["lo_80"] + 1e-9).all()
    assert (bottom["lo_80"] <= bottom["yhat"] + 1e-9).all()
    assert (bottom["yhat"] <= bottom["hi_80"] + 1e-9).all()
    assert (bottom["hi_80"] <= bottom["hi_95"] + 1e-9).all()
    assert set(bottom["model"]) <= set(fitted.recipe_.choice.values())  # type: ignore[union-attr]


def test_a_new_series_gets_the_fallback(fitted: DemandForecaster, panel: DemandPanel) -> None:
    start = panel.end - pd.Timedelta(days=9)
    fresh = pd.DataFrame(
        {
            "unique_id": "99/1",
            "ds": pd.date_range(start, panel.end),
            "y_observed": [2.0, 3, 1, 2, 4, 2, 3, 2, 1, 3],
            "stocked_out": False,
            "unit_price": 5.0,
            "promo_discount": 0.0,
            "is_holiday": False,
        }
    )
    daily = pd.concat(
        [panel.frame.drop(columns=["y", "imputed", "price_ratio"]), fresh], ignore_index=True
    )
    attrs = pd.concat(
        [
            panel.attributes,
            pd.DataFrame(
                [
                    {
                        "unique_id": "99/1",
                        "product_id": 99,
                        "location_id": 1,
                        "country": "DE",
                        "category": "Food",
                        "sub_category": "Snacks",
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    grown = prepare_panel(daily, attrs)
    out = fitted.predict(grown)
    rows = out.bottom[out.bottom["unique_id"] == "99/1"]
    assert len(rows) == fitted.config.h
    assert set(rows["model"]) == {NEW_SERIES_MODEL}
    # HistoricAverage of 23 units over 10 days, reconciled bottom-up or MinTrace: near 2.3
    assert rows["yhat"].mean() == pytest.approx(2.3, abs=1.0)


def test_recipe_backtest_reproduces_the_score(fitted: DemandForecaster, panel: DemandPanel) -> None:
    # Same data, same windows, same choices: the champion comparison is like for like.
    assert fitted.backtest_recipe(panel) == pytest.approx(fitted.report_.score, rel=1e-6)  # type: ignore[union-attr]
