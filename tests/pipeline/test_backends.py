"""The pipeline reads PostgreSQL and MariaDB stores, and publishes to a PostgreSQL warehouse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from shelfwise.config import Settings
from shelfwise.pipeline import PipelineFailed, publish, run_pipeline
from shelfwise.pipeline.duckdb_support import (
    attach_source,
    connect,
    libpq_dsn,
    load_extension,
    quote,
)
from shelfwise.pipeline.gold import GOLD_NAMES
from shelfwise.pipeline.lake import DeltaLake, Lake, ParquetLake
from shelfwise.pipeline.publish import PostgresPatch, publish_postgres
from shelfwise.pipeline.runlog import RunSummary
from shelfwise.store.db import Database, normalize_url
from shelfwise.store.schema import upgrade
from shelfwise.synth import generate
from tests.dbservers import RunningServer
from tests.pipeline.conftest import TINY, settings_for
from tests.pipeline.helpers import KEYS, assert_same_gold, gold_frames
from tests.pipeline.test_publish import SALES, STOCK, _rows
from tests.pipeline.test_run import _add_orders, add_orders


def _generated(url: str) -> str:
    db = Database(url)
    upgrade(db)
    generate(db, TINY)
    db.dispose()
    return url


@pytest.fixture
def warehouse_url(postgres_server: RunningServer) -> Iterator[str]:
    """A second fresh PostgreSQL database, to receive the warehouse."""
    name = f"shelfwise_wh_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.mark.postgres
def test_postgres_store_to_duckdb_and_postgres_warehouses(
    postgres_url: str, warehouse_url: str, generated_store: Path, tmp_path: Path
) -> None:
    source = _generated(postgres_url)
    settings = settings_for(tmp_path / "home", source).model_copy(
        update={"warehouse_url": warehouse_url}
    )

    summary = run_pipeline(settings)

    assert summary.status == "succeeded"
    gold = gold_frames(settings.warehouse_path)
    # the same world generated into SQLite gives the same gold
    from_sqlite = settings_for(tmp_path / "sqlite-home", generated_store)
    run_pipeline(from_sqlite)
    assert_same_gold(gold, gold_frames(from_sqlite.warehouse_path))
    # and the PostgreSQL warehouse holds the same tables, row for row
    engine = create_engine(normalize_url(warehouse_url))
    try:
        with engine.connect() as con:
            for name in GOLD_NAMES:
                published = pd.read_sql(text(f"SELECT * FROM {name}"), con)
                assert len(published) == len(gold[name]), name
            comment = con.execute(
                text("SELECT obj_description('fct_sales'::regclass)")
            ).scalar_one()
            leftovers = con.execute(
                text("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%__staging'")
            ).scalar_one()
        assert comment == "one row per order line" and leftovers == 0
        sales = pd.read_sql(text("SELECT * FROM fct_sales"), engine)
    finally:
        engine.dispose()
    ordered = sales.sort_values(list(KEYS["fct_sales"])).reset_index(drop=True)
    assert ordered["order_line_id"].tolist() == gold["fct_sales"]["order_line_id"].tolist()
    assert ordered["net_revenue"].sum() == gold["fct_sales"]["net_revenue"].sum()

    _assert_incremental_run_reconciles_recent_rows(source, settings)


@pytest.mark.mysql
def test_mariadb_store(mariadb_url: str, generated_store: Path, tmp_path: Path) -> None:
    source = _generated(mariadb_url)
    settings = settings_for(tmp_path / "home", source)

    assert run_pipeline(settings).status == "succeeded"

    from_sqlite = settings_for(tmp_path / "sqlite-home", generated_store)
    run_pipeline(from_sqlite)
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(from_sqlite.warehouse_path))

    _assert_incremental_run_reconciles_recent_rows(source, settings)


def _assert_incremental_run_reconciles_recent_rows(source: str, settings: Settings) -> None:
    """New orders: the next run reconciles only the recomputed days, in the source's SQL."""
    add_orders(source, 3)
    second = run_pipeline(settings)
    checks = next(step for step in second.steps if step.name == "checks")
    assert any("days from" in str(detail) for detail in checks.detail.values()), checks.detail


