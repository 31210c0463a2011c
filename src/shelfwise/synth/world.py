"""The world (who and what exists) and its day-by-day history (what happened).

Each simulated day, in this order: supplier deliveries arrive before opening (receipts add
stock); shoppers arrive with baskets (a Poisson number per location, lines picking products in
proportion to their demand rate) and take stock in time order, so stockouts censor demand (the
uncapped demand goes to `synth_true_demand`); baskets that found anything become orders;
cancellations and returns of that day put units back (available from the next day); after
closing, on the weekday its supplier takes orders, every product-location whose stock position
(on hand + on order) fell to its reorder minimum orders up to its maximum (rounded to the pack,
at least the minimum order quantity). Every change of stock is a ledger row, so the ledger sums
to the stock levels by construction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shelfwise.synth.catalogue import NEVER, Catalogue, make_catalogue
from shelfwise.synth.customers import SEGMENTS, Customers, make_customers
from shelfwise.synth.demand import Demand, make_demand
from shelfwise.synth.geography import COUNTRIES, WAREHOUSE, Locations, make_locations
from shelfwise.synth.orders import OrderBook
from shelfwise.synth.spec import WorldSpec
from shelfwise.synth.suppliers import LATE, RELIABLE, SHORT, Suppliers, make_suppliers
from shelfwise.synth.timeutil import DAY_US, HOUR_US, SECOND_US, day_number, day_us
from shelfwise.synth.writer import BulkWriter

Progress = Callable[[str, int, int], None]
BASKET_SUCCESS_PRIOR = 0.96  # share of baskets expected to find something in stock
CHUNK_DAYS = 28
REVIEW_DAYS = 7  # purchase orders go out weekly per supplier and location
# Lines per basket (1-5): many single-line orders, few large ones; mean 2.35 before duplicate
# products merge and stockouts empty some lines.
BASKET_SIZES = np.array([0.36, 0.25, 0.17, 0.12, 0.10])
MEAN_BASKET = float((np.arange(1, 6) * BASKET_SIZES).sum())
# Orders arrive 07:00-19:59 UTC, busiest late morning and late afternoon.
HOUR_WEIGHT = np.array([2, 4, 6, 8, 9, 8, 7, 7, 8, 9, 8, 6, 4], dtype=float)
FIRST_HOUR = 7


@dataclass
class World:
    spec: WorldSpec
    catalogue: Catalogue
    locations: Locations
    customers: Customers
    suppliers: Suppliers
    demand: Demand
    expected_lines: np.ndarray  # per day, after calibration
    reorder_min: np.ndarray  # per cell
    reorder_max: np.ndarray
    pack: np.ndarray
    draws: np.random.Generator
    history: np.random.Generator


def build_world(spec: WorldSpec) -> World:
    """Catalogue, chain, customers, suppliers and the calibrated demand model."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(8)]
    catalogue = make_catalogue(spec.product_count, spec.start, spec.days, streams[0])
    locations = make_locations(spec.location_count, spec.start, streams[1])
    customers = make_customers(
        spec.customer_count, locations, spec.start, spec.days, streams[2], spec.seed
    )
    suppliers = make_suppliers(spec.supplier_count, catalogue, spec.start, streams[3], spec.seed)
    demand = make_demand(catalogue, locations, spec.start, spec.days, streams[4])
    expected = demand.expected_lines_per_day()
    factor = spec.orders * MEAN_BASKET / BASKET_SUCCESS_PRIOR / max(expected.sum(), 1e-12)
    demand.scale(factor)
    expected = expected * factor
    reorder_min, reorder_max, pack = _reorder_settings(catalogue, suppliers, demand, streams[5])
    return World(
        spec=spec,
        catalogue=catalogue,
        locations=locations,
        customers=customers,
        suppliers=suppliers,
        demand=demand,
        expected_lines=expected,
        reorder_min=reorder_min,
        reorder_max=reorder_max,
        pack=pack,
        draws=streams[6],
        history=streams[7],
    )


