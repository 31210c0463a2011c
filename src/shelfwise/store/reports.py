"""The manager's reports: stock levels, low stock, sales and top products.

Each report is one aggregate query on a read session, plus small look-ups of names for the ids
it grouped by: grouping 3 million order lines by `order_lines.product_id` needs no join, and
names are fetched once per group, not once per line.

Money is summed exactly on every database: a line's revenue is computed in integers (cents of
the unit price times basis points of `1 - discount`), so SQLite's floating-point NUMERIC storage
cannot shift a total by a cent. Periods are UTC calendar periods; a week is an ISO week
(Monday to Sunday, labelled with its ISO year, so 2021-01-02 is in `2020-W53`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    SQLColumnExpression,
    and_,
    cast,
    func,
    literal_column,
    select,
    union,
)
from sqlalchemy.orm import Session

from shelfwise.store.errors import InvalidRequest, NotFound
from shelfwise.store.kinds import LocationKind, OrderStatus
from shelfwise.store.models import (
    Category,
    Location,
    Order,
    OrderLine,
    Product,
    ReorderSetting,
    StockLevel,
    SubCategory,
)

CENT = Decimal("0.01")
DISCOUNT_STEP = Decimal("0.0001")
# A line's revenue in millionths: quantity x price in cents x (10000 - discount in basis points).
_MILLIONTHS = Decimal(1_000_000)
_BASIS_POINTS = Decimal(10_000)
_LOOKUP_CHUNK = 500

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Stock levels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StockFilters:
    """Which product-locations a stock report shows; every field that is set narrows it."""

    search: str | None = None  # part of the SKU or product name, any case
    category: str | None = None  # category name, any case
    sub_category: str | None = None  # sub-category name, any case
    locations: tuple[str, ...] = ()  # location codes
    country: str | None = None  # ISO 3166-1 alpha-2 code of the location
    kind: LocationKind | None = None
    only_available: bool = False  # only rows with stock that can be sold (available > 0)


@dataclass(frozen=True, slots=True)
class StockRow:
    sku: str
    product_name: str
    category: str
    sub_category: str
    location: str
    location_kind: LocationKind
    country: str
    on_hand: int
    reserved: int
    available: int
    reorder_min: int | None
    reorder_max: int | None
    pack_size: int | None


@dataclass(frozen=True, slots=True)
class LowStockRow:
    """A product-location below its threshold, and what to order to get back to the maximum."""

    sku: str
    product_name: str
    category: str
    sub_category: str
    location: str
    location_kind: LocationKind
    country: str
    on_hand: int
    reserved: int
    available: int
    threshold: int  # the level checked: --threshold when given, else the reorder minimum
    reorder_min: int | None
    reorder_max: int | None
    pack_size: int
    shortfall: int  # threshold - available
    suggested_order: int  # up to max(reorder_max, threshold), rounded up to whole packs


def _pairs() -> Any:
    """Every product-location that has a stock row or a reorder setting (either may be missing:
    a product with a reorder minimum that was never stocked is the most urgent of all)."""
    return union(
        select(StockLevel.product_id, StockLevel.location_id),
        select(ReorderSetting.product_id, ReorderSetting.location_id),
    ).subquery("pairs")


def _check_locations(session: Session, codes: Sequence[str]) -> None:
    if not codes:
        return
    known = set(session.scalars(select(Location.code).where(Location.code.in_(codes))))
    unknown = [code for code in codes if code not in known]
    if unknown:
        existing = list(session.scalars(select(Location.code).order_by(Location.code).limit(21)))
        listed = ", ".join(existing[:20]) + (", ..." if len(existing) > 20 else "")
        raise NotFound(
            f"unknown location code(s) {', '.join(unknown)}; known codes: {listed or 'none yet'}"
        )


def _stock_query(
    session: Session, filters: StockFilters, threshold: int | None = None, low_only: bool = False
) -> Select[*tuple[Any, ...]]:
    _check_locations(session, filters.locations)
    pairs = _pairs()
    on_hand = func.coalesce(StockLevel.on_hand, 0)
    reserved = func.coalesce(StockLevel.reserved, 0)
    available = on_hand - reserved
    query = (
        select(
            Product.sku,
            Product.name.label("product_name"),
            Category.name.label("category"),
            SubCategory.name.label("sub_category"),
            Location.code.label("location"),
            Location.kind.label("location_kind"),
            Location.country,
            on_hand.label("on_hand"),
            reserved.label("reserved"),
            available.label("available"),
            ReorderSetting.min_quantity.label("reorder_min"),
            ReorderSetting.max_quantity.label("reorder_max"),
            ReorderSetting.pack_size,
        )
        .select_from(pairs)
        .join(Product, Product.id == pairs.c.product_id)
        .join(SubCategory, SubCategory.id == Product.sub_category_id)
        .join(Category, Category.id == SubCategory.category_id)
        .join(Location, Location.id == pairs.c.location_id)
        .outerjoin(
            StockLevel,
            and_(
                StockLevel.product_id == pairs.c.product_id,
                StockLevel.location_id == pairs.c.location_id,
            ),
        )
        .outerjoin(
            ReorderSetting,
            and_(
                ReorderSetting.product_id == pairs.c.product_id,
                ReorderSetting.location_id == pairs.c.location_id,
            ),
        )
    )
    if filters.search:
        needle = filters.search.strip().lower()
        query = query.where(
            func.lower(Product.sku).contains(needle, autoescape=True)
            | func.lower(Product.name).contains(needle, autoescape=True)
        )
    if filters.category:
        query = query.where(func.lower(Category.name) == filters.category.strip().lower())
    if filters.sub_category:
        query = query.where(func.lower(SubCategory.name) == filters.sub_category.strip().lower())
    if filters.locations:
        query = query.where(Location.code.in_(filters.locations))
    if filters.country:
        query = query.where(Location.country == filters.country.strip().upper())
    if filters.kind is not None:
        query = query.where(Location.kind == filters.kind)
    if filters.only_available:
        query = query.where(available > 0)
    if low_only:
        query = query.where(Product.active.is_(True))
        if threshold is None:
            query = query.where(available < ReorderSetting.min_quantity)
        else:
            query = query.where(available < threshold)
    return query


def stock_levels(*, session: Session, filters: StockFilters | None = None) -> list[StockRow]:
    """Current stock per product and location, with the reorder settings where there are any."""
    rows = session.execute(_stock_query(session, filters or StockFilters())).mappings()
    result = [
        StockRow(
            sku=row["sku"],
            product_name=row["product_name"],
            category=row["category"],
            sub_category=row["sub_category"],
            location=row["location"],
            location_kind=LocationKind(row["location_kind"]),
            country=row["country"],
            on_hand=int(row["on_hand"]),
            reserved=int(row["reserved"]),
            available=int(row["available"]),
            reorder_min=_int_or_none(row["reorder_min"]),
            reorder_max=_int_or_none(row["reorder_max"]),
            pack_size=_int_or_none(row["pack_size"]),
        )
        for row in rows
    ]
    # Sorted here, not in SQL, so that every database gives the same order whatever its collation.
    result.sort(key=lambda row: (row.sku, row.location))
    return result


def suggested_order(*, available: int, target: int, pack_size: int) -> int:
    """Units to order to bring `available` up to `target`, in whole packs (0 if already there)."""
    if pack_size < 1:
        raise InvalidRequest(f"a pack holds at least 1 unit, got {pack_size}")
    needed = target - available
    if needed <= 0:
        return 0
    return -(-needed // pack_size) * pack_size


def low_stock(
    *, session: Session, filters: StockFilters | None = None, threshold: int | None = None
) -> list[LowStockRow]:
    """Active products whose available stock is below the reorder minimum of their location, or
    below `threshold` when given (which then applies to every product-location, with or without
    reorder settings). Most urgent first: the smallest share of the threshold still available,
    then the largest shortfall."""
    if threshold is not None and threshold < 0:
        raise InvalidRequest(f"the low-stock threshold is a whole number >= 0, got {threshold}")
    query = _stock_query(session, filters or StockFilters(), threshold=threshold, low_only=True)
    result: list[LowStockRow] = []
    for row in session.execute(query).mappings():
        available = int(row["available"])
        reorder_min = _int_or_none(row["reorder_min"])
        reorder_max = _int_or_none(row["reorder_max"])
        pack_size = _int_or_none(row["pack_size"]) or 1
        level = threshold if threshold is not None else reorder_min
        assert level is not None  # the query only returns rows below a known level
        target = max(reorder_max if reorder_max is not None else level, level)
        result.append(
            LowStockRow(
                sku=row["sku"],
                product_name=row["product_name"],
                category=row["category"],
                sub_category=row["sub_category"],
                location=row["location"],
                location_kind=LocationKind(row["location_kind"]),
                country=row["country"],
                on_hand=int(row["on_hand"]),
                reserved=int(row["reserved"]),
                available=available,
                threshold=level,
                reorder_min=reorder_min,
                reorder_max=reorder_max,
                pack_size=pack_size,
                shortfall=level - available,
                suggested_order=suggested_order(
                    available=available, target=target, pack_size=pack_size
                ),
            )
        )
    result.sort(key=_urgency)
    return result


def _urgency(row: LowStockRow) -> tuple[Fraction, int, str, str]:
    covered = Fraction(max(row.available, 0), row.threshold)  # threshold > available >= 0
    return covered, -row.shortfall, row.sku, row.location


# ---------------------------------------------------------------------------------------------
# Sales
# ---------------------------------------------------------------------------------------------


class SalesKey(enum.StrEnum):
    """What a sales report can be grouped by: attributes, and one calendar period."""

    PRODUCT = "product"
    CATEGORY = "category"
    SUB_CATEGORY = "sub_category"
    COUNTRY = "country"  # of the fulfilling location
    LOCATION = "location"  # the fulfilling location
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


PERIODS = frozenset({SalesKey.DAY, SalesKey.WEEK, SalesKey.MONTH, SalesKey.QUARTER, SalesKey.YEAR})
_KEY_COLUMNS: dict[SalesKey, tuple[str, ...]] = {
    SalesKey.PRODUCT: ("sku", "product_name"),
    SalesKey.CATEGORY: ("category",),
    SalesKey.SUB_CATEGORY: ("category", "sub_category"),
    SalesKey.COUNTRY: ("country",),
    SalesKey.LOCATION: ("location",),
}
METRIC_COLUMNS = ("orders", "units", "revenue", "avg_discount")


@dataclass(frozen=True, slots=True)
class SalesRow:
    """One group of a sales report; the key fields it was not grouped by stay None.

    `revenue` is the sum of quantity x unit price x (1 - discount), rounded to cents;
    `avg_discount` the mean discount of the group's order lines (a fraction, 4 places)."""

    orders: int
    units: int
    revenue: Decimal
    avg_discount: Decimal
    sku: str | None = None
    product_name: str | None = None
    category: str | None = None
    sub_category: str | None = None
    country: str | None = None
    location: str | None = None
    period: str | None = None
    period_start: date | None = None


