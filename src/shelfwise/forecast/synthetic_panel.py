"""A seeded, M5-shaped demand panel written straight as gold tables, for tests and benchmarks.

The full generator (`shelfwise.synth`) simulates customers and orders through the store, which is
right for end-to-end runs but far too slow for 30,490 series. This panel draws daily demand per
product and location (weekly and yearly seasonality, price, promotions, holidays, slow movers),
runs a stock policy over it so that stock-outs censor sales, and writes the gold tables of the
warehouse contract. The true demand is returned beside the warehouse, never written into it, so
that nothing downstream can train on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

COUNTRIES = ("DE", "FR", "GB", "IT", "ES")
CATEGORIES = {
    "Food": ("Snacks", "Drinks", "Pantry"),
    "Household": ("Cleaning", "Kitchen"),
    "Hobbies": ("Toys", "Crafts"),
}


@dataclass(frozen=True)
class PanelSpec:
    """How big and how hard the panel is."""

    products: int = 8
    locations: int = 3
    countries: int = 2
    days: int = 400
    start: date = date(2023, 1, 2)
    slow_mover_share: float = 0.4
    stockout_pressure: float = 0.3
    seed: int = 7


@dataclass(frozen=True)
class SyntheticPanel:
    """What was written, and the demand shoppers had (for evaluation only)."""

    warehouse_path: Path
    true_demand: pd.DataFrame  # unique_id, ds, demand
    spec: PanelSpec


def _holidays(days: pd.DatetimeIndex) -> np.ndarray:
    month_day = list(zip(days.month, days.day, strict=True))
    fixed = {(1, 1), (5, 1), (10, 3), (12, 24), (12, 25), (12, 26), (12, 31)}
    return np.array([md in fixed for md in month_day])


def build_panel(spec: PanelSpec, warehouse_path: Path) -> SyntheticPanel:
    """Draw the panel and write `fct_inventory_daily`, the dimensions and `fct_sales`."""
    rng = np.random.default_rng(spec.seed)
    days = pd.date_range(pd.Timestamp(spec.start), periods=spec.days, freq="D")
    n_p, n_l, n_t = spec.products, spec.locations, spec.days
    sub_categories = [(c, s) for c, subs in CATEGORIES.items() for s in subs]

    product_ids = np.arange(1, n_p + 1)
    location_ids = np.arange(1, n_l + 1)
    sub_of_product = rng.integers(0, len(sub_categories), n_p)
    slow = rng.random(n_p) < spec.slow_mover_share
    base_rate = np.where(slow, rng.uniform(0.05, 0.6, n_p), rng.lognormal(1.3, 0.6, n_p))
    price = np.round(rng.uniform(1.5, 40.0, n_p), 2)
    weekly_shape = 1 + rng.uniform(0.1, 0.5, n_p)[:, None] * np.array(
        [-0.3, -0.2, -0.1, 0.0, 0.2, 0.5, -0.1]
    )
    yearly_amp = rng.uniform(0.0, 0.3, n_p)
    trend = rng.uniform(-0.2, 0.4, n_p)
    location_scale = rng.uniform(0.5, 1.6, n_l)
    location_country = np.array([COUNTRIES[i % spec.countries] for i in range(n_l)])
    holiday = _holidays(days)

    t = np.arange(n_t)
    dow = days.dayofweek.to_numpy()
    doy = days.dayofyear.to_numpy()
    # Product-level demand intensity over time (products x days).
    intensity = (
        base_rate[:, None]
        * weekly_shape[:, dow]
        * (1 + yearly_amp[:, None] * np.sin(2 * np.pi * (doy[None, :] - 80) / 365.25))
        * (1 + trend[:, None] * t[None, :] / 365.25)
        * np.where(holiday, 1.6, 1.0)[None, :]
    )
    # Promotions: a few 7-14 day spans per product with 10-35 % off, lifting demand.
    discount = np.zeros((n_p, n_t))
    for p in range(n_p):
        for _ in range(max(1, n_t // 120)):
            start = int(rng.integers(0, max(1, n_t - 14)))
            discount[p, start : start + int(rng.integers(7, 15))] = round(rng.uniform(0.1, 0.35), 2)
    intensity = intensity * (1 + 2.5 * discount)

    # Series are product x location; demand is negative-binomial around the intensity.
    lam = (intensity[:, None, :] * location_scale[None, :, None]).reshape(n_p * n_l, n_t)
    dispersion = 3.0
    gamma = rng.gamma(dispersion, 1.0 / dispersion, lam.shape)
    demand = rng.poisson(lam * gamma)

    # Stock policy per series: order up to S when on hand falls below s, arriving after a lead
    # time; tighter levels under more pressure make stock-outs censor sales.
    mean_daily = lam.mean(axis=1)
    cover = np.maximum(2.0, (1.0 - spec.stockout_pressure) * 14.0 * rng.uniform(0.6, 1.4, len(lam)))
    reorder_point = np.ceil(mean_daily * cover * 0.5).astype(int)
    order_up_to = np.ceil(mean_daily * cover * 1.5).astype(int) + 2
    lead_time = rng.integers(2, 6, len(lam))
    on_hand = order_up_to.copy()
    pipeline = np.zeros((len(lam), n_t + 10), dtype=int)
    sold = np.zeros_like(demand)
    received = np.zeros_like(demand)
    close = np.zeros_like(demand)
    outstanding = np.zeros(len(lam), dtype=bool)
    series_index = np.arange(len(lam))
    for day in range(n_t):
        arrivals = pipeline[:, day]
        on_hand = on_hand + arrivals
        received[:, day] = arrivals
        outstanding &= arrivals == 0
        sold[:, day] = np.minimum(demand[:, day], on_hand)
        on_hand = on_hand - sold[:, day]
        close[:, day] = on_hand
        reorder = (on_hand <= reorder_point) & ~outstanding
        pipeline[series_index[reorder], day + lead_time[reorder]] += (order_up_to - on_hand)[
            reorder
        ]
        outstanding |= reorder

    pid = np.repeat(product_ids, n_l)
    lid = np.tile(location_ids, n_p)
    n_s = len(pid)
    fact = pd.DataFrame(
        {
            "date": np.tile(days.date, n_s),
            "product_id": np.repeat(pid, n_t).astype("int64"),
            "location_id": np.repeat(lid, n_t).astype("int64"),
            "units_sold": sold.ravel().astype("int32"),
            "units_received": received.ravel().astype("int32"),
            "on_hand_close": close.ravel().astype("int32"),
            "stocked_out": (close.ravel() == 0),
            "unit_price": np.repeat(price[pid - 1], n_t),
            "promo_discount": np.repeat(discount, n_l, axis=0).ravel(),
        }
    )
    products = pd.DataFrame(
        {
            "product_key": product_ids,
            "product_id": product_ids,
            "sku": [f"SKU-{p:05d}" for p in product_ids],
            "name": [f"Product {p}" for p in product_ids],
            "category": [sub_categories[s][0] for s in sub_of_product],
            "sub_category": [sub_categories[s][1] for s in sub_of_product],
            "brand": [f"Brand {p % 7}" for p in product_ids],
            "unit_price": price,
            "unit_cost": np.round(price * 0.6, 2),
            "valid_from": pd.Timestamp(spec.start),
            "valid_to": pd.NaT,
            "is_current": True,
        }
    )
    locations = pd.DataFrame(
        {
            "location_id": location_ids,
            "code": [f"L{loc:03d}" for loc in location_ids],
            "name": [f"Store {loc}" for loc in location_ids],
            "kind": "store",
            "country": location_country,
            "region": "Region",
            "city": [f"City {loc}" for loc in location_ids],
        }
    )
    calendar = pd.DataFrame(
        {
            "date": days.date,
            "year": days.year,
            "quarter": days.quarter,
            "month": days.month,
            "iso_week": days.isocalendar().week.to_numpy(),
            "day_of_week": days.dayofweek + 1,
            "is_weekend": days.dayofweek >= 5,
            "is_holiday": holiday,
        }
    )
    _write_gold(warehouse_path, fact, products, locations, calendar)
    true_demand = pd.DataFrame(
        {
            "unique_id": np.repeat([f"{p}/{loc}" for p, loc in zip(pid, lid, strict=True)], n_t),
            "ds": np.tile(days, n_s),
            "demand": demand.ravel().astype(float),
        }
    )
    return SyntheticPanel(warehouse_path=warehouse_path, true_demand=true_demand, spec=spec)


def _write_gold(
    path: Path,
    fact: pd.DataFrame,
    products: pd.DataFrame,
    locations: pd.DataFrame,
    calendar: pd.DataFrame,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        con.register("fact_df", fact)
        con.register("products_df", products)
        con.register("locations_df", locations)
        con.register("calendar_df", calendar)
        con.execute(
            """
            CREATE OR REPLACE TABLE fct_inventory_daily AS SELECT
              CAST(date AS DATE) AS date, CAST(product_id AS BIGINT) AS product_id,
              CAST(location_id AS BIGINT) AS location_id, CAST(units_sold AS INTEGER) AS units_sold,
              CAST(units_received AS INTEGER) AS units_received,
              CAST(on_hand_close AS INTEGER) AS on_hand_close, stocked_out,
              CAST(unit_price AS DECIMAL(12,2)) AS unit_price,
              CAST(promo_discount AS DOUBLE) AS promo_discount
            FROM fact_df;
            CREATE OR REPLACE TABLE dim_product AS SELECT
              CAST(product_key AS BIGINT) AS product_key, CAST(product_id AS BIGINT) AS product_id,
              sku, name, category, sub_category, brand,
              CAST(unit_price AS DECIMAL(12,2)) AS unit_price,
              CAST(unit_cost AS DECIMAL(12,2)) AS unit_cost,
              CAST(valid_from AS TIMESTAMP) AS valid_from, CAST(valid_to AS TIMESTAMP) AS valid_to,
              is_current
            FROM products_df;
            CREATE OR REPLACE TABLE dim_location AS
              SELECT CAST(location_id AS BIGINT) AS location_id, code, name, kind, country,
                     region, city FROM locations_df;
            CREATE OR REPLACE TABLE dim_date AS SELECT CAST(date AS DATE) AS date,
              CAST(year AS INTEGER) AS year, CAST(quarter AS INTEGER) AS quarter,
              CAST(month AS INTEGER) AS month, CAST(iso_week AS INTEGER) AS iso_week,
              CAST(day_of_week AS INTEGER) AS day_of_week, is_weekend, is_holiday
            FROM calendar_df;
            CREATE OR REPLACE TABLE fct_sales AS SELECT
              CAST(row_number() OVER () AS BIGINT) AS order_line_id,
              CAST(row_number() OVER () AS BIGINT) AS order_id,
              f.date, CAST(f.date AS TIMESTAMP) AS ordered_at, f.product_id,
              f.product_id AS product_key, f.location_id, CAST(NULL AS BIGINT) AS customer_id,
              f.units_sold AS quantity, f.unit_price,
              CAST(f.promo_discount AS DOUBLE) AS discount,
              CAST(f.units_sold * f.unit_price * (1 - f.promo_discount) AS DECIMAL(12,2))
                AS net_revenue,
              'delivered' AS order_status
            FROM fct_inventory_daily f WHERE f.units_sold > 0;
            """
        )
