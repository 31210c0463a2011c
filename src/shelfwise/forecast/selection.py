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
    history = train.groupby(ID, sort=False).size().rename("history")
    recent = train.groupby(ID, sort=False).tail(recent_periods)
    nonzero = recent[recent[Y] > 0]
    stats = pd.DataFrame(
        {
            "periods": recent.groupby(ID, sort=False).size(),
            "demands": nonzero.groupby(ID, sort=False).size(),
            "mean_size": nonzero.groupby(ID, sort=False)[Y].mean(),
            "std_size": nonzero.groupby(ID, sort=False)[Y].std(ddof=0),
        }
    ).join(history, how="left")
    stats["demands"] = stats["demands"].fillna(0)
    stats["adi"] = stats["periods"] / stats["demands"].replace(0, np.nan)
    stats["cv2"] = (stats["std_size"] / stats["mean_size"]) ** 2
    smooth_interval = stats["adi"] < ADI_CUT
    stable_size = stats["cv2"].fillna(0) < CV2_CUT
    segment = np.select(
        [smooth_interval & stable_size, smooth_interval, stable_size],
        ["smooth", "erratic", "intermittent"],
        default="lumpy",
    )
    stats["segment"] = np.where(stats["history"] < min_history, "new", segment)
    # A series that never sold in its last year is left to the fallback too.
    stats.loc[stats["demands"] == 0, "segment"] = "new"
    return stats.reset_index(names=ID)[[ID, "history", "adi", "cv2", "segment"]]


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


def add_ensemble(
    cv: pd.DataFrame, members: dict[str, list[str]], segments: pd.Series
) -> pd.DataFrame:
    """An `Ensemble` column: the mean of the segment's members for each row."""
    out = cv.copy()
    out[ENSEMBLE] = np.nan
    segment_of_row = out[ID].map(segments)
    for segment, models in members.items():
        rows = (segment_of_row == segment).to_numpy()
        out.loc[rows, ENSEMBLE] = out.loc[rows, models].mean(axis=1).to_numpy()
    return out


def add_chosen(frame: pd.DataFrame, choice: dict[str, str], segments: pd.Series) -> pd.DataFrame:
    """A `Chosen` column holding, per row, the forecast of its segment's chosen model."""
    out = frame.copy()
    segment_of_row = out[ID].map(segments).fillna("new")
    chosen = np.full(len(out), np.nan)
    model_of = np.full(len(out), "", dtype=object)
    for segment, model in choice.items():
        rows = (segment_of_row == segment).to_numpy()
        if model in out.columns:
            chosen[rows] = out.loc[rows, model].to_numpy(dtype=float)
            model_of[rows] = model
    out[CHOSEN] = chosen
    out["model_of"] = model_of
    return out


def calibration_rows(cv: pd.DataFrame, n_calibration: int) -> pd.DataFrame:
    return cv[cv[WINDOW] < n_calibration]


def history_lengths(train: pd.DataFrame) -> pd.Series:
    return train.groupby(ID)[DS].size()
