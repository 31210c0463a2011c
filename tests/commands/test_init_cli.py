"""`shelfwise init` end to end through Typer's runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import get_settings
from shelfwise.store.db import Database
from shelfwise.store.schema import current_revision, head_revision


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHELFWISE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_init_creates_then_reports_up_to_date(home: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert "migrated from empty to" in first.output
    second = runner.invoke(app, ["init"])
    assert second.exit_code == 0, second.output
    assert "is up to date" in second.output
    db = Database(f"sqlite:///{home / 'shelfwise.db'}")
    try:
        assert current_revision(db) == head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert {"products", "stock_movements", "orders", "purchase_receipts"} <= tables
    finally:
        db.dispose()


def test_init_on_postgres_via_option(home: Path, postgres_url: str) -> None:
    result = CliRunner().invoke(app, ["init", "--database-url", postgres_url])
    assert result.exit_code == 0, result.output
    db = Database(postgres_url)
    try:
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "init" in result.output
