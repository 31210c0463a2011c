"""What the website reads about forecasts: one product's published forecast (per location and
in total, with 80 % and 95 % intervals), what was published, and recent accuracy.

Each call opens `forecast.duckdb` read-only and asks for only the rows it needs (a product's
rows, not the whole table), so a page stays fast at M5 size. The file is swapped in whole by
`outputs.publish`, so a reader sees one complete forecast run. No pandas, no MLflow: the web
process loads neither. The version shown is the one that produced the published rows (the
champion at publication time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import duckdb

from shelfwise.config import Settings
from shelfwise.forecast.outputs import forecast_path

PRODUCT_LEVEL = "product"  # the hierarchy level whose series are `product=<id>` (hierarchy.py)
# "reconciled": the hierarchy's product series (coherent, with its own intervals);
# "sum": the sum of the locations (intervals of a sum are not sums: none given);
# "none": the product had no history when the forecast was made.
TotalSource = Literal["reconciled", "sum", "none"]


class ForecastNotPublished(LookupError):
    """No forecast has been published yet (the message says how to publish one)."""

    code = "forecast_not_published"


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast day; the intervals are None where they cannot be given (a plain sum)."""

    day: date
    yhat: float
    lo_80: float | None
    hi_80: float | None
    lo_95: float | None
    hi_95: float | None


@dataclass(frozen=True)
class LocationForecast:
    location_id: int
    model: str  # the model the backtest chose for this series
    points: list[ForecastPoint]

    @property
    def units(self) -> float:
        return sum(p.yhat for p in self.points)


@dataclass(frozen=True)
class PublishedForecast:
    """The forecast run readers see now."""

    model_version: str
    created_at: datetime
    start: date
    end: date
    series: int
    rows: int


@dataclass(frozen=True)
class ProductForecast:
    product_id: int
    published: PublishedForecast
    locations: list[LocationForecast]
    total: list[ForecastPoint]
    total_source: TotalSource
    reconciler: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def units(self) -> float:
        return sum(p.yhat for p in self.total)


@dataclass(frozen=True)
class AccuracyDay:
    """How the freshest forecast of a past day did, over every series that had actuals."""

    day: date
    model_version: str
    horizon_day: int
    series: int
    actual_units: float
    forecast_units: float
    mae: float
    bias: float
    coverage_80: float
    coverage_95: float


NOT_PUBLISHED = (
    "no demand forecast has been published yet: run `shelfwise forecast train` and "
    "`shelfwise forecast predict` (or materialize the Dagster `forecast` asset)"
)


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection | None:
    path = forecast_path(settings)
    if not path.exists():
        return None
    return duckdb.connect(str(path), read_only=True)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.CatalogException:  # a file published before this table existed
        return []


def _published(con: duckdb.DuckDBPyConnection) -> PublishedForecast | None:
    rows = _rows(
        con,
        "SELECT model_version, max(created_at), min(ds), max(ds), count(DISTINCT unique_id), "
        "count(*) FROM fct_forecast GROUP BY model_version ORDER BY max(created_at) DESC",
        [],
    )
    if not rows:
        return None
    version, created_at, start, end, series, count = rows[0]
    return PublishedForecast(
        model_version=str(version),
        created_at=created_at,
        start=start,
        end=end,
        series=int(series),
        rows=int(count),
    )


def published_forecast(settings: Settings) -> PublishedForecast | None:
    """The forecast run on show, or None when none has been published."""
    con = _connect(settings)
    if con is None:
        return None
    with con:
        return _published(con)


def _point(row: tuple[Any, ...]) -> ForecastPoint:
    day, yhat, lo_80, hi_80, lo_95, hi_95 = row
    return ForecastPoint(day, float(yhat), lo_80, hi_80, lo_95, hi_95)


def product_forecast(settings: Settings, product_id: int) -> ProductForecast:
    """The published forecast of one product: each location, and the product in total.

    Raises ForecastNotPublished when there is no forecast at all; a product without history
    (new, or never sold) gets an empty forecast and a note saying why.
    """
    con = _connect(settings)
    if con is None:
        raise ForecastNotPublished(NOT_PUBLISHED)
    with con:
        published = _published(con)
        if published is None:
            raise ForecastNotPublished(NOT_PUBLISHED)
        bottom = _rows(
            con,
            "SELECT location_id, model, ds, yhat, lo_80, hi_80, lo_95, hi_95 FROM fct_forecast "
            "WHERE product_id = ? ORDER BY location_id, ds",
            [product_id],
        )
        reconciled = _rows(
            con,
            "SELECT ds, yhat, lo_80, hi_80, lo_95, hi_95, reconciler FROM fct_forecast_levels "
            "WHERE level = ? AND unique_id = ? ORDER BY ds",
            [PRODUCT_LEVEL, f"product={product_id}"],
        )
    by_location: dict[int, tuple[str, list[ForecastPoint]]] = {}
    for location_id, model, *point in bottom:
        by_location.setdefault(int(location_id), (str(model), []))[1].append(_point(tuple(point)))
    locations = [
        LocationForecast(location_id=lid, model=model, points=points)
        for lid, (model, points) in by_location.items()
    ]
    notes: list[str] = []
    reconciler: str | None = None
    source: TotalSource
    if reconciled:
        total = [_point(row[:6]) for row in reconciled]
        source, reconciler = "reconciled", str(reconciled[0][6])
    elif locations:
        days: dict[date, float] = {}
        for location in locations:
            for p in location.points:
                days[p.day] = days.get(p.day, 0.0) + p.yhat
        total = [ForecastPoint(d, y, None, None, None, None) for d, y in sorted(days.items())]
        source = "sum"
        notes.append("the total is the sum of the locations; intervals need the hierarchy")
    else:
        total, source = [], "none"
        notes.append(
            "this product had no sales history when the forecast was made, so it has no "
            "forecast yet; it gets one once it has sold"
        )
    return ProductForecast(
        product_id=product_id,
        published=published,
        locations=locations,
        total=total,
        total_source=source,
        reconciler=reconciler,
        notes=notes,
    )


def recent_accuracy(settings: Settings, *, days: int = 14) -> list[AccuracyDay]:
    """The last `days` scored days, each by the freshest forecast that covered it, oldest first."""
    con = _connect(settings)
    if con is None:
        return []
    with con:
        rows = _rows(
            con,
            """
            SELECT ds, model_version, horizon_day, series, actual_units, forecast_units, mae,
                   bias, coverage_80, coverage_95
            FROM fct_forecast_accuracy
            QUALIFY row_number() OVER (PARTITION BY ds ORDER BY created_at DESC) = 1
            ORDER BY ds DESC
            LIMIT ?
            """,
            [days],
        )
    return [
        AccuracyDay(
            day=r[0],
            model_version=str(r[1]),
            horizon_day=int(r[2]),
            series=int(r[3]),
            actual_units=float(r[4]),
            forecast_units=float(r[5]),
            mae=float(r[6]),
            bias=float(r[7]),
            coverage_80=float(r[8]),
            coverage_95=float(r[9]),
        )
        for r in reversed(rows)
    ]
