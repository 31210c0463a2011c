"""The candidate models: baselines, statistical, intermittent-demand and a global LightGBM.

Local models are statsforecast objects (each has an `alias`) run together by `LocalModels`;
the global model is `GlobalLightGBM`, one LightGBM (Tweedie objective) trained across all
series through mlforecast with lags, rolling means, calendar, price and promotion features.
Both give the same long frame: `unique_id, ds[, cutoff]` and one column per alias.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean, SeasonalRollingMean
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoARIMA,
    AutoETS,
    CrostonClassic,
    CrostonSBA,
    DynamicOptimizedTheta,
    HistoricAverage,
    Naive,
    RandomWalkWithDrift,
    SeasonalNaive,
)
from utilsforecast import processing as ufp

from shelfwise.forecast.data import DS, EXOGENOUS, ID, Y

Preset = Literal["quick", "standard", "full", "scale"]
BASELINES = ("Naive", "SeasonalNaive", "HistoricAverage", "RWD")
# ARIMA is "affordable" up to this many series (about a second per long daily series).
ARIMA_SERIES_LIMIT = 60


def baseline_models(season_length: int) -> list[Any]:
    """The four benchmarks every other model must beat."""
    return [
        Naive(),
        SeasonalNaive(season_length=season_length),
        HistoricAverage(),
        RandomWalkWithDrift(),
    ]


def statistical_models(season_length: int, *, arima: bool) -> list[Any]:
    models: list[Any] = [
        AutoETS(season_length=season_length),
        DynamicOptimizedTheta(season_length=season_length),
    ]
    if arima:
        models.append(AutoARIMA(season_length=season_length))
    return models


def intermittent_models(*, full: bool) -> list[Any]:
    """For slow movers: Croston's family, TSB, and the temporal aggregation methods."""
    models: list[Any] = [CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1)]
    if full:
        models += [CrostonClassic(), ADIDA(), IMAPA()]
    return models


