"""`shelfwise demo`: the whole system on embedded defaults, then the website.

Each stage is a step that reports what it made; a second run reuses what the first one built
(or `--fresh` starts over), so `make run` is quick after the first time.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shelfwise.commands.common import console, settings
from shelfwise.config import Settings

if TYPE_CHECKING:
    from shelfwise.store.db import Database

DEMO_ORDERS = 20_000
DEMO_DAYS = 730


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _step(title: str, action: Callable[[], list[tuple[str, str]]]) -> None:
    started = time.perf_counter()
    console.rule(f"[bold cyan]{title}")
    facts = action()
    table = Table(show_header=False, box=None, pad_edge=False)
    for key, value in facts:
        table.add_row(f"[dim]{key}", value)
    console.print(table)
    console.print(f"[green]done[/] in {time.perf_counter() - started:.1f} s")


def _generate(db: Database, orders: int, seed: int) -> list[tuple[str, str]]:
    from shelfwise.store.models import Order
    from shelfwise.synth import WorldSpec, generate

    with db.read_session() as session:
        existing = session.query(Order).count()
    if existing:
        return [("orders", f"{existing:,} already there (use --fresh to start over)")]
    start = date.today() - timedelta(days=DEMO_DAYS)
    spec = WorldSpec(orders=orders, seed=seed, start=start, days=DEMO_DAYS)
    with _progress() as bar:
        task = bar.add_task("generating", total=1)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        result = generate(db, spec, progress=report)
    return [(name, f"{count:,}") for name, count in result.counts.items()]


def demo(
    orders: int = typer.Option(DEMO_ORDERS, help="customer orders to synthesize"),
    seed: int = typer.Option(7, help="random seed of the synthetic world"),
    fresh: bool = typer.Option(False, "--fresh", help="delete the demo folder and start over"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="start the website at the end"),
    host: str = typer.Option("127.0.0.1", help="address the website listens on"),
    port: int = typer.Option(8000, help="port of the website"),
) -> None:
    """Build a demo shop in SHELFWISE_HOME (default ./.shelfwise) and open its website.

    Creates the operational database, synthesizes about two years of retail history, and runs
    every later stage on it. Nothing is downloaded; everything stays in the demo folder.
    """
    from shelfwise.store.db import Database

    config: Settings = settings()
    if fresh and config.home.exists():
        shutil.rmtree(config.home)
    config.home.mkdir(parents=True, exist_ok=True)
    db = Database(config.resolved_database_url)
    logins: list[tuple[str, str]] = []
    try:
        _step("1. operational database", lambda: _init(db))
        _step("2. synthetic retail history", lambda: _generate(db, orders, seed))
    finally:
        db.dispose()
    _step("3. lakehouse pipeline and warehouse", lambda: _pipeline(config))
    _step("4. demand forecasts (MLflow champion)", lambda: _forecast(config))
    db = Database(config.resolved_database_url)
    try:
        _step("5. website accounts", lambda: _accounts(db, logins))
    finally:
        db.dispose()
    console.rule("[bold cyan]how to look at it")
    console.print(f"data folder        {config.home.resolve()}")
    console.print("stock report       shelfwise report stock")
    console.print("low stock          shelfwise report low-stock --format json")
    console.print("sales by month     shelfwise report sales --by category --by month")
    console.print("pipeline runs      shelfwise pipeline status")
    console.print(f"warehouse (DuckDB) {config.warehouse_path}")
    console.print(f"website            http://{host}:{port}/  (API: /api/v1/docs)")
    for role_and_email, password in logins:
        console.print(f"  sign in as {role_and_email:<42} password {password}")
    if serve:
        from shelfwise.commands.serve import serve_app

        serve_app(config, host=host, port=port, demo=True)


def _pipeline(config: Settings) -> list[tuple[str, str]]:
    from shelfwise.commands.pipeline import run_with_progress

    run = run_with_progress(config)
    return [
        ("run", f"{run.run_id} ({run.status})"),
        ("rows read", f"{run.rows_read:,}"),
        ("rows written", f"{run.rows_written:,}"),
        ("rows quarantined", f"{run.rows_quarantined:,}"),
        ("warehouse", str(config.warehouse_path)),
    ]


def _forecast(config: Settings) -> list[tuple[str, str]]:
    from shelfwise.forecast.forecaster import ForecastConfig
    from shelfwise.forecast.service import predict_and_publish, train_and_register

    with console.status("training and backtesting forecasters") as status:
        result = train_and_register(
            config,
            config=ForecastConfig(preset="quick"),
            progress=lambda message: status.update(message),
        )
        published = predict_and_publish(config)
    return [
        ("model version", f"v{result.version} ({'champion' if result.promoted else 'kept'})"),
        ("why", result.reason),
        (
            "forecast rows",
            f"{published.rows:,} ({published.start.date()} to {published.end.date()})",
        ),
        ("MLflow UI", f"mlflow ui --backend-store-uri {config.resolved_mlflow_uri}"),
    ]


def _accounts(db: Database, logins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    from shelfwise.store.accounts import create_demo_accounts

    with db.session() as session:
        accounts = create_demo_accounts(session=session)
    logins.extend((f"{role} {email}", password) for email, password, role in accounts)
    return [(role, email) for email, _password, role in accounts]


def _init(db: Database) -> list[tuple[str, str]]:
    from shelfwise.store.schema import upgrade

    upgrade(db)
    return [("database", db.engine.url.render_as_string(hide_password=True))]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
