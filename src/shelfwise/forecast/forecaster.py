"""The demand forecaster: backtest the candidates, choose per segment, reconcile, predict.

`DemandForecaster.fit` runs the rolling-origin backtest of every candidate, picks a model per
demand segment, calibrates conformal intervals, and picks the reconciliation method; what it
chose is its `recipe_`. `predict` applies the recipe to the newest data: local models are refit
on the latest history (cheap), the global LightGBM keeps its trained trees and reads the new
history. `backtest_recipe` scores a fitted recipe on a given panel with the same windows, which
is how a candidate is compared with the current champion.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from statsforecast.models import DynamicOptimizedTheta, HistoricAverage

from shelfwise.forecast.backtest import (
    ACTUAL,
    CUTOFF,
    WINDOW,
    BacktestPlan,
    attach_actuals,
    run_backtest,
)
from shelfwise.forecast.data import DS, ID, DemandPanel, Y, future_exogenous
from shelfwise.forecast.hierarchy import (
    BOTTOM,
    DENSE_LIMIT,
    LEVELS,
    Hierarchy,
    aggregate,
    build_hierarchy,
    method_label,
    reconcile,
)
from shelfwise.forecast.intervals import (
    apply_intervals,
    backtest_intervals,
    fit_quantiles,
    series_scale,
)
from shelfwise.forecast.metrics import INTERVAL_LEVELS, score_series, summarize, training_scales
from shelfwise.forecast.models import (
    ModelSet,
    Preset,
    clip_negative,
    local_cross_validation,
    local_forecast,
    model_set,
)
from shelfwise.forecast.selection import (
    CHOSEN,
    ENSEMBLE,
    NEW_SERIES_MODEL,
    add_chosen,
    add_ensemble,
    choose_per_segment,
    classify_series,
    ensemble_members,
    weighted_segment_score,
)

Progress = Callable[[str], None]
RECONCILERS = ("BottomUp", "MinTrace")
UPPER_MODEL = "DynamicOptimizedTheta"
UPPER_LEVELS = tuple(level for level in LEVELS if level != BOTTOM)


@dataclass(frozen=True)
class ForecastConfig:
    """What to forecast and how hard to try."""

    h: int = 28
    preset: Preset = "standard"
    n_calibration: int = 2
    n_evaluation: int = 2
    levels: tuple[int, ...] = INTERVAL_LEVELS
    n_jobs: int = 1
    threads: int = 1  # LightGBM threads: OpenMP spin-waits badly on a shared, busy machine
    input_size: int | None = 365
    refit_global: bool = True
    reconcile: bool = True
    # Upper levels with at most this many series get their own Theta base forecasts;
    # larger levels (products) use the sum of their bottom forecasts as base.
    upper_local_limit: int = 200
    # Restrict the candidates to these aliases (None: the whole preset).
    models: tuple[str, ...] | None = None

    def plan(self) -> BacktestPlan:
        return BacktestPlan(
            h=self.h, n_calibration=self.n_calibration, n_evaluation=self.n_evaluation
        )


@dataclass
class Recipe:
    """What the backtest chose; all a prediction needs besides the fitted global model."""

    choice: dict[str, str]
    ensemble: dict[str, list[str]]
    reconciler: str
    bottom_quantiles: pd.DataFrame
    upper_quantiles: pd.DataFrame
    residuals: pd.DataFrame | None = None  # unique_id, ds, y, Chosen: for MinTrace at predict time

    def models_needed(self, segments: set[str]) -> set[str]:
        needed = {NEW_SERIES_MODEL}
        for segment in segments:
            model = self.choice.get(segment)
            if model == ENSEMBLE:
                needed |= set(self.ensemble.get(segment, []))
            elif model:
                needed.add(model)
        return needed


@dataclass
class BacktestReport:
    """Everything the backtest measured; `score` (WRMSSE of the choice) decides promotions."""

    cutoffs: list[pd.Timestamp]
    segments: pd.DataFrame
    summary: pd.DataFrame  # one row per model over the evaluation windows
    by_segment: pd.DataFrame  # segment, model, score
    levels: pd.DataFrame  # level, method, metrics
    cv: pd.DataFrame  # bottom-level evaluation rows with intervals
    score: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class ForecastOutput:
    bottom: pd.DataFrame  # unique_id, product_id, location_id, ds, model, yhat, lo_80 ...
    levels: pd.DataFrame  # level, unique_id, ds, yhat, lo_80 ...
    reconciler: str


class DemandForecaster:
    """Backtest-chosen, interval-calibrated, reconciled forecasts for a demand panel."""

    def __init__(self, config: ForecastConfig | None = None) -> None:
        self.config = config or ForecastConfig()
        self.models_: ModelSet | None = None
        self.recipe_: Recipe | None = None
        self.report_: BacktestReport | None = None
        self.trained_until_: pd.Timestamp | None = None
        self.freq_: str = "D"
        self.season_length_: int = 7

    # ---------------------------------------------------------------- fitting

    def fit(self, panel: DemandPanel, progress: Progress | None = None) -> DemandForecaster:
        say = progress or (lambda _stage: None)
        cfg, plan = self.config, self.config.plan()
        self.freq_, self.season_length_ = panel.freq, panel.season_length
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round(now - clock, 2)
            clock = now

        say("classifying series")
        train = panel.training_frame()
        segments = classify_series(train, min_history=plan.min_history(panel.season_length))
        segment_of = segments.set_index(ID)["segment"]
        models = model_set(
            cfg.preset,
            season_length=panel.season_length,
            n_series=panel.n_series,
            threads=cfg.threads,
        )
        if cfg.models is not None:
            models = models.only(cfg.models)
        lap("classify")

        say("backtesting every candidate")
        eligible = segment_of[segment_of != "new"].index
        if len(eligible) == 0:
            raise ValueError(
                f"no series has the {plan.min_history(panel.season_length)} periods of history the "
                f"backtest needs (horizon {plan.h}, {plan.n_windows} windows): shorten --horizon"
            )
        shortest = int(segments.loc[segments["segment"] != "new", "history"].min()) - plan.span()
        models = models.usable_for(shortest)
        cv = self._backtest(panel, _only_series(train, segment_of, eligible), models, timings)
        lap("backtest")

        say("choosing per segment")
        scales = training_scales(train, panel.season_length, until=cv[CUTOFF].min())
        weights = panel.revenue_weights(28)
        calibration = cv[cv[WINDOW] < plan.n_calibration]
        calibration_scores = weighted_segment_score(
            score_series(calibration, models.aliases, scales, actual=ACTUAL), weights, segment_of
        )
        members = ensemble_members(calibration_scores, models.aliases)
        cv = add_ensemble(cv, members, segment_of)
        candidates = [*models.aliases, ENSEMBLE]
        evaluation = cv[cv[WINDOW] >= plan.n_calibration]
        per_series = score_series(evaluation, candidates, scales, actual=ACTUAL)
        by_segment = weighted_segment_score(per_series, weights, segment_of)
        choice = choose_per_segment(by_segment, candidates)
        choice["new"] = NEW_SERIES_MODEL
        cv = add_chosen(cv, choice, segment_of)
        lap("select")

        say("calibrating intervals")
        scale = series_scale(scales)
        scored = [*candidates, CHOSEN]
        with_intervals = backtest_intervals(
            cv, scored, scale, segment_of, cfg.levels, n_calibration=plan.n_calibration
        )
        summary = summarize(score_series(with_intervals, scored, scales, actual=ACTUAL), weights)
        latest = cv[cv[WINDOW] >= plan.n_windows - plan.n_calibration]
        bottom_quantiles = fit_quantiles(latest, [CHOSEN], scale, segment_of, cfg.levels)
        score = float(summary.loc[summary["model"] == CHOSEN, "wrmsse"].iloc[0])
        lap("intervals")

        reconciler, upper_quantiles, levels_table, residuals = (
            "BottomUp",
            pd.DataFrame(),
            pd.DataFrame(),
            None,
        )
        if cfg.reconcile:
            say("reconciling the hierarchy")
            reconciler, upper_quantiles, levels_table, residuals = self._hierarchy_backtest(
                panel, cv, eligible, scale, segment_of, scales
            )
            lap("reconcile")

        say("fitting the final models")
        needed = Recipe(
            choice, members, reconciler, bottom_quantiles, upper_quantiles
        ).models_needed(set(segment_of.unique()))
        for model in models.global_:
            if model.alias in needed:
                model.fit(train, freq=panel.freq)
        self.models_ = models.only(needed | {m.alias for m in models.global_ if m.mlf_ is not None})
        lap("final_fit")

        self.recipe_ = Recipe(
            choice, members, reconciler, bottom_quantiles, upper_quantiles, residuals
        )
        self.trained_until_ = panel.end
        self.report_ = BacktestReport(
            cutoffs=[pd.Timestamp(c) for c in sorted(cv[CUTOFF].unique())],
            segments=segments,
            summary=summary,
            by_segment=by_segment,
            levels=levels_table,
            cv=with_intervals,
            score=score,
            timings=timings,
        )
        return self

    def _backtest(
        self,
        panel: DemandPanel,
        train: pd.DataFrame,
        models: ModelSet,
        timings: dict[str, float] | None = None,
    ) -> pd.DataFrame:
        cfg = self.config
        cv = run_backtest(
            train,
            cfg.plan(),
            models,
            freq=panel.freq,
            n_jobs=cfg.n_jobs,
            input_size=cfg.input_size,
            refit_global=cfg.refit_global,
            timings=timings,
        )
        return attach_actuals(cv, panel.frame)

    def _hierarchy_backtest(
        self,
        panel: DemandPanel,
        cv: pd.DataFrame,
        eligible: pd.Index,
        bottom_scale: pd.Series,
        segment_of: pd.Series,
        bottom_scales: pd.DataFrame,
    ) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Base forecasts at every level, both reconcilers per evaluation window, the better one.

        `bottom_scales`: `training_scales` of the bottom series up to the first cutoff."""
        cfg, plan = self.config, self.config.plan()
        hierarchy = build_hierarchy(panel.attributes[panel.attributes[ID].isin(set(eligible))])
        level_of = hierarchy.level_of()
        # Series outside the hierarchy (not eligible) are left out of the sums.
        upper_history = aggregate(panel.frame, hierarchy, [Y], levels=UPPER_LEVELS)
        upper_cv = self._upper_base_backtest(upper_history, cv, hierarchy)
        bottom = cv[[ID, DS, CUTOFF, WINDOW, CHOSEN, Y, ACTUAL]]
        base = pd.concat([upper_cv, bottom], ignore_index=True)
        upper_scales = training_scales(upper_history, panel.season_length, until=cv[CUTOFF].min())
        scale = pd.concat([series_scale(upper_scales), bottom_scale])
        all_scales = pd.concat([upper_scales, bottom_scales])

        rows = []
        reconciled: dict[str, pd.DataFrame] = {}
        # hierarchicalforecast densifies the summing matrix for MinTrace: over 20 GB at M5 scale
        # (measured), so large hierarchies are reconciled bottom-up only.
        methods = RECONCILERS if hierarchy.n_series <= DENSE_LIMIT else ("BottomUp",)
        for method in methods:
            parts = []
            try:
                for window in range(plan.n_calibration, plan.n_windows):
                    current = base[base[WINDOW] == window].reset_index(drop=True)
                    past = base[base[WINDOW] < window]
                    residuals = past[[ID, DS, Y, CHOSEN]].rename(columns={Y: "y"})
                    current["Reconciled"] = reconcile(
                        current, hierarchy, model=CHOSEN, method=method, residuals=residuals
                    ).to_numpy()
                    parts.append(current)
            except Exception as exc:  # numerical failure of one method: the other still stands
                if method == "BottomUp":
                    raise
                warnings.warn(
                    f"{method} reconciliation failed ({exc}); using BottomUp", stacklevel=2
                )
                continue
            reconciled[method] = pd.concat(parts, ignore_index=True)
        quantile_groups = pd.concat([level_of[level_of != BOTTOM], segment_of])
        for method, frame in reconciled.items():
            intervals = []
            for window in range(plan.n_calibration, plan.n_windows):
                calibration = base[
                    (base[WINDOW] >= window - plan.n_calibration) & (base[WINDOW] < window)
                ]
                quantiles = fit_quantiles(calibration, [CHOSEN], scale, quantile_groups, cfg.levels)
                quantiles = quantiles.assign(model="Reconciled")
                intervals.append(
                    apply_intervals(
                        frame[frame[WINDOW] == window],
                        ["Reconciled"],
                        quantiles,
                        scale,
                        quantile_groups,
                        cfg.levels,
                    )
                )
            scored_frame = pd.concat(intervals, ignore_index=True)
            # Bottom series are scored on uncensored days, upper ones on summed demand.
            scored_frame[ACTUAL] = np.where(
                scored_frame[ID].map(level_of) == BOTTOM, scored_frame[ACTUAL], scored_frame[Y]
            )
            per_series = score_series(scored_frame, ["Reconciled"], all_scales, actual=ACTUAL)
            per_series["level"] = per_series[ID].map(level_of)
            for level, group in per_series.groupby("level", sort=False):
                row = summarize(group).iloc[0].to_dict()
                row.update({"level": level, "method": method_label(method, hierarchy.n_series)})
                rows.append(row)
        levels_table = pd.DataFrame(rows).drop(columns=["model"])
        mean_by_method = levels_table.groupby("method")["rmsse"].mean()
        best_label = str(mean_by_method.idxmin())
        best = "BottomUp" if best_label == "BottomUp" else "MinTrace"
        latest = base[base[WINDOW] >= plan.n_windows - plan.n_calibration]
        upper_quantiles = fit_quantiles(latest, [CHOSEN], scale, quantile_groups, cfg.levels)
        residuals_latest = latest[[ID, DS, Y, CHOSEN]].reset_index(drop=True)
        levels_table["chosen"] = levels_table["method"] == best_label
        return best, upper_quantiles, levels_table, residuals_latest

    def _upper_base_backtest(
        self, upper_history: pd.DataFrame, cv: pd.DataFrame, hierarchy: Hierarchy
    ) -> pd.DataFrame:
        """Base forecasts for aggregate series in every backtest window."""
        cfg, plan = self.config, self.config.plan()
        level_of = hierarchy.level_of()
        sizes = hierarchy.series.groupby("level").size()
        own = set(sizes[sizes <= cfg.upper_local_limit].index) - {BOTTOM}
        own_ids = upper_history[upper_history[ID].map(level_of).isin(own)]
        parts = []
        if len(own_ids):
            theta = local_cross_validation(
                [DynamicOptimizedTheta(season_length=self.season_length_)],
                own_ids,
                freq=self.freq_,
                h=plan.h,
                n_windows=plan.n_windows,
                step_size=plan.step,
                input_size=cfg.input_size,
                n_jobs=cfg.n_jobs,
            ).rename(columns={UPPER_MODEL: CHOSEN})
            parts.append(clip_negative(theta, [CHOSEN]))
        summed_levels = [level for level in UPPER_LEVELS if level in set(sizes.index) - own]
        parts.append(
            aggregate(
                cv[[ID, DS, CUTOFF, CHOSEN]],
                hierarchy,
                [CHOSEN],
                keys=[DS, CUTOFF],
                levels=summed_levels,
            )
        )
        upper = pd.concat(parts, ignore_index=True)
        windows = {c: i for i, c in enumerate(sorted(cv[CUTOFF].unique()))}
        upper[WINDOW] = upper[CUTOFF].map(windows).astype(int)
        upper = upper.merge(upper_history[[ID, DS, Y]], on=[ID, DS], how="left")
        upper[ACTUAL] = upper[Y]
        return upper

    def for_serving(self) -> DemandForecaster:
        """A copy without the bulky backtest rows (they are logged as artifacts instead)."""
        copy = DemandForecaster(self.config)
        copy.__dict__.update(self.__dict__)
        if self.report_ is not None:
            copy.report_ = replace(self.report_, cv=self.report_.cv.iloc[0:0])
        return copy

    # ---------------------------------------------------------------- champion comparison

    def recipe_backtest(self, panel: DemandPanel) -> pd.DataFrame:
        """The backtest rows of this fitted recipe's choices on `panel` (same windows as
        `self.config`), with a `Chosen` column: what a champion would have forecast."""
        recipe = self._fitted_recipe()
        assert self.models_ is not None
        plan = self.config.plan()
        train = panel.training_frame()
        segments = classify_series(train, min_history=plan.min_history(panel.season_length))
        segment_of = segments.set_index(ID)["segment"]
        eligible = segment_of[segment_of != "new"].index
        local = model_set(
            self.config.preset,
            season_length=panel.season_length,
            n_series=panel.n_series,
            threads=self.config.threads,
        ).local
        # The recipe's own global models (their hyperparameters), retrained in every window.
        models = ModelSet(
            local=local, global_=self.models_.global_, season_length=panel.season_length
        )
        models = models.only(recipe.models_needed(set(segment_of.unique())))
        cv = self._backtest(panel, _only_series(train, segment_of, eligible), models)
        members = {s: [m for m in ms if m in models.aliases] for s, ms in recipe.ensemble.items()}
        cv = add_ensemble(cv, {s: ms for s, ms in members.items() if ms}, segment_of)
        return add_chosen(cv, recipe.choice, segment_of)

    def backtest_recipe(self, panel: DemandPanel) -> float:
        """WRMSSE of this fitted recipe's choices on `panel`, with the windows of `self.config`."""
        plan = self.config.plan()
        cv = self.recipe_backtest(panel)
        train = panel.training_frame()
        scales = training_scales(train, panel.season_length, until=cv[CUTOFF].min())
        evaluation = cv[cv[WINDOW] >= plan.n_calibration]
        summary = summarize(
            score_series(evaluation, [CHOSEN], scales, actual=ACTUAL), panel.revenue_weights(28)
        )
        return float(summary["wrmsse"].iloc[0])

    # ---------------------------------------------------------------- prediction

    def _fitted_recipe(self) -> Recipe:
        if self.recipe_ is None or self.models_ is None:
            raise RuntimeError("the forecaster is not fitted: call fit(panel) first")
        return self.recipe_

    def predict(
        self,
        panel: DemandPanel,
        *,
        h: int | None = None,
        promotions: pd.DataFrame | None = None,
        holidays: set[pd.Timestamp] | None = None,
    ) -> ForecastOutput:
        """Forecasts with intervals for every series and level, from the panel's last day."""
        recipe = self._fitted_recipe()
        assert self.models_ is not None
        cfg = self.config
        horizon = h or cfg.h
        train = panel.training_frame()
        plan = cfg.plan()
        segments = classify_series(train, min_history=plan.min_history(panel.season_length))
        segment_of = segments.set_index(ID)["segment"]
        established = segment_of[segment_of != "new"].index
        needed = recipe.models_needed(set(segment_of.unique()))
        known = _only_series(train, segment_of, established)
        forecasts = self._base_forecasts(panel, known, needed, horizon, promotions, holidays)
        forecasts = add_ensemble(
            forecasts,
            {
                s: ms
                for s, ms in recipe.ensemble.items()
                if s in recipe.choice and recipe.choice[s] == ENSEMBLE
            },
            segment_of,
        )
        forecasts = add_chosen(forecasts, recipe.choice, segment_of)
        forecasts[CHOSEN] = forecasts[CHOSEN].fillna(forecasts[NEW_SERIES_MODEL])
        forecasts.loc[forecasts["model_of"] == "", "model_of"] = NEW_SERIES_MODEL
        scales = training_scales(train, panel.season_length)
        scale = series_scale(scales)
        bottom = apply_intervals(
            forecasts[[ID, DS, CHOSEN, "model_of"]],
            [CHOSEN],
            recipe.bottom_quantiles,
            scale,
            segment_of,
            cfg.levels,
        )
        reconciler = "none"
        levels = pd.DataFrame()
        if cfg.reconcile:
            bottom, levels, reconciler = self._reconciled(panel, bottom, horizon, scale, segment_of)
        return ForecastOutput(
            bottom=self._bottom_table(bottom, panel), levels=levels, reconciler=reconciler
        )

    def _base_forecasts(
        self,
        panel: DemandPanel,
        known: pd.DataFrame,
        needed: set[str],
        horizon: int,
        promotions: pd.DataFrame | None,
        holidays: set[pd.Timestamp] | None,
    ) -> pd.DataFrame:
        """Every needed model's forecasts for the `known` (established) series, and
        HistoricAverage over the whole history for the others (new series)."""
        assert self.models_ is not None
        cfg = self.config
        established = set(known[ID].unique())
        parts: list[pd.DataFrame] = []
        local = [m for m in self.models_.local if str(m.alias) in needed]
        if local and len(known):
            parts.append(
                local_forecast(
                    local,
                    known,
                    freq=panel.freq,
                    h=horizon,
                    n_jobs=cfg.n_jobs,
                    input_size=cfg.input_size,
                )
            )
        future = future_exogenous(panel, horizon, promotions=promotions, holidays=holidays)
        for model in self.models_.global_:
            if model.alias in needed and len(known):
                parts.append(
                    model.predict(
                        horizon, history=known, future=future[future[ID].isin(established)]
                    )
                )
        frame = future[[ID, DS]].copy()
        for part in parts:
            frame = frame.merge(part, on=[ID, DS], how="left")
        # HistoricAverage over the whole history for the series the models above did not cover.
        history = panel.training_frame()
        if NEW_SERIES_MODEL in frame.columns:
            history = history[~history[ID].isin(established)]
        if len(history):
            fallback = local_forecast(
                [HistoricAverage()], history, freq=panel.freq, h=horizon, n_jobs=1
            )
            frame = frame.merge(fallback, on=[ID, DS], how="left", suffixes=("", "_fallback"))
        if f"{NEW_SERIES_MODEL}_fallback" in frame.columns:
            frame[NEW_SERIES_MODEL] = frame[NEW_SERIES_MODEL].fillna(
                frame.pop(f"{NEW_SERIES_MODEL}_fallback")
            )
        aliases = [c for c in frame.columns if c not in (ID, DS)]
        return clip_negative(frame, aliases)

    def _reconciled(
        self,
        panel: DemandPanel,
        bottom: pd.DataFrame,
        horizon: int,
        bottom_scale: pd.Series,
        segment_of: pd.Series,
    ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        recipe = self._fitted_recipe()
        cfg = self.config
        hierarchy = build_hierarchy(panel.attributes)
        level_of = hierarchy.level_of()
        upper_history = aggregate(panel.frame, hierarchy, [Y], levels=UPPER_LEVELS)
        sizes = hierarchy.series.groupby("level").size()
        own = set(sizes[sizes <= cfg.upper_local_limit].index) - {BOTTOM}
        own_history = upper_history[upper_history[ID].map(level_of).isin(own)]
        parts = [bottom[[ID, DS, CHOSEN]]]
        if len(own_history):
            theta = local_forecast(
                [DynamicOptimizedTheta(season_length=panel.season_length)],
                own_history,
                freq=panel.freq,
                h=horizon,
                n_jobs=cfg.n_jobs,
                input_size=cfg.input_size,
            ).rename(columns={UPPER_MODEL: CHOSEN})
            parts.append(clip_negative(theta, [CHOSEN]))
        summed_levels = [level for level in UPPER_LEVELS if level in set(sizes.index) - own]
        parts.append(aggregate(bottom[[ID, DS, CHOSEN]], hierarchy, [CHOSEN], levels=summed_levels))
        base = pd.concat(parts, ignore_index=True)
        method = recipe.reconciler
        residuals = recipe.residuals
        if method == "MinTrace" and (
            residuals is None or set(residuals[ID]) != set(hierarchy.series[ID])
        ):
            method = "BottomUp"  # the hierarchy changed since training: no residuals for new series
        base["Reconciled"] = reconcile(
            base, hierarchy, model=CHOSEN, method=method, residuals=residuals
        ).to_numpy()
        upper_scales = training_scales(upper_history, panel.season_length)
        scale = pd.concat([series_scale(upper_scales), bottom_scale])
        groups = pd.concat([level_of[level_of != BOTTOM], segment_of])
        quantiles = pd.concat([recipe.bottom_quantiles, recipe.upper_quantiles]).assign(
            model="Reconciled"
        )
        with_intervals = apply_intervals(
            base[[ID, DS, "Reconciled"]], ["Reconciled"], quantiles, scale, groups, cfg.levels
        )
        with_intervals["level"] = with_intervals[ID].map(level_of)
        is_bottom = with_intervals["level"] == BOTTOM
        reconciled_bottom = with_intervals[is_bottom].merge(
            bottom[[ID, DS, "model_of"]], on=[ID, DS], how="left"
        )
        reconciled_bottom = reconciled_bottom.rename(
            columns=lambda c: c.replace("Reconciled", CHOSEN)
        )
        upper = with_intervals[~is_bottom].rename(columns=lambda c: c.replace("Reconciled", "yhat"))
        upper = upper.rename(columns=_interval_names("yhat"))
        return (
            reconciled_bottom,
            upper.reset_index(drop=True),
            method_label(method, hierarchy.n_series),
        )

    def _bottom_table(self, bottom: pd.DataFrame, panel: DemandPanel) -> pd.DataFrame:
        table = bottom.rename(columns={CHOSEN: "yhat", "model_of": "model"}).rename(
            columns=_interval_names(CHOSEN)
        )
        table = table.merge(panel.attributes[[ID, "product_id", "location_id"]], on=ID, how="left")
        columns = [ID, "product_id", "location_id", DS, "model", "yhat"]
        columns += [f"{side}_{level}" for level in self.config.levels for side in ("lo", "hi")]
        return table[columns].sort_values([ID, DS]).reset_index(drop=True)


def _only_series(frame: pd.DataFrame, segment_of: pd.Series, ids: pd.Index) -> pd.DataFrame:
    """The rows of the series in `ids`; `frame` itself when that is all of them (at M5 size a
    copy of the panel is 1 GB)."""
    if len(ids) == len(segment_of):
        return frame
    return frame[frame[ID].isin(set(ids))]


def _interval_names(model: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for level in (50, 60, 70, 80, 90, 95, 99):
        names[f"{model}-lo-{level}"] = f"lo_{level}"
        names[f"{model}-hi-{level}"] = f"hi_{level}"
    return names


def describe(report: BacktestReport) -> dict[str, Any]:
    """A small dictionary of the headline figures (for logs and the CLI)."""
    chosen = report.summary[report.summary["model"] == CHOSEN].iloc[0]
    return {
        "cutoffs": [c.date().isoformat() for c in report.cutoffs],
        "wrmsse": float(chosen["wrmsse"]),
        "coverage_80": float(chosen.get("coverage_80", np.nan)),
        "coverage_95": float(chosen.get("coverage_95", np.nan)),
        "series": len(report.segments),
    }
