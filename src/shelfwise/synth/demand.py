"""Daily demand per product and location: what shoppers would buy if the shelf were never empty.

Expected demand (order lines a day) factorises into a per-cell base rate (popularity × location
size × local taste) times a product-day factor (yearly season × trend × life cycle × promotion
uplift) times a location-day factor (weekday pattern × public holidays × shopping events),
computed in chunks of days vectorised over (day, cell). Fast movers get day-to-day gamma noise
on top, so their counts are negative binomial; the long tail of slow movers stays Poisson,
mostly zeros. The counts themselves are drawn as shopping baskets (see `world`): a Poisson
number of baskets per location and day, each line picking a product with probability
proportional to its rate, which gives every cell a Poisson (or negative binomial) count by the
thinning property.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from shelfwise.synth.catalogue import NEVER, SEASON_KEYS, Catalogue, yearly_profile
from shelfwise.synth.geography import STORE, WAREHOUSE, Locations, location_day_factors
from shelfwise.synth.timeutil import DAY_US, HOUR_US, day_us

CHAIN_GROWTH = 0.08  # a year
FAST_MOVER = 0.5  # expected lines a day above which demand is over-dispersed (negative binomial)
PROMO_DISCOUNTS_BP = np.array([1_000, 1_500, 2_000, 2_500, 3_000, 4_000])


@dataclass(frozen=True)
class Promotions:
    product: np.ndarray
    start_day: np.ndarray  # inclusive, relative to the period start
    end_day: np.ndarray  # inclusive
    discount_bp: np.ndarray
    created_us: np.ndarray


@dataclass
class Demand:
    """The demand model of one world; `chunks()` draws order-line counts day by day."""

    cell_product: np.ndarray  # cells ordered by (location, product)
    cell_location: np.ndarray
    base: np.ndarray  # expected lines a day at factor 1
    product_day: np.ndarray  # (days, products) float32
    location_day: np.ndarray  # (days, locations) float32
    discount_bp: np.ndarray  # (days, products) int16: promotion discount in force
    dispersion: np.ndarray  # per product: negative binomial shape
    promotions: Promotions

    @property
    def cells(self) -> int:
        return len(self.base)

    @property
    def days(self) -> int:
        return int(self.product_day.shape[0])

    def expected_lines_per_day(self) -> np.ndarray:
        """Σ over cells of expected demand lines, per day, without drawing anything."""
        products, locations = self.product_day.shape[1], self.location_day.shape[1]
        by_pair = np.zeros((products, locations))
        np.add.at(by_pair, (self.cell_product, self.cell_location), self.base)
        return np.asarray(
            ((self.product_day @ by_pair) * self.location_day).sum(axis=1), dtype=float
        )

    def expected_cell_rate(self) -> np.ndarray:
        """Mean expected lines a day per cell over the whole period (for reorder settings)."""
        product_mean = self.product_day.mean(axis=0)
        location_mean = self.location_day.mean(axis=0)
        return np.asarray(
            self.base * product_mean[self.cell_product] * location_mean[self.cell_location]
        )

    def scale(self, factor: float) -> None:
        self.base = self.base * factor

    def chunks(self, rng: np.random.Generator, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first day, rate[day, cell]) for consecutive chunks of `size` days: expected
        demand lines, with gamma noise on fast movers (Poisson × gamma = negative binomial)."""
        fast = self.base * self.product_day.max(axis=0)[self.cell_product] >= FAST_MOVER
        fast_cells = np.flatnonzero(fast)
        shape = self.dispersion[self.cell_product[fast_cells]]
        base = self.base.astype(np.float32)
        for first in range(0, self.days, size):
            last = min(first + size, self.days)
            rate = self.product_day[first:last][:, self.cell_product]
            rate *= self.location_day[first:last][:, self.cell_location]
            rate *= base
            if len(fast_cells):
                mix = rng.gamma(shape, 1.0 / shape, size=(last - first, len(fast_cells)))
                rate[:, fast_cells] *= mix.astype(np.float32)
            yield first, rate


def make_demand(
    catalogue: Catalogue,
    locations: Locations,
    start: date,
    days: int,
    rng: np.random.Generator,
) -> Demand:
    products = len(catalogue)
    cell_product, cell_location = _assortment(catalogue, locations, rng)
    taste = rng.lognormal(0.0, 0.4, len(cell_product))
    base = catalogue.popularity[cell_product] * locations.size[cell_location] * taste
    promotions, discount_bp, uplift = _promotions(catalogue, start, days, rng)
    product_day = _product_day(catalogue, start, days) * uplift
    location_day = location_day_factors(locations, start, days).T * _events(locations, start, days)
    return Demand(
        cell_product=cell_product,
        cell_location=cell_location,
        base=base / base.sum(),
        product_day=product_day.astype(np.float32),
        location_day=location_day.astype(np.float32),
        discount_bp=discount_bp,
        dispersion=rng.uniform(1.0, 5.0, products),
        promotions=promotions,
    )


