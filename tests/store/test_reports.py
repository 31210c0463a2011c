"""The manager's reports on SQLite, PostgreSQL and MariaDB, against hand-computed figures.

The sales world (prices 19.99, 20.99, 21.99 for three chairs sold from Germany, 100.00 for a
phone sold from a French warehouse):

  order  ordered_at (UTC)     location  lines (product x qty @ discount)        revenue
  o1     2023-12-31 23:30     LOC0 DE   SKU-000 x2 @0, SKU-001 x1 @0.10          39.98 + 18.891
  o2     2024-01-01 00:15     LOC0 DE   SKU-000 x3 @0.25                         44.9775
  o3     2021-01-02 10:00     WH-FR FR  TEC-001 x1 @0.05  (ISO week 2020-W53)    95.00
  o4     2024-02-14 12:00     WH-FR FR  TEC-001 x2 @0, SKU-002 x1 @0.3333        200.00 + 14.660733
  o5     2024-02-15 09:00     LOC1 DE   SKU-000 x5 @0, then cancelled            (99.95)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from shelfwise.store.db import Database
from shelfwise.store.errors import InvalidRequest, NotFound
from shelfwise.store.inventory import (
    LineRequest,
    adjust_stock,
    cancel_order,
    place_order,
    reserve_stock,
)
from shelfwise.store.kinds import LocationKind
from shelfwise.store.models import Category, Location, Product, ReorderSetting, SubCategory
from shelfwise.store.reports import (
    LowStockRow,
    SalesKey,
    SalesRow,
    StockFilters,
    low_stock,
    parse_sales_keys,
    period_of,
    sales_columns,
    sales_query,
    sales_report,
    stock_levels,
    suggested_order,
    top_products,
)
from tests.factories import World, make_world

D = Decimal


@dataclass
class ReportWorld:
    world: World
    phone: int  # TEC-001, Technology / Phones, 100.00
    warehouse: int  # WH-FR, a warehouse in France

    @property
    def chairs(self) -> list[int]:
        return self.world.products

    @property
    def stores(self) -> list[int]:
        return self.world.locations


def _at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def add_phone_and_warehouse(session: Session, world: World) -> ReportWorld:
    """A second category and a French warehouse beside make_world's chairs and German stores."""
    phones = SubCategory(category=Category(name="Technology"), name="Phones")
    phone = Product(sku="TEC-001", name="Phone", sub_category=phones, unit_price=D("100.00"))
    warehouse = Location(
        code="WH-FR",
        name="Lyon warehouse",
        kind=LocationKind.WAREHOUSE,
        country="FR",
        region="Auvergne-Rhone-Alpes",
        city="Lyon",
    )
    session.add_all([phone, warehouse])
    session.flush()
    return ReportWorld(world=world, phone=phone.id, warehouse=warehouse.id)


def build_sales_world(session: Session) -> ReportWorld:
    rw = add_phone_and_warehouse(session, make_world(session, products=3, locations=2, stock=100))
    c0, c1 = rw.world.customers
    p0, p1, p2 = rw.chairs
    loc0, loc1 = rw.stores
    for product, units in ((rw.phone, 50), (p2, 10)):
        adjust_stock(
            session=session,
            product_id=product,
            location_id=rw.warehouse,
            delta=units,
            reason="opening",
        )

    def order(customer: int, location: int, at: datetime, *lines: tuple[int, int, str]) -> int:
        placed = place_order(
            session=session,
            customer_id=customer,
            location_id=location,
            lines=[LineRequest(pid, qty, D(disc)) for pid, qty, disc in lines],
            ordered_at=at,
        )
        return placed.id

    order(c0, loc0, _at(2023, 12, 31, 23, 30), (p0, 2, "0"), (p1, 1, "0.10"))
    order(c1, loc0, _at(2024, 1, 1, 0, 15), (p0, 3, "0.25"))
    order(c0, rw.warehouse, _at(2021, 1, 2, 10, 0), (rw.phone, 1, "0.05"))
    order(c1, rw.warehouse, _at(2024, 2, 14, 12, 0), (rw.phone, 2, "0"), (p2, 1, "0.3333"))
    cancelled = order(c0, loc1, _at(2024, 2, 15, 9, 0), (p0, 5, "0"))
    cancel_order(session=session, order_id=cancelled, at=_at(2024, 2, 15, 10, 0))
    return rw


