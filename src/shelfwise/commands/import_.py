"""`shelfwise import KIND FILE`: bring a shop's own records in from a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_rows,
    err_console,
    open_database,
)
from shelfwise.store.errors import StoreError
from shelfwise.store.kinds import ImportKind

if TYPE_CHECKING:  # the importers load SQLAlchemy: imported when the command runs
    from shelfwise.store.importers import ImportFailed, ImportReport

PROGRESS_FROM_ROWS = 2000
DELIMITER_WORDS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class ProgressBar:
    """A Rich progress bar on stderr, shown only for files of a few thousand lines or more."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.progress is None:
            if stage != "checking rows" or total < PROGRESS_FROM_ROWS:
                return
            self.progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
            )
            self.progress.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def import_command(
    kind: ImportKind = typer.Argument(
        ..., help="products, locations, customers, suppliers, inventory or orders"
    ),
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="the CSV file to import"
    ),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="load the valid rows and write the others, with reasons, to NAME.rejected.csv "
        "beside the file (default: all or nothing)",
    ),
    encoding: str | None = typer.Option(
        None, "--encoding", help="the file's text encoding, e.g. latin-1 (default UTF-8)"
    ),
    delimiter: str | None = typer.Option(
        None,
        "--delimiter",
        help="column separator: , ; tab or | (default: detected from the header line)",
    ),
    date_format: str | None = typer.Option(
        None,
        "--date-format",
        help="how dates are written, e.g. %d/%m/%Y (default: detected per file)",
    ),
    location: str | None = typer.Option(
        None,
        "--location",
        help="orders: book every order at this existing location code (default: a Location "
        "Code column, else one store per country and region)",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="check everything and report, but write nothing"
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL"
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Import products, locations, customers, suppliers, inventory counts or orders from CSV.

    Every line is checked before anything is written. A problem is reported with the file,
    line and column; by default any problem stops the whole import and all of them are listed.
    Orders accept a flat sales export such as the Superstore data set. Column sets and
    examples: docs/importing.md. When starting from nothing, import in the order products,
    locations, customers, suppliers, inventory, orders.
    """
    from shelfwise.store.importers import ImportFailed, ImportOptions, import_csv

    options = ImportOptions(
        skip_invalid=skip_invalid,
        encoding=encoding,
        delimiter=DELIMITER_WORDS.get(delimiter, delimiter) if delimiter else None,
        date_format=date_format,
        location_code=location,
        dry_run=dry_run,
    )
    bar = ProgressBar()
    try:
        with open_database(database_url) as db:
            report = import_csv(db, kind, file, options, progress=bar)
    except ImportFailed as exc:
        bar.stop()
        _print_problems(exc)
        raise typer.Exit(1) from exc
    except StoreError as exc:
        bar.stop()
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from exc
    bar.stop()
    _print_report(report, fmt)


def _print_problems(exc: ImportFailed) -> None:
    for warning in exc.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    summary = exc.message.splitlines()[0]
    err_console.print(f"[bold red]error:[/] {escape(summary)}", soft_wrap=True)
    for problem in exc.problems:
        err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)


def _print_report(report: ImportReport, fmt: OutputFormat) -> None:
    for note in report.notes:
        err_console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    rows = [
        {
            "record": t.record,
            "created": t.created,
            "updated": t.updated,
            "unchanged": t.unchanged,
            "skipped": t.skipped,
        }
        for t in report.tallies
    ]
    columns = ["record", "created", "updated", "unchanged", "skipped"]
    if rows or fmt is not OutputFormat.TABLE:
        emit_rows(rows, fmt, title=f"import {report.kind}", columns=columns)
    out = console if fmt is OutputFormat.TABLE else err_console
    verb = "would accept" if report.dry_run else "accepted"
    out.print(
        f"{report.path.name}: {verb} {report.rows_loaded} of {report.rows_read} rows"
        + (" (dry run: nothing was written)" if report.dry_run else ""),
        markup=False,
        soft_wrap=True,
    )
    if report.rejected:
        where = f"; see {report.rejected_path}" if report.rejected_path else ""
        out.print(f"{report.rejected_lines} line(s) rejected{where}", markup=False, soft_wrap=True)
        if report.rejected_path is None:
            for problem in report.rejected:
                out.print(str(problem), markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
