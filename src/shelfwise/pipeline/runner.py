"""`run_pipeline`: extract → bronze → silver → gold → checks → publish, logged step by step.

The same step functions back the CLI, the demo, the website and the Dagster assets. A run holds
a lock (one run at a time per data folder), records every step in the run log, and publishes
only after every gold check passed; a failure leaves the last good warehouse in place. Runs are
idempotent: silver and gold are recomputed from bronze, so rerunning after a crash (even
`kill -9` mid-write) gives the same gold tables as an uninterrupted run.
"""

from __future__ import annotations

import fcntl
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

import duckdb

from shelfwise.config import Settings
from shelfwise.pipeline import checks as gold_checks
from shelfwise.pipeline.calendar import calendar
from shelfwise.pipeline.catalog import SourceTable, source_table, source_tables
from shelfwise.pipeline.duckdb_support import attach_source, connect
from shelfwise.pipeline.engines import ENGINES, open_engine
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.extract import extract_table, watermark
from shelfwise.pipeline.gold import GOLD_NAMES, GOLD_TABLES, GoldTable, gold_table, grains
from shelfwise.pipeline.gold_incremental import (
    TRACKED_CHANGES,
    CalendarSpan,
    GoldPlan,
    build_recent,
    plan_gold,
    previous_calendar_span,
)
from shelfwise.pipeline.lake import lake_at, lake_root
from shelfwise.pipeline.maintenance import (
    MaintenanceResult,
    Tidied,
    last_maintained,
    maintain_if_due,
    maintain_with,
    tidy_appended,
)
from shelfwise.pipeline.preflight import check_setup
from shelfwise.pipeline.publish import (
    PostgresPatch,
    Published,
    attach_build,
    attach_copy,
    build_aside,
    copy_current,
    detach_copy,
    postgres_holds,
    previous_in_copy,
    publish_postgres,
    publish_warehouse,
    remove_stale_builds,
)
from shelfwise.pipeline.redaction import redact
from shelfwise.pipeline.runlog import RunLog, RunSummary, StepSummary, runlog_path
from shelfwise.pipeline.settings import PipelineSettings
from shelfwise.pipeline.silver import (
    HISTORY_TABLES,
    QUARANTINE,
    build_silver_table,
    quarantine_union,
)
from shelfwise.pipeline.silver_merge import (
    SilverState,
    compare_with_previous,
    load_previous_quarantine,
    merge_silver_table,
    newest_extracted,
    plan_silver,
    previously_quarantined,
    reuse_silver_table,
    silver_state,
)

T = TypeVar("T")


class PipelineProgress(Protocol):
    """What a progress display gets told (the CLI draws a Rich bar from it)."""

    def begin(self, total_steps: int) -> None: ...

    def step_started(self, name: str) -> None: ...

    def step_finished(self, step: StepSummary) -> None: ...


