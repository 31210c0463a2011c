"""Fixtures for the pipeline tests: a small generated store (copied per test), settings that
keep every test's lake and warehouse apart, and one shared local SparkSession."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shelfwise.config import Settings, get_settings
from shelfwise.store.db import Database
from shelfwise.store.schema import upgrade
from shelfwise.synth import WorldSpec, generate

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Small enough for Spark in local mode, big enough for every table to have rows: partial
# receipts, promotions, cancellations, several categories, countries and suppliers.
TINY = WorldSpec(
    orders=160, seed=5, start=date(2024, 3, 1), days=35, products=12, locations=3, customers=25
)


@pytest.fixture(scope="package")
def generated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated SQLite store, made once; tests take copies (`store`)."""
    path = tmp_path_factory.mktemp("pipeline-store") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    generate(db, TINY)
    db.dispose()
    return path


def copy_sqlite(source: Path, target: Path) -> Path:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def store(generated_store: Path, tmp_path: Path) -> Path:
    """This test's own copy of the generated store (SQLite file)."""
    return copy_sqlite(generated_store, tmp_path / "store.db")


def settings_for(home: Path, store: Path | str) -> Settings:
    url = store if isinstance(store, str) else f"sqlite:///{store}"
    return Settings(home=home, database_url=url)


@pytest.fixture
def settings(tmp_path: Path, store: Path) -> Settings:
    return settings_for(tmp_path / "home", store)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the whole test session: 2 cores, 2 shuffle partitions, no UI."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("shelfwise-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def cli_env(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment of a `shelfwise` command on this test's store; yields its home (not
    created: the command makes it)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHELFWISE_HOME", str(home))
    monkeypatch.setenv("SHELFWISE_DATABASE_URL", f"sqlite:///{store}")
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
