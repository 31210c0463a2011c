"""Demand forecasts for staff: one product's published forecast, per location and in total,
with 80 % and 95 % prediction intervals.

The numbers come from `forecast.duckdb` (written by the champion model, read through
`shelfwise.forecast.queries`); product and location names come from the store. A product the
store does not know is 404 `not_found`; no forecast published yet is 404
`forecast_not_published`, whose message says how to publish one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shelfwise.config import Settings
from shelfwise.forecast.queries import (
    ForecastNotPublished,
    ForecastPoint,
    ProductForecast,
    product_forecast,
)
from shelfwise.store.catalog import ProductSummary, list_locations, summarize_products
from shelfwise.store.errors import NotFound
from shelfwise.web.api.deps import IdPath, StaffUser
from shelfwise.web.api.schemas import error_responses
from shelfwise.web.context import ApiError, WebDatabase, get_db

router = APIRouter(prefix="/forecasts", tags=["forecasts"])
Db = Annotated[WebDatabase, Depends(get_db)]


@dataclass(frozen=True)
class LocationName:
    code: str
    name: str


@dataclass(frozen=True)
class ForecastView:
    """What the API and the staff page show: the store's product and the published numbers."""

    product: ProductSummary
    forecast: ProductForecast
    locations: dict[int, LocationName]

    def location(self, location_id: int) -> LocationName:
        return self.locations.get(location_id, LocationName(f"#{location_id}", "unknown"))


def load_forecast_view(db: WebDatabase, settings: Settings, product_id: int) -> ForecastView:
    """Raises NotFound for an unknown product and ApiError(404) when nothing is published."""
    with db.read_session() as session:
        found = summarize_products(session=session, product_ids=[product_id])
        if not found:
            raise NotFound(f"product {product_id} does not exist")
        locations = {
            loc.id: LocationName(loc.code, loc.name) for loc in list_locations(session=session)
        }
    try:
        forecast = product_forecast(settings, product_id)
    except ForecastNotPublished as exc:
        raise ApiError(404, ForecastNotPublished.code, str(exc)) from exc
    return ForecastView(product=found[0], forecast=forecast, locations=locations)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


class ForecastDayPublic(BaseModel):
    date: date
    units: float = Field(description="expected units sold that day")
    lo_80: float | None = Field(description="80 % interval, lower end (null: not available)")
    hi_80: float | None
    lo_95: float | None = Field(description="95 % interval, lower end (null: not available)")
    hi_95: float | None

    @classmethod
    def of(cls, p: ForecastPoint) -> ForecastDayPublic:
        return cls(
            date=p.day, units=p.yhat, lo_80=p.lo_80, hi_80=p.hi_80, lo_95=p.lo_95, hi_95=p.hi_95
        )


class LocationForecastPublic(BaseModel):
    location_id: int
    location_code: str
    location_name: str
    model: str = Field(description="the model the backtest chose for this series")
    units: float = Field(description="expected units over the whole horizon")
    days: list[ForecastDayPublic]


class TotalForecastPublic(BaseModel):
    source: Literal["reconciled", "sum", "none"] = Field(
        description="reconciled: the hierarchy's product series, coherent, with intervals; "
        "sum: the sum of the locations, without intervals; none: no history yet"
    )
    reconciler: str | None
    units: float
    days: list[ForecastDayPublic]


class ProductForecastPublic(BaseModel):
    product_id: int
    sku: str
    name: str
    champion_version: str = Field(description="the registered model version that made it")
    created_at: datetime = Field(description="when the forecast was published (UTC)")
    start: date = Field(description="first forecast day of this run")
    end: date = Field(description="last forecast day of this run")
    total: TotalForecastPublic
    locations: list[LocationForecastPublic]
    notes: list[str]

    @classmethod
    def of(cls, view: ForecastView) -> ProductForecastPublic:
        forecast, published = view.forecast, view.forecast.published
        return cls(
            product_id=view.product.id,
            sku=view.product.sku,
            name=view.product.name,
            champion_version=published.model_version,
            created_at=published.created_at,
            start=published.start,
            end=published.end,
            total=TotalForecastPublic(
                source=forecast.total_source,
                reconciler=forecast.reconciler,
                units=forecast.units,
                days=[ForecastDayPublic.of(p) for p in forecast.total],
            ),
            locations=[
                LocationForecastPublic(
                    location_id=loc.location_id,
                    location_code=view.location(loc.location_id).code,
                    location_name=view.location(loc.location_id).name,
                    model=loc.model,
                    units=loc.units,
                    days=[ForecastDayPublic.of(p) for p in loc.points],
                )
                for loc in forecast.locations
            ],
            notes=forecast.notes,
        )


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------


@router.get(
    "/products/{product_id}",
    response_model=ProductForecastPublic,
    responses=error_responses(401, 403, 404, 422),
)
def product_demand(
    product_id: IdPath, _staff: StaffUser, db: Db, request: Request
) -> ProductForecastPublic:
    """The champion's published daily demand forecast of a product, for each location and in
    total, with 80 % and 95 % intervals (staff and administrators)."""
    return ProductForecastPublic.of(load_forecast_view(db, settings_of(request), product_id))