def build_stock_world(session: Session) -> ReportWorld:
    """Every chair starts with 10 units in LOC0 and LOC1 (reorder min 3, max 20, pack 1); then:

    SKU-000 @ LOC0: min 12, max 40, pack 6; 2 reserved -> available 8 (low: short 4, order 36)
    SKU-001 @ LOC0: 9 sold -> available 1 (low: short 2, order 19 up to 20)
    SKU-002 @ LOC1: min 10, max 25, pack 12 -> available 10, exactly the minimum: not low
    TEC-001 @ WH-FR: min 5, max 10, pack 4, never stocked (low: short 5, order 12)
    TEC-001 @ LOC0: 2 units, no reorder setting (low only under a --threshold)
    SKU-OLD @ LOC0: retired, min 5, never stocked (in the stock report, never low)
    """
    rw = add_phone_and_warehouse(session, make_world(session, products=3, locations=2, stock=10))
    p0, p1, p2 = rw.chairs
    loc0, loc1 = rw.stores

    def reorder(product: int, location: int, low: int, high: int, pack: int) -> None:
        setting = session.get(ReorderSetting, (product, location))
        assert setting is not None  # make_world gave every chair min 3, max 20, pack 1
        setting.min_quantity, setting.max_quantity, setting.pack_size = low, high, pack

    reorder(p0, loc0, 12, 40, 6)
    reserve_stock(session=session, product_id=p0, location_id=loc0, quantity=2)
    place_order(
        session=session,
        customer_id=rw.world.customers[0],
        location_id=loc0,
        lines=[LineRequest(p1, 9)],
        ordered_at=_at(2024, 3, 1, 12, 0),
    )
    reorder(p2, loc1, 10, 25, 12)
    session.add(
        ReorderSetting(
            product_id=rw.phone,
            location_id=rw.warehouse,
            min_quantity=5,
            max_quantity=10,
            pack_size=4,
        )
    )
    adjust_stock(session=session, product_id=rw.phone, location_id=loc0, delta=2, reason="opening")
    chairs = session.get(Product, p0)
    assert chairs is not None
    retired = Product(
        sku="SKU-OLD",
        name="Old chair",
        sub_category_id=chairs.sub_category_id,
        unit_price=D("9.99"),
        active=False,
    )
    session.add(retired)
    session.flush()
    session.add(
        ReorderSetting(
            product_id=retired.id, location_id=loc0, min_quantity=5, max_quantity=10, pack_size=1
        )
    )
    session.flush()
    return rw


def _sales(db: Database, **kwargs: Any) -> list[SalesRow]:
    with db.read_session() as session:
        return sales_report(session=session, **kwargs)


def _figures(rows: list[SalesRow], *keys: str) -> list[tuple[Any, ...]]:
    return [
        (*(getattr(r, k) for k in keys), r.orders, r.units, r.revenue, r.avg_discount) for r in rows
    ]


@pytest.fixture
def sales_db(any_db: Database) -> Database:
    with any_db.session() as session:
        build_sales_world(session)
    return any_db


@pytest.fixture
def stock_db(any_db: Database) -> Database:
    with any_db.session() as session:
        build_stock_world(session)
    return any_db


# ---------------------------------------------------------------------------------------------
# Sales
# ---------------------------------------------------------------------------------------------


def test_sales_total_leaves_out_cancelled_orders(sales_db: Database) -> None:
    # 39.98 + 18.891 + 44.9775 + 95 + 200 + 14.660733 = 413.509233; discounts 0.7333 / 6 lines
    assert _figures(_sales(sales_db)) == [(4, 10, D("413.51"), D("0.1222"))]
    # plus o5: 5 x 19.99 = 99.95 -> 513.459233; 0.7333 / 7 lines = 0.10476
    assert _figures(_sales(sales_db, include_cancelled=True)) == [(5, 15, D("513.46"), D("0.1048"))]


