"""A day's served shopping baskets become customer orders: a customer of the location's
country, ship mode and priority, a status timeline up to "now" (pending → paid → shipped →
delivered, or cancelled before shipping), and the stock that cancellations and returns put back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shelfwise.synth.customers import Customers
from shelfwise.synth.geography import COUNTRIES
from shelfwise.synth.timeutil import DAY_US, HOUR_US, SECOND_US

SHIP_MODES = ("Standard Class", "Second Class", "First Class", "Same Day")
SHIP_MODE_SHARE = {  # by segment: consumer, corporate, home office
    0: (0.60, 0.20, 0.15, 0.05),
    1: (0.52, 0.21, 0.19, 0.08),
    2: (0.60, 0.19, 0.16, 0.05),
}
PRIORITIES = ("low", "medium", "high", "critical")
PRIORITY_SHARE = (  # by ship mode
    (0.40, 0.50, 0.10, 0.00),
    (0.20, 0.60, 0.20, 0.00),
    (0.00, 0.50, 0.40, 0.10),
    (0.00, 0.00, 0.40, 0.60),
)
# (low, high) seconds from paid to shipped, and from shipped to delivered, by ship mode
SHIP_DELAY = ((2.5 * DAY_US, 5 * DAY_US), (1.5 * DAY_US, 3 * DAY_US),
              (0.5 * DAY_US, 1.5 * DAY_US), (1 * HOUR_US, 5 * HOUR_US))  # fmt: skip
TRANSIT = ((2 * DAY_US, 5 * DAY_US), (1.5 * DAY_US, 3 * DAY_US),
           (1 * DAY_US, 2 * DAY_US), (2 * HOUR_US, 8 * HOUR_US))  # fmt: skip
CANCEL_SHARE = 0.025
RETURN_SHARE = 0.03
STATUS = {"pending": 0, "paid": 1, "shipped": 2, "delivered": 3, "cancelled": 4}
STATUS_NAMES = tuple(STATUS)


@dataclass
class DayOrders:
    """Everything one day's orders write, as columns (ids are final)."""

    order_id: np.ndarray
    customer_id: np.ndarray
    location_id: np.ndarray
    status: list[str | None]
    priority: list[str | None]
    ship_mode: list[str | None]
    ordered_us: np.ndarray
    updated_us: np.ndarray
    external_ref: list[str]
    line_id: np.ndarray
    line_order_id: np.ndarray
    line_no: np.ndarray
    line_product_id: np.ndarray
    line_cell: np.ndarray
    line_quantity: np.ndarray
    line_price_cents: np.ndarray
    line_discount_bp: np.ndarray
    line_ordered_us: np.ndarray
    event_order_id: np.ndarray
    event_status: list[str | None]
    event_us: np.ndarray
    event_note: list[str | None]
    # stock coming back later: (day index, cell, quantity, order line id, time, is return)
    restock_day: np.ndarray
    restock_cell: np.ndarray
    restock_quantity: np.ndarray
    restock_line_id: np.ndarray
    restock_us: np.ndarray
    restock_is_return: np.ndarray


