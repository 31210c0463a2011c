"""`shelfwise pipeline run|status|maintain`: build the lakehouse and the warehouse, watch the
runs, and keep the lake from growing."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.markup import escape
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_rows,
    err_console,
    fail,
    settings,
)

if TYPE_CHECKING:  # the pipeline pulls in DuckDB and Arrow: imported when a command runs
    from shelfwise.config import Settings
    from shelfwise.pipeline import RunSummary, StepSummary
    from shelfwise.pipeline.settings import PipelineSettings

pipeline_app = typer.Typer(
    help="The lakehouse pipeline: operational store → bronze → silver → gold → warehouse.",
    no_args_is_help=True,
)


class EngineChoice(enum.StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


class RichProgress:
    """One bar over all steps; the current step's name beside it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=None)

    def begin(self, total_steps: int) -> None:
        self.progress.update(self.task, total=total_steps)

    def step_started(self, name: str) -> None:
        self.progress.update(self.task, description=name)

    def step_finished(self, step: StepSummary) -> None:
        self.progress.advance(self.task)
        if step.status == "failed":  # (its error closes the run's output, on stderr)
            self.progress.console.print(f"[red]✗ {escape(step.name)} failed[/]")


def _options() -> PipelineSettings:
    """The pipeline's knobs from the environment; a bad value is one line naming its variable."""
    from pydantic import ValidationError

    from shelfwise.pipeline.settings import PipelineSettings

    try:
        return PipelineSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SHELFWISE_{str(error['loc'][0]).upper()}={error.get('input')!r}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise fail(f"bad pipeline setting: {problems}") from exc


def run_with_progress(
    current: Settings, *, full: bool = False, engine: str = "duckdb"
) -> RunSummary:
    """One run with a progress bar per step (the `run` command, the demo); a failure, a bad
    setting or a busy lock is one clear message and a non-zero exit, not a traceback."""
    from shelfwise.pipeline import PipelineBusy, PipelineFailed, PipelineSetupError, run_pipeline

    options = _options()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<48}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            summary = run_pipeline(
                current, full=full, engine=engine, progress=RichProgress(bar), options=options
            )
    except PipelineFailed as exc:
        kept = (
            "The previous warehouse is still in place"
            if current.warehouse_path.exists()
            else "No warehouse was published"
        )
        raise fail(
            f"pipeline run {exc.summary.run_id} failed: {exc.summary.error}"
            f"{_other_failures(exc.summary)}\n{kept}; see `shelfwise pipeline status`."
        ) from exc
    except (PipelineBusy, PipelineSetupError) as exc:
        raise fail(str(exc)) from exc
    for step in summary.steps:  # a step the run can do without (the lake's maintenance)
        if step.status == "failed":
            err_console.print(
                f"[yellow]warning:[/] step {escape(step.name)!r} failed: {escape(str(step.error))}"
            )
    return summary


def _other_failures(run: RunSummary) -> str:
    """The errors of failed steps other than the one the run's error names (steps running
    side by side may fail together)."""
    return "".join(
        f"\n{s.name} failed too: {s.error}"
        for s in run.steps
        if s.status == "failed" and not (run.error or "").startswith(f"step {s.name!r} failed:")
    )


@pipeline_app.command("run")
def run(
    full: bool = typer.Option(
        False, "--full", help="rebuild the lake from scratch instead of taking only changes"
    ),
    engine: EngineChoice = typer.Option(
        EngineChoice.DUCKDB, "--engine", help="duckdb (in process) or spark (SHELFWISE_SPARK_*)"
    ),
) -> None:
    """Extract changed rows, rebuild silver and gold, check them and publish the warehouse.

    Publishing is atomic: readers never see half a warehouse, and a failed run leaves the last
    good one in place."""
    current = settings()
    summary = run_with_progress(current, full=full, engine=engine.value)
    skipped = any(s.status == "skipped" for s in summary.steps)
    console.print(
        f"[green]run {summary.run_id} succeeded[/] in {summary.seconds:.1f}s: "
        f"{summary.rows_read} rows read, {summary.rows_quarantined} quarantined"
        + (" — no changes, warehouse kept" if skipped else f" → {current.warehouse_path}")
    )


@pipeline_app.command("status")
def status(
    limit: int = typer.Option(5, "--limit", "-n", min=1, help="how many recent runs"),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Recent runs: status, duration, rows read/written/quarantined, errors, latest steps.

    The table shows the steps of the latest run; --format json has every run's steps."""
    from shelfwise.pipeline import PipelineSetupError, recent_runs
    from shelfwise.pipeline.preflight import check_home

    current = settings()
    try:  # (a home that is a file would otherwise read as one without runs)
        check_home(current.home, writing=False)
    except PipelineSetupError as exc:
        raise fail(str(exc)) from exc
    runs = recent_runs(current, limit)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([r.as_dict() for r in runs], indent=2, default=str))
        return
    if fmt is OutputFormat.CSV:
        emit_rows(
            [
                {
                    "run_id": r.run_id,
                    "engine": r.engine,
                    "full": r.full,
                    "status": r.status,
                    "started_at": r.started_at.isoformat(timespec="seconds"),
                    "seconds": round(r.seconds, 1) if r.seconds is not None else None,
                    "rows_read": r.rows_read,
                    "rows_written": r.rows_written,
                    "rows_quarantined": r.rows_quarantined,
                    "error": r.error,
                }
                for r in runs
            ],
            fmt,
        )
        return
    _print_runs(runs)
    if runs:
        _print_steps(runs[0])


