"""Conformal intervals: the finite-sample quantile, and coverage measured in the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.forecast.data import DemandPanel
from shelfwise.forecast.forecaster import DemandForecaster
from shelfwise.forecast.intervals import apply_intervals, conformal_quantile


def test_conformal_quantile_rank() -> None:
    scores = np.arange(1.0, 10.0)  # 1..9, n = 9
    # level 80: ceil((9 + 1) * 0.8) = 8th smallest = 8
    assert conformal_quantile(scores, 80) == 8.0
    # level 95: ceil(10 * 0.95) = 10 > n -> the largest, 9
    assert conformal_quantile(scores, 95) == 9.0
    assert np.isnan(conformal_quantile(np.array([np.nan]), 80))


def test_intervals_scale_with_the_series() -> None:
    forecasts = pd.DataFrame({"unique_id": ["a", "b"], "M": [10.0, 1.0]})
    quantiles = pd.DataFrame({"group": ["all"], "model": ["M"], "level": [80], "q": [2.0]})
    scale = pd.Series({"a": 3.0, "b": 0.25})
    out = apply_intervals(forecasts, ["M"], quantiles, scale, pd.Series(dtype=str), [80])
    # a: 10 -/+ 2 * 3 = [4, 16]; b: 1 - 0.5 = 0.5, 1 + 0.5 = 1.5
    assert out["M-lo-80"].tolist() == pytest.approx([4.0, 0.5])
    assert out["M-hi-80"].tolist() == pytest.approx([16.0, 1.5])


def test_backtest_coverage_is_near_nominal(fitted: DemandForecaster, panel: DemandPanel) -> None:
    report = fitted.report_
    assert report is not None
    chosen = report.summary.set_index("model").loc["Chosen"]
    # 18 series x 14 days x 2 windows: loose bounds on a small sample
    assert 0.65 <= chosen["coverage_80"] <= 0.95
    assert 0.85 <= chosen["coverage_95"] <= 1.0
    cv = report.cv
    assert (cv["Chosen-lo-95"] <= cv["Chosen-lo-80"] + 1e-9).all()
    assert (cv["Chosen-hi-80"] <= cv["Chosen-hi-95"] + 1e-9).all()
