"""Writing a checked sales export: the normalised rows, in dependency order, in batches.

Products, customers and stores the store lacks are created first; then orders (skipping those
whose Order ID was imported before), their lines, status events and the balanced pair of ledger
entries per line (an `opening` inflow and the `sale` outflow at the order's time).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfwise.store.importing.base import Job, Parsed
from shelfwise.store.importing.places import create_locations
from shelfwise.store.importing.rows import OrderLineRow
from shelfwise.store.importing.storage import (
    Tally,
    chunks,
    fold,
    ids_by_key,
    insert_many,
    sub_category_ids,
    table,
)
from shelfwise.store.importing.values import CENT
from shelfwise.store.kinds import MovementKind, OrderStatus, Priority, Segment


@dataclass(frozen=True)
class LineKeys:
    """What one line refers to, resolved once while checking."""

    order: str  # folded Order ID
    customer: str  # email, given or synthesised
    location: str  # folded location code
    price: Decimal  # list price per unit, before discount


@dataclass
class OrdersPlan:
    """The store as `check` found it, and each line's resolved references."""

    keys: dict[int, LineKeys] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    new_locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    imported_orders: dict[str, int] = field(default_factory=dict)


def unit_cost(row: OrderLineRow) -> Decimal | None:
    """What one unit cost the shop, when the export has the line's profit."""
    if row.profit is None or row.sales is None:
        return None
    cost = ((row.sales - row.profit) / row.quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return cost if cost >= 0 else None


def write_orders(
    session: Session, rows: list[Parsed[OrderLineRow]], plan: OrdersPlan, job: Job
) -> list[Tally]:
    steps = 7
    job.progress("writing orders", 0, steps)
    tallies = _write_products(session, rows, plan, job)
    job.progress("writing orders", 1, steps)
    tallies.append(_write_customers(session, rows, plan, job))
    job.progress("writing orders", 2, steps)
    used = {plan.keys[p.line].location for p in rows}
    wanted = {k: v for k, v in plan.new_locations.items() if k in used}
    plan.locations, location_tally = create_locations(session, wanted, job)
    location_tally.unchanged = len(used) - location_tally.created
    tallies.append(location_tally)
    job.progress("writing orders", 3, steps)

    groups: dict[str, list[Parsed[OrderLineRow]]] = defaultdict(list)
    for parsed in rows:
        groups[plan.keys[parsed.line].order].append(parsed)
    fresh = {k: lines for k, lines in groups.items() if k not in plan.imported_orders}
    order_ids = _write_order_rows(session, fresh, plan, job)
    job.progress("writing orders", 4, steps)
    line_ids = _write_lines(session, fresh, order_ids, plan, job)
    job.progress("writing orders", 5, steps)
    events = _write_events(session, fresh, order_ids, job)
    job.progress("writing orders", 6, steps)
    movements = _write_movements(session, fresh, line_ids, plan, job)
    job.progress("writing orders", 7, steps)
    if len(fresh) < len(groups):
        job.notes.append(
            f"{len(groups) - len(fresh)} order(s) were imported before (same Order ID) and "
            "were skipped"
        )
    tallies += [
        Tally("orders", created=len(fresh), skipped=len(groups) - len(fresh)),
        Tally("order_lines", created=len(line_ids)),
        Tally("order_events", created=events),
        Tally("stock_movements", created=movements),
    ]
    return tallies


def _write_products(
    session: Session, rows: list[Parsed[OrderLineRow]], plan: OrdersPlan, job: Job
) -> list[Tally]:
    """New products take their name from their first line and their price from their latest."""
    first: dict[str, Parsed[OrderLineRow]] = {}
    latest: dict[str, Parsed[OrderLineRow]] = {}
    referenced: set[str] = set()
    for parsed in rows:
        key = fold(parsed.row.product_id)
        referenced.add(key)
        if key in plan.products:
            continue
        first.setdefault(key, parsed)
        newest = latest.get(key)
        if newest is None or parsed.row.order_date >= newest.row.order_date:
            latest[key] = parsed
    pairs = [(p.row.category or "", p.row.sub_category or "") for p in first.values()]
    subs, categories, sub_categories = sub_category_ids(session, pairs, job.now)
    records: list[dict[str, Any]] = [
        {
            "sku": p.row.product_id,
            "name": p.row.product_name,
            "sub_category_id": subs[(fold(p.row.category or ""), fold(p.row.sub_category or ""))],
            "unit_price": plan.keys[latest[key].line].price,
            "unit_cost": unit_cost(latest[key].row),
            "active": True,
        }
        for key, p in first.items()
    ]
    products = table("products")
    insert_many(session, products, records, job.now)
    plan.products.update(ids_by_key(session, products, "sku", [r["sku"] for r in records]))
    tally = Tally("products", created=len(records), unchanged=len(referenced) - len(records))
    return [categories, sub_categories, tally]


def _write_customers(
    session: Session, rows: list[Parsed[OrderLineRow]], plan: OrdersPlan, job: Job
) -> Tally:
    """New customers take name, segment, country and city from their first line."""
    new: dict[str, dict[str, Any]] = {}
    referenced: set[str] = set()
    for parsed in rows:
        email = plan.keys[parsed.line].customer
        referenced.add(email)
        if email in plan.customers or email in new:
            continue
        row = parsed.row
        new[email] = {
            "email": email,
            "name": row.customer_name,
            "segment": row.segment or Segment.CONSUMER,
            "country": row.country,
            "city": row.city,
        }
    customers = table("customers")
    insert_many(session, customers, list(new.values()), job.now)
    plan.customers.update(ids_by_key(session, customers, "email", new))
    return Tally("customers", created=len(new), unchanged=len(referenced) - len(new))


def _status(parsed: Parsed[OrderLineRow], job: Job) -> OrderStatus:
    shipped = parsed.row.ship_date
    if shipped is None:
        return OrderStatus.PENDING
    return OrderStatus.DELIVERED if shipped <= job.now else OrderStatus.PAID


def _write_order_rows(
    session: Session,
    groups: dict[str, list[Parsed[OrderLineRow]]],
    plan: OrdersPlan,
    job: Job,
) -> dict[str, int]:
    records: list[dict[str, Any]] = []
    for lines in groups.values():
        head = lines[0]
        keys = plan.keys[head.line]
        records.append(
            {
                "customer_id": plan.customers[keys.customer],
                "location_id": plan.locations[keys.location],
                "status": _status(head, job),
                "priority": head.row.order_priority or Priority.MEDIUM,
                "ship_mode": head.row.ship_mode,
                "ordered_at": head.row.order_date,
                "external_ref": head.row.order_id,
            }
        )
    orders = table("orders")
    insert_many(session, orders, records, job.now)
    return ids_by_key(session, orders, "external_ref", [r["external_ref"] for r in records])


def _write_lines(
    session: Session,
    groups: dict[str, list[Parsed[OrderLineRow]]],
    order_ids: dict[str, int],
    plan: OrdersPlan,
    job: Job,
) -> dict[int, int]:
    """Insert every order line; returns line ids by the file line they came from."""
    records: list[dict[str, Any]] = []
    origin: dict[tuple[int, int], int] = {}
    for key, lines in groups.items():
        for number, parsed in enumerate(lines, start=1):
            order_id = order_ids[key]
            origin[(order_id, number)] = parsed.line
            records.append(
                {
                    "order_id": order_id,
                    "line_no": number,
                    "product_id": plan.products[fold(parsed.row.product_id)],
                    "quantity": parsed.row.quantity,
                    "unit_price": plan.keys[parsed.line].price,
                    "discount": parsed.row.discount or Decimal("0"),
                }
            )
    lines_table = table("order_lines")
    insert_many(session, lines_table, records, job.now)
    ids: dict[int, int] = {}
    for batch in chunks(sorted(set(order_ids[k] for k in groups))):
        query = select(lines_table.c.id, lines_table.c.order_id, lines_table.c.line_no).where(
            lines_table.c.order_id.in_(batch)
        )
        for line_id, order_id, number in session.execute(query):
            ids[origin[(int(order_id), int(number))]] = int(line_id)
    return ids


def _write_events(
    session: Session,
    groups: dict[str, list[Parsed[OrderLineRow]]],
    order_ids: dict[str, int],
    job: Job,
) -> int:
    """The timeline each status implies: pending (and paid) at ordering, shipped and delivered
    on the ship date (the export has no delivery date)."""
    note = f"imported from {job.file}"[:200]
    records: list[dict[str, Any]] = []
    for key, lines in groups.items():
        head = lines[0]
        status, ordered, shipped = _status(head, job), head.row.order_date, head.row.ship_date
        timeline: list[tuple[OrderStatus, Any, str | None]] = [(OrderStatus.PENDING, ordered, note)]
        if status is not OrderStatus.PENDING:
            timeline.append((OrderStatus.PAID, ordered, None))
        if status is OrderStatus.DELIVERED:
            timeline += [
                (OrderStatus.SHIPPED, shipped, None),
                (OrderStatus.DELIVERED, shipped, None),
            ]
        records += [
            {
                "order_id": order_ids[key],
                "status": s,
                "occurred_at": at,
                "note": n,
            }
            for s, at, n in timeline
        ]
    insert_many(session, table("order_events"), records, job.now)
    return len(records)


def _write_movements(
    session: Session,
    groups: dict[str, list[Parsed[OrderLineRow]]],
    line_ids: dict[int, int],
    plan: OrdersPlan,
    job: Job,
) -> int:
    """Per line: `opening` +q then `sale` -q at the order's time; the balance never moves."""
    records: list[dict[str, Any]] = []
    for lines in groups.values():
        for parsed in lines:
            row = parsed.row
            common = {
                "product_id": plan.products[fold(row.product_id)],
                "location_id": plan.locations[plan.keys[parsed.line].location],
                "occurred_at": row.order_date,
                "purchase_receipt_id": None,
                "transfer_id": None,
            }
            reason = f"import {job.file}: stock sold by historical order {row.order_id}"[:200]
            records.append(
                {
                    **common,
                    "kind": MovementKind.OPENING,
                    "quantity": row.quantity,
                    "reason": reason,
                    "order_line_id": None,
                }
            )
            records.append(
                {
                    **common,
                    "kind": MovementKind.SALE,
                    "quantity": -row.quantity,
                    "reason": None,
                    "order_line_id": line_ids[parsed.line],
                }
            )
    insert_many(session, table("stock_movements"), records, job.now)
    return len(records)
