"""The accuracy measures against cases worked out by hand (FPP3 definitions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shelfwise.forecast import metrics

# y = [2, 0, 4], forecasts [1, 1, 6]: errors e = y - yhat = [1, -1, -2].
Y = [2.0, 0.0, 4.0]
F = [1.0, 1.0, 6.0]


def test_mae_is_mean_absolute_error() -> None:
    # (|1| + |-1| + |-2|) / 3 = 4/3
    assert metrics.mae(Y, F) == pytest.approx(4 / 3)


def test_rmse_is_root_mean_square_error() -> None:
    # sqrt((1 + 1 + 4) / 3) = sqrt(2)
    assert metrics.rmse(Y, F) == pytest.approx(math.sqrt(2))


def test_mape_skips_zero_actuals() -> None:
    # only y=2 (|1/2| = 50 %) and y=4 (|-2/4| = 50 %) count: 50 %
    assert metrics.mape(Y, F) == pytest.approx(50.0)
    assert math.isnan(metrics.mape([0.0, 0.0], [1.0, 2.0]))


def test_smape_uses_absolute_sum_denominator() -> None:
    # 200|e|/(|y|+|f|): 200/3, 200/1, 400/10 -> (66.667 + 200 + 40) / 3 = 102.222
    assert metrics.smape(Y, F) == pytest.approx((200 / 3 + 200 + 40) / 3)
    # both zero: undefined, skipped
    assert metrics.smape([0.0, 2.0], [0.0, 2.0]) == pytest.approx(0.0)


def test_bias_is_forecast_minus_actual() -> None:
    # mean(yhat - y) = mean(-1, 1, 2) = 2/3: forecasts run high
    assert metrics.bias(Y, F) == pytest.approx(2 / 3)


def test_mase_and_rmsse_with_naive_scale() -> None:
    # history 1..9, m = 1: every in-sample naive error is 1, so both scales are 1
    history = list(range(1, 10))
    assert metrics.mase(Y, F, history, 1) == pytest.approx(4 / 3)
    assert metrics.rmsse(Y, F, history, 1) == pytest.approx(math.sqrt(2))


def test_mase_and_rmsse_with_seasonal_scale() -> None:
    # history [0, 2, 4, 0, 2, 8], m = 3: seasonal differences 0-0, 2-2, 8-4 = [0, 0, 4]
    # MASE scale = 4/3, RMSSE scale = 16/3. Test y = [3, 3], yhat = [1, 5]: e = [2, -2]
    # MASE = 2 / (4/3) = 1.5; RMSSE = sqrt(4 / (16/3)) = sqrt(0.75)
    history = [0, 2, 4, 0, 2, 8]
    assert metrics.seasonal_naive_scale(history, 3, 1) == pytest.approx(4 / 3)
    assert metrics.mase([3, 3], [1, 5], history, 3) == pytest.approx(1.5)
    assert metrics.rmsse([3, 3], [1, 5], history, 3) == pytest.approx(math.sqrt(0.75))


def test_scaled_errors_undefined_for_flat_history() -> None:
    assert math.isnan(metrics.mase([1.0], [2.0], [5, 5, 5, 5], 1))
    assert math.isnan(metrics.rmsse([1.0], [2.0], [5, 5], 7))  # shorter than a season


def test_pinball_loss() -> None:
    # tau 0.9, y = [10, 10], q = [8, 12]: y-q = [2, -2] -> losses 0.9*2 = 1.8, 0.1*2 = 0.2; mean 1.0
    assert metrics.pinball_loss([10, 10], [8, 12], 0.9) == pytest.approx(1.0)


def test_coverage() -> None:
    # 1 in [0, 2], 5 not in [6, 8], 10 in [9, 11]: 2 of 3
    assert metrics.coverage([1, 5, 10], [0, 6, 9], [2, 8, 11]) == pytest.approx(2 / 3)


def test_interval_quantiles() -> None:
    assert metrics.interval_quantiles(80) == pytest.approx((0.10, 0.90))
    assert metrics.interval_quantiles(95) == pytest.approx((0.025, 0.975))


def test_wrmsse_weights_by_revenue_share() -> None:
    # a: RMSSE 0.5 weight 3, b: RMSSE 1.0 weight 1 -> (1.5 + 1.0) / 4 = 0.625; c is undefined
    rmsse = pd.Series({"a": 0.5, "b": 1.0, "c": np.nan})
    weights = pd.Series({"a": 3.0, "b": 1.0, "c": 10.0})
    assert metrics.wrmsse(rmsse, weights) == pytest.approx(0.625)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.mae([1, 2], [1])


def test_frame_scoring_agrees_with_the_definitions() -> None:
    train = pd.DataFrame(
        {
            "unique_id": ["a"] * 6 + ["b"] * 6,
            "ds": list(pd.date_range("2024-01-01", periods=6)) * 2,
            "y": [0, 2, 4, 0, 2, 8, 1, 2, 3, 4, 5, 6],
        }
    )
    cv = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "ds": list(pd.date_range("2024-01-07", periods=2)) * 2,
            "y": [3.0, 3.0, 7.0, 0.0],
            "M": [1.0, 5.0, 6.0, 1.0],
            "M-lo-80": [0.0, 4.0, 5.0, 0.0],
            "M-hi-80": [2.0, 6.0, 8.0, 2.0],
        }
    )
    scales = metrics.training_scales(train, season_length=3)
    per_series = metrics.score_series(cv, ["M"], scales, levels=[80]).set_index("unique_id")
    a_hist, b_hist = [0, 2, 4, 0, 2, 8], [1, 2, 3, 4, 5, 6]
    assert per_series.at["a", "mase"] == pytest.approx(metrics.mase([3, 3], [1, 5], a_hist, 3))
    assert per_series.at["a", "rmsse"] == pytest.approx(metrics.rmsse([3, 3], [1, 5], a_hist, 3))
    assert per_series.at["b", "rmsse"] == pytest.approx(metrics.rmsse([7, 0], [6, 1], b_hist, 3))
    assert per_series.at["b", "covered_80"] == pytest.approx(
        metrics.coverage([7, 0], [5, 0], [8, 2])
    )
    summary = metrics.summarize(per_series.reset_index()).iloc[0]
    assert summary["mae"] == pytest.approx(metrics.mae([3, 3, 7, 0], [1, 5, 6, 1]))
    assert summary["rmse"] == pytest.approx(metrics.rmse([3, 3, 7, 0], [1, 5, 6, 1]))
    assert summary["mape"] == pytest.approx(metrics.mape([3, 3, 7, 0], [1, 5, 6, 1]))
    assert summary["smape"] == pytest.approx(metrics.smape([3, 3, 7, 0], [1, 5, 6, 1]))
    assert summary["bias"] == pytest.approx(metrics.bias([3, 3, 7, 0], [1, 5, 6, 1]))
    assert summary["coverage_80"] == pytest.approx(
        metrics.coverage([3, 3, 7, 0], [0, 4, 5, 0], [2, 6, 8, 2])
    )