def _print_runs(runs: list[RunSummary]) -> None:
    """A block per run, newest first: its first line fits an 80-column terminal, and an error
    is printed whole below it (a table cell would cut it short)."""
    console.print("[bold]pipeline runs[/] (newest first)" if runs else "no pipeline runs yet")
    for r in runs:
        took = "" if r.seconds is None else f", {r.seconds:.1f} s"
        console.print(
            f"{_status(r.status)} {r.run_id}  started {r.started_at:%Y-%m-%d %H:%M}{took}",
            highlight=False,
        )
        console.print(
            Padding(
                f"{r.engine}, {_kind(r)}: rows read {r.rows_read:,}, "
                f"written {r.rows_written:,}, quarantined {r.rows_quarantined:,}",
                (0, 0, 0, 2),
            ),
            highlight=False,
        )
        if r.error:
            console.print(
                Padding(f"[red]error:[/] {escape(r.error)}", (0, 0, 0, 2)), highlight=False
            )


def _kind(run: RunSummary) -> str:
    """`full` when asked for (`--full`); a run that found no lake loads every table in full
    too, and is named for it."""
    if run.full:
        return "full"
    extracts = [s for s in run.steps if s.name.startswith("extract ")]
    if extracts and all(s.detail.get("since") == "full load" for s in extracts):
        return "first load"
    return "changes"


def _print_steps(run: RunSummary) -> None:
    """The latest run's steps as a table; failed steps' errors whole below it. (A run that
    failed before its first step has none: its error is shown with the run.)"""
    if not run.steps:
        return
    table = Table(
        title=f"steps of {run.run_id}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    table.add_column("step", overflow="fold")
    table.add_column("status", no_wrap=True)
    for column in ("seconds", "read", "written", "quarantined"):
        table.add_column(column, justify="right", no_wrap=True)
    balanced = False
    for s in run.steps:
        read, written = s.rows_read, s.rows_written
        if "rows_in" in s.detail:  # a silver table: its balance, not its lake writes
            read, written, balanced = s.detail["rows_in"], s.detail["rows_out"], True
        table.add_row(
            s.name,
            _status(s.status) if s.status != "succeeded" else _how(s),
            f"{s.seconds:.2f}",
            f"{read:,}",
            f"{written:,}",
            f"{s.rows_quarantined:,}",
        )
    if balanced:
        table.caption = (
            "silver: read = rows in (the latest version of each key), written = rows out; "
            "rows in = out + quarantined (lake writes: --format json). kept: as it was; "
            "merged: changed keys merged; recent: recent days recomputed"
        )
    console.print()
    console.print(table)
    for s in run.steps:
        if s.error:
            console.print(
                f"[red]{escape(s.name)} {s.status}:[/] {escape(str(s.error))}", highlight=False
            )


def _how(step: StepSummary) -> str:
    """A step that succeeded: how it got its table, when not by building it whole (kept as it
    was, changed keys merged, recent days recomputed), else "ok"."""
    if step.detail.get("mode") == "merge":
        return "[green]merged[/]"
    if step.detail.get("mode") == "reuse" or "reused" in step.detail:
        return "[green]kept[/]"
    if "recomputed" in step.detail:
        return "[green]recent[/]"
    return "[green]ok[/]"


def _status(status: str) -> str:
    colour = {"succeeded": "green", "failed": "red", "abandoned": "yellow"}.get(status)
    return f"[{colour}]{status}[/]" if colour else status


@pipeline_app.command("maintain")
def maintain(
    retain_hours: int | None = typer.Option(
        None,
        "--retain-hours",
        min=0,
        help="delete files no table version has used for this many hours (default: "
        "SHELFWISE_PIPELINE_RETAIN_HOURS, 168); versions older than that stop being readable",
    ),
) -> None:
    """Compact lake tables split into many small files; delete files no version needs.

    Runs do this by themselves too, weekly (SHELFWISE_PIPELINE_MAINTENANCE_HOURS; 0 leaves it
    to this command)."""
    from shelfwise.pipeline import PipelineBusy, maintain_pipeline_lake
    from shelfwise.pipeline.maintenance import MaintenanceFailed

    try:
        result = maintain_pipeline_lake(settings(), _options(), retain_hours=retain_hours)
    except (PipelineBusy, MaintenanceFailed) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"[green]lake maintained[/]: {result.tables} tables, {result.files_compacted} small "
        f"files compacted, {result.files_removed} unused files deleted"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
