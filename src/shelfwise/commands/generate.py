"""`shelfwise generate`: synthesize a retail history into the operational database."""

from __future__ import annotations

from datetime import date

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_rows,
    fail,
    friendly_errors,
    open_database,
    settings,
)

HELP = (
    "Fill an empty operational database with a deterministic retail history.\n\n"
    "Creates products in a category tree, stores and warehouses in several countries, "
    "customers, suppliers and promotions, then simulates every day: seasonal demand, "
    "stockouts, weekly purchase orders with late and partial receipts, customer orders with "
    "status timelines, cancellations and returns, every stock change through the ledger. "
    "Migrates the database first and refuses a database that already holds data. The uncapped "
    "demand goes to synth_true_demand, for evaluating forecasts only."
)
STAGES = {
    "world": "building catalogue, chain and customers",
    "history": "simulating days",
    "indexing": "indexing",
}


def _parse_start(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(
            f"--start {text!r} is not a date; write it as YYYY-MM-DD, for example 2024-01-01"
        ) from None


def generate(
    orders: int = typer.Option(
        ...,
        "--orders",
        min=1,
        help="Customer orders to create (1-5 lines each, about 2.2 on average). "
        "The catalogue, chain and customer base grow with it unless given below.",
    ),
    seed: int = typer.Option(
        42, "--seed", min=0, help="Random seed; the same seed and options give identical rows."
    ),
    start: str = typer.Option(
        "2024-01-01", "--start", help="First simulated day, YYYY-MM-DD (UTC)."
    ),
    days: int = typer.Option(730, "--days", min=1, help="Number of simulated days."),
    products: int | None = typer.Option(
        None, "--products", min=10, help="Products in the catalogue (default: scaled from orders)."
    ),
    locations: int | None = typer.Option(
        None,
        "--locations",
        min=1,
        help="Stores and warehouses (default: 20-50, scaled from orders).",
    ),
    customers: int | None = typer.Option(
        None, "--customers", min=10, help="Customers (default: scaled from orders)."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL or a SQLite file in SHELFWISE_HOME",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Fill an empty operational database with a deterministic retail history."""
    from shelfwise.store.schema import upgrade
    from shelfwise.synth import WorldSpec
    from shelfwise.synth import generate as run_generator

    first_day = _parse_start(start)
    with friendly_errors():
        spec = WorldSpec(
            orders=orders,
            seed=seed,
            start=first_day,
            days=days,
            products=products,
            locations=locations,
            customers=customers,
        )
        if database_url is None:
            settings().home.mkdir(parents=True, exist_ok=True)
        with open_database(database_url) as db:
            upgrade(db)
            with _progress_bar(fmt) as bar:
                task = bar.add_task(STAGES["world"], total=1)

                def report(stage: str, done: int, total: int) -> None:
                    bar.update(
                        task, description=STAGES.get(stage, stage), completed=done, total=total
                    )

                result = run_generator(db, spec, progress=report)
    rows = [{"table": name, "rows": count} for name, count in sorted(result.counts.items())]
    emit_rows(rows, fmt, title="Synthetic history", columns=["table", "rows"])
    if fmt is OutputFormat.TABLE:
        console.print(
            f"{result.start.isoformat()} to {result.end.isoformat()}: "
            f"{result.counts.get('orders', 0):,} orders, {result.order_lines:,} order lines "
            f"in {result.seconds:.1f} s ({result.order_lines_per_minute:,.0f} lines/min)"
        )


class _QuietProgress:
    """Stands in for the bar when the output is machine-readable."""

    def __enter__(self) -> _QuietProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> TaskID:
        return TaskID(0)

    def update(self, task: TaskID, **fields: object) -> None:
        return None


def _progress_bar(fmt: OutputFormat) -> Progress | _QuietProgress:
    if fmt is not OutputFormat.TABLE:
        return _QuietProgress()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def register(app: typer.Typer) -> None:
    app.command("generate", help=HELP)(generate)
