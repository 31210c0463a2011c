"""`shelfwise import KIND FILE` end to end through Typer's runner, on a SQLite file from `init`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from shelfwise.cli import app
from shelfwise.config import get_settings
from shelfwise.store.db import Database
from shelfwise.store.inventory import ledger_mismatches
from shelfwise.store.models import Base, Location, Order

DATA = Path(__file__).parents[1] / "data" / "import"


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


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["import", *map(str, args)])


def copy(tmp_path: Path, name: str) -> Path:
    shutil.copy(DATA / name, tmp_path / name)
    return tmp_path / name


def counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        with db.read_session() as session:
            return {
                name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in Base.metadata.tables.items()
            }
    finally:
        db.dispose()


def test_every_kind_imports_in_order(database_url: str, tmp_path: Path) -> None:
    for kind in ("products", "locations", "customers", "suppliers", "inventory"):
        result = run(kind, copy(tmp_path, f"{kind}.csv"))
        assert result.exit_code == 0, result.output
        assert f"{kind}.csv: accepted" in result.stdout
    result = run("orders", copy(tmp_path, "orders_superstore.csv"), "--format", "json")
    assert result.exit_code == 0, result.output
    tallies = {row["record"]: row for row in json.loads(result.stdout)}
    assert tallies["orders"]["created"] == 24
    assert tallies["order_lines"]["created"] == 50
    assert "dates read as month/day/year" in result.stderr
    rows = counts(database_url)
    assert rows["products"] == 6 + 12
    assert rows["suppliers"] == 3 and rows["supplier_products"] == 4
    assert rows["reorder_settings"] == 3
    db = Database(database_url)
    try:
        with db.read_session() as session:
            assert ledger_mismatches(session=session) == []
    finally:
        db.dispose()


def test_bad_file_exits_1_listing_every_problem(database_url: str, tmp_path: Path) -> None:
    before = counts(database_url)
    result = run("products", copy(tmp_path, "products_bad.csv"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "warning: products_bad.csv line 1: column(s) colour are not read by a products import "
        "and were ignored"
    )
    assert lines[1] == "error: 5 problems on 5 lines; nothing was imported:"
    assert lines[2] == (
        'products_bad.csv line 2, column unit_price: "12,50" is not a number '
        "(use a dot for decimals)"
    )
    assert len(lines) == 7
    assert counts(database_url) == before


def test_skip_invalid_writes_the_rejected_file(database_url: str, tmp_path: Path) -> None:
    path = copy(tmp_path, "products_bad.csv")
    result = run("products", path, "--skip-invalid")
    assert result.exit_code == 0, result.output
    rejected = tmp_path / "products_bad.rejected.csv"
    assert "products_bad.csv: accepted 2 of 7 rows" in result.stdout
    assert f"5 line(s) rejected; see {rejected}" in result.stdout
    header, *rows = rejected.read_text(encoding="utf-8").splitlines()
    assert header == "sku,name,category,sub_category,unit_price,unit_cost,colour,line,reason"
    assert len(rows) == 5
    assert counts(database_url)["products"] == 2


def test_wrong_encoding_and_empty_file_are_explained(database_url: str, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "sku,name,category,sub_category,unit_price\nC-1,Café,K,C,1\n".encode("latin-1")
    )
    result = run("products", latin)
    assert result.exit_code == 1
    assert "latin.csv: the file is not UTF-8 text: byte 0xE9 on line 2" in result.stderr
    assert run("products", latin, "--encoding", "latin-1").exit_code == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = run("customers", empty)
    assert result.exit_code == 1
    assert "empty.csv: the file is empty" in result.stderr


def test_delimiter_dry_run_and_location_options(database_url: str, tmp_path: Path) -> None:
    tabbed = tmp_path / "tabbed.txt"
    tabbed.write_text("code|name|country|region|city\nBER-1|Berlin|DE|Berlin|Berlin\n", "utf-8")
    dry = run("locations", tabbed, "--delimiter", "|", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would accept 1 of 1 rows (dry run: nothing was written)" in dry.stdout
    assert counts(database_url)["locations"] == 0
    assert run("locations", tabbed, "--delimiter", "|").exit_code == 0
    result = run("orders", copy(tmp_path, "orders_superstore.csv"), "--location", "BER-1")
    assert result.exit_code == 0, result.output
    db = Database(database_url)
    try:
        with db.read_session() as session:
            assert set(session.scalars(select(Location.code).join(Order))) == {"BER-1"}
    finally:
        db.dispose()


def test_large_file_shows_progress(database_url: str, tmp_path: Path) -> None:
    big = tmp_path / "many.csv"
    rows = [f"P-{i:05d},Pen {i},Office,Pens,{1 + i % 50}.25" for i in range(2500)]
    big.write_text("sku,name,category,sub_category,unit_price\n" + "\n".join(rows), "utf-8")
    result = run("products", big)
    assert result.exit_code == 0, result.output
    assert "checking rows" in result.stderr
    assert counts(database_url)["products"] == 2500


def test_help_explains_the_command(database_url: str) -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for needle in ("--skip-invalid", "--date-format", "--location", "docs/importing.md"):
        assert needle in text
