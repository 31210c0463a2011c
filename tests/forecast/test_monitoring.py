"""The drift verdict from scored forecasts."""

from __future__ import annotations

import pandas as pd

from shelfwise.forecast.monitoring import detect_drift, freshest_per_day


def _accuracy(maes: list[float], coverage: float = 0.8) -> pd.DataFrame:
    days = pd.date_range("2024-05-01", periods=len(maes))
    return pd.DataFrame(
        {
            "created_at": pd.Timestamp("2024-04-30"),
            "ds": days,
            "series": 10,
            "mae": maes,
            "coverage_80": coverage,
        }
    )


def test_no_scores_means_no_verdict() -> None:
    assert detect_drift(pd.DataFrame(), 1.0).status == "no data"


def test_errors_like_the_backtest_are_ok() -> None:
    report = detect_drift(_accuracy([1.0, 1.1, 0.9, 1.0, 1.2, 1.0, 0.8]), reference_mae=1.0)
    assert report.status == "ok"
    assert report.ratio == 1.0  # mean of the seven days


def test_errors_grown_beyond_the_threshold_are_drift() -> None:
    # first days fine, last seven at 1.5x the backtest's MAE
    report = detect_drift(
        _accuracy([1.0] * 5 + [1.5] * 7), reference_mae=1.0, window=7, threshold=1.3
    )
    assert report.status == "drift"
    assert "1.50x" in report.message and "shelfwise forecast train" in report.message


def test_collapsed_coverage_is_drift() -> None:
    assert detect_drift(_accuracy([1.0] * 7, coverage=0.5), reference_mae=1.0).status == "drift"


def test_the_freshest_run_speaks_for_each_day() -> None:
    old = _accuracy([5.0, 5.0])
    new = _accuracy([1.0, 1.0]).assign(created_at=pd.Timestamp("2024-05-01"))
    fresh = freshest_per_day(pd.concat([old, new]))
    assert fresh["mae"].tolist() == [1.0, 1.0]