class GlobalLightGBM:
    """One LightGBM across all series; fitted state in `mlf_` after `fit`.

    It learns from the last `max_train_periods` periods of each series (the periods before them
    still feed the lags: by default a year of history per series) and, above `max_train_series`
    series, from a seeded sample of that many series: the trees see plenty of rows either way,
    and every series is forecast from its own history.
    """

    def __init__(
        self,
        *,
        season_length: int = 7,
        alias: str = "LightGBM",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_child_samples: int = 20,
        objective: Literal["tweedie", "poisson"] = "tweedie",
        max_train_periods: int | None = 308,
        max_train_series: int | None = None,
        threads: int = 2,
        seed: int = 0,
    ) -> None:
        self.alias = alias
        self.season_length = season_length
        self.max_train_periods = max_train_periods
        self.max_train_series = max_train_series
        self.seed = seed
        self.params: dict[str, Any] = {
            "objective": objective,
            "n_estimators": n_estimators,
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_child_samples": min_child_samples,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "n_jobs": threads,
            "random_state": seed,
            "verbosity": -1,
        }
        if objective == "tweedie":
            self.params["tweedie_variance_power"] = 1.2
        self.threads = threads
        self.mlf_: MLForecast | None = None

    def _lags(self) -> list[int]:
        m = self.season_length
        return [1, 2, 7, 14, 28] if m == 7 else sorted({1, 2, m})

    def _lag_transforms(self) -> dict[int, list[Any]]:
        m = self.season_length
        if m == 7:
            return {
                1: [RollingMean(window_size=7), RollingMean(window_size=28)],
                7: [
                    RollingMean(window_size=7),
                    SeasonalRollingMean(season_length=7, window_size=4),
                ],
            }
        return {1: [RollingMean(window_size=min(m, 3)), RollingMean(window_size=m)]}

    def min_history(self) -> int:
        """Periods a series needs before its first row has every feature."""
        longest_window = max(
            t.window_size * getattr(t, "season_length", 1)
            for ts in self._lag_transforms().values()
            for t in ts
        )
        return int(max(self._lags()) + longest_window + 1)

    def _engine(self, freq: str) -> MLForecast:
        date_features = (
            ["dayofweek", "month", "day"] if freq == "D" else ["month"] if freq[0] in "WM" else []
        )
        return MLForecast(
            models={self.alias: LGBMRegressor(**self.params)},
            freq=freq,
            lags=self._lags(),
            lag_transforms=self._lag_transforms(),
            date_features=date_features,
            num_threads=self.threads,
        )

    def _input_size(self) -> int | None:
        """Periods per series handed to mlforecast: the training periods plus the warm-up whose
        rows only feed the lags (mlforecast drops rows with incomplete features)."""
        if self.max_train_periods is None:
            return None
        return self.max_train_periods + self.min_history()

    def _recent(self, df: pd.DataFrame) -> pd.DataFrame:
        keep = self._input_size()
        return df if keep is None else df.groupby(ID, sort=False).tail(keep)

    def _lag_window(self, df: pd.DataFrame) -> pd.DataFrame:
        """The last periods of each series that the next forecast's features read."""
        return df.groupby(ID, sort=False).tail(self.min_history())

    def _training_rows(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows the trees learn from: recent periods of (a seeded sample of) the series."""
        limit = getattr(self, "max_train_series", None)
        ids = df[ID].unique()
        if limit is not None and len(ids) > limit:
            rng = np.random.default_rng(getattr(self, "seed", 0))
            chosen = rng.choice(ids, size=limit, replace=False)
            df = df[df[ID].isin(chosen)]
        return self._recent(df)

    def cross_validation(
        self, df: pd.DataFrame, *, freq: str, h: int, n_windows: int, step_size: int, refit: bool
    ) -> pd.DataFrame:
        """Rolling-origin forecasts. With `refit=False` the trees are trained once, on data up to
        the first cutoff, and every window is forecast from its own history as `predict` does:
        no window sees its future, and LightGBM trains once instead of once per window."""
        input_size = self._input_size()
        keep = None if input_size is None else input_size + (n_windows - 1) * step_size + h
        frame = df if keep is None else df.groupby(ID, sort=False).tail(keep)
        splits = ufp.backtest_splits(
            frame,
            n_windows=n_windows,
            h=h,
            id_col=ID,
            time_col=DS,
            freq=freq,
            step_size=step_size,
            input_size=input_size,
        )
        results = []
        engine: MLForecast | None = None
        for window, (cutoffs, train, valid) in enumerate(splits):
            if engine is None or refit:
                engine = self._engine(freq).fit(self._training_rows(train), static_features=[])
            future = valid.drop(columns=[Y])
            forecast = engine.predict(h, new_df=self._lag_window(train), X_df=future)
            forecast = forecast.merge(cutoffs, on=ID, how="left")
            results.append(valid[[ID, DS]].merge(forecast, on=[ID, DS], how="left"))
            if results[-1][self.alias].isna().any():
                raise ValueError(
                    f"{self.alias} gave no forecast for some days of window {window}: the series "
                    f"must have every {freq} period (fill gaps with zero sales)"
                )
        # Series-major, like statsforecast's backtest, so the two line up row for row.
        frame = pd.concat(results, ignore_index=True)[[ID, DS, "cutoff", self.alias]]
        order = np.argsort(pd.factorize(frame[ID], sort=True)[0], kind="stable")
        return frame.take(order).reset_index(drop=True)

    def fit(self, df: pd.DataFrame, *, freq: str) -> GlobalLightGBM:
        self.mlf_ = self._engine(freq).fit(self._training_rows(df), static_features=[])
        return self

    def predict(
        self, h: int, *, history: pd.DataFrame | None, future: pd.DataFrame
    ) -> pd.DataFrame:
        """Forecast h periods from `history` (every series to forecast, without refitting);
        None: the series and periods the trees were trained on."""
        if self.mlf_ is None:
            raise RuntimeError("GlobalLightGBM.predict before fit")
        new_df = None if history is None else self._lag_window(history)
        return self.mlf_.predict(h, new_df=new_df, X_df=future).reset_index(drop=True)


@dataclass
class ModelSet:
    """The candidates for one run: local statsforecast models and global models."""

    local: list[Any]
    global_: list[GlobalLightGBM] = field(default_factory=list)
    season_length: int = 7

    def usable_for(self, shortest_training: int) -> ModelSet:
        """Without the global models whose features need more history than the series have."""
        kept = [m for m in self.global_ if shortest_training >= m.min_history() + 10]
        return ModelSet(local=self.local, global_=kept, season_length=self.season_length)

    @property
    def aliases(self) -> list[str]:
        return [_alias(m) for m in self.local] + [m.alias for m in self.global_]

    def only(self, aliases: Iterable[str]) -> ModelSet:
        wanted = set(aliases)
        return ModelSet(
            local=[m for m in self.local if _alias(m) in wanted],
            global_=[m for m in self.global_ if m.alias in wanted],
            season_length=self.season_length,
        )


def _alias(model: Any) -> str:
    return str(model.alias)


def model_set(preset: Preset, *, season_length: int, n_series: int, threads: int = 2) -> ModelSet:
    """`quick` for tests, `standard` for a shop, `full` for benchmarks, `scale` for M5 size.

    AutoETS and Theta take 50-300 ms per long daily series on this hardware, so `scale` keeps
    only the cheap local models and lets the global LightGBM carry the smooth series. Its
    LightGBM is a lighter one: 100 rounds of 31 leaves (instead of 300 of 63), learning from at
    most 6,000 series. At 3,050 series it trains in a third of the time of the `standard` one,
    with the same backtest WRMSSE and aggregate-level RMSSE; learning from a third of the series
    cost 0.1 % WRMSSE (docs/forecasting.md, "At M5 scale"). A shorter window (half a year) was
    cheaper still but 5-7 % worse at the aggregate levels: the trees need a year to see the
    seasons. This is what keeps 30,490 series within 15 minutes.
    """
    lightgbm = GlobalLightGBM(season_length=season_length, threads=threads)
    if preset == "quick":
        quick_gbm = GlobalLightGBM(
            season_length=season_length, threads=threads, n_estimators=60, num_leaves=15
        )
        return ModelSet(
            local=[*baseline_models(season_length), *intermittent_models(full=False)],
            global_=[quick_gbm],
            season_length=season_length,
        )
    if preset == "scale":
        light = GlobalLightGBM(
            season_length=season_length,
            threads=threads,
            n_estimators=100,
            learning_rate=0.15,
            num_leaves=31,
            min_child_samples=100,
            max_train_series=6000,
        )
        return ModelSet(
            local=[*baseline_models(season_length), *intermittent_models(full=False), ADIDA()],
            global_=[light],
            season_length=season_length,
        )
    arima = preset == "full" and n_series <= ARIMA_SERIES_LIMIT
    return ModelSet(
        local=[
            *baseline_models(season_length),
            *statistical_models(season_length, arima=arima),
            *intermittent_models(full=True),
        ],
        global_=[lightgbm],
        season_length=season_length,
    )


def local_cross_validation(
    models: list[Any],
    df: pd.DataFrame,
    *,
    freq: str,
    h: int,
    n_windows: int,
    step_size: int,
    input_size: int | None,
    n_jobs: int,
) -> pd.DataFrame:
    engine = StatsForecast(models=models, freq=freq, n_jobs=n_jobs, fallback_model=Naive())
    result = engine.cross_validation(
        h=h,
        df=df[[ID, DS, Y]],
        n_windows=n_windows,
        step_size=step_size,
        input_size=input_size,
    )
    return result.drop(columns=[Y]).reset_index(drop=True)


def local_forecast(
    models: list[Any],
    df: pd.DataFrame,
    *,
    freq: str,
    h: int,
    n_jobs: int,
    level: list[int] | None = None,
    input_size: int | None = None,
) -> pd.DataFrame:
    engine = StatsForecast(models=models, freq=freq, n_jobs=n_jobs, fallback_model=Naive())
    frame = df[[ID, DS, Y]]
    if input_size is not None:
        frame = frame.groupby(ID, sort=False).tail(input_size)
    return engine.forecast(h=h, df=frame, level=level).reset_index(drop=True)


def clip_negative(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Demand is never negative: drift and ETS can say otherwise."""
    for column in columns:
        frame[column] = np.maximum(frame[column].to_numpy(dtype=float), 0.0)
    return frame


__all__ = [
    "BASELINES",
    "EXOGENOUS",
    "GlobalLightGBM",
    "ModelSet",
    "baseline_models",
    "clip_negative",
    "intermittent_models",
    "local_cross_validation",
    "local_forecast",
    "model_set",
    "statistical_models",
]
