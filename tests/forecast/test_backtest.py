"""Rolling-origin windows: where the cutoffs fall and what each window may see."""

from __future__ import annotations

import pandas as pd
from statsforecast.models import Naive

from shelfwise.forecast.backtest import BacktestPlan, run_backtest
from shelfwise.forecast.models import ModelSet
from tests.forecast.conftest import series


def test_cutoffs_step_back_from_the_end() -> None:
    plan = BacktestPlan(h=7, n_calibration=2, n_evaluation=2)
    end = pd.Timestamp("2024-03-31")
    # last origin = end - h; earlier ones a horizon apart, oldest first
    assert plan.cutoffs(end, "D") == [
        pd.Timestamp("2024-03-03"),
        pd.Timestamp("2024-03-10"),
        pd.Timestamp("2024-03-17"),
        pd.Timestamp("2024-03-24"),
    ]
    assert plan.span() == 28
    assert plan.min_history(7) == 28 + 14


def test_overlapping_windows_with_a_smaller_step() -> None:
    plan = BacktestPlan(h=14, n_calibration=1, n_evaluation=2, step_size=7)
    assert plan.span() == 14 + 2 * 7
    assert plan.cutoffs(pd.Timestamp("2024-01-31"), "D")[0] == pd.Timestamp("2024-01-03")


def test_each_window_forecasts_only_from_its_past() -> None:
    values = [float(i) for i in range(60)]  # y = day number: naive forecast = value at cutoff
    train = series(values)
    plan = BacktestPlan(h=5, n_calibration=1, n_evaluation=2)
    cv = run_backtest(train, plan, ModelSet(local=[Naive()]), freq="D")
    assert sorted(cv["window"].unique()) == [0, 1, 2]
    assert sorted(cv["cutoff"].unique()) == plan.cutoffs(train["ds"].max(), "D")
    for cutoff, rows in cv.groupby("cutoff"):
        assert len(rows) == plan.h
        assert (rows["ds"] > cutoff).all()
        assert (rows["ds"] <= cutoff + pd.Timedelta(days=plan.h)).all()
        known = train.loc[train["ds"] == cutoff, "y"].iloc[0]
        assert (rows["Naive"] == known).all()
