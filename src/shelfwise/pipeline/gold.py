"""Gold: the star schema (dims, facts) and marts, each one SQL statement over silver.

Every table states its grain in one line, its unique key, and its references to dimensions;
`checks.py` turns those into not-null, unique and relationship checks. Output columns are cast
explicitly so DuckDB and Spark produce the same types and values.

The columns listed in docs/pipeline.md under "Gold contract" are relied on by forecasting and
replenishment: add columns freely, never rename or drop those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shelfwise.pipeline.engines.base import Dialect

FAR_PAST = "CAST('1900-01-01 00:00:00' AS TIMESTAMP)"
FAR_FUTURE = "CAST('9999-12-31 00:00:00' AS TIMESTAMP)"
MAX_PRODUCT_VERSIONS = 1000  # product_key = product_id * 1000 + version


@dataclass(frozen=True)
class MonthSlices:
    """A table that can also be built a month at a time, its rows landing in date order (a
    later patch of its newest days then touches only the last row groups): `spans` is kept
    once as a table, then `days(dialect, spans table, first day, last day)` gives each
    month's rows.

    `compression` names a storage method per column for an engine that can be told one
    (DuckDB): the method the engine would pick, given up front, spares it trying every
    method on every segment of every column.
    """

    spans: Callable[[Dialect], str]
    days: Callable[[Dialect, str, str, str], str]
    compression: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldTable:
    name: str
    grain: str
    key: tuple[str, ...]
    sql: Callable[[Dialect], str]
    inputs: tuple[str, ...]  # silver or gold tables read
    references: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (table, col)
    # The same rows from a day on (`recent_by` >= the day given as 'YYYY-MM-DD'), for tables
    # an incremental run updates by replacing their recent rows instead of rebuilding them.
    recent_sql: Callable[[Dialect, str], str] | None = None
    # The date column that orders the rows: "date", "month" or "quarter_start" (the day is
    # then the first of its month or quarter).
    recent_by: str = "date"
    by_month: MonthSlices | None = None


def _dim_product(d: Dialect) -> str:
    order = "ORDER BY updated_at, unit_price, unit_cost, sub_category_id"
    return f"""
WITH h AS (
  SELECT product_id, updated_at, unit_price, unit_cost, sub_category_id,
    LAG(unit_price) OVER (PARTITION BY product_id {order}) AS prev_price,
    LAG(unit_cost) OVER (PARTITION BY product_id {order}) AS prev_cost,
    LAG(sub_category_id) OVER (PARTITION BY product_id {order}) AS prev_sub_category,
    ROW_NUMBER() OVER (PARTITION BY product_id {order}) AS n
  FROM stg_products_history
),
changes AS (
  SELECT product_id, updated_at, unit_price, unit_cost, sub_category_id FROM h
  WHERE n = 1 OR unit_price IS DISTINCT FROM prev_price OR unit_cost IS DISTINCT FROM prev_cost
     OR sub_category_id IS DISTINCT FROM prev_sub_category
),
versions AS (
  SELECT c.*,
    ROW_NUMBER() OVER (PARTITION BY product_id {order}) AS version,
    LEAD(updated_at) OVER (PARTITION BY product_id {order}) AS next_from
  FROM changes c
)
SELECT
  CAST(v.product_id * {MAX_PRODUCT_VERSIONS} + v.version AS BIGINT) AS product_key,
  v.product_id, p.sku, p.name, cat.name AS category, sc.name AS sub_category, p.brand,
  CAST(v.unit_price AS DECIMAL(12,2)) AS unit_price,
  CAST(v.unit_cost AS DECIMAL(12,2)) AS unit_cost,
  CASE WHEN v.version = 1 THEN {FAR_PAST} ELSE v.updated_at END AS valid_from,
  COALESCE(v.next_from, {FAR_FUTURE}) AS valid_to,
  v.next_from IS NULL AS is_current,
  CAST(v.version AS INTEGER) AS version,
  v.sub_category_id, sc.category_id, p.size, p.is_active, p.launched_on, p.retired_on
