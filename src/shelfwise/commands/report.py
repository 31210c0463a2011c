"""`shelfwise report stock|low-stock|sales|top-products`: the manager's reports.

Each command reads the operational store on a read session and prints a table, CSV or JSON
(`--format`); the figures come from `shelfwise.store.reports`, which the website uses too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import typer

from shelfwise.commands.common import (
    FormatOption,
    OutputFormat,
    emit_rows,
    fail,
    friendly_errors,
    open_database,
)
from shelfwise.store.errors import InvalidRequest
from shelfwise.store.kinds import LocationKind

if TYPE_CHECKING:  # the reports load SQLAlchemy: imported when a report runs
    from sqlalchemy.orm import Session

    from shelfwise.store.reports import StockFilters

report_app = typer.Typer(
    name="report",
    help="The manager's reports: stock levels, low stock, sales and top products.",
    no_args_is_help=True,
)

DatabaseUrlOption = typer.Option(
    None, "--database-url", help="SQLAlchemy URL; default SHELFWISE_DATABASE_URL or a SQLite file"
)
SearchOption = typer.Option(
    None, "--search", "-s", help="Only products whose SKU or name contains this text (any case)."
)
CategoryOption = typer.Option(None, "--category", help="Only this category (name, any case).")
SubCategoryOption = typer.Option(
    None, "--sub-category", help="Only this sub-category (name, any case)."
)
LocationOption = typer.Option(
    None, "--location", "-l", metavar="CODE", help="Only this location code; repeat for several."
)
CountryOption = typer.Option(
    None, "--country", help="Only locations in this country (ISO 3166-1 alpha-2, e.g. DE)."
)
KindOption = typer.Option(None, "--kind", help="Only stores or only warehouses.")
FromOption = typer.Option(
    None, "--from", formats=["%Y-%m-%d"], help="First day (UTC) of orders to count, YYYY-MM-DD."
)
ToOption = typer.Option(
    None, "--to", formats=["%Y-%m-%d"], help="Last day (UTC) of orders to count, YYYY-MM-DD."
)
IncludeCancelledOption = typer.Option(
    False, "--include-cancelled", help="Count cancelled orders too (left out by default)."
)

STOCK_COLUMNS = [
    "sku",
    "product_name",
    "category",
    "sub_category",
    "location",
    "location_kind",
    "country",
    "on_hand",
    "reserved",
    "available",
    "reorder_min",
    "reorder_max",
    "pack_size",
]
LOW_STOCK_COLUMNS = [
    "sku",
    "product_name",
    "category",
    "sub_category",
    "location",
    "country",
    "on_hand",
    "reserved",
    "available",
    "threshold",
    "reorder_min",
    "reorder_max",
    "pack_size",
    "shortfall",
    "suggested_order",
]
# A terminal table shows what fits 80 columns; CSV and JSON carry every column.
STOCK_TABLE_COLUMNS = [
    "sku",
    "product_name",
    "location",
    "on_hand",
    "reserved",
    "available",
    "reorder_min",
    "reorder_max",
]
LOW_STOCK_TABLE_COLUMNS = [
    "sku",
    "product_name",
    "location",
    "available",
    "threshold",
    "shortfall",
    "pack_size",
    "suggested_order",
]
TOP_TABLE_COLUMNS = ["rank", "sku", "product_name", "orders", "units", "revenue", "avg_discount"]
TOP_COLUMNS = [
    "rank",
    "sku",
    "product_name",
    "category",
    "sub_category",
    "orders",
    "units",
    "revenue",
    "avg_discount",
]


@contextmanager
def _reading(database_url: str | None) -> Iterator[Session]:
    """A read session on a migrated store; store errors become one clear line and exit 1."""
    from sqlalchemy import inspect

    with friendly_errors(), open_database(database_url) as db, db.read_session() as session:
        if not inspect(session.connection()).has_table("stock_levels"):
            where = db.engine.url.render_as_string(hide_password=True)
            raise fail(f"database {where} has no Shelfwise schema: run `shelfwise init` first")
        yield session


def _dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(row) for row in rows]


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _period(
    date_from: datetime | None, date_to: datetime | None
) -> tuple[date | None, date | None]:
    first, last = _day(date_from), _day(date_to)
    if first is not None and last is not None and first > last:
        raise fail(f"--from {first} is after --to {last}: give the earlier day as --from")
    return first, last


def _filters(
    search: str | None,
    category: str | None,
    sub_category: str | None,
    location: list[str] | None,
    country: str | None,
    kind: LocationKind | None,
    only_available: bool = False,
) -> StockFilters:
    from shelfwise.store.reports import StockFilters

    return StockFilters(
        search=search,
        category=category,
        sub_category=sub_category,
        locations=tuple(location or ()),
        country=country,
        kind=kind,
        only_available=only_available,
    )


@report_app.command("stock")
def stock(
    search: str | None = SearchOption,
    category: str | None = CategoryOption,
    sub_category: str | None = SubCategoryOption,
    location: list[str] | None = LocationOption,
    country: str | None = CountryOption,
    kind: LocationKind | None = KindOption,
    available_only: bool = typer.Option(
        False, "--available-only", help="Only rows with stock that can be sold (available > 0)."
    ),
    fmt: OutputFormat = FormatOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Current stock per product and location: on hand, reserved, available, reorder settings."""
    from shelfwise.store.reports import stock_levels

    filters = _filters(search, category, sub_category, location, country, kind, available_only)
    with _reading(database_url) as session:
        rows = stock_levels(session=session, filters=filters)
    columns = STOCK_TABLE_COLUMNS if fmt is OutputFormat.TABLE else STOCK_COLUMNS
    emit_rows(_dicts(rows), fmt, title="Stock levels", columns=columns)