@pytest.mark.postgres
def test_source_is_attached_read_only(postgres_url: str, store: Path) -> None:
    migrated = Database(postgres_url)
    upgrade(migrated)
    migrated.dispose()
    writes = {
        f"sqlite:///{store}": "CREATE TABLE src.intruder (id INTEGER)",
        postgres_url: "CREATE TABLE src.public.intruder (id INTEGER)",
    }
    for url, write in writes.items():
        con = connect()
        try:
            attach_source(con, url)
            with pytest.raises(duckdb.Error, match="read-only"):
                con.execute(write)
        finally:
            con.close()


@pytest.mark.postgres
def test_a_postgres_push_keeps_grants_and_names_the_views_that_block_it(
    warehouse_url: str, settings: Settings
) -> None:
    """Each push replaces the gold tables: what a BI role was granted is granted again, and a
    view on a gold table (PostgreSQL refuses to drop its table) fails the run with its name
    before anything is loaded, leaving the warehouse and no staging tables."""
    pushed = settings.model_copy(update={"warehouse_url": warehouse_url})
    run_pipeline(pushed)
    role = f"bi_{uuid.uuid4().hex[:8]}"
    engine = create_engine(normalize_url(warehouse_url))
    try:
        with engine.begin() as con:
            con.execute(text(f"CREATE ROLE {role}"))
            con.execute(text(f"GRANT SELECT ON fct_sales TO {role}"))

        run_pipeline(pushed, full=True)

        with engine.begin() as con:
            granted = f"SELECT has_table_privilege('{role}', 'fct_sales', 'SELECT')"
            assert con.execute(text(granted)).scalar_one() is True
            assert con.execute(text(granted.replace("fct_sales", "dim_date"))).scalar_one() is False
            con.execute(text("CREATE VIEW v_sales AS SELECT order_line_id FROM fct_sales"))

        with pytest.raises(PipelineFailed, match=r"public\.v_sales \(on fct_sales\)"):
            run_pipeline(pushed, full=True)

        with engine.connect() as con:
            staging = "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%__staging'"
            assert con.execute(text(staging)).scalar_one() == 0
            assert con.execute(text("SELECT count(*) FROM v_sales")).scalar_one() > 0
    finally:
        with engine.begin() as con:
            con.execute(text("DROP VIEW IF EXISTS v_sales"))
            con.execute(text(f"DROP OWNED BY {role}"))
            con.execute(text(f"DROP ROLE {role}"))
        engine.dispose()


def _postgres_step(run: RunSummary) -> object:
    return next(s for s in run.steps if s.name == "publish").detail.get("postgres")


def _assert_postgres_holds(settings: Settings, url: str) -> None:
    """Every table of the DuckDB warehouse, row for row, in the PostgreSQL one."""
    con = connect()
    try:
        load_extension(con, "postgres")
        con.execute(f"ATTACH {quote(str(settings.warehouse_path))} AS wh (READ_ONLY)")
        con.execute(f"ATTACH {quote(libpq_dsn(url))} AS pg (TYPE postgres, READ_ONLY)")
        names = [
            n
            for (n,) in con.sql(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh'"
            ).fetchall()
        ]
        assert set(GOLD_NAMES) <= set(names)
        for name in names:
            for left, right in (
                (f"wh.{name}", f"pg.public.{name}"),
                (f"pg.public.{name}", f"wh.{name}"),
            ):
                differing = con.sql(
                    f"SELECT count(*) FROM (SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right})"
                ).fetchone()
                assert differing == (0,), (name, left)
    finally:
        con.close()


