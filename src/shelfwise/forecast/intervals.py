"""Prediction intervals by normalized split conformal prediction on backtest errors.

For every model and group of series (a demand segment, or a hierarchy level) the calibration
scores are |actual - forecast| / scale, where scale is the series' in-sample seasonal-naive MAE
(floored, so near-constant series do not blow the scores up). The interval at level L is
forecast -/+ q_L * scale, q_L the ceil((n + 1) L) / n empirical quantile of the pooled scores
(n of them), lower end clipped at zero. Pooling across series and horizons gives thousands of
scores per group, so the quantiles are stable even with two calibration windows. Within the
backtest, each evaluation window is calibrated on the windows just before it only, so the
measured coverage is honest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shelfwise.forecast.backtest import ACTUAL, WINDOW
from shelfwise.forecast.data import ID

SCALE_FLOOR = 0.25
GROUP = "group"


def series_scale(scales: pd.DataFrame) -> pd.Series:
    """unique_id -> the scale scores are divided by."""
    return scales.set_index(ID)["scale_abs"].fillna(SCALE_FLOOR).clip(lower=SCALE_FLOOR)


def conformal_quantile(scores: np.ndarray, level: int) -> float:
    """The finite-sample conformal quantile: the ceil((n+1) L)-th smallest score."""
    clean = np.sort(scores[~np.isnan(scores)])
    n = len(clean)
    if n == 0:
        return float("nan")
    rank = int(np.ceil((n + 1) * level / 100.0))
    return float(clean[min(rank, n) - 1])


def _conformal_quantiles(scores: np.ndarray, levels: Sequence[int]) -> list[float]:
    """`conformal_quantile` of clean `scores` at every level, by one partial sort."""
    n = len(scores)
    if n == 0:
        return [float("nan")] * len(levels)
    ranks = [min(int(np.ceil((n + 1) * level / 100.0)), n) - 1 for level in levels]
    partitioned = np.partition(scores, sorted(set(ranks)))
    return [float(partitioned[rank]) for rank in ranks]


def fit_quantiles(
    cv: pd.DataFrame,
    models: Sequence[str],
    scale: pd.Series,
    groups: pd.Series,
    levels: Sequence[int],
) -> pd.DataFrame:
    """Conformal quantiles per group, model and level from the rows of `cv`."""
    rows = []
    row_series, ids = pd.factorize(cv[ID], sort=False)
    s = pd.Series(ids).map(scale).to_numpy(dtype=float)[row_series]
    series_group = pd.Series(ids).map(groups).fillna("all").astype(str)
    group_codes, names = pd.factorize(series_group, sort=True)
    row_group = group_codes[row_series] if len(row_series) else np.zeros(0, dtype=np.int64)
    actual = cv[ACTUAL].to_numpy(dtype=float)
    for model in models:
        scores = np.abs(actual - cv[model].to_numpy(dtype=float)) / s
        kept = ~np.isnan(scores)
        kept_scores, kept_groups = scores[kept], row_group[kept]
        pooled = _conformal_quantiles(kept_scores, levels)
        by_group = {}
        for code, name in enumerate(names):
            part = kept_scores[kept_groups == code]
            if len(part):  # groups without a score are absent, as in a groupby
                by_group[str(name)] = (_conformal_quantiles(part, levels), len(part))
        for i, level in enumerate(levels):
            rows.append({GROUP: "all", "model": model, "level": level, "q": pooled[i]})
            for name, (quantiles, n) in by_group.items():
                row = {GROUP: name, "model": model, "level": level, "q": quantiles[i], "n": n}
                rows.append(row)
    return pd.DataFrame(rows)


def _lookup(quantiles: pd.DataFrame, group: np.ndarray, model: str, level: int) -> np.ndarray:
    """Quantile per row: the group's own when it had at least 30 scores, else the pooled one."""
    mine = quantiles[(quantiles["model"] == model) & (quantiles["level"] == level)]
    pooled = (
        float(mine.loc[mine[GROUP] == "all", "q"].iloc[0])
        if (mine[GROUP] == "all").any()
        else np.nan
    )
    enough = mine[
        (mine[GROUP] != "all") & (mine.get("n", pd.Series(0, index=mine.index)).fillna(0) >= 30)
    ]
    table = dict(zip(enough[GROUP], enough["q"], strict=True))
    values: np.ndarray = pd.Series(group).map(table).fillna(pooled).to_numpy(dtype=float)
    return values


def apply_intervals(
    forecasts: pd.DataFrame,
    models: Sequence[str],
    quantiles: pd.DataFrame,
    scale: pd.Series,
    groups: pd.Series,
    levels: Sequence[int],
) -> pd.DataFrame:
    """Add `<model>-lo-<L>` / `<model>-hi-<L>` around each model column."""
    out = forecasts.copy()
    # Looked up once per series and group, not once per row (millions of rows in a backtest).
    row_series, ids = pd.factorize(out[ID], sort=False)
    s = pd.Series(ids).map(scale).fillna(SCALE_FLOOR).to_numpy(dtype=float)[row_series]
    group_codes, names = pd.factorize(pd.Series(ids).map(groups).fillna("all"), sort=False)
    row_group = group_codes[row_series]
    for model in models:
        point = out[model].to_numpy(dtype=float)
        for level in levels:
            q = _lookup(quantiles, np.asarray(names), model, level)[row_group]
            out[f"{model}-lo-{level}"] = np.maximum(point - q * s, 0.0)
            out[f"{model}-hi-{level}"] = point + q * s
    return out


def backtest_intervals(
    cv: pd.DataFrame,
    models: Sequence[str],
    scale: pd.Series,
    groups: pd.Series,
    levels: Sequence[int],
    *,
    n_calibration: int,
) -> pd.DataFrame:
    """Intervals on the evaluation windows, each calibrated on the windows just before it."""
    parts = []
    for window in sorted(cv[WINDOW].unique()):
        if window < n_calibration:
            continue
        calibration = cv[(cv[WINDOW] >= window - n_calibration) & (cv[WINDOW] < window)]
        quantiles = fit_quantiles(calibration, models, scale, groups, levels)
        parts.append(
            apply_intervals(cv[cv[WINDOW] == window], models, quantiles, scale, groups, levels)
        )
    return pd.concat(parts, ignore_index=True)
