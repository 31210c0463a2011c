"""The pipeline end to end on DuckDB: first load, incremental runs, contract, run log."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select, update

from shelfwise.config import Settings
from shelfwise.pipeline import PipelineFailed, PipelineSetupError, recent_runs, run_pipeline, runner
from shelfwise.pipeline.gold import GOLD_NAMES
from shelfwise.pipeline.publish import copy_current, previous_path
from shelfwise.store.db import Database
from shelfwise.store.inventory import LineRequest, place_order
from shelfwise.store.models import Customer, Order, OrderLine, Product, StockLevel
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import assert_same_gold, column_types, gold_frames


def _store_counts(store: Path) -> dict[str, int]:
    db = Database(f"sqlite:///{store}")
    try:
        with db.read_session() as session:
            lines = session.scalars(select(OrderLine.id)).all()
            orders = session.scalars(select(Order.id)).all()
    finally:
        db.dispose()
    return {"order_lines": len(lines), "orders": len(orders)}


def _add_orders(store: Path, count: int) -> int:
    """Place `count` new one-line orders where stock is available; returns lines added."""
    return add_orders(f"sqlite:///{store}", count)


def add_orders(url: str, count: int) -> int:
    """`_add_orders` on the store at `url` (any backend)."""
    db = Database(url)
    added = 0
    try:
        with db.session() as session:
            customer = session.scalars(select(Customer.id).order_by(Customer.id)).first()
            stocked = session.execute(
                select(StockLevel.product_id, StockLevel.location_id)
                .join(Product, Product.id == StockLevel.product_id)
                .where(StockLevel.on_hand - StockLevel.reserved >= 1, Product.active.is_(True))
                .where(Product.retired_on.is_(None))
                .order_by(StockLevel.product_id, StockLevel.location_id)
            ).all()
            assert customer is not None and stocked
            for n in range(count):
                product_id, location_id = stocked[n % len(stocked)]
                place_order(
                    session=session,
                    customer_id=customer,
                    location_id=location_id,
                    lines=[LineRequest(product_id, 1)],
                )
                added += 1
    finally:
        db.dispose()
    return added


def test_first_run_builds_every_gold_table_and_reconciles(settings: Settings, store: Path) -> None:
    summary = run_pipeline(settings)

    assert summary.status == "succeeded"
    assert settings.warehouse_path.exists()
    gold = gold_frames(settings.warehouse_path)
    assert set(gold) == set(GOLD_NAMES)
    assert len(gold["fct_sales"]) == _store_counts(store)["order_lines"]
    checks = next(s for s in summary.steps if s.name == "checks")
    assert checks.status == "succeeded"
    assert "match the operational store" in checks.detail["fct_sales.reconciliation"]
    assert all(s.status == "succeeded" for s in summary.steps)
    # gold is also exported to the lake, as Delta tables, for BI tools
    assert (Path(settings.resolved_lake_uri) / "gold" / "fct_sales" / "_delta_log").is_dir()


def test_gold_contract_types_and_density(settings: Settings) -> None:
    run_pipeline(settings)
    warehouse = settings.warehouse_path

    contract = {
        "date": "DATE",
        "product_id": "BIGINT",
        "location_id": "BIGINT",
        "units_sold": "INTEGER",
        "units_received": "INTEGER",
        "on_hand_close": "INTEGER",
        "stocked_out": "BOOLEAN",
        "unit_price": "DECIMAL(12,2)",
        "promo_discount": "DOUBLE",
    }
    types = column_types(warehouse, "fct_inventory_daily")
    assert {name: types.get(name) for name in contract} == contract
    for table, columns in {
        "fct_sales": "order_line_id order_id date ordered_at product_id product_key location_id "
        "customer_id quantity unit_price discount net_revenue order_status",
        "dim_product": "product_key product_id sku name category sub_category brand unit_price "
        "unit_cost valid_from valid_to is_current",
        "dim_location": "location_id code name kind country region city",
        "dim_date": "date year quarter month iso_week day_of_week is_weekend is_holiday",
    }.items():
        assert set(columns.split()) <= set(column_types(warehouse, table)), table

    with duckdb.connect(str(warehouse), read_only=True) as con:
        # dense: every product-location has one row per day from its first movement to the end
        gaps = con.sql(
            """
            SELECT product_id, location_id, COUNT(*) AS n,
                   date_diff('day', MIN(date), MAX(date)) + 1 AS span,
                   MAX(date) AS last_day
            FROM fct_inventory_daily GROUP BY ALL
            HAVING n <> span OR last_day <> (SELECT MAX(date) FROM dim_date)
            """
        ).fetchall()
        assert gaps == []
        # units sold per day equal non-cancelled sales of that product, location and day
        mismatched = con.sql(
            """
            WITH sold AS (
              SELECT product_id, location_id, date, SUM(quantity) AS units
              FROM fct_sales WHERE order_status <> 'cancelled' GROUP BY ALL)
            SELECT COUNT(*) FROM fct_inventory_daily f
            LEFT JOIN sold s USING (product_id, location_id, date)
            WHERE f.units_sold <> COALESCE(s.units, 0)
            """
        ).fetchone()
        assert mismatched == (0,)
        # stocked out means nothing on hand at close; on hand never goes negative in this world
        assert con.sql(
            "SELECT COUNT(*) FROM fct_inventory_daily WHERE stocked_out <> (on_hand_close <= 0)"
        ).fetchone() == (0,)
        assert con.sql(
            "SELECT MIN(on_hand_close) >= 0, COUNT(*) FILTER (promo_discount > 0) > 0 "
            "FROM fct_inventory_daily"
        ).fetchone() == (True, True)
        # ABC: A covers the first 80 % of revenue, classes in rank order
        classes = con.sql(
            "SELECT abc_class FROM mart_abc_classification ORDER BY revenue_rank"
        ).fetchall()
        letters = "".join(c for (c,) in classes)
        assert letters == "".join(sorted(letters)) and letters.startswith("A")
        # scorecard rates are fractions; a received line's fill rate is received / ordered
        assert con.sql(
            "SELECT bool_and(on_time_rate BETWEEN 0 AND 1 AND fill_rate BETWEEN 0 AND 1) "
            "FROM mart_supplier_scorecard WHERE received_lines > 0"
        ).fetchone() == (True,)
        assert con.sql(
            "SELECT bool_and(receipt_count >= 1 AND quantity_received <= quantity_ordered "
            "AND abs(fill_rate - quantity_received / quantity_ordered) < 1e-12) "
            "FROM fct_purchase_receipts"
        ).fetchone() == (True,)


def test_incremental_run_takes_only_changes_and_equals_a_full_rebuild(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    first = run_pipeline(settings)
    published_first = settings.warehouse_path.stat().st_ino
    added = _add_orders(store, 5)

    second = run_pipeline(settings)

    written = {s.name: s.rows_written for s in second.steps if s.name.startswith("extract")}
    assert written["extract order_lines"] == added  # new versions only; the overlap re-read
    assert written["extract orders"] == added  # rows already in bronze is not appended again
    assert written["extract products"] == 0
    assert second.rows_read < first.rows_read / 10
    daily = next(s for s in second.steps if s.name == "gold fct_inventory_daily")
    assert daily.detail["previous rows"] == "warehouse copy"  # its copy, to patch afterwards
    assert previous_path(settings.warehouse_path).stat().st_ino == published_first
    incremental = gold_frames(settings.warehouse_path)
    assert len(incremental["fct_sales"]) == _store_counts(store)["order_lines"]

    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    assert_same_gold(incremental, gold_frames(rebuilt.warehouse_path))


def test_run_without_changes_keeps_the_warehouse(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_pipeline(settings)
    before = settings.warehouse_path.stat().st_ino
    copies: list[Path] = []

    def recorded(path: Path, run_id: str) -> Path:
        copies.append(copy_current(path, run_id))
        return copies[-1]

    monkeypatch.setattr(runner, "copy_current", recorded)

    again = run_pipeline(settings)

    assert again.status == "succeeded"
    assert {s.status for s in again.steps if not s.name.startswith("extract")} == {"skipped"}
    assert settings.warehouse_path.stat().st_ino == before
    # a daily run copies the warehouse to patch it only once it found changes: a store polled
    # every few minutes does not copy it each time
    assert copies == []
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))


def test_price_change_makes_a_new_product_version(settings: Settings, store: Path) -> None:
    run_pipeline(settings)
    db = Database(f"sqlite:///{store}")
    try:
        with db.session() as session:
            product = session.scalars(select(Product).order_by(Product.id)).first()
            assert product is not None
            product_id, old_price = product.id, product.unit_price
            product.unit_price = old_price + 5
    finally:
        db.dispose()
    _add_orders(store, 1)

    run = run_pipeline(settings)

    # a changed product rebuilds gold in full, in the file a daily run had started as a copy
    daily = next(s for s in run.steps if s.name == "gold fct_inventory_daily")
    assert daily.detail["rebuilt"] == "products changed"
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        versions = con.sql(
            "SELECT unit_price, is_current, valid_to > TIMESTAMP '9000-01-01' FROM dim_product "
            f"WHERE product_id = {product_id} ORDER BY valid_from"
        ).fetchall()
        first_and_last = con.sql(
            "SELECT arg_min(unit_price, date), arg_max(unit_price, date) "
            f"FROM fct_inventory_daily WHERE product_id = {product_id}"
        ).fetchone()
    assert [(float(p), c, o) for p, c, o in versions] == [
        (float(old_price), False, False),
        (float(old_price + 5), True, True),
    ]
    # history keeps the price valid on each day; today (the new order's day) has the new one
    assert first_and_last is not None
    assert [float(p) for p in first_and_last] == [float(old_price), float(old_price + 5)]


def test_a_quarantined_product_version_is_no_version_of_dim_product(
    settings: Settings, store: Path
) -> None:
    """A price of -5 entered and fixed a run later: the product is quarantined while it is the
    latest version, and the bad version never becomes one of its history."""
    run_pipeline(settings)
    stamp = datetime.now(UTC).replace(tzinfo=None)
    with closing(sqlite3.connect(store)) as con:
        con.execute("PRAGMA ignore_check_constraints = ON")
        product_id, price = con.execute(
            "SELECT id, unit_price FROM products ORDER BY id LIMIT 1"
        ).fetchone()
        for new_price, later in ((-5, 1), (price, 2)):
            with con:
                con.execute(
                    "UPDATE products SET unit_price = ?, updated_at = ? WHERE id = ?",
                    (
                        new_price,
                        f"{stamp + timedelta(seconds=later):%Y-%m-%d %H:%M:%S.%f}",
                        product_id,
                    ),
                )
            run_pipeline(settings)
            with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
                prices = warehouse.sql(
                    f"SELECT unit_price FROM dim_product WHERE product_id = {product_id}"
                ).fetchall()
                rules = warehouse.sql(
                    "SELECT rule FROM quarantine WHERE source_table = 'products'"
                ).fetchall()
            if new_price == -5:  # the product is quarantined, and with it its dimension rows
                assert (prices, rules) == ([], [("negative_price",)])
            else:  # fixed: one version, as before; none at -5
                assert ([float(p) for (p,) in prices], rules) == ([float(price)], [])


def test_late_committed_row_is_picked_up_by_the_overlap(settings: Settings, store: Path) -> None:
    """A row whose updated_at is older than the watermark (its transaction committed late)
    still reaches gold, and rows already in bronze are not appended twice."""
    run_pipeline(settings)
    db = Database(f"sqlite:///{store}")
    try:
        with db.session() as session:
            newest_line = session.scalar(select(func.max(OrderLine.updated_at)))
            newest_order = session.scalar(select(func.max(Order.updated_at)))
            assert newest_line is not None and newest_order is not None
        added = _add_orders(store, 1)
        with db.session() as session:  # each row a minute older than its table's watermark
            late = session.scalar(select(func.max(OrderLine.id)))
            order_id = session.scalar(select(OrderLine.order_id).where(OrderLine.id == late))
            session.execute(
                update(OrderLine)
                .where(OrderLine.id == late)
                .values(updated_at=newest_line - timedelta(seconds=60))
            )
            session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(updated_at=newest_order - timedelta(seconds=60))
            )
    finally:
        db.dispose()

    second = run_pipeline(settings)

    extract = next(s for s in second.steps if s.name == "extract order_lines")
    assert extract.rows_written == added  # the late line, and nothing re-appended
    assert extract.rows_read >= added  # the overlap re-read rows already there
    gold = gold_frames(settings.warehouse_path)
    assert late in set(gold["fct_sales"]["order_line_id"])


def test_a_row_stamped_ahead_of_the_clock_does_not_stop_extraction(
    settings: Settings, store: Path
) -> None:
    """A writer whose clock runs an hour fast: the rows other writers stamp after it are
    still extracted (the watermark never passes the newest extraction)."""
    run_pipeline(settings)
    with closing(sqlite3.connect(store)) as con, con:
        ahead = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
        con.execute(
            "UPDATE order_lines SET updated_at = ? WHERE id = (SELECT MIN(id) FROM order_lines)",
            (ahead.strftime("%Y-%m-%d %H:%M:%S.%f"),),
        )
    run_pipeline(settings)  # takes the line stamped ahead: bronze's newest updated_at
    added = _add_orders(store, 3)

    third = run_pipeline(settings)

    extract = next(s for s in third.steps if s.name == "extract order_lines")
    assert extract.rows_written == added  # the new lines; the one ahead is not appended again
    assert _store_counts(store)["order_lines"] == len(
        gold_frames(settings.warehouse_path)["fct_sales"]
    )


def test_a_row_whose_updated_at_is_no_timestamp_is_appended_once(
    settings: Settings, store: Path
) -> None:
    """Such a row is read by every run (SQLite compares the text with the cutoff) and goes to
    quarantine; bronze gets it once, and a run after that has no changes."""
    run_pipeline(settings)
    with closing(sqlite3.connect(store)) as con, con:
        con.execute(
            "UPDATE categories SET updated_at = 'yesterday' WHERE id = (SELECT MIN(id) FROM "
            "categories)"
        )
    second = run_pipeline(settings)
    third = run_pipeline(settings)

    written = [
        next(s for s in run.steps if s.name == "extract categories").rows_written
        for run in (second, third)
    ]
    assert written == [1, 0]
    assert {s.status for s in third.steps if not s.name.startswith("extract")} == {"skipped"}


def test_daily_reconciliation_finds_a_recomputed_day_that_differs_from_the_store(
    settings: Settings, store: Path
) -> None:
    """A line of today changed in the store behind the application's back (its updated_at
    set back before the overlap window, so no run re-reads it): the next daily run recomputes
    today, its reconciliation of the recomputed days finds the difference, and the run fails
    with the last warehouse kept."""
    run_pipeline(settings)
    _add_orders(store, 2)
    run_pipeline(settings)
    inode = settings.warehouse_path.stat().st_ino
    db = Database(f"sqlite:///{store}")
    try:
        with db.session() as session:
            tampered = session.scalar(select(func.max(OrderLine.id)))
            stamped = session.scalar(select(OrderLine.updated_at).where(OrderLine.id == tampered))
            assert stamped is not None
            session.execute(
                update(OrderLine)
                .where(OrderLine.id == tampered)
                .values(quantity=OrderLine.quantity + 1, updated_at=stamped - timedelta(hours=1))
            )
    finally:
        db.dispose()
    _add_orders(store, 1)

    with pytest.raises(PipelineFailed, match=r"fct_sales\.reconciliation: 1 month differs"):
        run_pipeline(settings)

    checks = next(s for s in recent_runs(settings, 1)[0].steps if s.name == "checks")
    assert checks.status == "failed"
    assert settings.warehouse_path.stat().st_ino == inode


def test_daily_run_builds_a_warehouse_of_an_older_release_afresh(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    """A warehouse written by a release with fewer tables (one dropped here) is neither patched
    nor read by gold: the daily run builds it afresh, the same as a rebuild from scratch."""
    run_pipeline(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("DROP TABLE mart_supplier_scorecard")
    _add_orders(store, 2)

    run = run_pipeline(settings)

    daily = next(s for s in run.steps if s.name == "gold fct_inventory_daily")
    assert daily.detail["previous rows"] == "lake"
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(rebuilt.warehouse_path))


def test_failed_step_keeps_the_last_good_warehouse(settings: Settings, store: Path) -> None:
    run_pipeline(settings)
    before = gold_frames(settings.warehouse_path)
    inode = settings.warehouse_path.stat().st_ino
    _add_orders(store, 2)
    # break the lake under the pipeline: a bronze data file disappears
    bronze = Path(settings.resolved_lake_uri) / "bronze" / "raw_orders"
    for data in bronze.glob("*.parquet"):
        data.unlink()

    with pytest.raises(PipelineFailed) as failure:
        run_pipeline(settings)

    summary = failure.value.summary
    assert summary.status == "failed"
    failed = [s for s in summary.steps if s.status == "failed"]
    assert len(failed) == 1 and "raw_orders" in (failed[0].error or "") + str(failure.value)
    assert settings.warehouse_path.stat().st_ino == inode
    assert_same_gold(before, gold_frames(settings.warehouse_path))
    latest = recent_runs(settings, 1)[0]
    assert latest.status == "failed" and latest.error

    # `--full` rebuilds the lake and recovers
    assert run_pipeline(settings, full=True).status == "succeeded"


def test_recent_runs_reports_steps_rows_and_durations(settings: Settings) -> None:
    run_pipeline(settings)
    run_pipeline(settings)

    runs = recent_runs(settings, 5)

    assert len(runs) == 2
    newest, oldest = runs
    assert newest.started_at > oldest.started_at
    assert oldest.status == "succeeded" and oldest.rows_read > 0
    assert oldest.seconds is not None and oldest.seconds > 0
    silver = [s for s in oldest.steps if s.name.startswith("silver")]
    assert silver and all(
        s.detail["rows_in"] == s.detail["rows_out"] + s.detail["rows_quarantined"] for s in silver
    )
    assert runs[0].as_dict()["steps"][0]["name"].startswith("extract")


def test_unknown_engine_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown engine 'polars'"):
        run_pipeline(settings, engine="polars")


def test_missing_store_fails_with_a_clear_message(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home", tmp_path / "nowhere.db")
    with pytest.raises(PipelineSetupError, match="not found; run `shelfwise init`"):
        run_pipeline(settings)
    assert not settings.home.exists()  # checked before anything is created


def test_ground_truth_stays_out_of_gold(settings: Settings) -> None:
    run_pipeline(settings)
    lake = Path(settings.resolved_lake_uri)
    assert (lake / "eval" / "raw_synth_true_demand").is_dir()
    assert not list((lake / "bronze").glob("*synth*"))
    assert not list((lake / "silver").glob("*synth*"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = {t for (t,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        comment = con.sql(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'eval_synth_true_demand'"
        ).fetchone()
    assert "eval_synth_true_demand" in tables and not any(
        "synth" in t for t in tables - {"eval_synth_true_demand"}
    )
    assert comment is not None and "evaluation only" in comment[0]
