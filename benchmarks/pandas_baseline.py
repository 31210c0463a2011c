"""The baseline: the same gold tables in plain pandas, in the reference design's style.

Every table is read whole with `read_sql`, joined with `merge`, aggregated with `groupby`, and
written with `to_sql` into a SQLite warehouse. It has no incremental mode, no quarantine and no
type-2 history (one snapshot gives one version per product); it exists to measure against.

    python benchmarks/pandas_baseline.py STORE.db WAREHOUSE.sqlite
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

WRITE_SLICE = 1_000_000


def _read(con: sqlite3.Connection, table: str, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.read_sql(f"SELECT * FROM {table}", con)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


def build(store: Path, warehouse: Path) -> dict[str, int]:
    """Build every gold table; returns rows written per table."""
    with closing(sqlite3.connect(store)) as con:
        categories = _read(con, "categories")
        sub_categories = _read(con, "sub_categories")
        products = _read(con, "products")
        locations = _read(con, "locations")
        customers = _read(con, "customers")
        suppliers = _read(con, "suppliers")
        orders = _read(con, "orders", ("ordered_at",))
        lines = _read(con, "order_lines")
        movements = _read(con, "stock_movements", ("occurred_at",))
        promotions = _read(con, "promotions", ("starts_on", "ends_on"))
        pos = _read(con, "purchase_orders", ("ordered_at", "expected_on"))
        po_lines = _read(con, "purchase_order_lines")
        receipts = _read(con, "purchase_receipts", ("received_at",))

    gold: dict[str, pd.DataFrame] = {}
    subs = sub_categories.merge(
        categories, left_on="category_id", right_on="id", suffixes=("", "_category")
    )
    dim_product = products.merge(
        subs, left_on="sub_category_id", right_on="id", suffixes=("", "_sub")
    )
    dim_product = dim_product.rename(
        columns={"id": "product_id", "name_sub": "sub_category", "name_category": "category"}
    )
    dim_product["product_key"] = dim_product["product_id"] * 1000 + 1
    gold["dim_product"] = dim_product[
        [
            "product_key",
            "product_id",
            "sku",
            "name",
            "category",
            "sub_category",
            "brand",
            "unit_price",
            "unit_cost",
        ]
    ]
    gold["dim_customer"] = customers.rename(columns={"id": "customer_id"})
    gold["dim_location"] = locations.rename(columns={"id": "location_id"})
    gold["dim_supplier"] = suppliers.rename(columns={"id": "supplier_id"})

    sales = lines.merge(orders, left_on="order_id", right_on="id", suffixes=("", "_order"))
    sales = sales.merge(dim_product[["product_id", "product_key"]], on="product_id")
    sales["date"] = sales["ordered_at"].dt.normalize()
    sales["net_revenue"] = (
        sales["quantity"] * sales["unit_price"] * (1 - sales["discount"])
    ).round(2)
    sales = sales.rename(columns={"id": "order_line_id", "status": "order_status"})
    gold["fct_sales"] = sales[
        [
            "order_line_id",
            "order_id",
            "date",
            "ordered_at",
            "product_id",
            "product_key",
            "location_id",
            "customer_id",
            "quantity",
            "unit_price",
            "discount",
            "net_revenue",
            "order_status",
        ]
    ]

    first = min(orders["ordered_at"].min(), movements["occurred_at"].min()).normalize()
    last = max(orders["ordered_at"].max(), movements["occurred_at"].max()).normalize()
    days = pd.date_range(first, last, freq="D")
    gold["dim_date"] = pd.DataFrame(
        {
            "date": days,
            "year": days.year,
            "quarter": days.quarter,
            "month": days.month,
            "iso_week": days.isocalendar().week.values,
            "day_of_week": days.dayofweek + 1,
        }
    )

    movements["date"] = movements["occurred_at"].dt.normalize()
    keys = ["product_id", "location_id", "date"]
    moves = movements.groupby(keys, as_index=False)["quantity"].sum()
    live = sales[sales["order_status"] != "cancelled"]
    sold = live.groupby(keys, as_index=False)["quantity"].sum()
    received_rows = receipts.merge(
        po_lines, left_on="purchase_order_line_id", right_on="id", suffixes=("", "_line")
    )
    received_rows = received_rows.merge(
        pos, left_on="purchase_order_id", right_on="id", suffixes=("", "_po")
    )
    received_rows["date"] = received_rows["received_at"].dt.normalize()
    received = received_rows.groupby(keys, as_index=False)["quantity"].sum()

    # One row per product, location and day from its first movement on, laid out with numpy:
    # a cross join of every pair with every day, filtered, and reindexed by a 3-level index
    # passed 23 GB at 1 M order lines (80,452 pairs x 730 days) and could not finish here.
    starts = moves.groupby(["product_id", "location_id"], as_index=False)["date"].min()
    span = ((last - starts["date"]).dt.days + 1).to_numpy()
    offsets = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    daily = pd.DataFrame(
        {
            "product_id": np.repeat(starts["product_id"].to_numpy(), span),
            "location_id": np.repeat(starts["location_id"].to_numpy(), span),
            "date": np.repeat(starts["date"].to_numpy(), span) + offsets.astype("timedelta64[D]"),
        }
    )
    for name, part in [("net_change", moves), ("units_sold", sold), ("units_received", received)]:
        daily = daily.merge(part.rename(columns={"quantity": name}), on=keys, how="left")
        daily[name] = daily[name].fillna(0).astype("int64")
    daily["on_hand_close"] = daily.groupby(["product_id", "location_id"])["net_change"].cumsum()
    daily["stocked_out"] = daily["on_hand_close"] <= 0
    daily = daily.merge(dim_product[["product_id", "unit_price"]], on="product_id", how="left")
    promo_days = promotions.assign(
        date=[
            pd.date_range(s, e, freq="D")
            for s, e in zip(promotions["starts_on"], promotions["ends_on"], strict=True)
        ]
    ).explode("date")
    promo = promo_days.groupby(["product_id", "date"])["discount"].max().rename("promo_discount")
    daily = daily.merge(promo.reset_index(), on=["product_id", "date"], how="left")
    daily["promo_discount"] = daily["promo_discount"].fillna(0.0)
    gold["fct_inventory_daily"] = daily.drop(columns="net_change")

    per_line = receipts.groupby("purchase_order_line_id").agg(
        quantity_received=("quantity", "sum"), first_received_at=("received_at", "min")
    )
    fpr = po_lines.merge(per_line, left_on="id", right_index=True).merge(
        pos, left_on="purchase_order_id", right_on="id", suffixes=("", "_po")
    )
    fpr["promised_lead_time_days"] = (fpr["expected_on"] - fpr["ordered_at"].dt.normalize()).dt.days
    fpr["actual_lead_time_days"] = (
        fpr["first_received_at"].dt.normalize() - fpr["ordered_at"].dt.normalize()
    ).dt.days
    fpr["on_time"] = fpr["first_received_at"].dt.normalize() <= fpr["expected_on"]
    fpr["fill_rate"] = fpr["quantity_received"] / fpr["quantity_ordered"]
    gold["fct_purchase_receipts"] = fpr.rename(columns={"id": "purchase_order_line_id"})[
        [
            "purchase_order_line_id",
            "purchase_order_id",
            "supplier_id",
            "location_id",
            "product_id",
            "quantity_ordered",
            "quantity_received",
            "promised_lead_time_days",
            "actual_lead_time_days",
            "on_time",
            "fill_rate",
        ]
    ]

    marts = live.merge(dim_product[["product_id", "category", "sub_category"]], on="product_id")
    marts = marts.merge(locations[["id", "country"]], left_on="location_id", right_on="id")
    marts["year"], marts["quarter"] = marts["date"].dt.year, marts["date"].dt.quarter
    gold["mart_sales_subcategory_country_quarter"] = (
        marts.groupby(["category", "sub_category", "country", "year", "quarter"])
        .agg(
            orders=("order_id", "nunique"),
            units=("quantity", "sum"),
            net_revenue=("net_revenue", "sum"),
        )
        .reset_index()
    )
    revenue = (
        live.groupby("product_id")["net_revenue"]
        .sum()
        .reindex(products["id"], fill_value=0)
        .sort_values(ascending=False)
    )
    before = revenue.cumsum().shift(fill_value=0) / revenue.sum()
    gold["mart_abc_classification"] = pd.DataFrame(
        {
            "product_id": revenue.index,
            "net_revenue": revenue.values,
            "abc_class": np.where(before < 0.8, "A", np.where(before < 0.95, "B", "C")),
        }
    )
    by_pl = gold["fct_inventory_daily"].groupby(["product_id", "location_id"])
    turnover = by_pl.agg(
        units_sold=("units_sold", "sum"),
        avg_on_hand=("on_hand_close", "mean"),
        days=("date", "count"),
        stocked_out_days=("stocked_out", "sum"),
    )
    turnover["turnover"] = turnover["units_sold"] / turnover["avg_on_hand"]
    turnover["days_of_supply"] = turnover["avg_on_hand"] / (
        turnover["units_sold"] / turnover["days"]
    )
    gold["mart_inventory_turnover"] = turnover.reset_index()
    gold["mart_stockout_rate"] = turnover.assign(
        stockout_rate=turnover["stocked_out_days"] / turnover["days"]
    ).reset_index()[["product_id", "location_id", "days", "stocked_out_days", "stockout_rate"]]
    gold["mart_supplier_scorecard"] = (
        fpr.groupby("supplier_id")
        .agg(
            received_lines=("id", "count"),
            on_time_rate=("on_time", "mean"),
            lead_time_mean_days=("actual_lead_time_days", "mean"),
            lead_time_stddev_days=("actual_lead_time_days", "std"),
            fill_rate=("fill_rate", "mean"),
        )
        .reset_index()
    )

    warehouse.unlink(missing_ok=True)
    with closing(sqlite3.connect(warehouse)) as out:
        for name, frame in gold.items():
            # in slices: `to_sql` turns the whole frame into Python objects before its first
            # chunk (at 1 M order lines the daily table took the process to 22 GB)
            for start in range(0, max(len(frame), 1), WRITE_SLICE):
                frame.iloc[start : start + WRITE_SLICE].to_sql(
                    name, out, index=False, if_exists="append", chunksize=100_000
                )
    return {name: len(frame) for name, frame in gold.items()}


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
