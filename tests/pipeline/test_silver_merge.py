"""Incremental silver (merging changed keys) gives the same silver, quarantine and gold as a
rebuild from bronze, also when keys enter and leave quarantine between runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from deltalake import DeltaTable
from sqlalchemy import select

from shelfwise.config import Settings
from shelfwise.pipeline import PipelineFailed, run_pipeline, runner
from shelfwise.pipeline.catalog import SourceTable, source_table
from shelfwise.pipeline.lake import lake_root
from shelfwise.pipeline.runlog import RunSummary
from shelfwise.pipeline.settings import PipelineSettings
from shelfwise.pipeline.silver import build_silver_table
from shelfwise.store.db import Database
from shelfwise.store.inventory import cancel_order
from shelfwise.store.kinds import OrderStatus
from shelfwise.store.models import Order
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import add_stock_transfer, assert_same_gold, gold_frames
from tests.pipeline.test_quarantine import _assert_balanced, _inject_bad_rows, _raw
from tests.pipeline.test_run import _add_orders

ALWAYS_MERGE = PipelineSettings(pipeline_silver_merge_min_rows=0)
_NOW = datetime.now(UTC).replace(tzinfo=None)
STAMP = f"{_NOW + timedelta(hours=1):%Y-%m-%d %H:%M:%S.%f}"  # after every watermark: a change
FIXED = f"{_NOW + timedelta(hours=2):%Y-%m-%d %H:%M:%S.%f}"


def _modes(run: RunSummary) -> dict[str, str]:
    return {
        s.name.removeprefix("silver "): s.detail["mode"]
        for s in run.steps
        if s.name.startswith("silver ")
    }


def _quarantine(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.sql("SELECT source_table, record_key, rule, reason FROM quarantine").df()
    return frame.sort_values(["source_table", "record_key"]).reset_index(drop=True)


def _silver(settings: Settings, table: str) -> pd.DataFrame:
    lake = lake_root(settings.resolved_lake_uri)
    frame = DeltaTable(str(lake / "silver" / f"stg_{table}")).to_pandas()
    return frame.sort_values(list(source_table(table).key)).reset_index(drop=True)


def _change_first_row(store: Path, table: str, assignment: str) -> None:
    """Change the row with the lowest id of `table` in the store, after every watermark."""
    with closing(_raw(store)) as con, con:
        con.execute(
            f"UPDATE {table} SET {assignment}, updated_at = ? "
            f"WHERE id = (SELECT MIN(id) FROM {table})",
            (STAMP,),
        )


def _assert_same_as_rebuild(settings: Settings, store: Path, tmp_path: Path) -> None:
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    for table in ("orders", "order_lines", "order_events", "stock_movements", "customers"):
        pd.testing.assert_frame_equal(_silver(settings, table), _silver(rebuilt, table))
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(rebuilt.warehouse_path))
    pd.testing.assert_frame_equal(
        _quarantine(settings.warehouse_path), _quarantine(rebuilt.warehouse_path)
    )


def test_merged_silver_equals_a_rebuild(settings: Settings, store: Path, tmp_path: Path) -> None:
    first = run_pipeline(settings, options=ALWAYS_MERGE)
    assert set(_modes(first).values()) == {"full"}
    _add_orders(store, 6)

    second = run_pipeline(settings, options=ALWAYS_MERGE)

    modes = _modes(second)
    assert modes["order_lines"] == "merge" and modes["orders"] == "merge"
    assert modes["stock_movements"] == "merge"
    assert modes["products"] == "reuse" and modes["categories"] == "reuse"
    _assert_balanced(second)
    assert "recomputed" in _step(second, "gold fct_inventory_daily")
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_a_version_stamped_before_the_one_it_replaced_is_current(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    """Stamps out of commit order (see `silver_sql`): a CSV import stamped as it began commits
    over a price change made meanwhile; an order stamps a stock row before it waits for the
    row's lock. Silver and the product dimension once kept the newer stamp as current. (Stock
    levels are merged, products rebuilt with their history: both paths rank versions.)"""
    run_pipeline(settings, options=ALWAYS_MERGE)
    with closing(_raw(store)) as con, con:
        product = con.execute("SELECT MIN(id) FROM products").fetchone()[0]
        stock = con.execute(
            "SELECT product_id, location_id FROM stock_levels WHERE on_hand >= 2 "
            "ORDER BY product_id, location_id LIMIT 1"
        ).fetchone()
    # (stamps of the real clock: one ahead of it is capped, see `history_sql`)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp, earlier = (f"{now - timedelta(seconds=s):%Y-%m-%d %H:%M:%S.%f}" for s in (0, 1))

    def write(price: int, reserved: int, stamp: str) -> None:
        with closing(_raw(store)) as con, con:
            con.execute(
                "UPDATE products SET unit_price = ?, updated_at = ? WHERE id = ?",
                (price, stamp, product),
            )
            con.execute(
                "UPDATE stock_levels SET reserved = ?, updated_at = ? "
                "WHERE product_id = ? AND location_id = ?",
                (reserved, stamp, *stock),
            )

    write(50, 1, stamp)  # the price change, seen by the next run
    run_pipeline(settings, options=ALWAYS_MERGE)
    write(60, 2, earlier)  # the import, stamped a second before it, committed after that run

    third = run_pipeline(settings, options=ALWAYS_MERGE)

    assert third.status == "succeeded"
    assert _modes(third)["stock_levels"] == "merge" and _modes(third)["products"] == "full"
    products = _silver(settings, "products").set_index("product_id")
    assert products.loc[product, "unit_price"] == 60
    levels = _silver(settings, "stock_levels").set_index(["product_id", "location_id"])
    assert levels.loc[tuple(stock), "reserved"] == 2
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        versions = warehouse.execute(
            "SELECT unit_price, valid_from, valid_to, is_current FROM dim_product "
            "WHERE product_id = ? ORDER BY version",
            (product,),
        ).fetchall()
    assert [(float(v[0]), v[3]) for v in versions[-2:]] == [(50.0, False), (60.0, True)]
    # the import follows the price change a microsecond after it, not a second before it
    stamped = datetime.fromisoformat(stamp)
    assert [v[1] for v in versions[-2:]] == [stamped, stamped + timedelta(microseconds=1)]
    assert all(a[2] == b[1] for a, b in pairwise(versions))
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    for table in ("products", "stock_levels"):
        pd.testing.assert_frame_equal(_silver(settings, table), _silver(rebuilt, table))


def test_keys_entering_and_leaving_quarantine_merge_like_a_rebuild(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings, options=ALWAYS_MERGE)
    expected = _inject_bad_rows(store, STAMP)
    _add_orders(store, 3)

    second = run_pipeline(settings, options=ALWAYS_MERGE)

    assert _modes(second)["order_lines"] == "merge"
    assert set(_quarantine(settings.warehouse_path)["record_key"]) == set(expected)
    _assert_balanced(second)
    _assert_same_as_rebuild(settings, store, tmp_path / "a")

    # Fix two bad rows (the line with a negative quantity, the order with an impossible date)
    # and break a valid order: its lines must now be orphans, so children are rebuilt in full.
    negative = next(k for k, v in expected.items() if v[1] == "negative_quantity")
    impossible = next(k for k, v in expected.items() if v[1] == "impossible_date")
    with closing(_raw(store)) as con, con:
        con.execute(
            "UPDATE order_lines SET quantity = 2, updated_at = ? WHERE id = ?",
            (FIXED, int(negative.split("=")[1])),
        )
        con.execute(
            "UPDATE orders SET ordered_at = '2024-03-01 10:00:00.000000', updated_at = ? "
            "WHERE id = ?",
            (FIXED, int(impossible.split("=")[1])),
        )
        broken = con.execute(
            "SELECT order_id FROM order_lines WHERE order_id <> "
            "(SELECT order_id FROM order_lines WHERE id = ?) ORDER BY id LIMIT 1",
            (int(negative.split("=")[1]),),
        ).fetchone()[0]
        con.execute(
            "UPDATE orders SET status = 'lost', updated_at = ? WHERE id = ?", (FIXED, broken)
        )

    third = run_pipeline(settings, options=ALWAYS_MERGE)

    modes = _modes(third)
    assert modes["orders"] == "merge"
    assert modes["order_lines"] == "full"  # its parent `orders` lost a valid key
    left = set(_quarantine(settings.warehouse_path)["record_key"])
    assert negative not in left and impossible not in left
    assert f"order_id={broken}" in left
    _assert_balanced(third)
    _assert_same_as_rebuild(settings, store, tmp_path / "b")


def _last_operation(settings: Settings, staged: str) -> str:
    lake = lake_root(settings.resolved_lake_uri)
    return str(DeltaTable(str(lake / "silver" / staged)).history(1)[0]["operation"])


def _step(run: RunSummary, name: str) -> dict[str, object]:
    return next(s.detail for s in run.steps if s.name == name)


def test_new_orders_recompute_only_recent_days_of_the_daily_fact(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        last_day = con.sql("SELECT MAX(date) FROM dim_date").fetchone()[0]  # type: ignore[index]
    _add_orders(store, 4)

    second = run_pipeline(settings)

    recomputed = str(_step(second, "gold fct_inventory_daily")["recomputed"])
    since = date.fromisoformat(recomputed.split()[2])
    assert since > last_day - timedelta(days=3)  # today's orders: only the newest days
    assert "fct_inventory_daily" in dict(_step(second, "publish")["patched"])  # type: ignore[call-overload]
    # Gold that reads nothing the new orders touched is kept as it was, in lake and warehouse.
    assert "reused" in _step(second, "gold fct_purchase_receipts")
    assert "reused" in _step(second, "gold dim_supplier")
    assert "reused" not in _step(second, "gold mart_abc_classification")
    # Today is after the history's last day: the calendar gets the new days, not a rebuild
    # (the comparison with a rebuild below includes dim_date).
    assert last_day < datetime.now(UTC).date()
    assert "extended" in _step(second, "gold dim_date")
    kept = _step(second, "publish")["kept"]
    assert {"dim_supplier", "fct_purchase_receipts"} <= set(kept)  # type: ignore[call-overload]
    # (the scorecard's overdue lines are counted up to the calendar's last day, which moved)
    assert "reused" not in _step(second, "gold mart_supplier_scorecard")
    # Only new keys: appended to the silver table (a MERGE would read all of it).
    assert _last_operation(settings, "stg_order_lines") == "WRITE"
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_cancelling_an_old_order_recomputes_from_its_day(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings, options=ALWAYS_MERGE)
    db = Database(f"sqlite:///{store}")
    try:
        with db.session() as session:
            order = session.scalars(
                select(Order)
                .where(Order.status.in_([OrderStatus.PENDING, OrderStatus.PAID]))
                .order_by(Order.ordered_at)
            ).first()
            assert order is not None
            ordered_on = order.ordered_at.date()
            cancel_order(session=session, order_id=order.id, reason="test")
    finally:
        db.dispose()

    second = run_pipeline(settings, options=ALWAYS_MERGE)

    recomputed = str(_step(second, "gold fct_inventory_daily")["recomputed"])
    assert recomputed.split()[2] == ordered_on.isoformat()
    assert _modes(second)["orders"] == "merge"
    assert _last_operation(settings, "stg_orders") == "MERGE"  # an old key changed
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_price_change_rebuilds_the_daily_fact(settings: Settings, store: Path) -> None:
    run_pipeline(settings)
    _change_first_row(store, "products", "unit_price = unit_price + 1")

    second = run_pipeline(settings)

    assert _step(second, "gold fct_inventory_daily")["rebuilt"] == "products changed"
    assert "patched" not in _step(second, "publish")


def test_a_customer_change_rebuilds_only_what_reads_customers(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings)
    _change_first_row(store, "customers", "name = name || ' Jr'")

    second = run_pipeline(settings)

    assert "reused" not in _step(second, "gold dim_customer")
    for kept in ("dim_date", "dim_product", "fct_purchase_receipts", "mart_supplier_scorecard"):
        assert "reused" in _step(second, f"gold {kept}"), kept
        assert kept in _step(second, "publish")["kept"]  # type: ignore[operator]
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_a_location_moving_country_rebuilds_the_sales_mart(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    """The quarterly sales mart is recomputed from the changed quarter on, but a location
    that moved country changes every quarter it sold in: then it is rebuilt in full."""
    run_pipeline(settings)
    _change_first_row(
        store,
        "locations",
        "country = (SELECT other.country FROM locations other "
        "WHERE other.country <> locations.country ORDER BY other.id LIMIT 1)",
    )

    second = run_pipeline(settings)

    mart = _step(second, "gold mart_sales_subcategory_country_quarter")
    assert mart["rebuilt"] == "dim_location changed"
    assert "reused" in _step(second, "gold fct_sales")  # its rows keep the location's id
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_a_table_without_rows_is_reused_until_its_first_rows_arrive(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    with closing(_raw(store)) as con, con:
        con.execute("DELETE FROM stock_transfers")
    run_pipeline(settings)
    _add_orders(store, 2)

    second = run_pipeline(settings)

    assert _modes(second)["stock_transfers"] == "reuse"
    add_stock_transfer(store, STAMP)

    third = run_pipeline(settings)

    assert _step(third, "silver stock_transfers")["why"] == "first bronze rows of this table"
    assert len(_silver(settings, "stock_transfers")) == 1
    _assert_same_as_rebuild(settings, store, tmp_path)


def test_a_change_that_no_gold_table_reads_keeps_gold_as_it_was(
    settings: Settings, store: Path
) -> None:
    run_pipeline(settings)
    with closing(_raw(store)) as con, con:
        con.execute(
            "UPDATE reorder_settings SET pack_size = pack_size, updated_at = ? "
            "WHERE rowid = (SELECT MIN(rowid) FROM reorder_settings)",
            (STAMP,),
        )

    second = run_pipeline(settings)

    assert second.status == "succeeded"
    assert _modes(second)["reorder_settings"] != "reuse"
    gold = [s for s in second.steps if s.name.startswith("gold ")]
    assert gold and all("reused" in s.detail for s in gold)
    checks = _step(second, "checks")
    assert "fct_sales" in str(checks["not checked again (kept as they were)"])


def test_a_new_row_whose_key_does_not_fit_its_type_is_quarantined_by_a_merge(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    """A key SQLite holds as text ('P-1' in an integer column) lands in bronze as NULL with its
    text kept: a merge must quarantine that row, as a rebuild does, not lose it."""
    run_pipeline(settings, options=ALWAYS_MERGE)
    with closing(_raw(store)) as con, con:
        location_id = con.execute("SELECT MIN(id) FROM locations").fetchone()[0]
        con.execute(
            "INSERT INTO stock_levels (product_id, location_id, on_hand, reserved, created_at, "
            "updated_at) VALUES ('P-1', ?, 5, 0, ?, ?)",
            (location_id, STAMP, STAMP),
        )

    second = run_pipeline(settings, options=ALWAYS_MERGE)

    assert _modes(second)["stock_levels"] == "merge"
    quarantined = _quarantine(settings.warehouse_path)
    assert "stock_levels" in set(quarantined["source_table"]), quarantined
    _assert_balanced(second)
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    pd.testing.assert_frame_equal(quarantined, _quarantine(rebuilt.warehouse_path))


@pytest.mark.parametrize(
    ("module", "fault", "said"),
    [
        # a full build whose ranking drops a record, a merge whose ranking doubles one
        ("shelfwise.pipeline.silver", "WHERE _record_key <> 'category_id=1'", "dropped"),
        (
            "shelfwise.pipeline.silver_merge",
            "UNION ALL (SELECT * FROM ({sql}) l LIMIT 1)",
            "doubled",
        ),
    ],
)
def test_a_ranking_that_loses_or_doubles_a_record_fails_the_balance(
    settings: Settings,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    fault: str,
    said: str,
) -> None:
    """The run log's "rows in = rows out + quarantined" is checked against bronze, so a fault
    in the checks' ranking fails the step instead of being logged as balanced."""
    merging = module.endswith("silver_merge")
    if merging:
        run_pipeline(settings, options=ALWAYS_MERGE)
        _change_first_row(store, "order_lines", "quantity = quantity + 1")
    ranking = importlib.import_module(module)
    honest: Callable[..., str] = ranking.silver_sql

    def faulty(table: SourceTable, *args: Any, **kwargs: Any) -> str:
        sql = honest(table, *args, **kwargs)
        if table.name != ("order_lines" if merging else "categories"):
            return sql
        return f"SELECT * FROM ({sql}) c {fault.format(sql=sql)}"

    monkeypatch.setattr(ranking, "silver_sql", faulty)
    with pytest.raises(PipelineFailed, match=f"the checks examined .*{said}"):
        run_pipeline(settings, options=ALWAYS_MERGE)