def _assortment(
    catalogue: Catalogue, locations: Locations, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which products each location carries: stores a popular-leaning part of the range,
    warehouses most of it; every product is carried somewhere."""
    products = len(catalogue)
    weight = np.sqrt(catalogue.popularity)
    weight /= weight.sum()
    carried = np.zeros((len(locations), products), dtype=bool)
    for i in range(len(locations)):
        share = rng.uniform(0.3, 0.65) if locations.kind[i] == STORE else rng.uniform(0.75, 0.95)
        picks = rng.choice(products, size=max(1, round(share * products)), replace=False, p=weight)
        carried[i, picks] = True
    warehouses = np.flatnonzero(locations.kind == WAREHOUSE)
    pool = warehouses if len(warehouses) else np.arange(len(locations))
    orphans = np.flatnonzero(~carried.any(axis=0))
    carried[pool[rng.integers(len(pool), size=len(orphans))], orphans] = True
    location, product = np.nonzero(carried)  # row-major: ordered by (location, product)
    return product.astype(np.int64), location.astype(np.int64)


def _day_of_year(start: date, days: int) -> np.ndarray:
    return np.array(
        [(start + timedelta(days=d)).timetuple().tm_yday for d in range(days)], dtype=float
    )


def _product_day(catalogue: Catalogue, start: date, days: int) -> np.ndarray:
    """Season × trend × life cycle, (days, products)."""
    doy = _day_of_year(start, days)
    seasons = np.stack([yearly_profile(key, doy) for key in SEASON_KEYS])  # (seasons, days)
    factor = seasons[catalogue.season].T.copy()
    years = np.arange(days)[:, None] / 365.25
    factor *= np.exp((CHAIN_GROWTH + catalogue.growth)[None, :] * years)
    day = np.arange(days)[:, None]
    since_launch = day - catalogue.launch_day[None, :]
    life = np.where(since_launch >= 0, 1.0 - np.exp(-(since_launch + 1) / 25.0), 0.0)
    to_retire = catalogue.retire_day[None, :] - day
    fading = np.clip(0.35 + 0.65 * to_retire / 60.0, 0.35, 1.0)
    life *= np.where(to_retire <= 0, 0.0, fading)
    return np.asarray(factor * life)


def _events(locations: Locations, start: date, days: int) -> np.ndarray:
    """Black Friday and Cyber Monday: (days, locations) multipliers."""
    factor = np.ones((days, len(locations)))
    for year in range(start.year, (start + timedelta(days=days)).year + 1):
        november_first = date(year, 11, 1)
        first_friday = 1 + (4 - november_first.weekday()) % 7
        black_friday = date(year, 11, first_friday + 21)
        for when, store, online in (
            (black_friday, 1.9, 1.7),
            (black_friday + timedelta(3), 1.0, 1.6),
        ):
            d = (when - start).days
            if 0 <= d < days:
                factor[d] = np.where(locations.kind == STORE, store, online)
    return factor


def _promotions(
    catalogue: Catalogue, start: date, days: int, rng: np.random.Generator
) -> tuple[Promotions, np.ndarray, np.ndarray]:
    """Price cuts with demand uplift, plus clearance sales before a product retires."""
    products = len(catalogue)
    discount = np.zeros((days, products), dtype=np.int16)
    uplift = np.ones((days, products))
    elasticity = rng.uniform(2.5, 6.0, products)
    rows: list[tuple[int, int, int, int]] = []
    promoted = rng.random(products) < 0.45
    counts = np.where(promoted, np.maximum(1, rng.poisson(1.6 * days / 365.0, products)), 0)
    for p in np.flatnonzero(counts):
        first = max(0, int(catalogue.launch_day[p]) + 30)
        last = int(min(days, catalogue.retire_day[p] - 35))
        if last - first < 10:
            continue
        taken = np.zeros(days, dtype=bool)
        for _ in range(int(counts[p])):
            length = int(rng.integers(7, 22))
            begin = int(rng.integers(first, max(first + 1, last - length)))
            end = min(begin + length - 1, days - 1)
            if taken[max(0, begin - 14) : end + 15].any():
                continue
            taken[begin : end + 1] = True
            rows.append((int(p), begin, end, int(rng.choice(PROMO_DISCOUNTS_BP))))
    for p in np.flatnonzero(catalogue.retire_day < NEVER):
        end = int(catalogue.retire_day[p]) - 1
        begin = max(0, end - 27, int(catalogue.launch_day[p]) + 1)
        if 0 <= begin <= end < days:
            rows.append((int(p), begin, end, int(rng.choice([3_000, 4_000, 5_000]))))
    rows.sort()
    for product, begin, end, bp in rows:
        discount[begin : end + 1, product] = bp
        uplift[begin : end + 1, product] = 1.0 + elasticity[product] * bp / 10_000
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    announced = rng.integers(5, 21, len(rows))
    created = day_us(start) + (table[:, 1] - announced) * DAY_US
    created += rng.integers(9, 17, len(rows)) * HOUR_US
    promotions = Promotions(
        product=table[:, 0],
        start_day=table[:, 1],
        end_day=table[:, 2],
        discount_bp=table[:, 3],
        created_us=created,
    )
    return promotions, discount, uplift
