"""What the CLI, the Dagster assets and the demo call: train, backtest, predict, score, status.

`train_and_register` is the retraining step: fit a candidate on the current gold data, log it
as an MLflow run, register it, and make it champion only if it beats the current champion on
the same backtest windows (same data, same cutoffs; lower WRMSSE wins). `predict_and_publish`
always loads the champion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from shelfwise.config import Settings
from shelfwise.forecast import monitoring, outputs, registry, tracking
from shelfwise.forecast.data import DemandPanel, known_holidays, load_panel, planned_promotions
from shelfwise.forecast.forecaster import DemandForecaster, ForecastConfig, Progress


@dataclass(frozen=True)
class TrainingResult:
    version: str
    run_id: str
    score: float
    champion_before: str | None
    champion_score: float | None
    promoted: bool
    reason: str
    forecaster: DemandForecaster  # the fitted candidate, with its full backtest report


def train_and_register(
    settings: Settings,
    *,
    config: ForecastConfig | None = None,
    panel: DemandPanel | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Fit, log, register; promote only if better than the champion on the same windows."""
    panel = panel if panel is not None else load_panel(settings.warehouse_path)
    candidate = DemandForecaster(config).fit(panel, progress=progress)
    assert candidate.report_ is not None
    champion_before = registry.champion_version(settings)
    champion_score: float | None = None
    if champion_before is not None:
        if progress:
            progress(f"backtesting champion v{champion_before} on the same windows")
        champion = tracking.load_version(settings, champion_before)
        # Same plan (horizon, windows) as the candidate, so the cutoffs are the same.
        champion.config = replace(
            champion.config,
            h=candidate.config.h,
            n_calibration=candidate.config.n_calibration,
            n_evaluation=candidate.config.n_evaluation,
        )
        champion_score = champion.backtest_recipe(panel)
    score = candidate.report_.score
    extra = {"champion_wrmsse": champion_score} if champion_score is not None else {}
    tracked = tracking.log_run(
        settings,
        candidate,
        kind="train",
        register=True,
        extra_params={"champion_before": champion_before or "none"},
        extra_metrics={k: float(v) for k, v in extra.items()},
    )
    assert tracked.version is not None
    if champion_score is None:
        promoted, reason = True, "first version: no champion yet"
    elif score < champion_score:
        promoted = True
        reason = f"WRMSSE {score:.4f} beats champion v{champion_before}'s {champion_score:.4f}"
    else:
        promoted = False
        reason = (
            f"WRMSSE {score:.4f} does not beat champion v{champion_before}'s {champion_score:.4f}"
        )
    if promoted:
        registry.promote(settings, tracked.version)
    tracking.tag_version(settings, tracked.version, {"promotion": reason})
    return TrainingResult(
        version=tracked.version,
        run_id=tracked.run_id,
        score=score,
        champion_before=champion_before,
        champion_score=champion_score,
        promoted=promoted,
        reason=reason,
        forecaster=candidate,
    )


def backtest_and_log(
    settings: Settings,
    *,
    config: ForecastConfig | None = None,
    panel: DemandPanel | None = None,
    progress: Progress | None = None,
) -> tuple[DemandForecaster, str]:
    """Run the full backtest and log it as an MLflow run, without registering a model."""
    panel = panel if panel is not None else load_panel(settings.warehouse_path)
    forecaster = DemandForecaster(config).fit(panel, progress=progress)
    tracked = tracking.log_run(settings, forecaster, kind="backtest", register=False)
    return forecaster, tracked.run_id


@dataclass(frozen=True)
class PublishedForecast:
    version: str
    rows: int
    path: Path
    start: pd.Timestamp
    end: pd.Timestamp
    reconciler: str


def predict_and_publish(
    settings: Settings,
    *,
    h: int | None = None,
    panel: DemandPanel | None = None,
    now: datetime | None = None,
) -> PublishedForecast:
    """Forecast with the champion from the latest gold data and publish `fct_forecast`."""
    forecaster, version = registry.load_champion(settings)
    panel = panel if panel is not None else load_panel(settings.warehouse_path)
    horizon = h or forecaster.config.h
    start = panel.end + pd.Timedelta(days=1)
    end = panel.end + pd.Timedelta(days=horizon)
    promotions = planned_promotions(settings.resolved_database_url, panel.attributes, start, end)
    output = forecaster.predict(
        panel, h=horizon, promotions=promotions, holidays=known_holidays(settings.warehouse_path)
    )
    stamp = pd.Timestamp(now or datetime.now(UTC))
    created = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
    bottom = output.bottom.assign(model_version=version, created_at=created)
    levels = output.levels.assign(
        reconciler=output.reconciler, model_version=version, created_at=created
    )
    outputs.append_history(settings, bottom, origin=panel.end)
    path = outputs.publish(
        settings,
        forecast=bottom,
        levels=levels if len(levels) else None,
        accuracy=monitoring.score_history(settings),
    )
    return PublishedForecast(
        version=version,
        rows=len(bottom),
        path=path,
        start=start,
        end=end,
        reconciler=output.reconciler,
    )


def score_and_publish(settings: Settings) -> pd.DataFrame:
    """Score past forecasts against the actuals now in gold and publish `fct_forecast_accuracy`."""
    accuracy = monitoring.score_history(settings)
    outputs.publish(settings, accuracy=accuracy)
    return accuracy


def status(settings: Settings) -> dict[str, Any]:
    """Champion, registered versions, the latest forecast and the accuracy drift verdict."""
    champion = registry.champion_version(settings)
    versions = tracking.list_versions(settings)
    reference = None
    for row in versions:
        if row["version"] == champion and "backtest_mae" in row:
            reference = float(row["backtest_mae"])
    accuracy = (
        score_and_publish(settings) if outputs.history_path(settings).exists() else pd.DataFrame()
    )
    drift = monitoring.detect_drift(accuracy, reference)
    forecast = outputs.read_table(settings, "fct_forecast")
    return {
        "champion": champion,
        "versions": versions,
        "history": registry.champion_history(settings),
        "drift": drift,
        "forecast_rows": 0 if forecast is None else len(forecast),
        "forecast_created_at": None
        if forecast is None or forecast.empty
        else forecast["created_at"].max(),
    }