class OrderBook:
    """Turns served baskets into orders; keeps id counters and the customers to draw from."""

    def __init__(
        self,
        customers: Customers,
        location_country: np.ndarray,
        start_us: int,
        now_us: int,
        rng: np.random.Generator,
    ) -> None:
        self.customers = customers
        self.location_country = location_country
        self.country_codes = [COUNTRIES[int(c)].code for c in location_country]
        self.start_us = start_us
        self.now_us = now_us
        self.rng = rng
        self.next_order_id = 1
        self.next_line_id = 1
        self.weights = np.cumsum(customers.activity)
        bounds = np.searchsorted(customers.country, np.arange(len(COUNTRIES) + 1))
        self.country_bounds = bounds

    def place(
        self,
        day: int,
        order_location: np.ndarray,
        ordered: np.ndarray,
        line_order: np.ndarray,
        cell: np.ndarray,
        product: np.ndarray,
        quantity: np.ndarray,
        price_cents: np.ndarray,
        discount_bp: np.ndarray,
    ) -> DayOrders:
        """Orders (in time order) and their lines (grouped by order, in order) with final ids,
        customers, a status timeline up to now, and the stock that will come back."""
        rng = self.rng
        count = len(order_location)
        order_id = self.next_order_id + np.arange(count)
        self.next_order_id += count
        sizes = np.bincount(line_order, minlength=count)
        first_line = np.cumsum(sizes) - sizes
        line_no = np.arange(len(line_order)) - first_line[line_order] + 1
        line_id = self.next_line_id + np.arange(len(line_order))
        self.next_line_id += len(line_order)

        customer = self._customers(order_location, ordered)
        segment = self.customers.segment[customer]
        ship = np.empty(count, dtype=np.int64)
        for seg, share in SHIP_MODE_SHARE.items():
            here = np.flatnonzero(segment == seg)
            ship[here] = rng.choice(len(SHIP_MODES), size=len(here), p=share)
        priority = np.empty(count, dtype=np.int64)
        for mode, share in enumerate(PRIORITY_SHARE):
            here = np.flatnonzero(ship == mode)
            priority[here] = rng.choice(len(PRIORITIES), size=len(here), p=share)

        status, updated, ev_order, ev_status, ev_time, cancelled_at = self._timeline(
            ordered, segment, ship
        )
        delivered_at = np.full(count, -1, dtype=np.int64)
        is_delivered = ev_status == STATUS["delivered"]
        delivered_at[ev_order[is_delivered]] = ev_time[is_delivered]
        restock = self._restocks(
            line_order, line_id, cell, quantity, status, cancelled_at, delivered_at
        )
        year = str(np.datetime64(self.start_us + day * DAY_US, "us").astype("datetime64[Y]"))
        country = [self.country_codes[i] for i in order_location.tolist()]
        external_ref = [
            f"{c}-{year}-{i:07d}" for c, i in zip(country, order_id.tolist(), strict=True)
        ]
        return DayOrders(
            order_id=order_id,
            customer_id=customer + 1,
            location_id=order_location + 1,
            status=_pick(STATUS_NAMES, status),
            priority=_pick(PRIORITIES, priority),
            ship_mode=_pick(SHIP_MODES, ship),
            ordered_us=ordered,
            updated_us=updated,
            external_ref=external_ref,
            line_id=line_id,
            line_order_id=order_id[line_order],
            line_no=line_no,
            line_product_id=product + 1,
            line_cell=cell,
            line_quantity=quantity,
            line_price_cents=price_cents[product],
            line_discount_bp=discount_bp[product].astype(np.int64),
            line_ordered_us=ordered[line_order],
            event_order_id=order_id[ev_order],
            event_status=_pick(STATUS_NAMES, ev_status),
            event_us=ev_time,
            event_note=_pick(NOTES, ev_status),
            **restock,
        )

    def _customers(self, order_location: np.ndarray, ordered: np.ndarray) -> np.ndarray:
        """A customer of the location's country who had signed up by the time of the order,
        the more active ones more often."""
        rng = self.rng
        chosen = np.empty(len(order_location), dtype=np.int64)
        country = self.location_country[order_location]
        for c in np.unique(country):
            here = np.flatnonzero(country == c)
            low, high = self.country_bounds[c], self.country_bounds[c + 1]
            if high == low:  # nobody lives there: serve the whole chain's customers
                low, high = 0, len(self.customers)
            signup = self.customers.signup_us[low:high]
            eligible = np.maximum(np.searchsorted(signup, ordered[here], side="right"), 1)
            base = self.weights[low - 1] if low > 0 else 0.0
            top = self.weights[low + eligible - 1]
            draw = base + rng.random(len(here)) * (top - base)
            pick = np.searchsorted(self.weights, draw, side="left")
            chosen[here] = np.clip(pick, low, low + eligible - 1)
        return chosen

    def _timeline(
        self, ordered: np.ndarray, segment: np.ndarray, ship: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Paid, shipped, delivered (or cancelled) times; events up to now only."""
        rng = self.rng
        count = len(ordered)
        pay = rng.integers(30, 1_800, count) * SECOND_US
        invoice = (segment == 1) & (rng.random(count) < 0.15)
        pay = np.where(invoice, rng.integers(1, 4, count) * DAY_US + pay, pay)
        paid = ordered + pay
        ship_low = np.array([lo for lo, _ in SHIP_DELAY])[ship]
        ship_high = np.array([hi for _, hi in SHIP_DELAY])[ship]
        shipped = paid + _between(rng, ship_low, ship_high)
        transit_low = np.array([lo for lo, _ in TRANSIT])[ship]
        transit_high = np.array([hi for _, hi in TRANSIT])[ship]
        delivered = shipped + _between(rng, transit_low, transit_high)
        cancel_at = ordered + ((shipped - ordered) * rng.uniform(0.05, 0.95, count)).astype(
            np.int64
        )
        cancel_at -= cancel_at % SECOND_US
        cancelled = (rng.random(count) < CANCEL_SHARE) & (cancel_at <= self.now_us)
        times = np.stack([ordered, paid, shipped, delivered, cancel_at], axis=1)
        reached = times <= self.now_us
        reached[:, 1] &= ~cancelled | (paid < cancel_at)
        reached[:, 2:4] &= ~cancelled[:, None]
        reached[:, 4] = cancelled
        status = np.where(cancelled, STATUS["cancelled"], reached[:, :4].sum(axis=1) - 1)
        updated = np.where(reached, times, np.iinfo(np.int64).min).max(axis=1)
        ev_order, ev_status = np.nonzero(reached)
        ev_time = times[ev_order, ev_status]
        cancelled_at = np.where(cancelled, cancel_at, -1)
        return status, updated, ev_order, ev_status, ev_time, cancelled_at

    def _restocks(
        self,
        line_order: np.ndarray,
        line_id: np.ndarray,
        cell: np.ndarray,
        quantity: np.ndarray,
        status: np.ndarray,
        cancelled_at: np.ndarray,
        delivered_at: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Cancelled orders give all their units back; a few delivered lines come back later."""
        rng = self.rng
        cancel_lines = np.flatnonzero(status[line_order] == STATUS["cancelled"])
        candidates = np.flatnonzero(delivered_at[line_order] >= 0)
        returned = candidates[rng.random(len(candidates)) < RETURN_SHARE]
        back_at = delivered_at[line_order[returned]] + rng.integers(1, 22, len(returned)) * DAY_US
        back_at += rng.integers(-4 * 3_600, 4 * 3_600, len(returned)) * SECOND_US
        keep = back_at <= self.now_us
        returned, back_at = returned[keep], back_at[keep]
        back_qty = 1 + (rng.random(len(returned)) * quantity[returned]).astype(np.int64)
        lines = np.concatenate([cancel_lines, returned])
        when = np.concatenate([cancelled_at[line_order[cancel_lines]], back_at])
        return {
            "restock_day": (when - self.start_us) // DAY_US,
            "restock_cell": cell[lines],
            "restock_quantity": np.concatenate([quantity[cancel_lines], back_qty]),
            "restock_line_id": line_id[lines],
            "restock_us": when,
            "restock_is_return": np.arange(len(lines)) >= len(cancel_lines),
        }


NOTES: tuple[str | None, ...] = (None, None, None, None, "cancelled by the customer")


def _pick(labels: tuple[str | None, ...], codes: np.ndarray) -> list[str | None]:
    """Labels by code, gathered in C rather than a Python loop (millions of event rows)."""
    return np.array(labels, dtype=object)[codes].tolist()  # type: ignore[no-any-return]


def _between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Whole seconds uniformly between low and high microseconds."""
    seconds = rng.integers(low // SECOND_US, np.maximum(high // SECOND_US, low // SECOND_US + 1))
    return np.asarray(seconds * SECOND_US, dtype=np.int64)
