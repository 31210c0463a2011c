"""`shelfwise generate` end to end, the way a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.store.db import Database
from shelfwise.store.inventory import ledger_mismatches
from shelfwise.store.models import Order

runner = CliRunner()


def test_generate_fills_a_new_database_and_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    args = ["generate", "--orders", "300", "--seed", "3", "--start", "2025-02-01"]
    result = runner.invoke(app, [*args, "--days", "40", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "order_lines" in result.output and "stock_movements" in result.output
    assert "300 orders" in result.output and "2025-02-01 to 2025-03-12" in result.output
    db = Database(url)  # migrated by the command, then filled
    try:
        with db.read_session() as session:
            assert session.scalar(select(func.count()).select_from(Order)) == 300
            assert ledger_mismatches(session=session) == []
    finally:
        db.dispose()

    again = runner.invoke(app, [*args, "--days", "40", "--database-url", url])
    assert again.exit_code == 1
    assert "already holds data" in again.output and "Traceback" not in again.output


def test_generate_json_output_lists_rows_per_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = runner.invoke(
        app, ["generate", "--orders", "100", "--days", "15", "--database-url", url, "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = {row["table"]: row["rows"] for row in json.loads(result.output)}
    assert rows["orders"] == 100 and rows["order_lines"] >= 100


def test_bad_start_date_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = runner.invoke(
        app, ["generate", "--orders", "10", "--start", "2024-13-01", "--database-url", url]
    )
    assert result.exit_code == 1
    assert "--start '2024-13-01' is not a date" in result.output
    assert "YYYY-MM-DD" in result.output
    assert not (tmp_path / "shop.db").exists(), "nothing is created for a bad command line"


def test_help_explains_every_option() -> None:
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--orders", "--seed", "--start", "--days", "--products", "--locations", "--customers",
        "--database-url", "--format",
    ):  # fmt: skip
        assert option in result.output
    assert "synth_true_demand" in result.output