@pytest.mark.postgres
def test_a_daily_run_patches_the_postgres_warehouse_that_holds_the_last_gold(
    warehouse_url: str, settings: Settings, store: Path
) -> None:
    """A daily run sends PostgreSQL only the recent rows of the tables it patched (the daily
    fact, sales...), when the warehouse holds the gold of the run that published last; a
    warehouse holding anything else gets every table."""
    pushed = settings.model_copy(update={"warehouse_url": warehouse_url})
    first = run_pipeline(pushed)
    assert _postgres_step(first) == "replaced"
    _add_orders(store, 3)

    second = run_pipeline(pushed)
    quiet = run_pipeline(pushed)  # nothing changed: nothing published
    _add_orders(store, 3)
    third = run_pipeline(pushed)

    assert next(s for s in quiet.steps if s.name == "publish").status == "skipped"
    assert _postgres_step(second) == _postgres_step(third) == "patched"
    _assert_postgres_holds(pushed, warehouse_url)
    engine = create_engine(normalize_url(warehouse_url))
    try:
        with engine.begin() as con:
            version = con.execute(text("SELECT run_id FROM shelfwise_warehouse_version"))
            assert version.scalars().all() == [third.run_id]
            indexes = con.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'fct_inventory_daily'")
            )
            assert indexes.scalars().all() == ["fct_inventory_daily__brin"]
            # another run's gold (a second home pushing here, a restore): replaced whole
            con.execute(text("UPDATE shelfwise_warehouse_version SET run_id = 'elsewhere'"))
            con.execute(text("DELETE FROM fct_sales WHERE order_line_id = 1"))
    finally:
        engine.dispose()
    _add_orders(store, 3)

    fourth = run_pipeline(pushed)

    assert _postgres_step(fourth) == "replaced"
    _assert_postgres_holds(pushed, warehouse_url)

    # A run without the URL moves the DuckDB file on; the next run finds no change in the
    # store but a PostgreSQL warehouse behind: it publishes instead of stopping.
    _add_orders(store, 3)
    run_pipeline(settings)
    caught_up = run_pipeline(pushed)

    assert _postgres_step(caught_up) == "replaced"
    _assert_postgres_holds(pushed, warehouse_url)
    assert _postgres_step(run_pipeline(pushed)) is None  # now nothing to do


def _published(url: str, table: str) -> list[tuple[object, ...]]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("lake_kind", [DeltaLake, ParquetLake])
def test_a_postgres_patch_from_either_lake_sends_only_the_recent_rows(
    warehouse_url: str, tmp_path: Path, lake_kind: type[Lake], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Delta lake (DuckDB engine) and the Parquet lake (Spark engine): a patch replaces
    the recent rows and leaves a kept table as PostgreSQL has it; the version row is checked
    again inside the transaction."""
    lake = lake_kind(tmp_path / "lake")
    lake.overwrite("gold", "sales", _rows([1, 2, 3], 1))
    lake.overwrite("gold", "stock", _rows([1], 5))
    items = [SALES, STOCK]
    first = publish_postgres(warehouse_url, lake, items, {}, run_id="r1", indexed={"sales": "date"})
    engine = create_engine(normalize_url(warehouse_url))
    try:
        with engine.begin() as con:  # (a kept table is not sent again: this stays)
            con.execute(text("INSERT INTO stock VALUES (DATE '2024-01-09', 9)"))
    finally:
        engine.dispose()
    lake.replace_where("gold", "sales", _rows([3, 4], 2), "date", "2024-01-03")

    second = publish_postgres(
        warehouse_url,
        lake,
        items,
        {},
        run_id="r2",
        patch=PostgresPatch("r1", {"sales": ("date", "2024-01-03")}, {"stock"}),
    )

    assert (first, second) == ("replaced", "patched")
    assert _published(warehouse_url, "sales") == [
        (date(2024, 1, 1), 1),
        (date(2024, 1, 2), 1),
        (date(2024, 1, 3), 2),
        (date(2024, 1, 4), 2),
    ]
    assert _published(warehouse_url, "stock") == [(date(2024, 1, 1), 5), (date(2024, 1, 9), 9)]
    assert _published(warehouse_url, "shelfwise_warehouse_version")[0][0] == "r2"

    # Another home published between this push's check and its transaction: the
    # transaction fails, changes nothing and leaves no staging table.
    monkeypatch.setattr(publish, "_holds_version", lambda *_: True)
    lake.replace_where("gold", "sales", _rows([4], 3), "date", "2024-01-04")
    with pytest.raises(duckdb.Error, match="another run published there"):
        publish_postgres(
            warehouse_url,
            lake,
            items,
            {},
            run_id="r3",
            patch=PostgresPatch("elsewhere", {"sales": ("date", "2024-01-04")}, {"stock"}),
        )
    assert _published(warehouse_url, "sales")[-1] == (date(2024, 1, 4), 2)
    assert _published(warehouse_url, "shelfwise_warehouse_version")[0][0] == "r2"
    tables = _published(
        warehouse_url, "(SELECT tablename, 0 FROM pg_tables WHERE schemaname = 'public') t"
    )
    assert sorted(str(name) for name, _ in tables) == [
        "sales",
        "shelfwise_warehouse_version",
        "stock",
    ]
