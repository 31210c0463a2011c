"""Which model forecasts which series: demand segments and the backtest-based choice.

Series are put in Syntetos-Boylan segments from their last year: ADI (average periods between
non-zero demands) and CV^2 (squared coefficient of variation of the non-zero sizes), cut at
ADI 1.32 and CV^2 0.49 into smooth, erratic, intermittent and lumpy; a series too short for the
backtest is `new`. For each segment the model with the lowest revenue-weighted RMSSE over the
segment's series on the evaluation windows is chosen. An `Ensemble` candidate (mean of the
segment's three best models, ranked on the calibration windows only) competes like any other.
`new` series get HistoricAverage, the only candidate that needs no history to speak of.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shelfwise.forecast.backtest import WINDOW
from shelfwise.forecast.data import DS, ID, Y

ADI_CUT = 1.32
CV2_CUT = 0.49
SEGMENTS = ("smooth", "erratic", "intermittent", "lumpy", "new")
NEW_SERIES_MODEL = "HistoricAverage"
ENSEMBLE = "Ensemble"
CHOSEN = "Chosen"
ENSEMBLE_SIZE = 3


def classify_series(
    train: pd.DataFrame, *, min_history: int, recent_periods: int = 365
) -> pd.DataFrame:
    """`unique_id, history, adi, cv2, segment` for every series of `train`."""
    codes, ids = pd.factorize(train[ID], sort=False)
    n = len(ids)
    history = np.bincount(codes, minlength=n)
    # The last `recent_periods` rows of each series (rows are in time order within a series).
    from_end = pd.Series(codes).groupby(codes, sort=False).cumcount(ascending=False).to_numpy()
    recent = from_end < recent_periods
    y = train[Y].to_numpy(dtype=float)
    nonzero = recent & (y > 0)
    periods = np.bincount(codes[recent], minlength=n)
    demands = np.bincount(codes[nonzero], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_size = np.bincount(codes[nonzero], weights=y[nonzero], minlength=n) / demands
        deviation = y[nonzero] - mean_size[codes[nonzero]]
        std_size = np.sqrt(np.bincount(codes[nonzero], weights=deviation**2, minlength=n) / demands)
        adi = np.where(demands > 0, periods / np.where(demands > 0, demands, 1), np.nan)
        cv2 = (std_size / mean_size) ** 2
    smooth_interval = adi < ADI_CUT
    stable_size = np.nan_to_num(cv2, nan=0.0) < CV2_CUT
    segment = np.select(
        [smooth_interval & stable_size, smooth_interval, stable_size],
        ["smooth", "erratic", "intermittent"],
        default="lumpy",
    ).astype(object)
    segment[history < min_history] = "new"
    # A series that never sold in its last year is left to the fallback too.
    segment[demands == 0] = "new"
    return pd.DataFrame(
        {
            ID: np.asarray(ids, dtype=object),
            "history": history,
            "adi": adi,
            "cv2": cv2,
            "segment": segment,
        }
    )


def weighted_segment_score(
    per_series: pd.DataFrame, weights: pd.Series, segments: pd.Series
) -> pd.DataFrame:
    """`segment, model, score`: revenue-weighted mean RMSSE of the model over the segment."""
    frame = per_series[[ID, "model", "rmsse"]].dropna().copy()
    frame["segment"] = frame[ID].map(segments)
    # Every series counts a little, so segments of slow movers with tiny revenue still rank.
    frame["w"] = frame[ID].map(weights).fillna(0.0) + 1e-6
    frame["wx"] = frame["w"] * frame["rmsse"]
    grouped = frame.groupby(["segment", "model"], as_index=False)[["wx", "w"]].sum()
    grouped["score"] = grouped["wx"] / grouped["w"]
    return grouped[["segment", "model", "score"]]


def choose_per_segment(scores: pd.DataFrame, candidates: Sequence[str]) -> dict[str, str]:
    """segment -> the best candidate by score (ties go to the earlier candidate)."""
    order = {m: i for i, m in enumerate(candidates)}
    usable = scores[scores["model"].isin(order)].copy()
    usable["order"] = usable["model"].map(order)
    best = usable.sort_values(["segment", "score", "order"]).groupby("segment").head(1)
    return dict(zip(best["segment"], best["model"], strict=True))


def ensemble_members(
    scores: pd.DataFrame, candidates: Sequence[str], size: int = ENSEMBLE_SIZE
) -> dict[str, list[str]]:
    """segment -> its `size` best candidates."""
    usable = scores[scores["model"].isin(set(candidates))]
    ranked = usable.sort_values(["segment", "score"]).groupby("segment").head(size)
    return {str(seg): list(group["model"]) for seg, group in ranked.groupby("segment")}


def _segment_rows(frame: pd.DataFrame, segments: pd.Series) -> pd.Series:
    """The segment of each row's series (missing: "new"), looked up once per series."""
    codes, ids = pd.factorize(frame[ID], sort=False)
    per_series = pd.Series(ids).map(segments).fillna("new").to_numpy()
    return pd.Series(per_series[codes] if len(codes) else per_series, index=frame.index)


def add_ensemble(
    cv: pd.DataFrame, members: dict[str, list[str]], segments: pd.Series
) -> pd.DataFrame:
    """An `Ensemble` column: the mean of the segment's members for each row."""
    out = cv.copy()
    ensemble = np.full(len(out), np.nan)
    segment_of_row = _segment_rows(out, segments).to_numpy()
    for segment, models in members.items():
        rows = segment_of_row == segment
        ensemble[rows] = out.loc[rows, models].mean(axis=1).to_numpy()
    out[ENSEMBLE] = ensemble
    return out


def add_chosen(frame: pd.DataFrame, choice: dict[str, str], segments: pd.Series) -> pd.DataFrame:
    """A `Chosen` column holding, per row, the forecast of its segment's chosen model."""
    out = frame.copy()
    segment_of_row = _segment_rows(out, segments).to_numpy()
    chosen = np.full(len(out), np.nan)
    model_of = np.full(len(out), "", dtype=object)
    for segment, model in choice.items():
        rows = segment_of_row == segment
        if model in out.columns:
            chosen[rows] = out[model].to_numpy(dtype=float)[rows]
            model_of[rows] = model
    out[CHOSEN] = chosen
    out["model_of"] = model_of
    return out


def calibration_rows(cv: pd.DataFrame, n_calibration: int) -> pd.DataFrame:
    return cv[cv[WINDOW] < n_calibration]


def history_lengths(train: pd.DataFrame) -> pd.Series:
    return train.groupby(ID)[DS].size()