def test_sales_by_month(sales_db: Database) -> None:
    rows = _sales(sales_db, by=["month"])
    assert _figures(rows, "period") == [
        ("2021-01", 1, 1, D("95.00"), D("0.0500")),
        ("2023-12", 1, 3, D("58.87"), D("0.0500")),  # 58.871
        ("2024-01", 1, 3, D("44.98"), D("0.2500")),  # 44.9775 rounds half up
        ("2024-02", 1, 3, D("214.66"), D("0.1667")),  # 214.660733; (0 + 0.3333) / 2
    ]
    assert [r.period_start for r in rows] == [
        date(2021, 1, 1),
        date(2023, 12, 1),
        date(2024, 1, 1),
        date(2024, 2, 1),
    ]


def test_sales_by_iso_week_across_year_ends(sales_db: Database) -> None:
    rows = _sales(sales_db, by=["week"])
    # 2021-01-02 (a Saturday) is in ISO week 53 of 2020; 2023-12-31 (a Sunday) ends 2023-W52;
    # 2024-01-01 is the Monday that starts 2024-W01; 2024-02-14 is a Wednesday of 2024-W07.
    assert [(r.period, r.period_start, r.orders) for r in rows] == [
        ("2020-W53", date(2020, 12, 28), 1),
        ("2023-W52", date(2023, 12, 25), 1),
        ("2024-W01", date(2024, 1, 1), 1),
        ("2024-W07", date(2024, 2, 12), 1),
    ]


def test_sales_by_day_and_year_split_at_midnight_utc(sales_db: Database) -> None:
    days = _sales(sales_db, by=["day"], date_from=date(2023, 12, 31), date_to=date(2024, 1, 1))
    assert _figures(days, "period") == [
        ("2023-12-31", 1, 3, D("58.87"), D("0.0500")),
        ("2024-01-01", 1, 3, D("44.98"), D("0.2500")),
    ]
    years = _sales(sales_db, by=["year"])
    assert _figures(years, "period") == [
        ("2021", 1, 1, D("95.00"), D("0.0500")),
        ("2023", 1, 3, D("58.87"), D("0.0500")),
        ("2024", 2, 6, D("259.64"), D("0.1944")),  # 44.9775 + 214.660733; 0.5833 / 3
    ]


def test_sales_by_category_and_quarter(sales_db: Database) -> None:
    rows = _sales(sales_db, by=["category", "quarter"])
    # Furniture 2024-Q1 holds o2 (January) and o4 (February): two orders, one each month.
    assert _figures(rows, "category", "period") == [
        ("Furniture", "2023-Q4", 1, 3, D("58.87"), D("0.0500")),
        ("Furniture", "2024-Q1", 2, 4, D("59.64"), D("0.2917")),  # 44.9775 + 14.660733
        ("Technology", "2021-Q1", 1, 1, D("95.00"), D("0.0500")),
        ("Technology", "2024-Q1", 1, 2, D("200.00"), D("0.0000")),
    ]
    assert [r.period_start for r in rows] == [
        date(2023, 10, 1),
        date(2024, 1, 1),
        date(2021, 1, 1),
        date(2024, 1, 1),
    ]


def test_sales_by_country_of_the_fulfilling_location(sales_db: Database) -> None:
    assert _figures(_sales(sales_db, by=["country"]), "country") == [
        ("DE", 2, 6, D("103.85"), D("0.1167")),  # 58.871 + 44.9775; (0 + 0.10 + 0.25) / 3
        ("FR", 2, 4, D("309.66"), D("0.1278")),  # 95 + 214.660733; (0.05 + 0 + 0.3333) / 3
    ]
    assert _figures(_sales(sales_db, by=["country"], include_cancelled=True), "country") == [
        ("DE", 3, 11, D("203.80"), D("0.0875")),  # + 99.95; 0.35 / 4
        ("FR", 2, 4, D("309.66"), D("0.1278")),
    ]


def test_sales_by_product_within_dates(sales_db: Database) -> None:
    rows = _sales(sales_db, by=["product"], date_from=date(2024, 1, 1), date_to=date(2024, 2, 14))
    assert _figures(rows, "sku", "product_name") == [
        ("SKU-000", "Chair model 0", 1, 3, D("44.98"), D("0.2500")),
        ("SKU-002", "Chair model 2", 1, 1, D("14.66"), D("0.3333")),
        ("TEC-001", "Phone", 1, 2, D("200.00"), D("0.0000")),
    ]
    # The last day counts whole: o1 at 23:30 on 2023-12-31 is in.
    up_to_new_year = _sales(sales_db, date_to=date(2023, 12, 31))
    assert _figures(up_to_new_year) == [(2, 4, D("153.87"), D("0.0500"))]  # 95 + 58.871