@report_app.command("low-stock")
def low_stock_command(
    threshold: int | None = typer.Option(
        None,
        "--threshold",
        "-t",
        min=0,
        help="Report available stock below N everywhere, instead of each reorder minimum.",
    ),
    search: str | None = SearchOption,
    category: str | None = CategoryOption,
    sub_category: str | None = SubCategoryOption,
    location: list[str] | None = LocationOption,
    country: str | None = CountryOption,
    kind: LocationKind | None = KindOption,
    fmt: OutputFormat = FormatOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Products below their reorder minimum (or --threshold), most urgent first.

    Shows the shortfall and a suggested order that refills to the reorder maximum in whole
    packs. Retired products are left out."""
    from shelfwise.store.reports import low_stock

    filters = _filters(search, category, sub_category, location, country, kind)
    with _reading(database_url) as session:
        rows = low_stock(session=session, filters=filters, threshold=threshold)
    columns = LOW_STOCK_TABLE_COLUMNS if fmt is OutputFormat.TABLE else LOW_STOCK_COLUMNS
    emit_rows(_dicts(rows), fmt, title="Low stock", columns=columns)


@report_app.command("sales")
def sales(
    by: list[str] | None = typer.Option(
        None,
        "--by",
        "-b",
        metavar="KEY[,KEY]",
        help=(
            "Group by product, category, sub_category, country, location and at most one period "
            "(day, week, month, quarter, year); repeat or separate with commas. None: one total."
        ),
    ),
    date_from: datetime | None = FromOption,
    date_to: datetime | None = ToOption,
    include_cancelled: bool = IncludeCancelledOption,
    fmt: OutputFormat = FormatOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Orders, units, revenue (after discounts) and average discount per group.

    Periods are UTC; weeks are ISO weeks (Monday first), labelled like 2024-W07."""
    from shelfwise.store.reports import parse_sales_keys, sales_columns, sales_report

    try:
        keys = parse_sales_keys(by or (), what="--by value")
    except InvalidRequest as exc:
        raise fail(exc.message) from exc
    first, last = _period(date_from, date_to)
    with _reading(database_url) as session:
        rows = sales_report(
            session=session,
            by=keys,
            date_from=first,
            date_to=last,
            include_cancelled=include_cancelled,
        )
    title = "Sales by " + ", ".join(key.value for key in keys) if keys else "Sales"
    emit_rows(_dicts(rows), fmt, title=title, columns=sales_columns(keys))


@report_app.command("top-products")
def top(
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many products to list."),
    by_units: bool = typer.Option(
        False, "--by-units", help="Rank by units sold instead of revenue."
    ),
    date_from: datetime | None = FromOption,
    date_to: datetime | None = ToOption,
    include_cancelled: bool = IncludeCancelledOption,
    fmt: OutputFormat = FormatOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """The best-selling products by revenue (or units) with their orders and average discount."""
    from shelfwise.store.reports import top_products

    first, last = _period(date_from, date_to)
    with _reading(database_url) as session:
        rows = top_products(
            session=session,
            limit=limit,
            by_units=by_units,
            date_from=first,
            date_to=last,
            include_cancelled=include_cancelled,
        )
    title = "Top products by " + ("units" if by_units else "revenue")
    columns = TOP_TABLE_COLUMNS if fmt is OutputFormat.TABLE else TOP_COLUMNS
    emit_rows(_dicts(rows), fmt, title=title, columns=columns)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
