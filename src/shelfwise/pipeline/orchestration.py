"""Dagster definitions (optional extra `orchestrate`): the pipeline as assets.

    dagster dev -m shelfwise.pipeline.orchestration

Assets: `bronze` (extract) → `silver` → one asset per gold table (with its real dependencies)
→ `warehouse` (the atomic publish). Every gold table has an asset check (not-null and unique
keys, relationships to dimensions); `fct_sales` also reconciles with the operational store.
A daily schedule runs everything; a sensor starts a run when the operational store changed
(its newest `updated_at` moved). The steps are the same functions `shelfwise pipeline run`
uses; the CLI needs no Dagster daemon.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    ConfigurableResource,
    Definitions,
    MaterializeResult,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
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
    engine: str = "duckdb"

    def settings(self) -> Settings:
        given: dict[str, Any] = {
            k: v
            for k, v in {
                "home": self.home,
                "database_url": self.database_url,
                "lake_uri": self.lake_uri,
                "warehouse_url": self.warehouse_url,
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
    return MaterializeResult(metadata={"path": str(settings.warehouse_path)})


pipeline_job = define_asset_job("shelfwise_pipeline", selection=AssetSelection.all())
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


defs = Definitions(
    assets=[bronze, silver, *GOLD_ASSETS, warehouse],
    asset_checks=GOLD_CHECKS,
    jobs=[pipeline_job],
    schedules=[daily],
    sensors=[store_changed],
    resources={"shelfwise": ShelfwiseResource()},
)
