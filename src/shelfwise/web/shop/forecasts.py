"""The staff page of a product's demand forecast: a chart of the total with its 80 % and 95 %
intervals, the daily numbers, each location's forecast, and how recent forecasts did.

The chart is an SVG drawn on the server (coordinates computed here, colours in
`static/css/forecast.css`): no script, no inline style, so it passes the site's CSP and works
with JavaScript off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shelfwise.forecast.queries import ForecastPoint, recent_accuracy
from shelfwise.store.accounts import Principal
from shelfwise.web.api.deps import IdPath
from shelfwise.web.api.forecasts import load_forecast_view, settings_of
from shelfwise.web.context import ApiError
from shelfwise.web.rendering import render
from shelfwise.web.shop.deps import Db, User

router = APIRouter(include_in_schema=False)


async def staff_member(user: User) -> Principal:
    if not user.is_staff:
        raise ApiError(403, "forbidden", "only staff and administrators may see demand forecasts")
    return user


Staff = Annotated[Principal, Depends(staff_member)]


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG line chart with interval bands, in viewBox units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    line: str  # polyline points
    band_80: str  # polygon points ("" when there are no intervals)
    band_95: str
    dots: list[tuple[float, float]]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def nice_ceiling(value: float, ticks: int = 4) -> tuple[float, float]:
    """A round top for the y axis and the step between its `ticks` gridlines."""
    if value <= 0 or not math.isfinite(value):
        return 1.0, 0.25
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step), step


def forecast_chart(points: Sequence[ForecastPoint], width: int = 720, height: int = 260) -> Chart:
    left, right, top, bottom = 52, 16, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((p.hi_95 if p.hi_95 is not None else p.yhat for p in points), default=0.0)
    y_top, step = nice_ceiling(highest)

    def x(i: int) -> float:
        return round(left + plot_w * (i / max(len(points) - 1, 1)), 1)

    def y(value: float) -> float:
        return round(top + plot_h * (1 - min(max(value, 0.0), y_top) / y_top), 1)

    def band(lo: list[float | None], hi: list[float | None]) -> str:
        if not points or any(v is None for v in (*lo, *hi)):
            return ""
        upper = [f"{x(i)},{y(v)}" for i, v in enumerate(hi) if v is not None]
        lower = [f"{x(i)},{y(v)}" for i, v in reversed(list(enumerate(lo))) if v is not None]
        return " ".join(upper + lower)

    every = max(1, math.ceil(len(points) / 7))
    return Chart(
        width=width,
        height=height,
        left=left,
        right=width - right,
        top=top,
        bottom=height - bottom,
        line=" ".join(f"{x(i)},{y(p.yhat)}" for i, p in enumerate(points)),
        band_80=band([p.lo_80 for p in points], [p.hi_80 for p in points]),
        band_95=band([p.lo_95 for p in points], [p.hi_95 for p in points]),
        dots=[(x(i), y(p.yhat)) for i, p in enumerate(points)],
        y_ticks=[Tick(y(k * step), f"{k * step:g}") for k in range(round(y_top / step) + 1)],
        x_ticks=[
            Tick(x(i), p.day.strftime("%d %b")) for i, p in enumerate(points) if i % every == 0
        ],
    )


@router.get("/staff/forecasts/{product_id}", response_class=HTMLResponse)
def forecast_page(request: Request, product_id: IdPath, db: Db, _staff: Staff) -> HTMLResponse:
    settings = settings_of(request)
    view = load_forecast_view(db, settings, product_id)
    return render(
        request,
        "forecast.html",
        {
            "view": view,
            "product": view.product,
            "forecast": view.forecast,
            "chart": forecast_chart(view.forecast.total),
            "accuracy": recent_accuracy(settings, days=7),
        },
    )