@dataclass(frozen=True, slots=True)
class TopProductRow:
    rank: int
    sku: str
    product_name: str
    category: str
    sub_category: str
    orders: int
    units: int
    revenue: Decimal
    avg_discount: Decimal


def parse_sales_keys(values: Iterable[str], *, what: str = "grouping") -> tuple[SalesKey, ...]:
    """`["category,month", "sub-category"]` -> keys in the order given, duplicates dropped.

    Raises InvalidRequest naming the allowed values for an unknown one, and for two periods."""
    keys: list[SalesKey] = []
    allowed = ", ".join(key.value for key in SalesKey)
    for value in values:
        for part in value.split(","):
            name = part.strip().lower().replace("-", "_")
            if not name:
                continue
            try:
                key = SalesKey(name)
            except ValueError:
                raise InvalidRequest(
                    f"unknown {what} {part.strip()!r}; choose from: {allowed}"
                ) from None
            if key not in keys:
                keys.append(key)
    periods = [key.value for key in keys if key in PERIODS]
    if len(periods) > 1:
        raise InvalidRequest(
            f"sales can be grouped by one period at a time, got {' and '.join(periods)}"
        )
    return tuple(keys)


def sales_columns(keys: Sequence[SalesKey]) -> list[str]:
    """The columns a report grouped by `keys` shows, in that order, then the metrics."""
    columns: list[str] = []
    for key in keys:
        for column in _KEY_COLUMNS.get(key, ("period",)):
            if column not in columns:
                columns.append(column)
    return columns + list(METRIC_COLUMNS)