FROM versions v
JOIN stg_products p ON p.product_id = v.product_id
LEFT JOIN stg_sub_categories sc ON sc.sub_category_id = v.sub_category_id
LEFT JOIN stg_categories cat ON cat.category_id = sc.category_id
"""


def _dim_customer(d: Dialect) -> str:
    return """
SELECT customer_id, name, email, segment, country, city, created_at
FROM stg_customers
"""


def _dim_location(d: Dialect) -> str:
    return """
SELECT location_id, code, name, kind, country, region, city
FROM stg_locations
"""


def _dim_supplier(d: Dialect) -> str:
    return """
SELECT supplier_id, code, name, country, email
FROM stg_suppliers
"""


def _from_day(timestamp: str, day: str) -> str:
    """`timestamp` falls on `day` (a DATE expression) or later. Compared as timestamps, not as
    `CAST(timestamp AS DATE) >= day`: the comparison then reaches the Parquet reader, which
    skips the row groups that end before the day (a daily run read all 1.4 M movements for
    the few thousand of the new day: 16 ms against 1.5 ms)."""
    return f"{timestamp} >= CAST({day} AS TIMESTAMP)"


def _fct_sales(d: Dialect, since: str | None = None) -> str:
    day = f"CAST('{since}' AS DATE)"
    recent = f"WHERE {_from_day('o.ordered_at', day)}" if since else ""
    return f"""
SELECT
  ol.order_line_id, ol.order_id, CAST(o.ordered_at AS DATE) AS date, o.ordered_at,
  ol.product_id, p.product_key, o.location_id, o.customer_id, ol.line_no,
  ol.quantity, ol.unit_price, ol.discount,
  CAST(ol.quantity * ol.unit_price AS DECIMAL(14,2)) AS gross_revenue,
  CAST(ROUND(ol.quantity * ol.unit_price * (1 - ol.discount), 2) AS DECIMAL(14,2)) AS net_revenue,
  o.order_status, o.priority, o.ship_mode,
  CAST(date_trunc('month', CAST(o.ordered_at AS DATE)) AS DATE) AS month
FROM stg_order_lines ol
JOIN stg_orders o ON o.order_id = ol.order_id
LEFT JOIN dim_product p
  ON p.product_id = ol.product_id AND o.ordered_at >= p.valid_from AND o.ordered_at < p.valid_to
{recent}
"""


def _fct_inventory_daily(d: Dialect, since: str | None = None) -> str:
    """Dense by expanding change points, not by a window over every day.

    Written as two parts, `_inventory_spans` and `_inventory_days`, so that an engine may also
    keep the spans and expand them a month at a time (`MonthSlices`): the rows then land in
    date order.
    """
    return f"{_inventory_spans(d, since, select=False)}\n{_inventory_days(d, 'priced')}"


def _inventory_spans(d: Dialect, since: str | None = None, *, select: bool = True) -> str:
    """A row per change point of a product-location and the last day it holds for
    (`span_end`), with its stock at close, units sold and received, price and promotion.

    Only days where something can change for a product-location are computed (a movement, a
    sale, a receipt, a new list price, a promotion starting or ending): on-hand is a running sum
    over those few rows, and each one is then repeated over the quiet days until the next. The
    result is the same as a window over the full calendar, at a fraction of the work.

    A day's changes are one sum over a stream of events (movements, sales, receipts, and empty
    events on price and promotion days), not a list of days joined back to per-source sums.
    Spark inlines a CTE at every use, so each join read its source again (stock movements five
    times); at a million order lines the spans took 1.5-1.6 s against 2.1-2.5 s on DuckDB, and
    a daily run's recent days 4.6-6.3 s against 6.2-11.0 s on Spark.

    With `since` only days from then on are computed, from the movements since then and an
    opening balance on a change point at `since` (prices and promotions there are the ones in
    force, since any change of them is a point): the previous version's closing stock of the
    day before, which nothing before `since` changed (`_previous_fct_inventory_daily`, loaded
    by `build_recent`). Summing every earlier movement instead read all of them each run.
    """
    pl = "product_id, location_id"
    day_end = f"CAST({d.add_days('s.date', '1')} AS TIMESTAMP)"
    ordered = f"PARTITION BY {pl} ORDER BY date"
    moves_from = recent = sold_from = received_from = product_days_from = promo_from = ""
    opening_start = opening_event = ""
    if since is not None:
        first = f"CAST('{since}' AS DATE)"
        moves_from = f"WHERE {_from_day('occurred_at', first)}"
        recent = f"""opening AS (
  SELECT {pl}, on_hand_close AS opening FROM _previous_fct_inventory_daily
  WHERE date = {d.add_days(first, "-1")}
),"""
        # (a product-location open before `since` only needs a first day before it)
        opening_start = f"UNION ALL SELECT {pl}, {d.add_days(first, '-1')} FROM opening"
        sold_from = f"AND {_from_day('o.ordered_at', first)}"
        received_from = f"WHERE {_from_day('r.received_at', first)}"
        product_days_from = f"AND p.date >= {first}"
        promo_from = f"AND c.date >= {first}"
        # (every product-location open before `since` gets a change point there, its opening)
        opening_event = f"UNION ALL SELECT {pl}, {first} AS date, opening, 0, 0 FROM opening"
    return f"""
