"""Dagster definitions (optional extra `orchestrate`): the pipeline as assets.

    dagster dev -m shelfwise.pipeline.orchestration

Assets: `bronze` → `silver` → one asset per gold table (with its real dependencies) →
`warehouse` (the atomic publish), all made by one pipeline run (`lakehouse`, a multi-asset:
the same `run_pipeline` as `shelfwise pipeline run`, incremental, locked and in the run log).
Every gold table has an asset check (not-null and unique keys, relationships to dimensions;
`fct_sales` also reconciles with the operational store), from the run's checks step. A daily
schedule runs the pipeline; a sensor starts a run when the operational store changed (its
newest `updated_at` moved). The CLI needs no Dagster daemon.

Retraining is the `forecast` asset (group "forecast", downstream of `warehouse`): it trains a
candidate, registers it, makes it champion only if it beats the champion on the same backtest
(`forecast.service.train_and_register`), publishes `fct_forecast` from the champion and scores
past forecasts. It is NOT part of the pipeline job but has its own job, started by the
`gold_changed` sensor whenever the newest `warehouse` materialization carries a gold
fingerprint (a content hash of the gold tables) that has not been trained on yet. Why a sensor:
- the pipeline runs whenever the store changes (every few minutes on a busy shop) and daily;
  training takes minutes to tens of minutes, so it must not ride along with every run;
- a run that published unchanged gold (a quiet day) must not register yet another version;
- one retraining at a time: while one runs, the sensor waits, then trains on the newest gold;
- a failed retraining must not mark the pipeline run (whose gold is published) as failed.
Data versions (`DataVersion` = the fingerprint) also let the Dagster UI show the forecast as
stale when gold moved on. Turn the sensor on in the UI (Automation) to retrain automatically.
Like the CLI, this module composes the layers, so it may import `shelfwise.forecast` (lazily,
inside the asset: the pipeline assets load without the forecasting stack).
"""

# No `from __future__ import annotations`: Dagster reads the asset's `config` annotation at
# definition time and cannot resolve it from a string.

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Config,
    ConfigurableResource,
    DagsterInstance,
    DagsterRunStatus,
    DataVersion,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    multi_asset,
    sensor,
)
from sqlalchemy import func, select

from shelfwise.config import Settings
from shelfwise.pipeline.catalog import WATERMARK, source_tables
from shelfwise.pipeline.gold import GOLD_NAMES, GOLD_TABLES
from shelfwise.pipeline.runlog import RunSummary, StepSummary
from shelfwise.pipeline.runner import PipelineBusy, PipelineFailed, run_pipeline
from shelfwise.store.db import Database
from shelfwise.store.models import Base


class ShelfwiseResource(ConfigurableResource):  # type: ignore[type-arg]
    """Where the data lives; unset fields come from SHELFWISE_* like everywhere else."""

    home: str | None = None
    database_url: str | None = None
    lake_uri: str | None = None
    warehouse_url: str | None = None
    mlflow_uri: str | None = None
    engine: str = "duckdb"

    def settings(self) -> Settings:
        given: dict[str, Any] = {
            k: v
            for k, v in {
                "home": self.home,
                "database_url": self.database_url,
                "lake_uri": self.lake_uri,
                "warehouse_url": self.warehouse_url,
                "mlflow_uri": self.mlflow_uri,
            }.items()
            if v is not None
        }
        return Settings.model_validate(given)


def _asset_of(table: str) -> AssetKey:
    return AssetKey("silver") if table.startswith("stg_") else AssetKey(table)


# What `dim_date` spans: every day of orders, movements and purchases, and the holidays of
# the countries shops are in.
DIM_DATE_INPUTS = (
    "stg_orders",
    "stg_stock_movements",
    "stg_purchase_receipts",
    "stg_purchase_orders",
    "stg_locations",
)
CHECK = "keys_and_relationships"


def _gold_spec(name: str, inputs: tuple[str, ...], grain: str) -> AssetSpec:
    deps = sorted({_asset_of(t) for t in inputs}, key=str)
    # (skippable: a daily run keeps a table none of whose inputs changed, unmaterialized)
    return AssetSpec(name, deps=deps, group_name="gold", description=grain, skippable=True)