def test_sales_by_sub_category_and_location(sales_db: Database) -> None:
    rows = _sales(sales_db, by=["sub-category", "location"])
    assert _figures(rows, "category", "sub_category", "location") == [
        ("Furniture", "Chairs", "LOC0", 2, 6, D("103.85"), D("0.1167")),
        ("Furniture", "Chairs", "WH-FR", 1, 1, D("14.66"), D("0.3333")),
        ("Technology", "Phones", "WH-FR", 2, 3, D("295.00"), D("0.0250")),
    ]


def test_sales_of_an_empty_period_is_empty(sales_db: Database) -> None:
    assert _sales(sales_db, date_from=date(2030, 1, 1)) == []
    assert _sales(sales_db, by=["month"], date_from=date(2030, 1, 1)) == []


def test_sales_rejects_dates_in_the_wrong_order(sales_db: Database) -> None:
    with pytest.raises(InvalidRequest, match="swap"):
        _sales(sales_db, date_from=date(2024, 2, 1), date_to=date(2024, 1, 1))


def test_top_products_by_revenue_and_by_units(sales_db: Database) -> None:
    with sales_db.read_session() as session:
        by_revenue = top_products(session=session, limit=3)
        by_units = top_products(session=session, limit=3, by_units=True)
        with_cancelled = top_products(
            session=session, limit=1, include_cancelled=True, by_units=True
        )
    assert [(r.rank, r.sku, r.orders, r.units, r.revenue) for r in by_revenue] == [
        (1, "TEC-001", 2, 3, D("295.00")),
        (2, "SKU-000", 2, 5, D("84.96")),  # 39.98 + 44.9775
        (3, "SKU-001", 1, 1, D("18.89")),
    ]
    assert by_revenue[0].category == "Technology" and by_revenue[0].sub_category == "Phones"
    # SKU-001 and SKU-002 sold one unit each: the higher revenue (18.89 > 14.66) ranks first.
    assert [(r.sku, r.units) for r in by_units] == [("SKU-000", 5), ("TEC-001", 3), ("SKU-001", 1)]
    assert [(r.sku, r.units, r.revenue) for r in with_cancelled] == [("SKU-000", 10, D("184.91"))]


def test_top_products_needs_a_positive_limit(sales_db: Database) -> None:
    with sales_db.read_session() as session, pytest.raises(InvalidRequest, match=">= 1"):
        top_products(session=session, limit=0)


def test_parse_sales_keys_accepts_lists_and_names_the_allowed_values() -> None:
    assert parse_sales_keys(["category,Month", "sub-category", "category"]) == (
        SalesKey.CATEGORY,
        SalesKey.MONTH,
        SalesKey.SUB_CATEGORY,
    )
    with pytest.raises(InvalidRequest) as unknown:
        parse_sales_keys(["colour"], what="--by value")
    assert unknown.value.message == (
        "unknown --by value 'colour'; choose from: product, category, sub_category, country, "
        "location, day, week, month, quarter, year"
    )
    with pytest.raises(InvalidRequest, match="one period at a time"):
        parse_sales_keys(["week", "month"])


def test_sales_columns_follow_the_keys() -> None:
    assert sales_columns([SalesKey.SUB_CATEGORY, SalesKey.CATEGORY, SalesKey.WEEK]) == [
        "category",
        "sub_category",
        "period",
        "orders",
        "units",
        "revenue",
        "avg_discount",
    ]


@pytest.mark.parametrize(
    ("period", "day", "label", "start"),
    [
        (SalesKey.WEEK, date(2021, 1, 3), "2020-W53", date(2020, 12, 28)),
        (SalesKey.WEEK, date(2024, 12, 30), "2025-W01", date(2024, 12, 30)),
        (SalesKey.WEEK, date(2024, 2, 18), "2024-W07", date(2024, 2, 12)),
        (SalesKey.MONTH, date(2024, 3, 31), "2024-03", date(2024, 3, 1)),
        (SalesKey.QUARTER, date(2024, 12, 31), "2024-Q4", date(2024, 10, 1)),
        (SalesKey.YEAR, date(2024, 2, 29), "2024", date(2024, 1, 1)),
        (SalesKey.DAY, date(2024, 2, 29), "2024-02-29", date(2024, 2, 29)),
    ],
)
def test_period_labels(period: SalesKey, day: date, label: str, start: date) -> None:
    assert period_of(period, day) == (label, start)


