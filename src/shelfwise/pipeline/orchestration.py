"""Dagster definitions (optional extra `orchestrate`): the pipeline as assets.

    dagster dev -m shelfwise.pipeline.orchestration

Assets: `bronze` (extract) → `silver` → one asset per gold table (with its real dependencies)
→ `warehouse` (the atomic publish). Every gold table has an asset check (not-null and unique
keys, relationships to dimensions); `fct_sales` also reconciles with the operational store.
A daily schedule runs the pipeline; a sensor starts a run when the operational store changed
(its newest `updated_at` moved). The steps are the same functions `shelfwise pipeline run`
uses; the CLI needs no Dagster daemon.

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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Config,
    ConfigurableResource,
    DagsterInstance,
    DagsterRunStatus,
    DataVersion,
    Definitions,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
    sensor,
)
from sqlalchemy import func, select

from shelfwise.config import Settings
from shelfwise.pipeline import checks
from shelfwise.pipeline.catalog import WATERMARK, source_tables
from shelfwise.pipeline.duckdb_support import attach_source, connect
from shelfwise.pipeline.engines import open_engine
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.extract import extract_table
from shelfwise.pipeline.gold import GOLD_NAMES, GOLD_TABLES, GoldTable
from shelfwise.pipeline.lake import Lake
from shelfwise.pipeline.maintenance import maintain_if_due
from shelfwise.pipeline.publish import publish_postgres, publish_warehouse
from shelfwise.pipeline.runner import (
    build_dim_date,
    build_gold_table,
    comments_for,
    warehouse_tables,
)
from shelfwise.pipeline.settings import PipelineSettings
from shelfwise.pipeline.silver import QUARANTINE, build_silver_table, quarantine_union
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

    @contextmanager
    def open(self) -> Iterator[tuple[Settings, Engine]]:
        settings = self.settings()
        engine = open_engine(self.engine, settings.resolved_lake_uri, PipelineSettings())
        try:
            yield settings, engine
        finally:
            engine.close()


def _layer_of(table: str) -> str:
    return "silver" if table.startswith("stg_") else "gold"


def _asset_of(table: str) -> AssetKey:
    return AssetKey("silver") if table.startswith("stg_") else AssetKey(table)


@asset(group_name="lakehouse", description="Changed operational rows appended to bronze")
def bronze(shelfwise: ShelfwiseResource) -> MaterializeResult[Any]:
    settings = shelfwise.settings()
    options = PipelineSettings()
    with shelfwise.open() as (_, engine):
        con = connect(options.duckdb_memory_limit)
        try:
            backend = attach_source(con, settings.resolved_database_url)
            now = datetime.now(UTC).replace(tzinfo=None)
            batch = f"dagster-{uuid.uuid4().hex[:8]}"
            written = {
                t.name: extract_table(
                    con,
                    backend=backend,
                    table=t,
                    lake=engine.lake,
                    batch_id=batch,
                    extracted_at=now,
                    full=False,
                    overlap=timedelta(seconds=options.pipeline_overlap_seconds),
                ).rows_written
                for t in reversed(source_tables())
            }
        finally:
            con.close()
    return MaterializeResult(metadata={"new_rows": sum(written.values()), **written})


@asset(
    group_name="lakehouse",
    deps=[bronze],
    description="stg_<table>: typed, deduplicated, validated; bad rows in quarantine",
)
def silver(shelfwise: ShelfwiseResource) -> MaterializeResult[Any]:
    now = datetime.now(UTC).replace(tzinfo=None)
    quarantined = 0
    with shelfwise.open() as (_, engine):
        tables = list(source_tables())
        for table in tables:
            engine.ensure(table.layer, table.raw)
            result = build_silver_table(engine, table, now)
            engine.save("eval" if table.evaluation_only else "silver", table.staged)
            if engine.has(f"{table.staged}_history"):
                engine.save("silver", f"{table.staged}_history")
            quarantined += result.rows_quarantined
        engine.materialize(QUARANTINE, quarantine_union(tables))
        engine.save("silver", QUARANTINE)
    return MaterializeResult(metadata={"rows_quarantined": quarantined})


def _gold_asset(
    name: str, inputs: tuple[str, ...], grain: str, build: Callable[[Engine], int]
) -> AssetsDefinition:
    deps = sorted({_asset_of(t) for t in inputs}, key=str)

    @asset(name=name, group_name="gold", deps=deps, description=grain)
    def _build(shelfwise: ShelfwiseResource) -> MaterializeResult[Any]:
        with shelfwise.open() as (_, engine):
            for table in inputs:
                engine.ensure(_layer_of(table), table)
            rows = build(engine)
            engine.save("gold", name)
        return MaterializeResult(metadata={"rows": rows, "grain": grain})

    return _build


def _gold_check(table: GoldTable) -> AssetChecksDefinition:
    @asset_check(asset=AssetKey(table.name), name="keys_and_relationships", blocking=True)
    def _check(shelfwise: ShelfwiseResource) -> AssetCheckResult:
        with shelfwise.open() as (settings, engine):
            needed = {table.name, *(parent for parent, _ in table.references.values())}
            for name in needed:
                engine.ensure("gold", name)
            results = checks.structural_checks(engine, (table,))
            if table.name == "fct_sales":
                results.append(_reconcile(settings, engine))
        failed = [r for r in results if not r.passed]
        return AssetCheckResult(
            passed=not failed,
            severity=AssetCheckSeverity.ERROR,
            metadata={r.check: r.detail for r in results},
        )

    return _check


def _reconcile(settings: Settings, engine: Engine) -> checks.CheckResult:
    engine.ensure("silver", "stg_order_lines")
    engine.ensure("silver", QUARANTINE)
    engine.materialize(
        "_quarantine_order_lines",
        f"SELECT * FROM {QUARANTINE} WHERE source_table = 'order_lines'",
    )
    newest = engine.scalar("SELECT MAX(updated_at) FROM stg_order_lines")
    cutoff = (newest or datetime(1970, 1, 1)) - timedelta(
        seconds=PipelineSettings().pipeline_overlap_seconds
    )
    con = connect()
    try:
        backend = attach_source(con, settings.resolved_database_url)
        return checks.reconcile_sales(engine, con, backend=backend, cutoff=cutoff)
    finally:
        con.close()


def _builder(table: GoldTable) -> Callable[[Engine], int]:
    def build(engine: Engine) -> int:
        return build_gold_table(engine, table)

    return build


GOLD_ASSETS = [
    _gold_asset(
        "dim_date",
        (
            "stg_orders",
            "stg_stock_movements",
            "stg_purchase_receipts",
            "stg_purchase_orders",
            "stg_locations",
        ),
        "one row per calendar day",
        build_dim_date,
    ),
    *(_gold_asset(t.name, t.inputs, t.grain, _builder(t)) for t in GOLD_TABLES),
]
DIM_DATE_CHECK = _gold_check(checks.DIM_DATE)
GOLD_CHECKS = [DIM_DATE_CHECK, *(_gold_check(t) for t in GOLD_TABLES)]


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


@asset(
    group_name="warehouse",
    deps=[AssetKey(name) for name in GOLD_NAMES],
    description="gold published atomically to the DuckDB warehouse (and PostgreSQL if set)",
)
def warehouse(shelfwise: ShelfwiseResource) -> MaterializeResult[Any]:
    with shelfwise.open() as (settings, engine):
        items = warehouse_tables(engine.lake.exists)
        comments = comments_for(items)
        publish_warehouse(
            settings.warehouse_path,
            engine.lake,
            items,
            run_id=f"dagster-{uuid.uuid4().hex[:8]}",
            comments=comments,
        )
        if settings.warehouse_url:
            publish_postgres(settings.warehouse_url, engine.lake, items, comments)
        maintained = _maintain_if_due(engine.lake)
    fingerprint = gold_fingerprint(settings.warehouse_path)
    return MaterializeResult(
        metadata={
            "path": str(settings.warehouse_path),
            FINGERPRINT: fingerprint,
            "lake maintenance": maintained,
        },
        data_version=DataVersion(fingerprint),
    )


def _maintain_if_due(lake: Lake) -> str:
    """The lake's weekly compaction and vacuum, as `shelfwise pipeline run` does them."""
    result = maintain_if_due(lake, PipelineSettings(), datetime.now(UTC))
    if result is None:
        return "not due"
    return f"{result.files_compacted} files compacted, {result.files_removed} deleted"


