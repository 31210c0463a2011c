"""Rolling-origin backtests: several forecast origins, every model refit at each one.

Windows are non-overlapping by default (step = horizon). The first `n_calibration` windows
calibrate the conformal intervals and the ensemble; the last `n_evaluation` windows score the
models, choose among them and measure interval coverage. Every series in a gold panel ends on
the same day, so all series share the same cutoffs, and two runs on the same data and plan
are scored on exactly the same windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfwise.forecast.data import DS, ID, Y
from shelfwise.forecast.models import (
    ModelSet,
    clip_negative,
    local_cross_validation,
)

WINDOW = "window"
CUTOFF = "cutoff"
ACTUAL = "y_eval"


@dataclass(frozen=True)
class BacktestPlan:
    """Horizon, number of calibration and evaluation windows, and the step between origins."""

    h: int
    n_calibration: int = 2
    n_evaluation: int = 2
    step_size: int | None = None

    @property
    def n_windows(self) -> int:
        return self.n_calibration + self.n_evaluation

    @property
    def step(self) -> int:
        return self.step_size or self.h

    def span(self) -> int:
        """Periods from the first cutoff to the end of the data."""
        return self.h + (self.n_windows - 1) * self.step

    def min_history(self, season_length: int) -> int:
        """Shortest usable series: a season (two weeks at least) before the first origin."""
        return self.span() + max(season_length + 1, 14)

    def cutoffs(self, end: pd.Timestamp, freq: str) -> list[pd.Timestamp]:
        """The forecast origins (last training period of each window), oldest first."""
        offset = pd.tseries.frequencies.to_offset(freq)
        last = pd.Timestamp(end) - offset * self.h
        return [last - offset * (self.step * k) for k in reversed(range(self.n_windows))]


def run_backtest(
    train: pd.DataFrame,
    plan: BacktestPlan,
    models: ModelSet,
    *,
    freq: str,
    n_jobs: int = 1,
    input_size: int | None = None,
    refit_global: bool = True,
    timings: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Forecasts of every model at every origin: `unique_id, ds, cutoff, window, <aliases>`.

    `timings` (optional) receives the seconds spent on the local and on the global models."""
    parts: list[pd.DataFrame] = []
    clock = time.perf_counter()
    if models.local:
        parts.append(
            local_cross_validation(
                models.local,
                train,
                freq=freq,
                h=plan.h,
                n_windows=plan.n_windows,
                step_size=plan.step,
                input_size=input_size,
                n_jobs=n_jobs,
            )
        )
    local_seconds = time.perf_counter() - clock
    for model in models.global_:
        parts.append(
            model.cross_validation(
                train,
                freq=freq,
                h=plan.h,
                n_windows=plan.n_windows,
                step_size=plan.step,
                refit=refit_global,
            )
        )
    if timings is not None:
        timings["backtest: local models"] = round(local_seconds, 2)
        timings["backtest: global models"] = round(time.perf_counter() - clock - local_seconds, 2)
    if not parts:
        raise ValueError("the backtest needs at least one model")
    cv = parts[0]
    for part in parts[1:]:
        cv = _join(cv, part, [ID, DS, CUTOFF])
    cv = clip_negative(cv, models.aliases)
    windows = {c: i for i, c in enumerate(sorted(cv[CUTOFF].unique()))}
    cv[WINDOW] = cv[CUTOFF].map(windows).astype(int)
    return cv


def _join(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Inner join on `keys`; when both frames list the same keys in the same order (the local
    and global backtests do) the columns are simply put side by side, without hashing."""
    if len(left) == len(right) and all(
        np.array_equal(left[k].to_numpy(), right[k].to_numpy()) for k in keys
    ):
        extra = [c for c in right.columns if c not in keys]
        return pd.concat([left, right[extra].set_axis(left.index)], axis=1)
    return left.merge(right, on=keys, how="inner")


def attach_actuals(cv: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Add `y` (demand estimate) and `y_eval` (sales on days not stocked out, else missing)."""
    window = frame[DS] >= cv[DS].min() if len(cv) else frame[DS] > frame[DS].max()
    actuals = pd.DataFrame(
        {
            ID: frame.loc[window, ID],
            DS: frame.loc[window, DS],
            Y: frame.loc[window, Y],
            ACTUAL: frame.loc[window, Y].where(~frame.loc[window, "stocked_out"].astype(bool)),
        }
    )
    return cv.merge(actuals, on=[ID, DS], how="left")


def evaluation_rows(cv: pd.DataFrame, plan: BacktestPlan) -> pd.DataFrame:
    return cv[cv[WINDOW] >= plan.n_calibration]


def training_before(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[frame[DS] <= cutoff]