def period_of(period: SalesKey, day: date) -> tuple[str, date]:
    """The label and first day of the period containing `day`: `2024-03-05`, `2024-W07`
    (ISO week and ISO year), `2024-03`, `2024-Q1`, `2024`."""
    if period is SalesKey.DAY:
        return day.isoformat(), day
    if period is SalesKey.WEEK:
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}", day - timedelta(days=iso.weekday - 1)
    if period is SalesKey.MONTH:
        return f"{day.year}-{day.month:02d}", day.replace(day=1)
    if period is SalesKey.QUARTER:
        quarter = (day.month - 1) // 3 + 1
        return f"{day.year}-Q{quarter}", date(day.year, 3 * quarter - 2, 1)
    if period is SalesKey.YEAR:
        return str(day.year), date(day.year, 1, 1)
    raise InvalidRequest(f"{period.value} is not a period")


def _sql_text(value: str) -> ColumnElement[Any]:
    """A constant string inlined into the SQL: PostgreSQL only matches a GROUP BY expression
    to the selected one when their arguments are identical text, not two bound parameters."""
    return literal_column("'" + value.replace("'", "''") + "'")


def period_start_expression(period: SalesKey, dialect: str) -> ColumnElement[Any]:
    """SQL for the first day of `period` containing each order's `ordered_at`.

    Quarters are grouped by month on SQLite and MySQL (which have no quarter truncation) and
    merged in Python; one order lies in one month, so order counts stay exact."""
    at = Order.ordered_at
    if dialect == "postgresql":
        if period is SalesKey.DAY:
            return cast(at, Date)
        return func.date_trunc(_sql_text(period.value), at)
    grain = SalesKey.MONTH if period is SalesKey.QUARTER else period
    if dialect == "sqlite":
        modifiers = {
            SalesKey.DAY: (),
            SalesKey.WEEK: ("weekday 0", "-6 days"),  # the coming Sunday, back to its Monday
            SalesKey.MONTH: ("start of month",),
            SalesKey.YEAR: ("start of year",),
        }[grain]
        return func.date(at, *(_sql_text(modifier) for modifier in modifiers))
    if dialect in {"mysql", "mariadb"}:
        day = func.date(at)
        return {
            SalesKey.DAY: day,
            SalesKey.WEEK: func.subdate(day, func.weekday(at)),  # WEEKDAY: Monday = 0
            SalesKey.MONTH: func.subdate(day, func.dayofmonth(at) - 1),
            SalesKey.YEAR: func.makedate(func.year(at), 1),
        }[grain]
    raise InvalidRequest(f"sales periods are not implemented for the {dialect} database")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _cents(column: Any) -> ColumnElement[Any]:
    return cast(func.round(column * 100), BigInteger)