WITH {recent}
starts AS (
  SELECT {pl}, MIN(first_day) AS first_day FROM (
    SELECT {pl}, CAST(occurred_at AS DATE) AS first_day FROM stg_stock_movements {moves_from}
    {opening_start}
  ) s GROUP BY {pl}
),
horizon AS (SELECT MAX(date) AS last_day FROM dim_date),
product_days AS (
  SELECT product_id, CAST(valid_from AS DATE) AS date FROM dim_product WHERE version > 1
  UNION SELECT product_id, starts_on AS date FROM stg_promotions
  UNION SELECT product_id, {d.add_days("ends_on", "1")} AS date FROM stg_promotions
),
events AS (
  SELECT {pl}, CAST(occurred_at AS DATE) AS date, quantity AS net_change, 0 AS units_sold,
    0 AS units_received
  FROM stg_stock_movements {moves_from}
  UNION ALL SELECT ol.product_id, o.location_id, CAST(o.ordered_at AS DATE), 0, ol.quantity, 0
  FROM stg_order_lines ol JOIN stg_orders o ON o.order_id = ol.order_id
  WHERE o.order_status <> 'cancelled' {sold_from}
  UNION ALL SELECT pol.product_id, po.location_id, CAST(r.received_at AS DATE), 0, 0, r.quantity
  FROM stg_purchase_receipts r
  JOIN stg_purchase_order_lines pol ON pol.purchase_order_line_id = r.purchase_order_line_id
  JOIN stg_purchase_orders po ON po.purchase_order_id = pol.purchase_order_id
  {received_from}
  UNION ALL SELECT s.product_id, s.location_id, p.date, 0, 0, 0
  FROM starts s JOIN product_days p ON p.product_id = s.product_id {product_days_from}
  {opening_event}
),
days AS (
  SELECT {pl}, date, SUM(net_change) AS net_change, SUM(units_sold) AS units_sold,
    SUM(units_received) AS units_received
  FROM events GROUP BY {pl}, date
),
changes AS (
  SELECT c.* FROM days c
  JOIN starts st ON st.product_id = c.product_id AND st.location_id = c.location_id
  CROSS JOIN horizon h
  WHERE c.date >= st.first_day AND c.date <= h.last_day
),
spans AS (
  SELECT c.*,
    SUM(net_change) OVER ({ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      AS on_hand_close,
    LEAD(date) OVER ({ordered}) AS next_change
  FROM changes c
),
promo AS (
  SELECT pr.product_id, c.date, MAX(pr.discount) AS discount
  FROM stg_promotions pr
  JOIN dim_date c ON c.date >= pr.starts_on AND c.date <= pr.ends_on {promo_from}
  GROUP BY pr.product_id, c.date
),
priced AS (
  SELECT s.product_id, s.location_id, s.date, s.units_sold, s.units_received,
    s.on_hand_close, p.unit_price, p.product_key, COALESCE(pr.discount, 0) AS promo_discount,
    COALESCE({d.add_days("s.next_change", "-1")}, h.last_day) AS span_end
  FROM spans s
  CROSS JOIN horizon h
  LEFT JOIN dim_product p
    ON p.product_id = s.product_id AND p.valid_from < {day_end} AND p.valid_to >= {day_end}
  LEFT JOIN promo pr ON pr.product_id = s.product_id AND pr.date = s.date
)
{"SELECT * FROM priced" if select else ""}"""


def _inventory_days(
    d: Dialect, spans: str, first: str | None = None, last: str | None = None
) -> str:
    """Each span of `spans` repeated over its days; only days from `first` to `last`
    ('YYYY-MM-DD', inclusive) when given."""
    lo, hi, within = "q.date", "q.span_end", ""
    month = "CAST(date_trunc('month', CAST(day AS DATE)) AS DATE)"
    if first is not None and last is not None:
        lo = f"GREATEST(q.date, CAST('{first}' AS DATE))"
        hi = f"LEAST(q.span_end, CAST('{last}' AS DATE))"
        within = f"WHERE q.date <= CAST('{last}' AS DATE) AND q.span_end >= CAST('{first}' AS DATE)"
        if first[:7] == last[:7]:  # one month: the same for every row
            month = f"CAST('{first[:7]}-01' AS DATE)"
    return f"""SELECT
  CAST(day AS DATE) AS date, product_id, location_id,
  CAST(CASE WHEN CAST(day AS DATE) = date THEN units_sold ELSE 0 END AS INTEGER) AS units_sold,
  CAST(CASE WHEN CAST(day AS DATE) = date THEN units_received ELSE 0 END AS INTEGER)
    AS units_received,
  CAST(on_hand_close AS INTEGER) AS on_hand_close,
  on_hand_close <= 0 AS stocked_out,
  CAST(unit_price AS DECIMAL(12,2)) AS unit_price,
  CAST(promo_discount AS DOUBLE) AS promo_discount,
  product_key,
  {month} AS month
FROM (SELECT q.*, {d.day_series(lo, hi)} AS day FROM {spans} q {within}) expanded
"""


# A span's values repeat over its days, so every column but the date is runs (RLE); the date
# counts up by one within a span (bit-packed, as frame-of-reference deltas). These are what
# DuckDB picks itself; named, they spare it analysing each segment with every method: storing
# the 52 M rows at 1 M order lines took 10.0-11.0 instead of 13.3-16.0 CPU seconds.
_INVENTORY_DAYS_COMPRESSION = {
    "date": "bitpacking",
    **{
        column: "rle"
        for column in (
            "product_id",
            "location_id",
            "units_sold",
            "units_received",
            "on_hand_close",
            "stocked_out",
            "unit_price",
            "promo_discount",
            "product_key",
            "month",
        )
    },
}


def _fct_purchase_receipts(d: Dialect) -> str:
    ordered = "CAST(po.ordered_at AS DATE)"
    first = "CAST(r.first_received_at AS DATE)"
    last = "CAST(r.last_received_at AS DATE)"
    return f"""
WITH r AS (
  SELECT purchase_order_line_id, SUM(quantity) AS quantity_received,
    MIN(received_at) AS first_received_at, MAX(received_at) AS last_received_at,
    COUNT(*) AS receipts
  FROM stg_purchase_receipts GROUP BY purchase_order_line_id
)
SELECT
  pol.purchase_order_line_id, pol.purchase_order_id, po.supplier_id, po.location_id,
  pol.product_id, {ordered} AS ordered_date, po.expected_on,
  {first} AS first_received_date, {last} AS last_received_date,
  pol.quantity_ordered, CAST(r.quantity_received AS INTEGER) AS quantity_received,
  CAST(r.receipts AS INTEGER) AS receipt_count, pol.unit_cost,
  CAST({d.days_between(ordered, "po.expected_on")} AS INTEGER) AS promised_lead_time_days,
  CAST({d.days_between(ordered, first)} AS INTEGER) AS actual_lead_time_days,
  CAST({d.days_between(ordered, last)} AS INTEGER) AS completion_lead_time_days,
  {first} <= po.expected_on AS on_time,
  r.quantity_received >= pol.quantity_ordered AS fully_received,
  CAST(r.quantity_received AS DOUBLE) / CAST(pol.quantity_ordered AS DOUBLE) AS fill_rate
FROM stg_purchase_order_lines pol
JOIN r ON r.purchase_order_line_id = pol.purchase_order_line_id
JOIN stg_purchase_orders po ON po.purchase_order_id = pol.purchase_order_id
"""


def _mart_sales(d: Dialect, since: str | None = None) -> str:
    """Sales by sub-category, country and quarter; an incremental run recomputes only the
    quarters from `since` (a quarter's first day) on (~6 s of fct_sales at 10 M lines)."""
    recent = f"AND s.date >= CAST('{since}' AS DATE)" if since is not None else ""
    quarter_start = "make_date(c.year, (c.quarter - 1) * 3 + 1, 1)"
    return f"""
SELECT p.category, p.sub_category, l.country, c.year, c.quarter,
  {quarter_start} AS quarter_start,
  CAST(COUNT(DISTINCT s.order_id) AS BIGINT) AS orders,
  CAST(SUM(s.quantity) AS BIGINT) AS units,
  CAST(SUM(s.net_revenue) AS DECIMAL(18,2)) AS net_revenue
FROM fct_sales s
JOIN dim_product p ON p.product_key = s.product_key
JOIN dim_location l ON l.location_id = s.location_id
JOIN dim_date c ON c.date = s.date
WHERE s.order_status <> 'cancelled' {recent}
GROUP BY p.category, p.sub_category, l.country, c.year, c.quarter, {quarter_start}
"""


def _mart_abc(d: Dialect) -> str:
    rank = "ORDER BY net_revenue DESC, product_id"
    return f"""
WITH revenue AS (
  SELECT p.product_id, COALESCE(SUM(s.net_revenue), 0) AS net_revenue
  FROM dim_product p
  LEFT JOIN fct_sales s ON s.product_key = p.product_key AND s.order_status <> 'cancelled'
  GROUP BY p.product_id
),
ranked AS (
  SELECT product_id, net_revenue,
    COALESCE(SUM(net_revenue) OVER ({rank} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
      AS revenue_before,
    SUM(net_revenue) OVER () AS total_revenue,
    ROW_NUMBER() OVER ({rank}) AS revenue_rank
  FROM revenue
)
SELECT product_id,
  CAST(net_revenue AS DECIMAL(18,2)) AS net_revenue,
  CAST(revenue_rank AS INTEGER) AS revenue_rank,
  CASE WHEN total_revenue > 0
       THEN CAST(net_revenue AS DOUBLE) / CAST(total_revenue AS DOUBLE) ELSE 0.0 END
    AS revenue_share,
  CASE WHEN total_revenue > 0
       THEN CAST(revenue_before + net_revenue AS DOUBLE) / CAST(total_revenue AS DOUBLE)
       ELSE 0.0 END AS cumulative_share,
  CASE WHEN net_revenue <= 0 THEN 'C'
       WHEN revenue_before * 100 < total_revenue * 80 THEN 'A'
       WHEN revenue_before * 100 < total_revenue * 95 THEN 'B'
       ELSE 'C' END AS abc_class
FROM ranked
"""


def _agg_inventory_monthly(d: Dialect, since: str | None = None) -> str:
    """Monthly sums of the daily fact: the marts over all history read these (2 M rows at a
    million order lines) instead of the 50 M daily rows, and an incremental run recomputes
    only the months it touched."""
    recent = f"WHERE month >= CAST('{since}' AS DATE)" if since is not None else ""
    return f"""
SELECT product_id, location_id, MIN(date) AS first_date,
  CAST(COUNT(*) AS INTEGER) AS days,
  CAST(SUM(units_sold) AS BIGINT) AS units_sold,
  CAST(SUM(units_received) AS BIGINT) AS units_received,
  CAST(SUM(on_hand_close) AS BIGINT) AS on_hand_close_sum,
  CAST(SUM(CASE WHEN stocked_out THEN 1 ELSE 0 END) AS INTEGER) AS stocked_out_days,
  month
FROM fct_inventory_daily {recent}
GROUP BY product_id, location_id, month
"""


def _mart_turnover(d: Dialect) -> str:
    """The last 28 days are found by comparing with a scalar subquery, not a column of a joined
    horizon: Spark pushes only the former into the daily fact's scan, so that it reads those
    days and not all of them (0.9-1.3 s against 2.0-2.4 s for this part at a million order
    lines). Today's stock is each product-location's newest row, which is on the last day of
    the calendar: the fact holds every day up to it."""
    recent = d.add_days("last_day", "-27")
    return f"""
WITH horizon AS (SELECT MAX(date) AS last_day FROM dim_date),
totals AS (
  SELECT product_id, location_id, MIN(first_date) AS first_date, SUM(days) AS days,
    SUM(units_sold) AS units_sold,
    CAST(SUM(on_hand_close_sum) AS DOUBLE) / CAST(SUM(days) AS DOUBLE) AS avg_on_hand
  FROM agg_inventory_monthly GROUP BY product_id, location_id
),
recent AS (
  SELECT f.product_id, f.location_id,
    SUM(f.units_sold) AS units_sold_28d,
    MAX_BY(f.on_hand_close, f.date) AS on_hand_now
  FROM fct_inventory_daily f
  WHERE f.date >= (SELECT {recent} FROM horizon)
  GROUP BY f.product_id, f.location_id
)
SELECT t.product_id, t.location_id, t.first_date,
  CAST(t.days AS INTEGER) AS days,
  CAST(t.units_sold AS BIGINT) AS units_sold,
  t.avg_on_hand,
  CASE WHEN t.avg_on_hand > 0 THEN CAST(t.units_sold AS DOUBLE) / t.avg_on_hand END AS turnover,
  CAST(COALESCE(r.on_hand_now, 0) AS INTEGER) AS on_hand_now,
  CAST(COALESCE(r.units_sold_28d, 0) AS DOUBLE) / 28.0 AS avg_daily_units_28d,
  CASE WHEN r.units_sold_28d > 0
       THEN CAST(r.on_hand_now AS DOUBLE) / (CAST(r.units_sold_28d AS DOUBLE) / 28.0) END
    AS days_of_supply
FROM totals t
LEFT JOIN recent r ON r.product_id = t.product_id AND r.location_id = t.location_id
"""


def _mart_stockout(d: Dialect) -> str:
    return """
SELECT product_id, location_id,
  CAST(SUM(days) AS INTEGER) AS days,
  CAST(SUM(stocked_out_days) AS INTEGER) AS stocked_out_days,
  CAST(SUM(stocked_out_days) AS DOUBLE) / CAST(SUM(days) AS DOUBLE) AS stockout_rate
FROM agg_inventory_monthly
GROUP BY product_id, location_id
"""


def _mart_supplier(d: Dialect) -> str:
    """Over the lines a supplier owed by the calendar's last day, not only those that came: a
    line of an ordered purchase order still empty after its expected day counts as late and as
    nothing delivered (else a supplier who never delivers would score perfectly). Lead times
    are those of the lines that came."""
    return """
WITH owed AS (
  SELECT po.supplier_id, pol.purchase_order_line_id, pol.quantity_ordered,
    f.purchase_order_line_id IS NOT NULL AS received,
    COALESCE(f.quantity_received, 0) AS quantity_received,
    CASE WHEN f.purchase_order_line_id IS NOT NULL THEN f.on_time ELSE FALSE END AS on_time,
    f.actual_lead_time_days, f.promised_lead_time_days
  FROM stg_purchase_order_lines pol
  JOIN stg_purchase_orders po ON po.purchase_order_id = pol.purchase_order_id
  LEFT JOIN fct_purchase_receipts f ON f.purchase_order_line_id = pol.purchase_order_line_id
  WHERE f.purchase_order_line_id IS NOT NULL
    OR (po.po_status IN ('ordered', 'partially_received', 'received')
        AND po.expected_on < (SELECT MAX(date) FROM dim_date))
)
SELECT s.supplier_id, s.name AS supplier_name,
  CAST(COUNT(o.purchase_order_line_id) AS INTEGER) AS owed_lines,
  CAST(COUNT(CASE WHEN o.received THEN 1 END) AS INTEGER) AS received_lines,
  CAST(COUNT(CASE WHEN NOT o.received THEN 1 END) AS INTEGER) AS overdue_open_lines,
  AVG(CASE WHEN o.on_time THEN 1.0E0 WHEN o.on_time IS NOT NULL THEN 0.0E0 END) AS on_time_rate,
  AVG(CAST(o.actual_lead_time_days AS DOUBLE)) AS lead_time_mean_days,
  STDDEV_SAMP(CAST(o.actual_lead_time_days AS DOUBLE)) AS lead_time_stddev_days,
  AVG(CAST(o.promised_lead_time_days AS DOUBLE)) AS promised_lead_time_mean_days,
  CAST(SUM(o.quantity_received) AS DOUBLE) / CAST(SUM(o.quantity_ordered) AS DOUBLE) AS fill_rate
FROM dim_supplier s
LEFT JOIN owed o ON o.supplier_id = s.supplier_id
GROUP BY s.supplier_id, s.name
"""


PRODUCT = ("dim_product", "product_id")
LOCATION = ("dim_location", "location_id")

GOLD_TABLES: tuple[GoldTable, ...] = (
    GoldTable(
        "dim_product",
        "one row per product and version of its price, cost or category (type 2)",
        ("product_key",),
        _dim_product,
        ("stg_products_history", "stg_products", "stg_sub_categories", "stg_categories"),
    ),
    GoldTable(
        "dim_customer", "one row per customer", ("customer_id",), _dim_customer, ("stg_customers",)
    ),
    GoldTable(
        "dim_location",
        "one row per store or warehouse",
        ("location_id",),
        _dim_location,
        ("stg_locations",),
    ),
    GoldTable(
        "dim_supplier", "one row per supplier", ("supplier_id",), _dim_supplier, ("stg_suppliers",)
    ),
    GoldTable(
        "fct_sales",
        "one row per order line",
        ("order_line_id",),
        _fct_sales,
        ("stg_order_lines", "stg_orders", "dim_product"),
        {
            "product_key": ("dim_product", "product_key"),
            "product_id": PRODUCT,
            "location_id": LOCATION,
            "customer_id": ("dim_customer", "customer_id"),
            "date": ("dim_date", "date"),
        },
        recent_sql=_fct_sales,
    ),
    GoldTable(
        "fct_inventory_daily",
        "one row per product, location and day, from the first stock movement to the last day",
        ("product_id", "location_id", "date"),
        _fct_inventory_daily,
        (
            "stg_stock_movements",
            "stg_order_lines",
            "stg_orders",
            "stg_purchase_receipts",
            "stg_purchase_order_lines",
            "stg_purchase_orders",
            "stg_promotions",
            "dim_date",
            "dim_product",
        ),
        {
            "product_key": ("dim_product", "product_key"),
            "product_id": PRODUCT,
            "location_id": LOCATION,
            "date": ("dim_date", "date"),
        },
        recent_sql=_fct_inventory_daily,
        by_month=MonthSlices(_inventory_spans, _inventory_days, _INVENTORY_DAYS_COMPRESSION),
    ),
    GoldTable(
        "agg_inventory_monthly",
        "one row per product, location and month: days, units sold and received, sum of "
        "closing stock, stocked-out days",
        ("product_id", "location_id", "month"),
        _agg_inventory_monthly,
        ("fct_inventory_daily",),
        {"product_id": PRODUCT, "location_id": LOCATION},
        recent_sql=_agg_inventory_monthly,
        recent_by="month",
    ),
    GoldTable(
        "fct_purchase_receipts",
        "one row per purchase-order line that received goods",
        ("purchase_order_line_id",),
        _fct_purchase_receipts,
        ("stg_purchase_receipts", "stg_purchase_order_lines", "stg_purchase_orders"),
        {
            "supplier_id": ("dim_supplier", "supplier_id"),
            "location_id": LOCATION,
            "product_id": PRODUCT,
            "ordered_date": ("dim_date", "date"),
        },
    ),
    GoldTable(
        "mart_sales_subcategory_country_quarter",
        "one row per category, sub-category, country of the selling location, year and quarter",
        ("category", "sub_category", "country", "year", "quarter"),
        _mart_sales,
        ("fct_sales", "dim_product", "dim_location", "dim_date"),
        recent_sql=_mart_sales,
        recent_by="quarter_start",
    ),
    GoldTable(
        "mart_abc_classification",
        "one row per product: revenue rank and ABC class (A: top 80 %, B: next 15 %, C: rest)",
        ("product_id",),
        _mart_abc,
        ("fct_sales", "dim_product"),
        {"product_id": PRODUCT},
    ),
    GoldTable(
        "mart_inventory_turnover",
        "one row per product and location: turnover over the period, days of supply now",
        ("product_id", "location_id"),
        _mart_turnover,
        ("agg_inventory_monthly", "fct_inventory_daily", "dim_date"),
        {"product_id": PRODUCT, "location_id": LOCATION},
    ),
    GoldTable(
        "mart_stockout_rate",
        "one row per product and location: share of days that closed out of stock",
        ("product_id", "location_id"),
        _mart_stockout,
        ("agg_inventory_monthly",),
        {"product_id": PRODUCT, "location_id": LOCATION},
    ),
    GoldTable(
        "mart_supplier_scorecard",
        "one row per supplier: on-time rate, lead time mean and spread, fill rate",
        ("supplier_id",),
        _mart_supplier,
        (
            "dim_supplier",
            "fct_purchase_receipts",
            "stg_purchase_order_lines",
            "stg_purchase_orders",
            "dim_date",
        ),
        {"supplier_id": ("dim_supplier", "supplier_id")},
    ),
)

DIM_DATE_GRAIN = "one row per calendar day from the first to the last day of business data"
GOLD_NAMES = ("dim_date", *(t.name for t in GOLD_TABLES))


def gold_table(name: str) -> GoldTable:
    return next(t for t in GOLD_TABLES if t.name == name)


def grains() -> dict[str, str]:
    return {"dim_date": DIM_DATE_GRAIN, **{t.name: t.grain for t in GOLD_TABLES}}