class PipelineFailed(RuntimeError):
    """A step failed; `summary` holds the run as logged. The previous warehouse is intact."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__(summary.error)
        self.summary = summary


class PipelineBusy(RuntimeError):
    """Another pipeline run holds the lock on this data folder."""


@dataclass
class RunContext:
    settings: Settings
    options: PipelineSettings
    engine: Engine
    run: RunSummary
    log: RunLog
    progress: PipelineProgress | None
    started: datetime
    _source: tuple[duckdb.DuckDBPyConnection, str] | None = None
    # The warehouse file a full build on DuckDB starts in the gold stage, and the tables built
    # straight into it (`prebuilt`); None: the publish step builds it from scratch.
    building: Path | None = None
    prebuilt: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A daily run's copy of the current warehouse, made in the background (`copy_current`),
    # and whether it is attached to the engine's database (`attach_copy`).
    copy: Future[Path] | None = None
    copy_attached: bool = False
    # Lake tables (layer, name) this run appended rows to (`tidy_appended`).
    appended: set[tuple[str, str]] = field(default_factory=set)
    # The previous run's reconciliation cutoff: the order lines' extraction watermark.
    reconciled_before: str | None = None
    _background: ThreadPoolExecutor | None = None

    def in_background(self, work: Callable[[], T]) -> Future[T]:
        """Run `work` on the run's background thread (waited for when the run closes)."""
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background")
        return self._background.submit(work)

    def source(self) -> tuple[duckdb.DuckDBPyConnection, str]:
        """A DuckDB connection with the operational store attached, and its backend: one per
        run, for the extraction and the reconciliation (loading a scanner takes ~75 ms)."""
        if self._source is None:
            con = connect(self.options.duckdb_memory_limit, self.engine.lake.scratch("source"))
            try:
                self._source = (con, attach_source(con, self.settings.resolved_database_url))
            except Exception:
                con.close()
                raise
        return self._source

    def describe(self, error: BaseException) -> str:
        """`error` as a step records it: its type and message, passwords masked."""
        return redact(f"{type(error).__name__}: {error}", _connection_urls(self.settings))

    def close(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=True)
            self._background = None
        if self._source is not None:
            self._source[0].close()
            self._source = None

    def step(self, name: str, work: Callable[[StepSummary], T]) -> T:
        """Run one step, time it, log it, report it; a failure names the step."""
        summary = StepSummary(name=name)
        if self.progress:
            self.progress.step_started(name)
        clock = time.perf_counter()
        try:
            return work(summary)
        except Exception as exc:
            summary.status = "failed"
            summary.error = self.describe(exc)
            raise StepFailed(name, exc) from exc
        finally:
            summary.seconds = round(time.perf_counter() - clock, 3)
            self.run.steps.append(summary)
            self.log.step(self.run, summary)
            if self.progress:
                self.progress.step_finished(summary)

    def steps_in_parallel(self, steps: Sequence[ParallelStep[T]], workers: int) -> list[T]:
        """Run `steps` on up to `workers` threads, each once its `after` steps are done; they
        are logged and reported from this thread as they finish. After a failure no step
        starts; the run fails with it once the running ones are over."""
        results: dict[str, T] = {}
        pending = list(steps)
        running: dict[Future[T], tuple[StepSummary, float]] = {}
        failure: StepFailed | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
            while running or (pending and failure is None):
                ready = [s for s in pending if s.after <= results.keys()] if not failure else []
                for step in ready[: workers - len(running)]:
                    pending.remove(step)
                    summary = StepSummary(name=step.name)
                    if self.progress:
                        self.progress.step_started(step.name)
                    running[pool.submit(step.work, summary)] = (summary, time.perf_counter())
                if not running:
                    waiting = ", ".join(s.name for s in pending)
                    raise RuntimeError(f"steps wait on each other or on no step: {waiting}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    summary, clock = running.pop(future)
                    summary.seconds = round(time.perf_counter() - clock, 3)
                    error = future.exception()
                    if error is None:
                        results[summary.name] = future.result()
                    else:
                        summary.status = "failed"
                        summary.error = self.describe(error)
                        cause = error if isinstance(error, Exception) else RuntimeError(error)
                        failure = failure or StepFailed(summary.name, cause)
                    self.run.steps.append(summary)
                    self.log.step(self.run, summary)
                    if self.progress:
                        self.progress.step_finished(summary)
        if failure is not None:
            raise failure
        return [results[step.name] for step in steps]


def _connection_urls(settings: Settings) -> tuple[str | None, ...]:
    """The connections whose passwords an error message may quote."""
    return (settings.resolved_database_url, settings.warehouse_url)


@dataclass(frozen=True)
class ParallelStep(Generic[T]):
    """A step that may run beside others, once the steps named in `after` have finished."""

    name: str
    work: Callable[[StepSummary], T]
    after: frozenset[str] = frozenset()


class StepFailed(RuntimeError):
    def __init__(self, step: str, cause: Exception) -> None:
        super().__init__(f"step {step!r} failed: {type(cause).__name__}: {cause}")
        self.step = step


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PipelineBusy(
                f"another pipeline run is using {path.parent} (lock {path.name}); wait for it "
                "to finish (`shelfwise pipeline status`)"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plan(engine: str) -> list[str]:
    """Step names of a run, in order (for progress bars)."""
    del engine
    tables = source_tables()
    return [
        *(f"extract {t.name}" for t in reversed(tables)),
        *(f"silver {t.name}" for t in tables),
        *(f"gold {name}" for name in GOLD_NAMES),
        "checks",
        "publish",
        "maintain",
    ]


def _extract(ctx: RunContext, full: bool) -> int:
    """Every table into bronze; returns the number of new row versions. Tables are read on up
    to `pipeline_extract_workers` threads (a source scan keeps about one core busy), each once
    every table that references it has been read (see extract.py: children first)."""
    con, backend = ctx.source()
    batch_id = ctx.run.run_id
    extracted_at = ctx.started.replace(tzinfo=None)
    overlap = timedelta(seconds=ctx.options.pipeline_overlap_seconds)
    tables = source_tables()

    first_load = full or not any(ctx.engine.lake.exists(t.layer, t.raw) for t in tables)
    # Incremental reads of SQLite take turns: when two of its connections start a read
    # together, SQLite retries by sleeping, and the scanner's build sleeps a whole second
    # (measured: 1.0 s stalls in ~10 % of concurrent reads). Each table's comparison with
    # bronze and its lake write still run beside the next read. Full loads start their reads
    # seconds apart and gain more than they risk (1 M lines: 9.2-9.6 s -> 7.8 s).
    source_reads = threading.Lock() if backend == "sqlite" and not first_load else None

    def extract(table: SourceTable) -> Callable[[StepSummary], int]:
        def work(step: StepSummary) -> int:
            with con.cursor() as cursor:  # a connection of this thread's own, same database
                try:
                    result = extract_table(
                        cursor,
                        backend=backend,
                        table=table,
                        lake=ctx.engine.lake,
                        batch_id=batch_id,
                        extracted_at=extracted_at,
                        full=full,
                        overlap=overlap,
                        source_reads=source_reads,
                    )
                except duckdb.CatalogException as exc:
                    _explain_missing_tables(cursor, tables, exc)
                    raise
            step.rows_read, step.rows_written = result.rows_read, result.rows_written
            if result.rows_written and result.watermark is not None:
                ctx.appended.add((table.layer, table.raw))
            if table.name == "order_lines":
                ctx.reconciled_before = result.watermark
            step.detail = {"since": result.watermark or "full load"}
            if result.retyped:
                step.detail["retyped"] = "bronze written as text by an earlier version: cast"
            return result.rows_written

        return work

    steps = [
        ParallelStep(
            f"extract {table.name}",
            extract(table),
            frozenset(f"extract {child.name}" for child in tables if table.name in child.parents),
        )
        for table in reversed(tables)
    ]
    return sum(ctx.steps_in_parallel(steps, ctx.options.pipeline_extract_workers))


def _explain_missing_tables(
    con: duckdb.DuckDBPyConnection, tables: Sequence[SourceTable], error: Exception
) -> None:
    """Raise a clear error when the store lacks tables this release reads (a database
    `shelfwise init` never ran on, or one of an older release); return when it lacks none."""
    present = {
        name.lower()
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
        ).fetchall()
    }
    missing = [t.name for t in tables if t.name.lower() not in present]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise RuntimeError(
            f"the operational store has no table {missing[0]!r}{more}: it is not set up for "
            "this release; run `shelfwise init` with SHELFWISE_DATABASE_URL set to it"
        ) from error


def _stage_steps(
    stage: str, tables: Sequence[tuple[str, frozenset[str], Callable[[StepSummary], None]]]
) -> list[ParallelStep[None]]:
    """One step per (table, tables it reads, work), waiting for the steps of the tables it
    reads that this stage builds."""
    names = {name for name, _, _ in tables}
    return [
        ParallelStep(f"{stage} {name}", work, frozenset(f"{stage} {r}" for r in reads & names))
        for name, reads, work in tables
    ]


def _step_workers(ctx: RunContext) -> int:
    """Silver and gold tables that do not read each other are built on this many threads
    (with the DuckDB engine: its small statements of an incremental run leave a core idle)."""
    return ctx.options.pipeline_step_workers if ctx.engine.parallel_steps else 1


def _silver(ctx: RunContext, state: SilverState, has_previous_quarantine: bool) -> set[str]:
    """Bring every `stg_<table>` up to date; returns the names of the tables that changed.
    `has_previous_quarantine`: a previous silver exists to build on (else all is rebuilt)."""
    now = ctx.started.replace(tzinfo=None)
    tables = source_tables()
    engine = ctx.engine
    state.begin(ctx.run.run_id)
    changed: set[str] = set()
    unsettled: set[str] = set()
    consumed: dict[str, datetime | None] = {}
    quarantined_before = previously_quarantined(engine) if has_previous_quarantine else None

    def silver(table: SourceTable) -> Callable[[StepSummary], None]:
        def work(step: StepSummary) -> None:
            if not engine.load(table.layer, table.raw):
                raise LookupError(f"bronze table {table.raw} is missing; run with --full")
            consumed[table.name] = newest_extracted(engine, table)
            layer = "eval" if table.evaluation_only else "silver"
            plan = plan_silver(
                engine,
                table,
                state,
                newest=consumed[table.name],
                changed=changed,
                unsettled=unsettled,
                quarantined_before=quarantined_before,
                merge_min_rows=ctx.options.pipeline_silver_merge_min_rows,
            )
            keep_changes = table.name in TRACKED_CHANGES
            held = (quarantined_before or {}).get(table.name, 0)
            if plan.mode == "reuse":
                result = reuse_silver_table(engine, table, quarantined_before=held)
            else:
                since = state.since(table.name)
                if plan.mode == "merge" and since is not None:
                    result, lost = merge_silver_table(
                        engine,
                        table,
                        now,
                        since,
                        quarantined_before=held,
                        keep_changes=keep_changes,
                    )
                else:
                    result = build_silver_table(engine, table, now)
                    lost = has_previous_quarantine and compare_with_previous(
                        engine, table, keep_changes=keep_changes
                    )
                if lost:
                    unsettled.add(table.name)
                if engine.has(f"_upsert_{table.name}"):
                    step.rows_written = engine.save_changes(
                        layer, table.staged, f"_upsert_{table.name}", table.key
                    )
                    ctx.appended.add((layer, table.staged))
                    engine.drop(f"_upsert_{table.name}")
                else:
                    step.rows_written = engine.save(layer, table.staged)
                if table.name in HISTORY_TABLES:
                    engine.save("silver", f"{table.staged}_history")
                changed.add(table.name)
            step.rows_read = result.rows_read
            step.rows_quarantined = result.rows_quarantined
            step.detail = {
                "mode": plan.mode,
                "why": plan.why,
                "rows_in": result.rows_in,
                "rows_out": result.rows_out,
                "rows_quarantined": result.rows_quarantined,
                "superseded_versions": result.rows_read - result.rows_in,
            }

        return work

    # A table is validated against the tables it references: it waits for theirs.
    steps = _stage_steps("silver", [(t.name, t.parents, silver(t)) for t in tables])
    ctx.steps_in_parallel(steps, _step_workers(ctx))
    engine.materialize(QUARANTINE, quarantine_union(list(tables)))
    engine.save("silver", QUARANTINE)
    state.save(consumed)
    return changed


def _business_days(engine: Engine) -> tuple[date | None, date | None]:
    spans = [
        ("stg_orders", "ordered_at"),
        ("stg_stock_movements", "occurred_at"),
        ("stg_purchase_receipts", "received_at"),
        ("stg_purchase_orders", "ordered_at"),
    ]
    union = " UNION ALL ".join(
        f"SELECT MIN(CAST({c} AS DATE)) AS lo, MAX(CAST({c} AS DATE)) AS hi FROM {t}"
        for t, c in spans
    )
    row = engine.rows(f"SELECT MIN(lo), MAX(hi) FROM ({union}) spans")[0]
    return row[0], row[1]


_CALENDAR_COLUMNS = (
    "date, year, quarter, month, iso_year, iso_week, day_of_week, is_weekend, is_holiday, "
    "holiday_countries"
)


def build_dim_date(engine: Engine) -> int:
    first, last = _business_days(engine)
    engine.register_arrow("_calendar", calendar(first, last, _countries(engine), _holidays(engine)))
    return engine.build("dim_date", f"SELECT {_CALENDAR_COLUMNS} FROM _calendar")


def _holidays(engine: Engine) -> Path:
    """Where the holidays computed by earlier runs are kept (a cache: safe to delete)."""
    return engine.lake.scratch("calendar") / "holidays.json"


def _countries(engine: Engine) -> list[str]:
    return [str(c) for (c,) in engine.rows("SELECT DISTINCT country FROM stg_locations")]


def keep_or_extend_dim_date(
    engine: Engine, previous: CalendarSpan
) -> Literal["kept", "extended"] | None:
    """The previous `dim_date` (spanning `previous`) kept as it is when the business days span
    the same dates, or extended by the new days when only the last day moved on (a daily run):
    building the calendar means computing the holidays of every country and year, ~0.4 s for
    three years. None when it has to be built whole. Only for runs where no location changed."""
    previous_first, previous_last = previous
    first, last = _business_days(engine)
    if previous == (first, last):
        return "kept"
    if previous_first != first or previous_last is None or last is None or last < previous_last:
        return None
    if not engine.load("gold", "dim_date", "_previous_calendar"):
        return None
    new_days = calendar(
        previous_last + timedelta(days=1), last, _countries(engine), _holidays(engine)
    )
    engine.register_arrow("_calendar", new_days)
    engine.build(
        "dim_date",
        f"SELECT {_CALENDAR_COLUMNS} FROM _previous_calendar "
        f"UNION ALL SELECT {_CALENDAR_COLUMNS} FROM _calendar",
    )
    engine.drop("_previous_calendar")
    return "extended"


def build_gold_table(engine: Engine, table: GoldTable) -> int:
    return engine.build(table.name, table.sql(engine.dialect))


def _months(engine: Engine) -> list[tuple[str, str]]:
    """First and last day of each month `dim_date` covers."""
    first, last = engine.rows("SELECT MIN(date), MAX(date) FROM dim_date")[0]
    months: list[tuple[str, str]] = []
    while first is not None and first <= last:
        start = first.replace(day=1)
        following = (start + timedelta(days=31)).replace(day=1)
        months.append((start.isoformat(), (following - timedelta(days=1)).isoformat()))
        first = following
    return months


def _build_into_warehouse(ctx: RunContext, table: GoldTable) -> int | None:
    """Build `table` a month at a time straight into the warehouse file being built, and
    name it in the engine; None when that does not apply (then it is built as usual)."""
    con = ctx.engine.duckdb_connection()
    months = _months(ctx.engine) if table.by_month is not None else []
    if con is None or table.by_month is None or not months:
        return None
    with ctx.lock:
        if ctx.building is None:
            ctx.building = attach_build(con, ctx.settings.warehouse_path, ctx.run.run_id)
    spans = f"_spans_{table.name}"
    ctx.engine.materialize(spans, table.by_month.spans(ctx.engine.dialect))
    try:
        days = table.by_month.days
        parts = [days(ctx.engine.dialect, spans, first, last) for first, last in months]
        stored = build_aside(con, table.name, parts, table.by_month.compression)
    finally:
        ctx.engine.drop(spans)
    ctx.prebuilt.add(table.name)
    ctx.engine.view(table.name, f"SELECT * FROM {stored}")
    return ctx.engine.count(table.name)


def _gold(ctx: RunContext, changed: set[str], incremental_silver: bool) -> GoldPlan:
    """Builds gold; in an incremental plan, a table none of whose inputs changed is the
    previous version as it stands (in `plan.reused`: neither rebuilt, re-saved nor re-copied
    into the warehouse)."""
    touched = {f"stg_{name}" for name in changed} | {
        f"stg_{name}_history" for name in changed & set(HISTORY_TABLES)
    }
    previous_run_succeeded = ctx.log.last_status() == "succeeded"
    previous_calendar = (
        previous_calendar_span(ctx.engine)
        if incremental_silver and previous_run_succeeded
        else None
    )
    calendar_kept = False

    def dim_date(step: StepSummary) -> None:
        nonlocal calendar_kept
        outcome = None
        if previous_calendar is not None and "locations" not in changed:
            outcome = keep_or_extend_dim_date(ctx.engine, previous_calendar)
        if outcome == "kept":
            calendar_kept = ctx.engine.load("gold", "dim_date")
            step.detail = {"reused": "the same days and countries as before"}
        elif outcome == "extended":
            step.rows_written = ctx.engine.count("dim_date")
            step.detail = {"extended": "the previous calendar and the new days"}
        else:
            step.rows_written = build_dim_date(ctx.engine)

    ctx.step("gold dim_date", dim_date)
    plan = plan_gold(
        ctx.engine,
        changed,
        incremental_silver=incremental_silver,
        previous_run_succeeded=previous_run_succeeded,
        previous_calendar=previous_calendar,
    )
    if calendar_kept:
        plan.reused.add("dim_date")
    if plan.since is None and ctx.copy is not None:  # a full build starts at the same path
        ctx.copy.result()
    in_copy = _attach_copy(ctx) if plan.since is not None else set()
    if plan.calendar_grew or "locations" in changed:  # new days, or other holidays
        touched.add("dim_date")

    def gold(table: GoldTable) -> Callable[[StepSummary], None]:
        def work(step: StepSummary) -> None:
            step.detail = {"grain": table.grain}
            unchanged_inputs = plan.since is not None and not touched & set(table.inputs)
            if unchanged_inputs and _previous_version(ctx, table.name, in_copy):
                plan.reused.add(table.name)
                step.detail["reused"] = "none of its inputs changed"
                return
            touched.add(table.name)
            # Old rows also read a dimension rebuilt in this run (a location that moved
            # country): recomputing the recent rows alone would leave them stale. (dim_date
            # only gains days.)
            rebuilt_dimensions = sorted(
                name
                for name in touched & set(table.inputs)
                if name.startswith("dim_") and name != "dim_date"
            )
            if plan.since is None or table.recent_sql is None or rebuilt_dimensions:
                built = _build_into_warehouse(ctx, table) if plan.since is None else None
                step.rows_written = build_gold_table(ctx.engine, table) if built is None else built
                if table.recent_sql is not None:
                    step.detail["rebuilt"] = (
                        plan.why
                        if plan.since is None
                        else f"{', '.join(rebuilt_dimensions)} changed"
                    )
                return
            since = plan.since_for(table.recent_by)
            sql = table.recent_sql(ctx.engine.dialect, since)
            previous = previous_in_copy(table.name) if table.name in in_copy else None
            rows = build_recent(ctx.engine, table.name, sql, table.recent_by, since, previous)
            if rows is None:
                step.rows_written = build_gold_table(ctx.engine, table)
                step.detail["rebuilt"] = "the previous version has other columns"
            else:
                step.rows_written = rows
                step.detail["recomputed"] = plan.why
                step.detail["previous rows"] = "warehouse copy" if previous else "lake"

        return work

    # Each table waits for the gold tables it reads (dim_date is built above).
    steps = _stage_steps("gold", [(t.name, frozenset(t.inputs), gold(t)) for t in GOLD_TABLES])
    ctx.steps_in_parallel(steps, _step_workers(ctx))
    return plan


def _previous_version(ctx: RunContext, name: str, in_copy: set[str]) -> bool:
    """Name the previous version of gold table `name` in the engine, from the attached copy
    of the warehouse when it holds it, else from the lake; False when there is none."""
    if name in in_copy:
        ctx.engine.view(name, f"SELECT * FROM {previous_in_copy(name)}")
        return True
    return ctx.engine.load("gold", name)


def _attach_copy(ctx: RunContext) -> set[str]:
    """The tables of the warehouse copy a daily run on DuckDB attached for its gold to read the
    previous versions from (none without a copy). A copy without every table this release
    publishes is not used: publishing builds that warehouse afresh, from relations that must
    not read the file it replaces."""
    con = ctx.engine.duckdb_connection()
    if ctx.copy is None or con is None:
        return set()
    held = attach_copy(con, ctx.copy.result())
    if not {item.name for item in warehouse_tables(ctx.engine.lake.exists)} <= held:
        detach_copy(con)
        return set()
    ctx.copy_attached = True
    return held


def _checks(
    ctx: RunContext,
    source_cutoff: datetime | None,
    recent: dict[str, str] | None = None,
    sales_from: date | None = None,
    kept: set[str] | None = None,
) -> None:
    def reconcile() -> gold_checks.CheckResult:
        assert source_cutoff is not None
        con, backend = ctx.source()
        return gold_checks.reconcile_sales(
            ctx.engine, con, backend=backend, cutoff=source_cutoff, from_day=sales_from
        )

    def work(step: StepSummary) -> None:
        kept_tables = kept or set()
        # The reconciliation waits mostly on the store: it runs beside the structural checks
        # where the engine takes calls from two threads.
        side_by_side = source_cutoff is not None and ctx.engine.parallel_steps
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile") as pool:
            reconciliation = pool.submit(reconcile) if side_by_side else None
            results = gold_checks.structural_checks(ctx.engine, only=recent, kept=kept_tables)
            if reconciliation is not None:
                results.append(reconciliation.result())
            elif source_cutoff is not None:
                results.append(reconcile())
        failed = [r for r in results if not r.passed]
        step.detail = {r.name: r.detail for r in results}
        every = (gold_checks.DIM_DATE, *GOLD_TABLES)
        settled = [t.name for t in every if gold_checks.settled(t, kept_tables)]
        if settled:
            step.detail["not checked again (kept as they were)"] = ", ".join(settled)
        step.rows_read = len(results)
        if failed:
            step.detail["failed"] = [r.name for r in failed]
            raise AssertionError(
                f"{len(failed)} of {len(results)} gold checks failed: "
                + "; ".join(f"{r.name}: {r.detail}" for r in failed)
            )

    ctx.step("checks", work)


def _reconciliation_cutoff(ctx: RunContext) -> datetime | None:
    """Order lines changed at or before this instant are surely in bronze."""
    order_lines = source_table("order_lines")
    files = ctx.engine.lake.files(order_lines.layer, order_lines.raw)
    if not files:
        return None
    newest = watermark(ctx.engine.lake, order_lines, files)
    if newest is None:
        return None
    return newest - timedelta(seconds=ctx.options.pipeline_overlap_seconds)


def warehouse_tables(lake_has: Callable[[str, str], bool]) -> list[Published]:
    """What the warehouse holds: gold, the quarantine, and (apart, prefixed) eval tables."""
    items = [Published("gold", name, name) for name in GOLD_NAMES]
    items.append(Published("silver", QUARANTINE, QUARANTINE))
    for table in source_tables():
        if table.evaluation_only and lake_has("eval", table.staged):
            items.append(Published("eval", table.staged, f"eval_{table.name}"))
    return items


def comments_for(items: list[Published]) -> dict[str, str]:
    return {
        **grains(),
        QUARANTINE: "one row per source row (latest version) that failed a silver rule",
        **{
            i.name: "GROUND TRUTH for evaluation only: never a model input"
            for i in items
            if i.layer == "eval"
        },
    }


def _unchanged_evaluation_tables(items: list[Published], changed: set[str]) -> set[str]:
    """Ground-truth tables silver reused this run (the generator's true demand: a row per
    product, location and day, not worth copying again)."""
    staged = {table.staged: table.name for table in source_tables()}
    return {
        item.name
        for item in items
        if item.layer == "eval" and staged.get(item.table) not in changed
    }


def _publish(ctx: RunContext, plan: GoldPlan, changed: set[str]) -> None:
    def work(step: StepSummary) -> None:
        engine, lake = ctx.engine, ctx.engine.lake
        recent: dict[str, tuple[str, str]] = {}  # table -> (date column, first day)
        saved: list[str] = []
        for name in GOLD_NAMES:
            table = gold_table(name) if name != "dim_date" else None
            if name in plan.reused:
                continue
            if plan.since is not None and table and engine.has(f"_recent_{name}"):
                recent[name] = (table.recent_by, plan.since_for(table.recent_by))
            else:
                saved.append(name)

        def write_lake() -> int:
            written = 0
            for name, (column, since) in recent.items():
                written += engine.replace_from("gold", name, f"_recent_{name}", column, since)
            for name in saved:
                written += engine.save("gold", name)
            return written

        items = warehouse_tables(lake.exists)
        comments = comments_for(items)
        pushed: list[str] = []

        def push(patches: Mapping[str, tuple[str, str]], unchanged: Set[str]) -> None:
            assert ctx.settings.warehouse_url
            base = ctx.log.last_published(ctx.run.run_id) if patches or unchanged else None
            pushed.append(
                publish_postgres(
                    ctx.settings.warehouse_url,
                    lake,
                    items,
                    comments,
                    run_id=ctx.run.run_id,
                    indexed={t.name: t.recent_by for t in GOLD_TABLES if t.recent_sql},
                    patch=PostgresPatch(base, patches, unchanged) if base else None,
                )
            )

        publish = functools.partial(
            publish_warehouse,
            ctx.settings.warehouse_path,
            lake,
            items,
            run_id=ctx.run.run_id,
            comments=comments,
            patches=recent,
            unchanged=plan.reused | _unchanged_evaluation_tables(items, changed),
            prebuilt=ctx.prebuilt,
            copied=ctx.copy.result if ctx.copy is not None else None,
            attached=ctx.copy_attached,
            # (pushed before the swap: if it fails, the run leaves both warehouses as they were;
            # if the swap fails after it, PostgreSQL is a run ahead until the next, full, run)
            before_swap=push if ctx.settings.warehouse_url else None,
        )
        connection = engine.duckdb_connection()
        if (recent or ctx.prebuilt) and connection is not None and engine.parallel_steps:
            # A daily run's patch, or a full build's file started in the gold stage: filled
            # from the engine's tables while the lake is written, and swapped in only once the
            # lake writes succeeded. (Other runs read tables the engine keeps as views of the
            # previous warehouse, which is detached first: they copy from the lake.)
            sources = {name: f"_recent_{name}" for name in recent} | {
                item.name: item.table
                for item in items
                if item.name not in recent and engine.has(item.table)
            }
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake") as pool:
                lake_writes = pool.submit(write_lake)
                publish(con=connection, sources=sources, lake_written=lake_writes.result)
                step.rows_written = lake_writes.result()
        else:
            step.rows_written = write_lake()
            publish(con=connection if ctx.prebuilt or ctx.copy_attached else None)
        step.detail = {"warehouse": str(ctx.settings.warehouse_path)}
        if recent:
            step.detail["patched"] = {name: f"{c} >= {d}" for name, (c, d) in recent.items()}
        if plan.reused:
            step.detail["kept"] = sorted(plan.reused)
        if pushed:
            step.detail["postgres"] = pushed[-1]

    ctx.step("publish", work)


def _maintain(ctx: RunContext) -> None:
    """Housekeeping after the warehouse is published: a failure here is logged on the step but
    does not fail the run (its gold is out), and the next run tries again."""

    def work(step: StepSummary) -> None:
        lake, every = ctx.engine.lake, ctx.options.pipeline_maintenance_hours
        tidied = Tidied(files_compacted=0, checkpoints=0)
        try:
            result = maintain_if_due(lake, ctx.options, ctx.started)
            if result is None:  # not due: tidy the tables this run appended to instead
                tidied = tidy_appended(lake, ctx.appended, ctx.options)
        except Exception as exc:
            step.status = "failed"
            step.error = ctx.describe(exc)
            return
        if result is not None:
            step.detail = {
                "tables": result.tables,
                "files_compacted": result.files_compacted,
                "files_removed": result.files_removed,
            }
            return
        last = last_maintained(lake)
        when = f"last {last:%Y-%m-%d %H:%M} UTC" if last else "never"
        step.detail = {"due": f"no: {when}, every {every} hours" if every else "only when asked"}
        if tidied.files_compacted:
            step.detail["files_compacted"] = tidied.files_compacted
        if tidied.checkpoints:
            step.detail["log_checkpoints"] = tidied.checkpoints

    ctx.step("maintain", work)


def maintain_pipeline_lake(
    settings: Settings, options: PipelineSettings | None = None, retain_hours: int | None = None
) -> MaintenanceResult:
    """Compact and vacuum the lake now (`shelfwise pipeline maintain`), in the format its
    engine wrote it in, holding the pipeline's lock: a vacuum must not see a running write's
    files before they are committed."""
    options = options or PipelineSettings()
    lake = lake_at(lake_root(settings.resolved_lake_uri))
    with _exclusive(settings.warehouse_path.with_name("pipeline.lock")):
        return maintain_with(lake, options, retain_hours)


def run_pipeline(
    settings: Settings,
    *,
    full: bool = False,
    engine: str = "duckdb",
    progress: PipelineProgress | None = None,
    options: PipelineSettings | None = None,
) -> RunSummary:
    """Run the whole pipeline once; returns the logged run, raises `PipelineFailed` on failure.

    `full` rebuilds the lake from scratch (re-extracts every table); otherwise only rows changed
    since the last run are extracted. `engine` is "duckdb" (default) or "spark".
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    options = options or PipelineSettings()
    check_setup(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    log = RunLog(runlog_path(settings))
    started = datetime.now(UTC)
    run = RunSummary(
        run_id=f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        engine=engine,
        full=full,
        status="running",
        started_at=started,
    )
    if progress:
        progress.begin(len(plan(engine)))
    with _exclusive(settings.warehouse_path.with_name("pipeline.lock")):
        log.start(run)
        try:
            _run(settings, options, engine, run, log, progress, full)
            run.status = "succeeded"
        except Exception as exc:
            run.status = "failed"
            run.error = redact(str(exc), _connection_urls(settings))
        finally:
            run.finished_at = datetime.now(UTC)
            log.finish(run)
    if run.status == "failed":
        raise PipelineFailed(run)
    return run


def _run(
    settings: Settings,
    options: PipelineSettings,
    engine_name: str,
    run: RunSummary,
    log: RunLog,
    progress: PipelineProgress | None,
    full: bool,
) -> None:
    engine = open_engine(engine_name, settings.resolved_lake_uri, options)
    ctx = RunContext(settings, options, engine, run, log, progress, run.started_at)
    try:
        remove_stale_builds(settings.warehouse_path)
        if full:
            for layer in ("bronze", "silver", "gold", "eval"):
                engine.lake.drop_layer(layer)
        new_rows = _extract(ctx, full)
        if _unchanged(ctx, new_rows, log):
            _skip_rest(ctx, "no new or changed rows since the last successful run")
            return
        if not full and settings.warehouse_path.is_file() and log.last_status() == "succeeded":
            # A daily run will most likely patch a copy of the warehouse: made beside silver
            # and gold (a run without changes, above, copies nothing).
            ctx.copy = ctx.in_background(
                functools.partial(copy_current, settings.warehouse_path, run.run_id)
            )
        # (after a run that stopped while writing silver, silver is rebuilt from bronze)
        state = silver_state(engine)
        incremental_silver = not full and not state.interrupted and load_previous_quarantine(engine)
        changed = _silver(ctx, state, incremental_silver)
        plan = _gold(ctx, changed, incremental_silver)
        recent = {
            t.name: f"_recent_{t.name}" for t in GOLD_TABLES if engine.has(f"_recent_{t.name}")
        }
        sales_from = None
        if "fct_sales" in recent and plan.since is not None:
            pending = (
                gold_checks.first_unreconciled_day(engine, ctx.reconciled_before)
                if ctx.reconciled_before is not None
                else None
            )
            sales_from = plan.since if pending is None else min(plan.since, pending)
        _checks(ctx, _reconciliation_cutoff(ctx), recent, sales_from, plan.reused)
        _publish(ctx, plan, changed)
        _maintain(ctx)
    finally:
        ctx.close()
        engine.close()
        remove_stale_builds(settings.warehouse_path, run.run_id)  # left by a failure


def _unchanged(ctx: RunContext, new_rows: int, log: RunLog) -> bool:
    return (
        new_rows == 0
        and not ctx.run.full
        and ctx.settings.warehouse_path.exists()
        and log.last_status() == "succeeded"
        and _postgres_current(ctx, log)
    )


def _postgres_current(ctx: RunContext, log: RunLog) -> bool:
    """No PostgreSQL warehouse, or one holding the gold the DuckDB file holds. It can lag
    behind after a run without `SHELFWISE_WAREHOUSE_URL` or another home's push: a run
    without changes then publishes (replacing it whole) instead of stopping. If PostgreSQL
    cannot be reached, the run stops as it would have; the next run with changes finds the
    version and pushes in full."""
    url = ctx.settings.warehouse_url
    if not url:
        return True
    published = log.last_published(ctx.run.run_id)
    try:
        return published is not None and postgres_holds(url, published)
    except duckdb.Error:
        return True


def _skip_rest(ctx: RunContext, reason: str) -> None:
    done = {s.name for s in ctx.run.steps}
    for name in plan(ctx.engine.name):
        if name in done:
            continue
        step = StepSummary(name=name, status="skipped", detail={"reason": reason})
        ctx.run.steps.append(step)
        ctx.log.step(ctx.run, step)
        if ctx.progress:
            ctx.progress.step_finished(step)