def _basis_points(column: Any) -> ColumnElement[Any]:
    return cast(func.round(column * 10_000), BigInteger)


def _order_conditions(
    date_from: date | None, date_to: date | None, include_cancelled: bool
) -> list[ColumnElement[bool]]:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidRequest(
            f"the period starts {date_from} but ends earlier, {date_to}: swap the two dates"
        )
    conditions: list[ColumnElement[bool]] = []
    if date_from is not None:
        conditions.append(Order.ordered_at >= datetime.combine(date_from, time(), UTC))
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), UTC)
        conditions.append(Order.ordered_at < end)  # the whole last day, UTC
    if not include_cancelled:
        conditions.append(Order.status != OrderStatus.CANCELLED)
    return conditions


def _metrics() -> list[ColumnElement[Any]]:
    line_millionths = (
        OrderLine.quantity
        * _cents(OrderLine.unit_price)
        * (10_000 - _basis_points(OrderLine.discount))
    )
    return [
        func.count(OrderLine.order_id.distinct()).label("orders"),
        func.sum(OrderLine.quantity).label("units"),
        func.sum(line_millionths).label("revenue_millionths"),
        func.sum(_basis_points(OrderLine.discount)).label("discount_basis_points"),
        func.count(OrderLine.id).label("lines"),
    ]


