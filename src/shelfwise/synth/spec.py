"""What to generate (`WorldSpec`) and what was generated (`GenerationReport`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from shelfwise.store.errors import InvalidRequest

MEAN_LINES_PER_ORDER = 2.2
MAX_LINES_PER_ORDER = 5


def _scaled(orders: int, at_2k: float, exponent: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(at_2k * (orders / 2_000) ** exponent))))


@dataclass(frozen=True)
class WorldSpec:
    """The size and shape of a synthetic retail history; the same spec always gives the same rows.

    `orders` is met exactly unless stockouts leave fewer sold lines than orders (tiny worlds).
    Unset sizes are scaled from `orders` so that small runs stay small and large runs look like
    a chain: hundreds to a few thousand products, 20-50 locations, thousands of customers.
    """

    orders: int
    seed: int = 42
    start: date = date(2024, 1, 1)
    days: int = 730
    products: int | None = None
    locations: int | None = None
    customers: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.orders >= 1, f"orders must be at least 1, got {self.orders}"),
            (1 <= self.days <= 20 * 366, f"days must be 1 to {20 * 366}, got {self.days}"),
            (self.products is None or self.products >= 10, "products must be at least 10"),
            (
                self.locations is None or 1 <= self.locations <= 500,
                "locations must be between 1 and 500",
            ),
            (self.customers is None or self.customers >= 10, "customers must be at least 10"),
            (
                0 <= self.seed < 2**63,
                f"seed must be a non-negative 63-bit integer, got {self.seed}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidRequest(f"invalid world spec: {message}")

    @property
    def end(self) -> date:
        """The last simulated day (inclusive); "now" is the end of this day."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def product_count(self) -> int:
        return self.products or _scaled(self.orders, 200, 0.5, 200, 3_000)

    @property
    def location_count(self) -> int:
        if self.locations:
            return self.locations
        grown = 20 + 30 * math.log10(max(self.orders, 5_000) / 5_000) / math.log10(200)
        return int(min(50, max(20, round(grown))))

    @property
    def customer_count(self) -> int:
        return self.customers or int(min(200_000, max(1_000, self.orders // 3)))

    @property
    def supplier_count(self) -> int:
        return int(min(60, max(8, self.product_count // 40)))


@dataclass
class GenerationReport:
    """Rows written per table, the simulated period and the wall-clock seconds it took."""

    counts: dict[str, int] = field(default_factory=dict)
    start: date = date(2024, 1, 1)
    end: date = date(2024, 1, 1)
    seconds: float = 0.0

    @property
    def order_lines(self) -> int:
        return self.counts.get("order_lines", 0)

    @property
    def order_lines_per_minute(self) -> float:
        return self.order_lines / self.seconds * 60 if self.seconds > 0 else 0.0