class ForecastRunConfig(Config):
    """How hard retraining tries (the same knobs as `shelfwise forecast train`)."""

    preset: Literal["quick", "standard", "full", "scale"] = "standard"
    horizon: int = 28
    evaluation_windows: int = 2
    calibration_windows: int = 2


@asset(
    group_name="forecast",
    deps=[warehouse],
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


# Every step of a run in one process: the steps share one lake on local disk and each DuckDB
# (or Spark) statement already uses every core, while Dagster's default, a process per step,
# paid Dagster's and the pipeline's imports (and, on Spark, a JVM) ~30 times: a run of the demo
# data took 58 s that way and 12 s in one process (`dagster job execute`, 2 cores).
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


@sensor(job=pipeline_job, minimum_interval_seconds=300)
def store_changed(
    context: SensorEvaluationContext, shelfwise: ShelfwiseResource
) -> SensorResult | SkipReason:
    """Start a run when the operational store's newest `updated_at` moved."""
    mark = store_high_water_mark(shelfwise.settings())
    if mark is None or mark == context.cursor:
        return SkipReason(f"no change since {context.cursor or 'the beginning'}")
    return SensorResult(run_requests=[RunRequest(run_key=mark)], cursor=mark)


ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def latest_gold_fingerprint(instance: DagsterInstance) -> str | None:
    """The fingerprint of the newest `warehouse` materialization, if there is one."""
    event = instance.get_latest_materialization_event(warehouse.key)
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
    assets=[bronze, silver, *GOLD_ASSETS, warehouse, forecast],
    asset_checks=GOLD_CHECKS,
    jobs=[pipeline_job, forecast_job],
    schedules=[daily],
    sensors=[store_changed, gold_changed],
    resources={"shelfwise": ShelfwiseResource()},
)