def _scanned(column: SQLColumnExpression[Any], dialect: str) -> SQLColumnExpression[Any]:
    """`column + 0` on SQLite, so that its planner cannot use the column's index.

    A sales report reads every line in its period. Given `GROUP BY order_lines.product_id` or a
    join from the small products table, SQLite walks 3 million lines in the order of the
    product_id index, one random read each; scanning orders and their lines in storage order and
    sorting the groups measured 3 to 4 times faster on 1 million orders with 3 million lines."""
    return column + 0 if dialect == "sqlite" else column


def _key_expression(key: SalesKey, dialect: str) -> SQLColumnExpression[Any]:
    if key in PERIODS:
        return period_start_expression(key, dialect)
    columns: dict[SalesKey, SQLColumnExpression[Any]] = {
        SalesKey.PRODUCT: _scanned(OrderLine.product_id, dialect),
        SalesKey.SUB_CATEGORY: Product.sub_category_id,
        SalesKey.CATEGORY: SubCategory.category_id,
        SalesKey.LOCATION: _scanned(Order.location_id, dialect),
        SalesKey.COUNTRY: Location.country,
    }
    return columns[key]


def sales_query(
    *,
    dialect: str,
    keys: Sequence[SalesKey],
    date_from: date | None = None,
    date_to: date | None = None,
    include_cancelled: bool = False,
) -> Select[*tuple[Any, ...]]:
    """The one aggregate statement behind `sales_report`: metrics per group of ids and period
    start, joining only the tables the keys need."""
    group: list[ColumnElement[Any]] = [
        _key_expression(key, dialect).label(f"k{i}") for i, key in enumerate(keys)
    ]
    query = (
        select(*group, *_metrics())
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*_order_conditions(date_from, date_to, include_cancelled))
    )
    if {SalesKey.CATEGORY, SalesKey.SUB_CATEGORY} & set(keys):
        query = query.join(Product, Product.id == _scanned(OrderLine.product_id, dialect))
    if SalesKey.CATEGORY in keys:
        query = query.join(SubCategory, SubCategory.id == Product.sub_category_id)
    if SalesKey.COUNTRY in keys:
        query = query.join(Location, Location.id == _scanned(Order.location_id, dialect))
    if group:
        query = query.group_by(*(_key_expression(key, dialect) for key in keys))
    return query


@dataclass(slots=True)
class _Totals:
    orders: int = 0
    units: int = 0
    revenue_millionths: int = 0
    discount_basis_points: int = 0
    lines: int = 0

    def add(self, row: Any) -> None:
        self.orders += int(row.orders or 0)
        self.units += int(row.units or 0)
        self.revenue_millionths += int(row.revenue_millionths or 0)
        self.discount_basis_points += int(row.discount_basis_points or 0)
        self.lines += int(row.lines or 0)

    @property
    def revenue(self) -> Decimal:
        return (Decimal(self.revenue_millionths) / _MILLIONTHS).quantize(CENT, ROUND_HALF_UP)

    @property
    def avg_discount(self) -> Decimal:
        if not self.lines:
            return Decimal("0.0000")
        mean = Decimal(self.discount_basis_points) / _BASIS_POINTS / self.lines
        return mean.quantize(DISCOUNT_STEP, ROUND_HALF_UP)