def test_a_run_stopped_while_writing_silver_is_followed_by_a_whole_rebuild(
    settings: Settings, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orders lose a valid key to quarantine and are written; the run stops before their lines
    are (a crash, a failed step). The next run must not compare with that half-written silver
    (it would see no lost key and leave the order's lines orphaned): it rebuilds silver."""
    run_pipeline(settings, options=ALWAYS_MERGE)
    _change_first_row(store, "orders", "ordered_at = '2031-01-01 10:00:00.000000'")

    def stopped(engine: Any, table: SourceTable, now: datetime) -> Any:
        if table.name == "order_lines":
            raise RuntimeError("the machine went down")
        return build_silver_table(engine, table, now)

    monkeypatch.setattr(runner, "build_silver_table", stopped)
    with pytest.raises(PipelineFailed, match="went down"):
        run_pipeline(settings, options=ALWAYS_MERGE)
    monkeypatch.undo()

    again = run_pipeline(settings, options=ALWAYS_MERGE)

    assert set(_modes(again).values()) == {"full"}
    silver = next(s for s in again.steps if s.name == "silver order_lines")
    assert silver.detail["why"] == "the previous run stopped while writing silver"
    _assert_same_as_rebuild(settings, store, tmp_path)
    after = run_pipeline(settings, options=ALWAYS_MERGE)  # the mark is gone: no changes
    assert {s.status for s in after.steps if not s.name.startswith("extract")} == {"skipped"}