def _reorder_settings(
    catalogue: Catalogue, suppliers: Suppliers, demand: Demand, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per cell from a noisy estimate of its demand: planners guess, sometimes low."""
    product = demand.cell_product
    units = demand.expected_cell_rate() * (1.0 + catalogue.units_per_line[product])
    estimate = units * rng.lognormal(-0.05, 0.35, len(units))
    cover = suppliers.lead[product] + REVIEW_DAYS + 1.0
    reorder_min = np.maximum(1, np.ceil(estimate * cover + 0.8 * np.sqrt(estimate * cover)))
    pack = catalogue.case_pack[product]
    cycle = np.ceil(estimate * rng.uniform(14, 35, len(units)))
    reorder_max = reorder_min + np.maximum(cycle, np.maximum(pack, 2))
    return reorder_min.astype(np.int64), reorder_max.astype(np.int64), pack.astype(np.int64)


def write_reference_data(world: World, writer: BulkWriter) -> None:
    """Categories, products, locations, customers, suppliers, promotions, reorder settings."""
    spec, cat, loc = world.spec, world.catalogue, world.locations
    start_day = day_number(spec.start)
    origin = int(min(cat.created_us.min(), loc.opened_us.min())) - 30 * DAY_US
    origin -= origin % DAY_US
    n_cat, n_sub = len(cat.category_names), len(cat.sub_names)
    writer.add(
        "categories", n_cat, id=np.arange(1, n_cat + 1), name=cat.category_names,
        created_at=np.full(n_cat, origin), updated_at=np.full(n_cat, origin),
    )  # fmt: skip
    writer.add(
        "sub_categories", n_sub, id=np.arange(1, n_sub + 1), category_id=cat.sub_category + 1,
        name=cat.sub_names, created_at=np.full(n_sub, origin), updated_at=np.full(n_sub, origin),
    )  # fmt: skip
    products = len(cat)
    retired = cat.retire_day < NEVER
    writer.add(
        "products", products, id=np.arange(1, products + 1), sku=cat.sku, name=cat.name,
        description=cat.description, sub_category_id=cat.sub + 1, brand=cat.brand,
        unit_price=cat.price_cents, unit_cost=cat.cost_cents, size=cat.size, active=~retired,
        launched_on=start_day + cat.launch_day,
        retired_on=np.ma.MaskedArray(start_day + np.where(retired, cat.retire_day, 0), ~retired),
        created_at=cat.created_us, updated_at=cat.updated_us,
    )  # fmt: skip
    n_loc = len(loc)
    writer.add(
        "locations", n_loc, id=np.arange(1, n_loc + 1), code=loc.code, name=loc.name,
        kind=["warehouse" if k == WAREHOUSE else "store" for k in loc.kind.tolist()],
        country=[COUNTRIES[c].code for c in loc.country.tolist()], region=loc.region,
        city=loc.city, created_at=loc.opened_us, updated_at=loc.opened_us,
    )  # fmt: skip
    cus = world.customers
    writer.add(
        "customers", len(cus), id=np.arange(1, len(cus) + 1), name=cus.name, email=cus.email,
        segment=[SEGMENTS[s] for s in cus.segment.tolist()],
        country=[COUNTRIES[c].code for c in cus.country.tolist()], city=cus.city,
        created_at=cus.signup_us, updated_at=cus.signup_us,
    )  # fmt: skip
    sup = world.suppliers
    writer.add(
        "suppliers", len(sup), id=np.arange(1, len(sup) + 1), code=sup.code, name=sup.name,
        country=sup.country, email=sup.email, created_at=sup.created_us,
        updated_at=sup.created_us,
    )  # fmt: skip
    writer.add(
        "supplier_products", len(sup.sp_product), supplier_id=sup.sp_supplier + 1,
        product_id=sup.sp_product + 1, unit_cost=sup.sp_cost_cents, lead_time_days=sup.sp_lead,
        min_order_quantity=sup.sp_moq, created_at=sup.sp_created_us,
        updated_at=sup.sp_created_us,
    )  # fmt: skip
    promo = world.demand.promotions
    writer.add(
        "promotions", len(promo.product), id=np.arange(1, len(promo.product) + 1),
        product_id=promo.product + 1, starts_on=start_day + promo.start_day,
        ends_on=start_day + promo.end_day, discount=promo.discount_bp,
        created_at=promo.created_us, updated_at=promo.created_us,
    )  # fmt: skip
    demand = world.demand
    cells = demand.cells
    set_up = np.maximum(cat.created_us[demand.cell_product], loc.opened_us[demand.cell_location])
    set_up = np.maximum(set_up, day_us(spec.start) - 3 * DAY_US) + HOUR_US
    writer.add(
        "reorder_settings", cells, product_id=demand.cell_product + 1,
        location_id=demand.cell_location + 1, min_quantity=world.reorder_min,
        max_quantity=world.reorder_max, pack_size=world.pack, created_at=set_up,
        updated_at=set_up,
    )  # fmt: skip


@dataclass
class _Arrival:
    cell: np.ndarray
    quantity: np.ndarray
    po_line_id: np.ndarray
    at_us: np.ndarray


@dataclass
class _Restock:
    cell: np.ndarray
    quantity: np.ndarray
    line_id: np.ndarray
    at_us: np.ndarray
    is_return: np.ndarray


class History:
    """Runs the days and writes what happens; state is one array entry per product-location."""

    def __init__(self, world: World, writer: BulkWriter) -> None:
        self.world = world
        self.writer = writer
        spec = world.spec
        demand = world.demand
        self.days = spec.days
        self.start_us = day_us(spec.start)
        self.start_day = day_number(spec.start)
        self.now_us = self.start_us + spec.days * DAY_US - SECOND_US
        self.rng = world.history
        self.product = demand.cell_product
        self.location = demand.cell_location
        cells = demand.cells
        self.on_hand = np.zeros(cells, dtype=np.int64)
        self.on_order = np.zeros(cells, dtype=np.int64)
        self.first_us = np.full(cells, -1, dtype=np.int64)
        self.last_us = np.full(cells, -1, dtype=np.int64)
        sup = world.suppliers
        cat = world.catalogue
        lead = sup.lead[self.product]
        self.order_from = np.where(
            cat.launch_day[self.product] > 0, cat.launch_day[self.product] - lead - 2, -NEVER
        )
        self.order_until = cat.retire_day[self.product] - lead - 5
        self.units_per_line = cat.units_per_line[self.product]
        # each supplier takes a location's orders on one weekday
        self.review_offset = (sup.primary[self.product] * 3 + self.location) % REVIEW_DAYS
        self.arrivals: defaultdict[int, list[_Arrival]] = defaultdict(list)
        self.write_offs: defaultdict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        self.restocks: defaultdict[int, list[_Restock]] = defaultdict(list)
        self.book = OrderBook(
            world.customers, world.locations.country, self.start_us, self.now_us, self.rng
        )
        self.next_movement = 1
        self.next_receipt = 1
        self.next_po = 1
        self.next_po_line = 1
        self.next_event = 1
        self.orders = 0
        self.baskets = 0
        self.successes = 0
        self.expected_baskets = 0.0
        self.expected_after = np.concatenate(
            [np.cumsum(world.expected_lines[::-1])[::-1][1:], [0.0]]
        )
        self.location_first = np.searchsorted(self.location, np.arange(len(world.locations)))
        self.location_end = np.searchsorted(
            self.location, np.arange(len(world.locations)), side="right"
        )

    # -- ledger ---------------------------------------------------------------------------

    def _movements(
        self,
        cell: np.ndarray,
        quantity: np.ndarray,
        kind: str,
        at_us: np.ndarray,
        reason: str | list[str] | None = None,
        **links: np.ndarray,
    ) -> None:
        count = len(cell)
        ids = np.arange(self.next_movement, self.next_movement + count)
        self.next_movement += count
        self.writer.add(
            "stock_movements", count, id=ids, product_id=self.product[cell] + 1,
            location_id=self.location[cell] + 1, kind=kind, quantity=quantity,
            occurred_at=at_us, reason=reason, created_at=at_us, updated_at=at_us, **links,
        )  # fmt: skip
        np.maximum.at(self.last_us, cell, at_us)

    def open_stock(self) -> None:
        world = self.world
        existing = world.catalogue.launch_day[self.product] <= 0
        opening = np.where(existing, self.rng.integers(world.reorder_min, world.reorder_max + 1), 0)
        cells = np.flatnonzero(opening > 0)
        self.on_hand[cells] = opening[cells]
        at = np.full(len(cells), self.start_us)
        self.first_us[cells] = self.start_us
        self._movements(cells, opening[cells], "opening", at, reason="opening balance")

    # -- the days -------------------------------------------------------------------------

    def run(self, progress: Progress | None) -> None:
        self.open_stock()
        for first, rates in self.world.demand.chunks(self.world.draws, CHUNK_DAYS):
            for offset in range(rates.shape[0]):
                day = first + offset
                self._receive(day)
                self._sell(day, rates[offset])
                self._restock(day)
                self._write_off(day)
                self._reorder(day)
                if progress:
                    progress("history", day + 1, self.days)
        self._stock_levels()

    def _receive(self, day: int) -> None:
        batches = self.arrivals.pop(day, [])
        if not batches:
            return
        cell = np.concatenate([b.cell for b in batches])
        quantity = np.concatenate([b.quantity for b in batches])
        at = np.concatenate([b.at_us for b in batches])
        po_line = np.concatenate([b.po_line_id for b in batches])
        ids = np.arange(self.next_receipt, self.next_receipt + len(cell))
        self.next_receipt += len(cell)
        self.writer.add(
            "purchase_receipts", len(cell), id=ids, purchase_order_line_id=po_line,
            quantity=quantity, received_at=at, created_at=at, updated_at=at,
        )  # fmt: skip
        np.add.at(self.on_hand, cell, quantity)
        np.subtract.at(self.on_order, cell, quantity)
        unseen = np.where(self.first_us < 0, np.iinfo(np.int64).max, self.first_us)
        np.minimum.at(unseen, cell, at)
        self.first_us = np.where(unseen == np.iinfo(np.int64).max, -1, unseen)
        self._movements(cell, quantity, "receipt", at, purchase_receipt_id=ids)

    def _sell(self, day: int, rate: np.ndarray) -> None:
        """Draw the day's baskets, serve them from stock in time order, record true demand."""
        rng = self.rng
        cum = np.concatenate([[0.0], np.cumsum(rate, dtype=np.float64)])
        first, end = self.location_first, self.location_end
        per_location = cum[end] - cum[first]
        mean = per_location / MEAN_BASKET * self._intensity(day)
        last_day = day == self.days - 1
        needed = self.world.spec.orders - self.orders
        if last_day:  # oversample, then keep baskets until the order count is exact
            total = max(float(per_location.sum()), 1e-12)
            mean = per_location / total * (max(needed, 0) / self._success() * 1.5 + 5)
        baskets = rng.poisson(mean)
        count = int(baskets.sum())
        self.expected_baskets += float(per_location.sum()) / MEAN_BASKET
        if count == 0:
            return
        basket_location = np.repeat(np.arange(len(per_location)), baskets)
        hour = rng.choice(len(HOUR_WEIGHT), size=count, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
        at = (
            self.start_us + day * DAY_US + (FIRST_HOUR + hour) * HOUR_US
            + rng.integers(0, 3_600, count) * SECOND_US
        )  # fmt: skip
        by_time = np.argsort(at, kind="stable")
        basket_location, at = basket_location[by_time], at[by_time]
        size = 1 + rng.choice(len(BASKET_SIZES), size=count, p=BASKET_SIZES)
        line_basket = np.repeat(np.arange(count), size)
        where = basket_location[line_basket]
        pick = cum[first[where]] + rng.random(len(line_basket)) * per_location[where]
        cell = np.clip(np.searchsorted(cum, pick, side="right") - 1, first[where], end[where] - 1)
        units = 1 + rng.poisson(self.units_per_line[cell])
        # the same product twice in one basket is one line
        cells = len(self.on_hand)
        key, merged = np.unique(line_basket * cells + cell, return_inverse=True)
        units = np.bincount(merged, weights=units).astype(np.int64)
        line_basket, cell = key // cells, key % cells
        # shoppers take stock in time order; the shelf runs empty for the later ones
        by_cell = np.lexsort((line_basket, cell))
        running = np.cumsum(units[by_cell])
        sorted_cell = cell[by_cell]
        group_first = np.flatnonzero(np.r_[True, sorted_cell[1:] != sorted_cell[:-1]])
        before = np.empty(len(cell), dtype=np.int64)
        group_start = np.repeat(running[group_first] - units[by_cell][group_first],
                                np.diff(np.r_[group_first, len(cell)]))  # fmt: skip
        before[by_cell] = running - units[by_cell] - group_start
        served = np.clip(self.on_hand[cell] - before, 0, units)
        bought = np.bincount(line_basket, weights=served > 0, minlength=count) > 0
        if last_day and int(bought.sum()) > needed:
            cutoff = np.flatnonzero(bought)[max(needed, 0) - 1] if needed > 0 else -1
            keep = line_basket <= cutoff
            line_basket, cell, units, served = (a[keep] for a in (line_basket, cell, units, served))
            bought[cutoff + 1 :] = False
            count = cutoff + 1
        self.baskets += count
        self.successes += int(bought.sum())
        self._true_demand(day, cell, units, served)
        sold = served > 0
        if sold.any():
            ordered = np.flatnonzero(bought)
            order_of_line = np.searchsorted(ordered, line_basket[sold])
            self._orders(
                day, basket_location[ordered], at[ordered], order_of_line, cell[sold],
                served[sold],
            )  # fmt: skip

    def _true_demand(
        self, day: int, cell: np.ndarray, units: np.ndarray, served: np.ndarray
    ) -> None:
        cells, inverse = np.unique(cell, return_inverse=True)
        wanted = np.bincount(inverse, weights=units).astype(np.int64)
        sold = np.bincount(inverse, weights=served).astype(np.int64)
        self.on_hand[cells] -= sold
        day_end = np.full(len(cells), self.start_us + day * DAY_US + DAY_US - SECOND_US)
        self.writer.add(
            "synth_true_demand", len(cells), product_id=self.product[cells] + 1,
            location_id=self.location[cells] + 1,
            day=np.full(len(cells), self.start_day + day), demand=wanted, sold=sold,
            created_at=day_end, updated_at=day_end,
        )  # fmt: skip

    def _success(self) -> float:
        """Share of baskets that find at least one item in stock (they become orders)."""
        return (self.successes + 50 * BASKET_SUCCESS_PRIOR) / (self.baskets + 50)

    def _intensity(self, day: int) -> float:
        """Scale today's baskets so the whole history ends with exactly spec.orders orders:
        what is still needed over what the remaining days are expected to bring."""
        needed = self.world.spec.orders - self.orders
        remaining = float(self.expected_after[day] + self.world.expected_lines[day])
        expected_orders = remaining / MEAN_BASKET * self._success()
        return float(np.clip(max(needed, 0) / max(expected_orders, 1e-9), 0.0, 3.0))

    def _orders(
        self,
        day: int,
        order_location: np.ndarray,
        ordered: np.ndarray,
        line_order: np.ndarray,
        cell: np.ndarray,
        quantity: np.ndarray,
    ) -> None:
        world = self.world
        placed = self.book.place(
            day,
            order_location,
            ordered,
            line_order,
            cell,
            self.product[cell],
            quantity,
            world.catalogue.price_cents,
            world.demand.discount_bp[day],
        )
        count = len(placed.order_id)
        self.orders += count
        w = self.writer
        w.add(
            "orders", count, id=placed.order_id, customer_id=placed.customer_id,
            location_id=placed.location_id, status=placed.status, priority=placed.priority,
            ship_mode=placed.ship_mode, ordered_at=placed.ordered_us,
            external_ref=placed.external_ref, created_at=placed.ordered_us,
            updated_at=placed.updated_us,
        )  # fmt: skip
        lines = len(placed.line_id)
        w.add(
            "order_lines", lines, id=placed.line_id, order_id=placed.line_order_id,
            line_no=placed.line_no, product_id=placed.line_product_id,
            quantity=placed.line_quantity, unit_price=placed.line_price_cents,
            discount=placed.line_discount_bp, created_at=placed.line_ordered_us,
            updated_at=placed.line_ordered_us,
        )  # fmt: skip
        events = len(placed.event_order_id)
        w.add(
            "order_events", events, id=np.arange(self.next_event, self.next_event + events),
            order_id=placed.event_order_id, status=placed.event_status,
            occurred_at=placed.event_us, note=placed.event_note, created_at=placed.event_us,
            updated_at=placed.event_us,
        )  # fmt: skip
        self.next_event += events
        self._movements(
            placed.line_cell, -placed.line_quantity, "sale", placed.line_ordered_us,
            order_line_id=placed.line_id,
        )  # fmt: skip
        for back_day in np.unique(placed.restock_day).tolist():
            here = placed.restock_day == back_day
            self.restocks[back_day].append(
                _Restock(
                    cell=placed.restock_cell[here],
                    quantity=placed.restock_quantity[here],
                    line_id=placed.restock_line_id[here],
                    at_us=placed.restock_us[here],
                    is_return=placed.restock_is_return[here],
                )
            )

    def _restock(self, day: int) -> None:
        batches = self.restocks.pop(day, [])
        if not batches:
            return
        cell = np.concatenate([b.cell for b in batches])
        quantity = np.concatenate([b.quantity for b in batches])
        line = np.concatenate([b.line_id for b in batches])
        at = np.concatenate([b.at_us for b in batches])
        is_return = np.concatenate([b.is_return for b in batches])
        order = np.argsort(at, kind="stable")
        for flag, kind, reason in (
            (False, "cancellation", "order cancelled"),
            (True, "return", "returned by the customer"),
        ):
            pick = order[is_return[order] == flag]
            if len(pick):
                np.add.at(self.on_hand, cell[pick], quantity[pick])
                self._movements(
                    cell[pick], quantity[pick], kind, at[pick], reason=reason,
                    order_line_id=line[pick],
                )  # fmt: skip

    def _write_off(self, day: int) -> None:
        for cell, quantity in self.write_offs.pop(day, []):
            np.subtract.at(self.on_order, cell, quantity)

    def _reorder(self, day: int) -> None:
        world, rng = self.world, self.rng
        position = self.on_hand + self.on_order
        due = (position <= world.reorder_min) & (self.order_from <= day) & (day < self.order_until)
        due &= (self.review_offset + day) % REVIEW_DAYS == 0
        cell = np.flatnonzero(due)
        if len(cell) == 0:
            return
        sup = world.suppliers
        product = self.product[cell]
        supplier = sup.primary[product]
        pack = world.pack[cell]
        need = world.reorder_max[cell] - position[cell]
        quantity = np.maximum(-(-need // pack) * pack, sup.moq[product])
        sort = np.lexsort((product, self.location[cell], supplier))
        cell, product, supplier, quantity = (a[sort] for a in (cell, product, supplier, quantity))
        location = self.location[cell]
        key = supplier * len(world.locations) + location
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        pos = len(first)
        po_of_line = np.repeat(np.arange(pos), np.diff(np.r_[first, len(cell)]))
        po_id = self.next_po + np.arange(pos)
        self.next_po += pos
        line_id = self.next_po_line + np.arange(len(cell))
        self.next_po_line += len(cell)
        po_supplier = supplier[first]
        lead = np.maximum.reduceat(sup.lead[product], first)
        behaviour = sup.behaviour[po_supplier]
        delay = np.select(
            [behaviour == RELIABLE, behaviour == LATE],
            [rng.choice([-1, 0, 0, 0, 0, 1, 2], pos), 2 + rng.poisson(4.0, pos)],
            rng.choice([0, 0, 1, 2], pos),
        )
        arrival = day + np.maximum(lead + delay, 1)
        day_start = self.start_us + day * DAY_US
        ordered_at = day_start + 17 * HOUR_US + rng.integers(0, 3 * 3_600, pos) * SECOND_US
        # what arrives: short-shippers send part, the rest maybe later, maybe never
        line_behaviour = behaviour[po_of_line]
        fill = np.ones(len(cell))
        fill = np.where(line_behaviour == SHORT, rng.uniform(0.55, 0.92, len(cell)), fill)
        slips = (line_behaviour != SHORT) & (rng.random(len(cell)) < 0.03)
        fill = np.where(slips, rng.uniform(0.8, 0.95, len(cell)), fill)
        first_qty = np.maximum(1, np.floor(quantity * fill).astype(np.int64))
        rest = quantity - first_qty
        line_arrival = arrival[po_of_line]
        first_at = (
            self.start_us + line_arrival * DAY_US + 5 * HOUR_US
            + rng.integers(0, 2 * 3_600, pos)[po_of_line] * SECOND_US
        )  # fmt: skip
        follows = (rest > 0) & (rng.random(len(cell)) < 0.55)
        second_day = line_arrival + rng.integers(3, 12, len(cell))
        second_at = (
            self.start_us + second_day * DAY_US + 5 * HOUR_US
            + rng.integers(0, 2 * 3_600, len(cell)) * SECOND_US
        )  # fmt: skip
        self.on_order[cell] += quantity
        self._schedule(line_arrival, cell, first_qty, line_id, first_at)
        later = np.flatnonzero(follows)
        self._schedule(
            second_day[later], cell[later], rest[later], line_id[later], second_at[later]
        )
        lost = np.flatnonzero((rest > 0) & ~follows)
        for write_off_day in np.unique(line_arrival[lost] + 14).tolist():
            here = lost[line_arrival[lost] + 14 == write_off_day]
            self.write_offs[write_off_day].append((cell[here], rest[here]))
        # the purchase orders as they stand now
        last = self.days - 1
        received = np.where(line_arrival <= last, first_qty, 0)
        received += np.where(follows & (second_day <= last), rest, 0)
        complete = np.logical_and.reduceat(received == quantity, first)
        started = arrival <= last
        status = np.where(complete, "received", np.where(started, "partially_received", "ordered"))
        seen = np.where(follows & (second_day <= last), second_at, -1)
        seen = np.maximum(seen, np.where(line_arrival <= last, first_at, -1))
        updated = np.maximum(np.maximum.reduceat(seen, first), ordered_at)
        w = self.writer
        w.add(
            "purchase_orders", pos, id=po_id, supplier_id=po_supplier + 1,
            location_id=location[first] + 1, status=status.tolist(), ordered_at=ordered_at,
            expected_on=self.start_day + day + lead, created_at=ordered_at, updated_at=updated,
        )  # fmt: skip
        line_ordered = ordered_at[po_of_line]
        w.add(
            "purchase_order_lines", len(cell), id=line_id, purchase_order_id=po_id[po_of_line],
            product_id=product + 1, quantity_ordered=quantity,
            unit_cost=world.catalogue.cost_cents[product], created_at=line_ordered,
            updated_at=line_ordered,
        )  # fmt: skip

    def _schedule(
        self,
        day: np.ndarray,
        cell: np.ndarray,
        quantity: np.ndarray,
        line: np.ndarray,
        at: np.ndarray,
    ) -> None:
        inside = day < self.days
        for when in np.unique(day[inside]).tolist():
            here = day == when
            self.arrivals[when].append(_Arrival(cell[here], quantity[here], line[here], at[here]))

    def _stock_levels(self) -> None:
        cells = np.flatnonzero(self.first_us >= 0)
        self.writer.add(
            "stock_levels", len(cells), product_id=self.product[cells] + 1,
            location_id=self.location[cells] + 1, on_hand=self.on_hand[cells], reserved=0,
            created_at=self.first_us[cells], updated_at=self.last_us[cells],
        )  # fmt: skip
