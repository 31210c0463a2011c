"""The history behaves like retail: seasonality, intermittent demand, stockouts, promotions."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func, select

from shelfwise.store.kinds import LocationKind
from shelfwise.store.models import Location, Promotion, SynthTrueDemand
from tests.synth.conftest import Generated


def daily_demand(world: Generated) -> list[tuple[int, int, date, int, int]]:
    with world.db.read_session() as session:
        rows = session.execute(
            select(
                SynthTrueDemand.product_id,
                SynthTrueDemand.location_id,
                SynthTrueDemand.day,
                SynthTrueDemand.demand,
                SynthTrueDemand.sold,
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_weekends_sell_differently_from_weekdays_in_stores(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        stores = set(
            session.scalars(select(Location.id).where(Location.kind == LocationKind.STORE))
        )
    per_day: dict[date, int] = defaultdict(int)
    for _, location, day, demand, _ in daily_demand(small_world):
        if location in stores:
            per_day[day] += demand
    start, days = small_world.spec.start, small_world.spec.days
    calendar = [start + timedelta(days=d) for d in range(days)]
    saturday = np.mean([per_day[d] for d in calendar if d.weekday() == 5])
    weekday = np.mean([per_day[d] for d in calendar if d.weekday() < 5])
    assert saturday / weekday > 1.15, (saturday, weekday)


def test_slow_movers_have_intermittent_demand(small_world: Generated) -> None:
    days_with_demand: dict[tuple[int, int], int] = defaultdict(int)
    units: dict[tuple[int, int], int] = defaultdict(int)
    for product, location, _, demand, _ in daily_demand(small_world):
        days_with_demand[product, location] += 1
        units[product, location] += demand
    ranked = sorted(units, key=units.__getitem__)
    slow = ranked[: len(ranked) // 2]
    zero_share = [1 - days_with_demand[cell] / small_world.spec.days for cell in slow]
    assert len(slow) > 100
    assert min(zero_share) > 0.8
    fast = ranked[-1]
    assert days_with_demand[fast] > small_world.spec.days * 0.3, "no product sells regularly"


def test_stockouts_censor_sales(small_world: Generated) -> None:
    rows = daily_demand(small_world)
    assert all(0 <= sold <= demand for *_, demand, sold in rows)
    censored = [(demand, sold) for *_, demand, sold in rows if sold < demand]
    assert len(censored) > 20, "no stockouts: true demand never exceeded sales"
    assert sum(d for d, _ in censored) > sum(s for _, s in censored)


def test_promotions_lift_sales(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        promotions = session.execute(
            select(Promotion.product_id, Promotion.starts_on, Promotion.ends_on)
        ).all()
        promotion_count = session.scalar(select(func.count()).select_from(Promotion))
        assert promotion_count is not None and promotion_count > 10
    promoted: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for product, first, last in promotions:
        promoted[product].append((first, last))
    start = small_world.spec.start
    end = start + timedelta(days=small_world.spec.days - 1)
    on, off = 0.0, 0.0
    on_days, off_days = 0, 0
    sold_by: dict[tuple[int, date], int] = defaultdict(int)
    for product, _, day, _, sold in daily_demand(small_world):
        if product in promoted:
            sold_by[product, day] += sold
    for product, periods in promoted.items():
        for offset in range(small_world.spec.days):
            day = start + timedelta(days=offset)
            if any(a <= day <= b for a, b in periods):
                on += sold_by[product, day]
                on_days += 1
            else:
                off += sold_by[product, day]
                off_days += 1
    assert on_days and off_days and day <= end
    assert (on / on_days) > 1.3 * (off / off_days), (on / on_days, off / off_days)