def _lookup(
    ids: Iterable[int], fetch: Callable[[list[int]], Iterable[tuple[int, T]]]
) -> dict[int, T]:
    """id -> value for the given ids, fetched in chunks that every database accepts."""
    wanted = sorted(set(ids))
    found: dict[int, T] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        found.update(fetch(wanted[start : start + _LOOKUP_CHUNK]))
    return found


def _product_names(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str, str, str]]:
    """product id -> (sku, name, category, sub-category)."""

    def fetch(chunk: list[int]) -> Iterable[tuple[int, tuple[str, str, str, str]]]:
        rows = session.execute(
            select(Product.id, Product.sku, Product.name, Category.name, SubCategory.name)
            .join(SubCategory, SubCategory.id == Product.sub_category_id)
            .join(Category, Category.id == SubCategory.category_id)
            .where(Product.id.in_(chunk))
        )
        return ((pid, (sku, name, cat, sub)) for pid, sku, name, cat, sub in rows)

    return _lookup(ids, fetch)


def _sub_category_names(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    def fetch(chunk: list[int]) -> Iterable[tuple[int, tuple[str, str]]]:
        rows = session.execute(
            select(SubCategory.id, Category.name, SubCategory.name)
            .join(Category, Category.id == SubCategory.category_id)
            .where(SubCategory.id.in_(chunk))
        )
        return ((sid, (cat, sub)) for sid, cat, sub in rows)

    return _lookup(ids, fetch)


def _category_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    def fetch(chunk: list[int]) -> Iterable[tuple[int, str]]:
        rows = session.execute(select(Category.id, Category.name).where(Category.id.in_(chunk)))
        return ((cid, name) for cid, name in rows)

    return _lookup(ids, fetch)


def _location_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    def fetch(chunk: list[int]) -> Iterable[tuple[int, str]]:
        rows = session.execute(select(Location.id, Location.code).where(Location.id.in_(chunk)))
        return ((lid, code) for lid, code in rows)

    return _lookup(ids, fetch)


def sales_report(
    *,
    session: Session,
    by: Sequence[SalesKey | str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    include_cancelled: bool = False,
) -> list[SalesRow]:
    """Orders, units, revenue and mean discount per group of `by` (none: one total row), for
    orders placed from `date_from` to `date_to` inclusive (UTC days), cancelled orders left out
    unless asked for. Returns are not netted out: this is what was sold. Rows come sorted by the
    keys in the order given (products by SKU, periods by date)."""
    keys = parse_sales_keys(by)
    dialect = session.get_bind().dialect.name
    query = sales_query(
        dialect=dialect,
        keys=keys,
        date_from=date_from,
        date_to=date_to,
        include_cancelled=include_cancelled,
    )
    period = next((key for key in keys if key in PERIODS), None)
    groups: dict[tuple[Any, ...], _Totals] = {}
    for row in session.execute(query):
        if not keys and not row.lines:
            continue  # no sales at all: an aggregate without GROUP BY still returns one row
        group = tuple(
            period_of(key, _as_date(value))[1] if key in PERIODS else value
            for key, value in zip(keys, row, strict=False)
        )
        groups.setdefault(group, _Totals()).add(row)

    names = _SalesNames.fetch(session, keys, groups)
    rows = [names.row(keys, group, totals, period) for group, totals in groups.items()]
    rows.sort(key=lambda row: tuple(_sort_value(key, row) for key in keys))
    return rows


@dataclass(slots=True)
class _SalesNames:
    products: dict[int, tuple[str, str, str, str]]
    sub_categories: dict[int, tuple[str, str]]
    categories: dict[int, str]
    locations: dict[int, str]

    @classmethod
    def fetch(
        cls, session: Session, keys: Sequence[SalesKey], groups: Iterable[tuple[Any, ...]]
    ) -> _SalesNames:
        groups = list(groups)

        def ids(key: SalesKey) -> list[int]:
            if key not in keys:
                return []
            position = keys.index(key)
            return [int(group[position]) for group in groups]

        return cls(
            products=_product_names(session, ids(SalesKey.PRODUCT)),
            sub_categories=_sub_category_names(session, ids(SalesKey.SUB_CATEGORY)),
            categories=_category_names(session, ids(SalesKey.CATEGORY)),
            locations=_location_codes(session, ids(SalesKey.LOCATION)),
        )

    def row(
        self,
        keys: Sequence[SalesKey],
        group: tuple[Any, ...],
        totals: _Totals,
        period: SalesKey | None,
    ) -> SalesRow:
        fields: dict[str, Any] = {}
        for key, value in zip(keys, group, strict=True):
            if key is SalesKey.PRODUCT:
                sku, name, _, _ = self.products[int(value)]
                fields.update(sku=sku, product_name=name)
            elif key is SalesKey.SUB_CATEGORY:
                category, sub_category = self.sub_categories[int(value)]
                fields.update(category=category, sub_category=sub_category)
            elif key is SalesKey.CATEGORY:
                fields["category"] = self.categories[int(value)]
            elif key is SalesKey.LOCATION:
                fields["location"] = self.locations[int(value)]
            elif key is SalesKey.COUNTRY:
                fields["country"] = value
            else:
                assert period is not None
                fields["period"], fields["period_start"] = period_of(period, value)
        return SalesRow(
            orders=totals.orders,
            units=totals.units,
            revenue=totals.revenue,
            avg_discount=totals.avg_discount,
            **fields,
        )


def _sort_value(key: SalesKey, row: SalesRow) -> Any:
    if key is SalesKey.PRODUCT:
        return row.sku or ""
    if key is SalesKey.SUB_CATEGORY:
        return (row.category or "", row.sub_category or "")
    if key is SalesKey.CATEGORY:
        return row.category or ""
    if key is SalesKey.LOCATION:
        return row.location or ""
    if key is SalesKey.COUNTRY:
        return row.country or ""
    return row.period_start or date.min


def top_products(
    *,
    session: Session,
    limit: int = 10,
    by_units: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    include_cancelled: bool = False,
) -> list[TopProductRow]:
    """The best-selling products by revenue (or by units), ties broken by the other measure,
    then by the older product. Same period and cancellation rules as `sales_report`."""
    if isinstance(limit, bool) or limit < 1:
        raise InvalidRequest(f"the number of top products is a whole number >= 1, got {limit}")
    metrics = _metrics()
    units, revenue = metrics[1], metrics[2]
    product = _scanned(OrderLine.product_id, session.get_bind().dialect.name)
    ranking = [units.desc(), revenue.desc()] if by_units else [revenue.desc(), units.desc()]
    query = (
        select(product.label("product_id"), *metrics)
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*_order_conditions(date_from, date_to, include_cancelled))
        .group_by(product)
        .order_by(*ranking, product)
        .limit(limit)
    )
    rows = session.execute(query).all()
    names = _product_names(session, (row.product_id for row in rows))
    result: list[TopProductRow] = []
    for rank, row in enumerate(rows, start=1):
        totals = _Totals()
        totals.add(row)
        sku, name, category, sub_category = names[row.product_id]
        result.append(
            TopProductRow(
                rank=rank,
                sku=sku,
                product_name=name,
                category=category,
                sub_category=sub_category,
                orders=totals.orders,
                units=totals.units,
                revenue=totals.revenue,
                avg_discount=totals.avg_discount,
            )
        )
    return result


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