PIPELINE_SPECS = [
    AssetSpec(
        "bronze",
        group_name="lakehouse",
        description="new and changed operational rows appended to bronze (raw_<table>)",
        skippable=True,
    ),
    AssetSpec(
        "silver",
        deps=["bronze"],
        group_name="lakehouse",
        description="stg_<table>: typed, deduplicated, validated; bad rows in quarantine",
        skippable=True,
    ),
    _gold_spec("dim_date", DIM_DATE_INPUTS, "one row per calendar day"),
    *(_gold_spec(t.name, t.inputs, t.grain) for t in GOLD_TABLES),
    AssetSpec(
        "warehouse",
        deps=[AssetKey(name) for name in GOLD_NAMES],
        group_name="warehouse",
        description="gold published atomically to the DuckDB warehouse (and PostgreSQL if set)",
        skippable=True,
    ),
]
GOLD_CHECK_SPECS = [
    AssetCheckSpec(
        CHECK,
        asset=name,
        blocking=True,
        description="not-null and unique keys, relationships to the dimensions"
        + ("; reconciled with the operational order lines" if name == "fct_sales" else ""),
    )
    for name in GOLD_NAMES
]


FINGERPRINT = "gold_fingerprint"


def gold_fingerprint(warehouse_path: Path) -> str:
    """A content hash of the published gold tables: equal when a run changed nothing.

    Per table the row count and the sum of the rows' hashes (order-independent, and unlike XOR
    duplicate rows do not cancel); one DuckDB scan per table, cheap next to building them.
    """
    digest = hashlib.sha256()
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for name in sorted(GOLD_NAMES):
            row = con.execute(f"SELECT count(*), sum(hash(t)) FROM {name} AS t").fetchone()
            digest.update(f"{name}:{row}\n".encode())
    return digest.hexdigest()[:16]


class PipelineRunConfig(Config):
    """Launchpad settings of a pipeline run."""

    full: bool = False  # rebuild the lake from scratch (`pipeline run --full`)
    # How long to wait for another run (the CLI's, a scheduled one, `pipeline maintain`) to
    # release the pipeline's lock before failing: the daily schedule may meet a run the sensor
    # started.
    lock_wait_minutes: float = 30.0


LOCK_POLL_SECONDS = 15.0


