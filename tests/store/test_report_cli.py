"""`shelfwise report ...` end to end through Typer's runner, on a SQLite file set up by `init`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from shelfwise.cli import app
from shelfwise.config import get_settings
from shelfwise.store.db import Database
from tests.store.test_reports import build_sales_world, build_stock_world

LOW_STOCK_KEYS = {
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
}


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """SHELFWISE_DATABASE_URL points at a fresh file that `shelfwise init` created."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHELFWISE_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    yield url
    get_settings.cache_clear()


def _world(url: str, build: object) -> None:
    db = Database(url)
    try:
        with db.session() as session:
            build(session)  # type: ignore[operator]
    finally:
        db.dispose()


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, ["report", *args])


def _error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    return " ".join(result.stderr.split())  # Rich wraps long lines


def test_low_stock_json_lists_the_documented_keys(database_url: str) -> None:
    _world(database_url, build_stock_world)
    result = _run("low-stock", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [set(row) for row in rows] == [LOW_STOCK_KEYS] * 3
    assert [(r["sku"], r["location"], r["shortfall"], r["suggested_order"]) for r in rows] == [
        ("TEC-001", "WH-FR", 5, 12),
        ("SKU-001", "LOC0", 2, 19),
        ("SKU-000", "LOC0", 4, 36),
    ]
    threshold = json.loads(_run("low-stock", "--threshold", "9", "-f", "json").stdout)
    assert [(r["sku"], r["location"], r["threshold"]) for r in threshold][2] == (
        "TEC-001",
        "LOC0",
        9,
    )


def test_low_stock_csv_starts_with_a_header(database_url: str) -> None:
    _world(database_url, build_stock_world)
    result = _run("low-stock", "--format", "csv", "--location", "LOC0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split(",")[:3] == ["sku", "product_name", "category"]
    assert set(lines[0].split(",")) == LOW_STOCK_KEYS
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["sku"], r["available"], r["suggested_order"]) for r in rows] == [
        ("SKU-001", "1", "19"),
        ("SKU-000", "8", "36"),
    ]


def test_stock_json_and_table(database_url: str) -> None:
    _world(database_url, build_stock_world)
    result = _run("stock", "--format", "json", "--country", "fr")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert {"sku", "product_name", "location", "on_hand", "reserved", "available"} <= set(row)
    assert (row["sku"], row["location"], row["location_kind"], row["available"]) == (
        "TEC-001",
        "WH-FR",
        "warehouse",
        0,
    )
    table = _run("stock", "--search", "model 1")
    assert table.exit_code == 0, table.output
    assert "Stock levels" in table.stdout and "SKU-001" in table.stdout
    assert "SKU-000" not in table.stdout


def test_sales_json_by_category_and_month(database_url: str) -> None:
    _world(database_url, build_sales_world)
    result = _run(
        "sales", "--by", "category", "--by", "month", "--from", "2024-01-01", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "category": "Furniture",
            "period": "2024-01",
            "orders": 1,
            "units": 3,
            "revenue": 44.98,
            "avg_discount": 0.25,
        },
        {
            "category": "Furniture",
            "period": "2024-02",
            "orders": 1,
            "units": 1,
            "revenue": 14.66,
            "avg_discount": 0.3333,
        },
        {
            "category": "Technology",
            "period": "2024-02",
            "orders": 1,
            "units": 2,
            "revenue": 200,
            "avg_discount": 0,
        },
    ]
    weeks = _run("sales", "--by", "country,week", "--include-cancelled", "-f", "csv")
    assert weeks.stdout.splitlines()[0] == "country,period,orders,units,revenue,avg_discount"
    assert "FR,2020-W53,1,1,95,0.05" in weeks.stdout.splitlines()


def test_top_products_by_units(database_url: str) -> None:
    _world(database_url, build_sales_world)
    result = _run("top-products", "--by-units", "--limit", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(r["rank"], r["sku"], r["units"], r["revenue"]) for r in json.loads(result.stdout)] == [
        (1, "SKU-000", 5, 84.96),
        (2, "TEC-001", 3, 295),
    ]


def test_unknown_by_value_lists_the_allowed_ones(database_url: str) -> None:
    message = _error(_run("sales", "--by", "category,colour"))
    assert "unknown --by value 'colour'; choose from: product, category, sub_category" in message
    assert "quarter, year" in message


def test_from_after_to_is_refused(database_url: str) -> None:
    message = _error(_run("sales", "--from", "2024-03-01", "--to", "2024-02-01"))
    assert "--from 2024-03-01 is after --to 2024-02-01" in message


def test_unknown_location_code_is_refused(database_url: str) -> None:
    _world(database_url, build_stock_world)
    message = _error(_run("stock", "--location", "LOC9"))
    assert "unknown location code(s) LOC9; known codes: LOC0, LOC1, WH-FR" in message


def test_a_database_without_schema_says_to_run_init(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    message = _error(_run("low-stock", "--database-url", url))
    assert "has no Shelfwise schema: run `shelfwise init` first" in message


def test_every_report_command_explains_itself() -> None:
    for command in ("stock", "low-stock", "sales", "top-products"):
        result = _run(command, "--help")
        assert result.exit_code == 0, result.output
        assert "--format" in result.stdout and "--database-url" in result.stdout