def test_sales_report_aggregates_in_the_database(sqlite_db: Database) -> None:
    """Not a timing: the shape that keeps 3 million lines fast. One aggregate statement whatever
    the number of orders (plus one name look-up per dimension), and a date range that SQLite
    answers from the index on orders.ordered_at instead of reading every order."""
    with sqlite_db.session() as session:
        rw = build_sales_world(session)
        for day in range(1, 29):
            place_order(
                session=session,
                customer_id=rw.world.customers[0],
                location_id=rw.stores[1],
                lines=[LineRequest(rw.chairs[2], 1)],
                ordered_at=_at(2023, 2, day, 8, 0),
            )
    statements: list[str] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):  # not the BEGIN of the read session
            statements.append(args[2])

    event.listen(sqlite_db.engine, "before_cursor_execute", record)
    try:
        by_month = _sales(sqlite_db, by=["month"])
        by_month_count = len(statements)
        statements.clear()
        by_product = _sales(sqlite_db, by=["product", "week"])
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", record)
    aggregates = [s for s in statements if "GROUP BY" in s]
    assert (by_month_count, len(statements), len(aggregates)) == (1, 2, 1)  # + product names
    assert [r.orders for r in by_month if r.period == "2023-02"] == [28]
    assert sum(r.orders for r in by_product if r.sku == "SKU-002") == 29

    def plan(**kwargs: Any) -> str:
        query = sales_query(dialect="sqlite", **kwargs)
        compiled = query.compile(sqlite_db.engine, compile_kwargs={"literal_binds": True})
        with sqlite_db.read_session() as session:
            rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            return " | ".join(str(row[-1]) for row in rows)

    one_month = plan(keys=[SalesKey.DAY], date_from=date(2024, 1, 1), date_to=date(2024, 1, 31))
    assert "USING INDEX ix_orders_ordered_at" in one_month, one_month
    # Whole history: read lines in storage order, never one random read per line through the
    # product_id index (which a GROUP BY product or a join from products would invite).
    for keys in ([SalesKey.PRODUCT, SalesKey.MONTH], [SalesKey.CATEGORY, SalesKey.COUNTRY]):
        whole = plan(keys=keys)
        assert "ix_order_lines_product_id" not in whole, whole
        assert "SCAN orders" in whole or "SCAN order_lines" in whole, whole


# ---------------------------------------------------------------------------------------------
# Stock levels and low stock
# ---------------------------------------------------------------------------------------------


def _stock(db: Database, **filters: Any) -> list[tuple[str, str]]:
    with db.read_session() as session:
        return [
            (r.sku, r.location)
            for r in stock_levels(session=session, filters=StockFilters(**filters))
        ]


def test_stock_levels_show_every_product_location(stock_db: Database) -> None:
    with stock_db.read_session() as session:
        rows = stock_levels(session=session)
    assert [(r.sku, r.location, r.on_hand, r.reserved, r.available) for r in rows] == [
        ("SKU-000", "LOC0", 10, 2, 8),
        ("SKU-000", "LOC1", 10, 0, 10),
        ("SKU-001", "LOC0", 1, 0, 1),
        ("SKU-001", "LOC1", 10, 0, 10),
        ("SKU-002", "LOC0", 10, 0, 10),
        ("SKU-002", "LOC1", 10, 0, 10),
        ("SKU-OLD", "LOC0", 0, 0, 0),
        ("TEC-001", "LOC0", 2, 0, 2),
        ("TEC-001", "WH-FR", 0, 0, 0),
    ]
    first = rows[0]
    assert (first.product_name, first.category, first.sub_category, first.country) == (
        "Chair model 0",
        "Furniture",
        "Chairs",
        "DE",
    )
    assert (first.reorder_min, first.reorder_max, first.pack_size) == (12, 40, 6)
    assert (rows[7].reorder_min, rows[7].reorder_max, rows[7].pack_size) == (None, None, None)
    assert rows[8].location_kind is LocationKind.WAREHOUSE