class _StepLog:
    """The run's steps, as they finish, in the Dagster run's log."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def begin(self, total_steps: int) -> None:
        self.log.info(f"{total_steps} steps")

    def step_started(self, name: str) -> None:
        del name

    def step_finished(self, step: StepSummary) -> None:
        counts = f"read {step.rows_read:,}, written {step.rows_written:,}"
        if step.rows_quarantined:
            counts += f", quarantined {step.rows_quarantined:,}"
        line = f"{step.name}: {step.status} in {step.seconds:.2f} s ({counts})"
        self.log.info(line if step.error is None else f"{line}: {step.error}")


@multi_asset(
    name="lakehouse",
    specs=PIPELINE_SPECS,
    check_specs=GOLD_CHECK_SPECS,
    can_subset=False,
)
def lakehouse(
    context: AssetExecutionContext, config: PipelineRunConfig, shelfwise: ShelfwiseResource
) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
    """One pipeline run, exactly as `shelfwise pipeline run` makes it.

    Why one multi-asset and not a run per asset: the run is incremental (a daily run extracts
    the changed rows, merges them, recomputes the recent days and keeps the rest), takes the
    pipeline's lock (no second run, no lake maintenance, meanwhile), is logged where `shelfwise
    pipeline status` and the website read it, and publishes every gold table of one silver
    version at once. Assets rebuilt one by one redid silver and gold in full on every run,
    unlocked and unlogged. Materializing any of these assets runs the whole pipeline; a table
    the run kept as it was is not materialized again.
    """
    settings = shelfwise.settings()
    try:
        run = _run_when_free(context, config, shelfwise, settings)
    except PipelineFailed as exc:
        failed_checks = _step(exc.summary, "checks")
        if failed_checks is not None and failed_checks.status == "failed":
            yield from _check_results(failed_checks)
        raise Failure(
            description=f"pipeline run {exc.summary.run_id} failed: {exc.summary.error}",
            metadata={"run_id": exc.summary.run_id},
        ) from exc
    yield from _run_results(run, settings)


def _run_when_free(
    context: AssetExecutionContext,
    config: PipelineRunConfig,
    shelfwise: ShelfwiseResource,
    settings: Settings,
) -> RunSummary:
    """The pipeline run, once no other run holds the lock (a run refused for it has not
    started: nothing to undo), or a failure after `config.lock_wait_minutes`."""
    deadline = time.monotonic() + config.lock_wait_minutes * 60
    while True:
        try:
            return run_pipeline(
                settings, full=config.full, engine=shelfwise.engine, progress=_StepLog(context.log)
            )
        except PipelineBusy as exc:
            if time.monotonic() + LOCK_POLL_SECONDS > deadline:
                waited = f"waited {config.lock_wait_minutes:g} min (lock_wait_minutes)"
                raise Failure(description=f"{exc}; {waited}") from exc
            context.log.info(f"{exc}; trying again in {LOCK_POLL_SECONDS:g} s")
            time.sleep(LOCK_POLL_SECONDS)


def _step(run: RunSummary, name: str) -> StepSummary | None:
    return next((s for s in run.steps if s.name == name), None)


def _kept(run: RunSummary) -> set[str]:
    """Gold tables the run kept as they were (none of their inputs changed)."""
    return {
        name
        for name in GOLD_NAMES
        if (step := _step(run, f"gold {name}")) is None or "reused" in step.detail
    }


def _run_results(
    run: RunSummary, settings: Settings
) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
    """What the run materialized, and its check results (a table the run kept, or a run that
    found nothing new, was checked when it was built)."""
    checked = _step(run, "checks")
    if checked is None or checked.status == "skipped":
        reason = "nothing new in the store since the last successful run: gold kept as it was"
        for name in GOLD_NAMES:
            yield AssetCheckResult(
                asset_key=name, check_name=CHECK, passed=True, metadata={"not run": reason}
            )
        return
    extracted = [s for s in run.steps if s.name.startswith("extract ")]
    yield MaterializeResult(
        asset_key="bronze",
        metadata={
            "run_id": run.run_id,
            "new_rows": sum(s.rows_written for s in extracted),
            **{s.name.removeprefix("extract "): s.rows_written for s in extracted},
        },
    )
    staged = [s for s in run.steps if s.name.startswith("silver ")]
    yield MaterializeResult(
        asset_key="silver",
        metadata={
            "rows_read": sum(s.rows_read for s in staged),
            "rows_written": sum(s.rows_written for s in staged),
            "rows_quarantined": sum(s.rows_quarantined for s in staged),
        },
    )
    kept = _kept(run)
    for step in run.steps:
        name = step.name.removeprefix("gold ")
        if name in GOLD_NAMES and name not in kept:
            detail = {k: v for k, v in step.detail.items() if isinstance(v, str)}
            yield MaterializeResult(asset_key=name, metadata={"rows": step.rows_written, **detail})
    yield from _check_results(checked)
    published = _step(run, "publish")
    fingerprint = gold_fingerprint(settings.warehouse_path)
    yield MaterializeResult(
        asset_key="warehouse",
        metadata={
            "path": str(settings.warehouse_path),
            "run_id": run.run_id,
            "seconds": MetadataValue.float(run.seconds or 0.0),
            "kept": ", ".join(sorted(kept)) or "none",
            "patched": str(published.detail.get("patched", {})) if published else "",
            FINGERPRINT: fingerprint,
        },
        data_version=DataVersion(fingerprint),
    )


def _check_results(checks_step: StepSummary) -> Iterator[AssetCheckResult]:
    """One result per gold table from the checks step's detail ("<table>.<check>": what it
    found; "failed": the names of those that failed). A table with none was kept as it was."""
    failed = set(checks_step.detail.get("failed", []))
    for name in GOLD_NAMES:
        found = {
            check.removeprefix(f"{name}."): str(detail)
            for check, detail in checks_step.detail.items()
            if check.startswith(f"{name}.")
        }
        if not found:
            found = {"not run": "kept as it was, and checked when it was built"}
        yield AssetCheckResult(
            asset_key=name,
            check_name=CHECK,
            passed=not any(f"{name}.{check}" in failed for check in found),
            severity=AssetCheckSeverity.ERROR,
            metadata=found,
        )


class ForecastRunConfig(Config):
    """How hard retraining tries (the same knobs as `shelfwise forecast train`)."""

    preset: Literal["quick", "standard", "full", "scale"] = "standard"
    horizon: int = 28
    evaluation_windows: int = 2
    calibration_windows: int = 2


@asset(
    group_name="forecast",
    deps=[AssetKey("warehouse")],
    description="retrain, promote only if better on the same backtest, publish fct_forecast "
    "from the champion, score past forecasts",
)
def forecast(
    context: AssetExecutionContext, config: ForecastRunConfig, shelfwise: ShelfwiseResource
) -> MaterializeResult[Any]:
    from shelfwise.forecast import service
    from shelfwise.forecast.data import load_panel
    from shelfwise.forecast.forecaster import ForecastConfig

    settings = shelfwise.settings()
    panel = load_panel(settings.warehouse_path)
    trained = service.train_and_register(
        settings,
        config=ForecastConfig(
            h=config.horizon,
            preset=config.preset,
            n_evaluation=config.evaluation_windows,
            n_calibration=config.calibration_windows,
        ),
        panel=panel,
        progress=context.log.info,
    )
    context.log.info(f"version {trained.version}: {trained.reason}")
    published = service.predict_and_publish(settings, panel=panel)
    accuracy = service.score_and_publish(settings)
    metadata: dict[str, Any] = {
        "version": trained.version,
        "became_champion": trained.promoted,
        "champion": published.version,
        "reason": trained.reason,
        "backtest_wrmsse": MetadataValue.float(trained.score),
        "forecast_rows": published.rows,
        "forecast_days": f"{published.start.date()} to {published.end.date()}",
        "scored_forecast_days": len(accuracy),
        "mlflow_uri": settings.resolved_mlflow_uri,
    }
    if trained.champion_score is not None:
        metadata["champion_before"] = trained.champion_before
        metadata["champion_before_wrmsse"] = MetadataValue.float(trained.champion_score)
    return MaterializeResult(metadata=metadata)


# The run's one step in the run's own process: Dagster's default starts another process for
# it, paying Dagster's and the pipeline's imports (and, on Spark, a JVM) once more. (When the
# assets were built one by one, a process per step took 58 s for the demo data, 12 s in one.)
pipeline_job = define_asset_job(
    "shelfwise_pipeline",
    selection=AssetSelection.all() - AssetSelection.groups("forecast"),
    executor_def=in_process_executor,
)
forecast_job = define_asset_job("shelfwise_forecast", selection=AssetSelection.assets(forecast))
daily = ScheduleDefinition(name="daily_pipeline", job=pipeline_job, cron_schedule="0 2 * * *")


def store_high_water_mark(settings: Settings) -> str | None:
    """Newest `updated_at` over the tables the lake takes (each is indexed: cheap)."""
    db = Database(settings.resolved_database_url)
    try:
        with db.read_session() as session:
            newest: list[Any] = []
            for table in source_tables():
                column = Base.metadata.tables[table.name].c[WATERMARK]
                newest.append(session.scalar(select(func.max(column))))
    finally:
        db.dispose()
    stamps = [str(v) for v in newest if v is not None]
    return max(stamps) if stamps else None


ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(job=pipeline_job, minimum_interval_seconds=300)
def store_changed(
    context: SensorEvaluationContext, shelfwise: ShelfwiseResource
) -> SensorResult | SkipReason:
    """Start a run when the operational store's newest `updated_at` moved; not while a
    pipeline run is under way (it would fail on the pipeline's lock): the cursor stays, so
    the change starts a run at the next tick after that one."""
    mark = store_high_water_mark(shelfwise.settings())
    if mark is None or mark == context.cursor:
        return SkipReason(f"no change since {context.cursor or 'the beginning'}")
    if context.instance.get_runs_count(RunsFilter(job_name=pipeline_job.name, statuses=ACTIVE)):
        return SkipReason("a pipeline run is under way; the store's changes are taken next")
    return SensorResult(run_requests=[RunRequest(run_key=mark)], cursor=mark)


def latest_gold_fingerprint(instance: DagsterInstance) -> str | None:
    """The fingerprint of the newest `warehouse` materialization, if there is one."""
    event = instance.get_latest_materialization_event(AssetKey("warehouse"))
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get(FINGERPRINT) if materialization else None
    return None if entry is None else str(entry.value)


@sensor(job=forecast_job, minimum_interval_seconds=60)
def gold_changed(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Retrain once per new gold: one run per fingerprint, never two retrainings at once."""
    fingerprint = latest_gold_fingerprint(context.instance)
    if fingerprint is None:
        return SkipReason("the warehouse has not been published by Dagster yet")
    if fingerprint == context.cursor:
        return SkipReason(f"gold unchanged since the last retraining ({fingerprint})")
    running = context.instance.get_runs_count(
        RunsFilter(job_name=forecast_job.name, statuses=ACTIVE)
    )
    if running:
        return SkipReason("a retraining is still running; the newest gold is trained on next")
    return SensorResult(run_requests=[RunRequest(run_key=fingerprint)], cursor=fingerprint)


defs = Definitions(
    assets=[lakehouse, forecast],
    jobs=[pipeline_job, forecast_job],
    schedules=[daily],
    sensors=[store_changed, gold_changed],
    resources={"shelfwise": ShelfwiseResource()},
)
