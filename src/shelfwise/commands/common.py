"""What every command shares: settings, the database handle, output formats, errors."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shelfwise.config import Settings, get_settings
from shelfwise.store.errors import StoreError

if TYPE_CHECKING:  # SQLAlchemy loads when a command opens the store, not at start-up
    from shelfwise.store.db import Database

console = Console()
err_console = Console(stderr=True)


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="table, csv or json")


def settings() -> Settings:
    return get_settings()


@contextmanager
def open_database(url: str | None = None) -> Iterator[Database]:
    from shelfwise.store.db import Database

    db = Database(url or settings().resolved_database_url)
    try:
        yield db
    finally:
        db.dispose()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as written (errors quote SQL and paths, whose `[...]` is no markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Store errors become one clear line on stderr and a non-zero exit, not a traceback."""
    try:
        yield
    except StoreError as exc:
        raise fail(exc.message) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print rows as a Rich table, CSV or JSON (a list of objects with snake_case keys)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([{c: _plain(r.get(c)) for c in columns} for r in rows], indent=2))
        return
    if fmt is OutputFormat.CSV:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _plain(row.get(c)) for c in columns})
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        numeric = bool(rows) and isinstance(rows[0].get(column), int | float | Decimal)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in columns))
    console.print(table)
    if not rows:
        console.print("[dim]no rows[/]")