def test_stock_level_filters(stock_db: Database) -> None:
    assert _stock(stock_db, search="chair model 1") == [("SKU-001", "LOC0"), ("SKU-001", "LOC1")]
    assert _stock(stock_db, search="tec") == [("TEC-001", "LOC0"), ("TEC-001", "WH-FR")]
    assert _stock(stock_db, search="%") == []  # a wildcard character is matched literally
    assert _stock(stock_db, category="TECHNOLOGY", locations=("LOC0",)) == [("TEC-001", "LOC0")]
    assert _stock(stock_db, sub_category="phones", country="fr") == [("TEC-001", "WH-FR")]
    assert _stock(stock_db, kind=LocationKind.WAREHOUSE) == [("TEC-001", "WH-FR")]
    available = _stock(stock_db, only_available=True)
    assert len(available) == 7 and ("SKU-OLD", "LOC0") not in available
    assert ("TEC-001", "WH-FR") not in available


def test_stock_levels_reject_an_unknown_location(stock_db: Database) -> None:
    with pytest.raises(NotFound) as error:
        _stock(stock_db, locations=("LOC0", "NOPE"))
    assert error.value.message == "unknown location code(s) NOPE; known codes: LOC0, LOC1, WH-FR"


def _low(rows: list[LowStockRow]) -> list[tuple[str, str, int, int, int, int]]:
    return [
        (r.sku, r.location, r.available, r.threshold, r.shortfall, r.suggested_order) for r in rows
    ]


def test_low_stock_against_reorder_minimums(stock_db: Database) -> None:
    with stock_db.read_session() as session:
        rows = low_stock(session=session)
    # Most urgent first: 0/5 of the minimum available, then 1/3, then 8/12.
    assert _low(rows) == [
        ("TEC-001", "WH-FR", 0, 5, 5, 12),  # 10 - 0 = 10 -> 3 packs of 4
        ("SKU-001", "LOC0", 1, 3, 2, 19),  # 20 - 1, packs of 1
        ("SKU-000", "LOC0", 8, 12, 4, 36),  # 40 - 8 = 32 -> 6 packs of 6
    ]
    assert (rows[2].on_hand, rows[2].reserved, rows[2].pack_size) == (10, 2, 6)


def test_low_stock_with_a_threshold_overrides_the_minimums(stock_db: Database) -> None:
    with stock_db.read_session() as session:
        rows = low_stock(session=session, threshold=9)
        nothing = low_stock(session=session, threshold=0)
        warehouses = low_stock(session=session, filters=StockFilters(kind=LocationKind.WAREHOUSE))
    # Covered share of 9: 0, 1/9, 2/9, 8/9. Orders refill to max(reorder max, 9).
    assert _low(rows) == [
        ("TEC-001", "WH-FR", 0, 9, 9, 12),  # to 10 in packs of 4
        ("SKU-001", "LOC0", 1, 9, 8, 19),  # to 20
        ("TEC-001", "LOC0", 2, 9, 7, 7),  # no reorder setting: to the threshold, packs of 1
        ("SKU-000", "LOC0", 8, 9, 1, 36),  # to 40 in packs of 6
    ]
    assert nothing == []
    assert _low(warehouses) == [("TEC-001", "WH-FR", 0, 5, 5, 12)]
    with stock_db.read_session() as session, pytest.raises(InvalidRequest, match=">= 0"):
        low_stock(session=session, threshold=-1)


@pytest.mark.parametrize(
    ("available", "target", "pack", "expected"),
    [
        (8, 40, 6, 36),
        (0, 10, 4, 12),
        (1, 20, 1, 19),
        (12, 12, 6, 0),
        (15, 12, 6, 0),
        (-2, 4, 5, 10),
    ],
)
def test_suggested_order_rounds_up_to_whole_packs(
    available: int, target: int, pack: int, expected: int
) -> None:
    assert suggested_order(available=available, target=target, pack_size=pack) == expected


def test_reports_read_retired_products_without_reordering_them(stock_db: Database) -> None:
    with stock_db.read_session() as session:
        retired = session.scalar(select(Product.active).where(Product.sku == "SKU-OLD"))
        low = low_stock(session=session, threshold=100)
    assert retired is False
    assert "SKU-OLD" not in {r.sku for r in low}
    assert ("SKU-OLD", "LOC0") in _stock(stock_db)
