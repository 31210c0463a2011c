"""Stock services: orders, cancellations, returns, receipts, adjustments, transfers, holds.

Every change of on-hand stock goes through `_move`, which writes one ledger row and changes the
running balance in the same transaction, so `stock_levels.on_hand` always equals the ledger sum.
Decrements are single conditional UPDATEs (`... WHERE on_hand - reserved >= :qty`): the database
serialises concurrent buyers on the row, so stock can never go below what was there, on SQLite,
PostgreSQL and MySQL alike, without application-level locks.

Every service runs inside a SAVEPOINT: when it raises, none of its writes survive, even if the
caller catches the error and goes on to commit other work in the same session.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import BindParameter

from shelfwise.store.errors import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    RetryTransaction,
    Shortage,
)
from shelfwise.store.group_commit import Job, Transactions, run_alone
from shelfwise.store.kinds import MovementKind, OrderStatus, Priority, PurchaseOrderStatus
from shelfwise.store.models import (
    Customer,
    Location,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    Promotion,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Rate,
    StockLevel,
    StockMovement,
    StockTransfer,
    SupplierProduct,
    utcnow,
)
from shelfwise.store.prepared import (
    PreparedInsert,
    PreparedQuery,
    PreparedStatement,
    dbapi_errors,
    driver_cursor,
)

# Which status may follow which. Cancelling is possible until the parcel leaves.
NEXT_STATUSES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class LineRequest:
    """One line of an order request: a product and a quantity (and an optional extra discount)."""

    product_id: int
    quantity: int
    discount: Decimal = Decimal("0")


# ---------------------------------------------------------------------------------------------
# Ledger primitives
# ---------------------------------------------------------------------------------------------


def _ensure_stock_row(session: Session, product_id: int, location_id: int) -> None:
    exists = session.scalar(
        select(StockLevel.product_id).where(
            StockLevel.product_id == product_id, StockLevel.location_id == location_id
        )
    )
    if exists is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(StockLevel).values(
                        product_id=product_id, location_id=location_id, on_hand=0, reserved=0
                    )
                )
        except IntegrityError:
            pass  # a concurrent transaction created it first; fine


def _change_balance(session: Session, product_id: int, location_id: int, quantity: int) -> bool:
    """Add `quantity` to on-hand stock; a decrement succeeds only while enough is available
    (on hand minus reserved). One conditional UPDATE: the database serialises racing buyers."""
    if quantity > 0:
        _ensure_stock_row(session, product_id, location_id)
    condition = and_(StockLevel.product_id == product_id, StockLevel.location_id == location_id)
    if quantity < 0:
        condition = and_(condition, StockLevel.on_hand - StockLevel.reserved >= -quantity)
    result = session.execute(
        update(StockLevel)
        .where(condition)
        .values(on_hand=StockLevel.on_hand + quantity)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _move(
    session: Session,
    *,
    product_id: int,
    location_id: int,
    quantity: int,
    kind: MovementKind,
    occurred_at: datetime,
    reason: str | None = None,
    order_line_id: int | None = None,
    purchase_receipt_id: int | None = None,
    transfer_id: int | None = None,
) -> bool:
    """Apply a signed change to on-hand stock and record it. Returns False when a decrement
    would take available stock (on hand minus reserved) below zero; nothing is written then."""
    if quantity == 0:
        raise InvalidRequest("a stock movement must change the quantity")
    if not _change_balance(session, product_id, location_id, quantity):
        return False
    session.execute(
        insert(StockMovement).values(
            product_id=product_id,
            location_id=location_id,
            kind=kind,
            quantity=quantity,
            occurred_at=occurred_at,
            reason=reason,
            order_line_id=order_line_id,
            purchase_receipt_id=purchase_receipt_id,
            transfer_id=transfer_id,
        )
    )
    return True


def available_quantity(*, session: Session, product_id: int, location_id: int) -> int:
    value = session.scalar(
        select(StockLevel.on_hand - StockLevel.reserved).where(
            StockLevel.product_id == product_id, StockLevel.location_id == location_id
        )
    )
    return int(value or 0)


def _shortage(session: Session, product: Product, location: Location, requested: int) -> Shortage:
    return Shortage(
        product_id=product.id,
        sku=product.sku,
        location_code=location.code,
        requested=requested,
        available=available_quantity(
            session=session, product_id=product.id, location_id=location.id
        ),
    )


def _get(session: Session, model: type, key: object, what: str) -> object:
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key} does not exist")
    return row


def _location(session: Session, location_id: int) -> Location:
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(f"location {location_id} does not exist")
    return location


def _positive(quantity: int, what: str) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidRequest(f"{what} must be a whole number above zero, got {quantity!r}")


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


def _fingerprint(location_id: int, lines: Sequence[LineRequest], priority: Priority) -> str:
    canonical = json.dumps(
        {
            "location_id": location_id,
            "priority": priority.value,
            "lines": sorted([line.product_id, line.quantity, str(line.discount)] for line in lines),
        },
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing_order(session: Session, customer_id: int, key: str, fingerprint: str) -> Order | None:
    order = session.scalar(
        select(Order)
        .where(Order.customer_id == customer_id, Order.idempotency_key == key)
        .options(selectinload(Order.lines), selectinload(Order.events))
    )
    if order is not None and order.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for a different order (#{order.id}); "
            "use a new key for a new order"
        )
    return order


def _replay(
    session: Session | Connection, customer_id: int, key: str, fingerprint: str
) -> tuple[OrderReceipt, Order | None] | None:
    """The receipt of the order an idempotency key already made, and the order itself when
    the caller has an ORM session to keep it in."""
    if isinstance(session, Session):
        existing = _existing_order(session, customer_id, key, fingerprint)
        return None if existing is None else (_receipt_of(existing), existing)
    with Session(bind=session) as orm:  # joins the connection's transaction
        existing = _existing_order(orm, customer_id, key, fingerprint)
        return None if existing is None else (_receipt_of(existing), None)


def _merge_lines(lines: Sequence[LineRequest]) -> list[LineRequest]:
    if not lines:
        raise InvalidRequest("an order needs at least one line")
    merged: dict[tuple[int, Decimal], int] = {}
    for number, line in enumerate(lines, start=1):
        _positive(line.quantity, f"line {number}: quantity")
        if not Decimal("0") <= line.discount < Decimal("1"):
            raise InvalidRequest(f"line {number}: discount must be a fraction from 0 up to 1")
        key = (line.product_id, line.discount)
        merged[key] = merged.get(key, 0) + line.quantity
    products = [pid for pid, _ in merged]
    if len(set(products)) != len(products):
        raise InvalidRequest("the same product appears on two lines with different discounts")
    return [LineRequest(pid, qty, disc) for (pid, disc), qty in merged.items()]


@dataclass(frozen=True)
class ReceiptLine:
    id: int
    line_no: int
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal


@dataclass(frozen=True)
class ReceiptEvent:
    id: int
    status: OrderStatus
    occurred_at: datetime
    note: str | None


@dataclass(frozen=True)
class OrderReceipt:
    """An order as placed, as plain data: what the API answers with, built from the values the
    rows were written with (no ORM objects, no read-back). `replayed` is True when the
    idempotency key had already made this order and nothing changed now."""

    id: int
    customer_id: int
    location_id: int
    location_name: str
    status: OrderStatus
    priority: Priority
    ship_mode: str | None
    ordered_at: datetime
    idempotency_key: str | None
    request_fingerprint: str | None
    created_at: datetime
    lines: tuple[ReceiptLine, ...]
    events: tuple[ReceiptEvent, ...]
    replayed: bool


def place_order(
    *,
    session: Session,
    customer_id: int,
    location_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str | None = None,
    priority: Priority = Priority.MEDIUM,
    ship_mode: str | None = None,
    ordered_at: datetime | None = None,
) -> Order:
    """Create an order and take its stock from `location_id`, all or nothing.

    Raises `InsufficientStock` listing every short line. With an idempotency key, a retried
    request returns the order the first attempt created (and changes nothing). The order comes
    back as a persistent `Order` with its lines and events loaded; `place_order_receipt` does
    the same work and returns plain data, for callers that only answer with it.
    """
    receipt, existing = _place(
        session,
        customer_id=customer_id,
        location_id=location_id,
        lines=lines,
        idempotency_key=idempotency_key,
        priority=priority,
        ship_mode=ship_mode,
        ordered_at=ordered_at,
    )
    return existing if existing is not None else _persistent_order(session, receipt)


def place_order_receipt(
    *,
    session: Session | Connection,
    customer_id: int,
    location_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str | None = None,
    priority: Priority = Priority.MEDIUM,
    ship_mode: str | None = None,
    ordered_at: datetime | None = None,
) -> OrderReceipt:
    """`place_order`, answered with an `OrderReceipt` instead of ORM objects (the API's hot
    path: building and attaching ORM objects would cost as much as three more statements).
    Also runs on a plain Core connection whose transaction is the order's alone (see
    `place_order_in_transaction`): cheaper, and it raises `RetryTransaction` when a concurrent
    retry of the same request got in first."""
    receipt, existing = _place(
        session,
        customer_id=customer_id,
        location_id=location_id,
        lines=lines,
        idempotency_key=idempotency_key,
        priority=priority,
        ship_mode=ship_mode,
        ordered_at=ordered_at,
    )
    return receipt if existing is None else _receipt_of(existing)


def place_order_in_transaction(
    store: Transactions,
    *,
    customer_id: int,
    location_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str | None = None,
    priority: Priority = Priority.MEDIUM,
    ship_mode: str | None = None,
) -> OrderReceipt:
    """`place_order_receipt` in a Core transaction of its own, the cheapest way to place one
    order; run once more when a concurrent retry of the same request spoilt the first try (the
    second finds that request's order and answers with it). `order_job` is the same order as
    a job for a group of orders committed together (`shelfwise.store.group_commit`)."""
    job = order_job(
        customer_id=customer_id,
        location_id=location_id,
        lines=lines,
        idempotency_key=idempotency_key,
        priority=priority,
        ship_mode=ship_mode,
    )
    return run_alone(store, job).result()


def lock_stock_rows(connection: Connection, rows: Sequence[tuple[int, int]]) -> None:
    """Lock the (product, location) stock rows in their key order, in the connection's
    transaction: a group of orders that takes them up front, as every single order takes
    its own rows in that order, never waits in a cycle with another writer (PostgreSQL and
    MySQL; SQLite has one writer and no row locks)."""
    connection.execute(
        select(StockLevel.product_id)
        .where(tuple_(StockLevel.product_id, StockLevel.location_id).in_(rows))
        .order_by(StockLevel.product_id, StockLevel.location_id)
        .with_for_update()
    ).all()


def order_job(
    *,
    customer_id: int,
    location_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str | None = None,
    priority: Priority = Priority.MEDIUM,
    ship_mode: str | None = None,
) -> Job[OrderReceipt]:
    """An order to place on a given connection, in its transaction: for `run_alone` and
    `run_group`, which roll it back when it raises."""

    def place(connection: Connection) -> OrderReceipt:
        return place_order_receipt(
            session=connection,
            customer_id=customer_id,
            location_id=location_id,
            lines=lines,
            idempotency_key=idempotency_key,
            priority=priority,
            ship_mode=ship_mode,
        )

    return place


# The statements of an order, built once: building a statement costs more than running it
# (SQLAlchemy caches the compiled form per statement object), and checkout is the hot path.
_ORDER_CONTEXT_COLUMNS = (
    select(Location.name)
    .where(Location.id == bindparam("location_id"))
    .scalar_subquery()
    .label("location_name"),
    select(Location.code)
    .where(Location.id == bindparam("location_id"))
    .scalar_subquery()
    .label("location_code"),
    select(Customer.id)
    .where(Customer.id == bindparam("customer_id"))
    .scalar_subquery()
    .label("customer_id"),
    select(Order.id)
    .where(Order.customer_id == bindparam("customer_id"), Order.idempotency_key == bindparam("key"))
    .scalar_subquery()
    .label("existing_order_id"),
)


@lru_cache(maxsize=64)
def _order_products(count: int) -> PreparedQuery:
    """One row per ordered product (price, activity, best promotion running on `day`, units
    available at the location), each carrying the location, whether the customer exists, and
    the order the idempotency key already made. One statement per number of products
    (`product_0`...): an "expanding" IN list would be re-rendered on every execution."""
    ids: list[BindParameter[int]] = [bindparam(f"product_{number}") for number in range(count)]
    promotion = (
        select(Promotion.product_id, func.max(Promotion.discount).label("discount"))
        .where(
            Promotion.product_id.in_(ids),
            Promotion.starts_on <= bindparam("day"),
            Promotion.ends_on >= bindparam("day"),
        )
        .group_by(Promotion.product_id)
        .subquery()
    )
    return PreparedQuery(
        select(
            Product.id,
            Product.sku,
            Product.name,
            Product.unit_price,
            Product.active,
            promotion.c.discount,
            (StockLevel.on_hand - StockLevel.reserved).label("available"),
            *_ORDER_CONTEXT_COLUMNS,
        )
        .outerjoin(promotion, promotion.c.product_id == Product.id)
        .outerjoin(
            StockLevel,
            and_(
                StockLevel.product_id == Product.id,
                StockLevel.location_id == bindparam("location_id"),
            ),
        )
        .where(Product.id.in_(ids))
    )


_ORDER_CONTEXT = PreparedQuery(select(*_ORDER_CONTEXT_COLUMNS))  # the same, without products
# Takes a line's units if they are on the shelf (rowcount 1), else nothing: never oversells.
# Public so that the order benchmark's reference endpoint runs the very same statement.
TAKE_STOCK = PreparedStatement(
    update(StockLevel)
    .where(
        StockLevel.product_id == bindparam("take_product"),
        StockLevel.location_id == bindparam("take_location"),
        StockLevel.on_hand - StockLevel.reserved >= bindparam("take_quantity"),
    )
    .values(on_hand=StockLevel.on_hand - bindparam("take_quantity"), updated_at=bindparam("now"))
)
_AVAILABLE = select(StockLevel.on_hand - StockLevel.reserved).where(
    StockLevel.product_id == bindparam("take_product"),
    StockLevel.location_id == bindparam("take_location"),
)
# The writes go straight to the driver (see shelfwise.store.prepared): each names its columns.
_STAMPS = ("created_at", "updated_at")
assert Rate.scale is not None
_RATE_STEP = Decimal(1).scaleb(-Rate.scale)  # 0.0001: the scale of discounts in the store
_INSERT_ORDER = PreparedInsert(
    Order,
    (
        "customer_id",
        "location_id",
        "status",
        "priority",
        "ship_mode",
        "ordered_at",
        "external_ref",
        "idempotency_key",
        "request_fingerprint",
        *_STAMPS,
    ),
)
_INSERT_LINE = PreparedInsert(
    OrderLine,
    ("order_id", "line_no", "product_id", "quantity", "unit_price", "discount", *_STAMPS),
)
_INSERT_EVENT = PreparedInsert(OrderEvent, ("order_id", "status", "occurred_at", "note", *_STAMPS))
_INSERT_MOVEMENTS = PreparedStatement(
    insert(StockMovement),
    ("product_id", "location_id", "kind", "quantity", "occurred_at", "order_line_id", *_STAMPS),
)


@dataclass(frozen=True)
class _OrderedProduct:
    sku: str
    name: str
    unit_price: Decimal
    active: bool
    promotion: Decimal
    available: int  # when it was read, without a lock: the conditional UPDATE decides


def _place(
    session: Session | Connection,
    *,
    customer_id: int,
    location_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str | None,
    priority: Priority,
    ship_mode: str | None,
    ordered_at: datetime | None,
) -> tuple[OrderReceipt, Order | None]:
    """Checkout in as few statements as it takes: one read for the products, their stock, the
    location, the customer and the idempotency key; then, in a savepoint, the order, its lines
    and event, one conditional stock UPDATE per line and the ledger rows. Returns the receipt,
    or the earlier order (ORM) when the key had already made it."""
    merged = _merge_lines(lines)
    fingerprint = _fingerprint(location_id, merged, priority)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise InvalidRequest("an idempotency key has 1 to 128 characters")
    if isinstance(session, Session):
        session.flush()  # the caller's pending changes must be visible to the Core statements
        connection = session.connection()
    else:
        connection = session
    # Stamped once the transaction has begun, which on SQLite (BEGIN IMMEDIATE) is once this
    # writer holds the lock: a stock row's versions are then stamped in the order they commit,
    # and the pipeline, which takes the newest stamp as the current version, keeps the last.
    now = utcnow()
    ordered_at = ordered_at or now
    ids = [line.product_id for line in merged]
    context: dict[str, object] = {
        "day": ordered_at.date(),
        "location_id": location_id,
        "customer_id": customer_id,
        "key": idempotency_key,
    }
    context.update((f"product_{number}", pid) for number, pid in enumerate(ids))
    rows = _order_products(len(ids)).all(connection, context)
    head = rows[0] if rows else _ORDER_CONTEXT.all(connection, context)[0]
    location_name, location_code = head.location_name, head.location_code
    if head.existing_order_id is not None:
        assert idempotency_key is not None
        replay = _replay(session, customer_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    if head.customer_id is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if location_name is None:
        raise NotFound(f"location {location_id} does not exist")
    products = {
        row.id: _OrderedProduct(
            sku=row.sku,
            name=row.name,
            unit_price=row.unit_price,
            active=bool(row.active),
            promotion=Decimal(row.discount) if row.discount is not None else Decimal("0"),
            available=int(row.available or 0),
        )
        for row in rows
    }
    missing = [pid for pid in ids if pid not in products]
    if missing:
        raise NotFound(f"product(s) {', '.join(map(str, missing))} do not exist")
    inactive = [products[pid].sku for pid in ids if not products[pid].active]
    if inactive:
        raise InvalidRequest(f"product(s) {', '.join(inactive)} are no longer sold")
    short = [
        Shortage(pid, products[pid].sku, location_code, qty, products[pid].available)
        for pid, qty in ((line.product_id, line.quantity) for line in merged)
        if qty > products[pid].available
    ]
    if short:  # sold out already: refused before writing anything
        raise InsufficientStock(sorted(short, key=lambda s: s.product_id))

    # On an ORM session the caller's transaction may go on after a failed order, so the
    # writes go in a savepoint. A bare connection's transaction is the order's own: a failure
    # ends it, and the savepoint's two round trips are saved.
    savepoint = _Savepoint(connection) if isinstance(session, Session) else None
    try:
        receipt = _write_order(
            connection,
            customer_id=customer_id,
            location_id=location_id,
            location_name=location_name,
            location_code=location_code,
            lines=merged,
            products=products,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            priority=priority,
            ship_mode=ship_mode,
            ordered_at=ordered_at,
            now=now,
        )
    except BaseException as exc:
        duplicate = isinstance(exc, dbapi_errors(connection, "IntegrityError"))
        if savepoint is None:
            if duplicate and idempotency_key is not None:
                raise RetryTransaction(
                    f"order with idempotency key {idempotency_key!r} was placed concurrently"
                ) from exc
            raise
        savepoint.roll_back()
        if duplicate and idempotency_key is not None:
            # Two retries of one request raced; the other one won. Return its order.
            replay = _replay(session, customer_id, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        raise
    if savepoint is not None:
        savepoint.release()
    return receipt, None


class _Savepoint:
    """A plain named savepoint on the driver's cursor: the same SQL on SQLite, PostgreSQL and
    MySQL, without SQLAlchemy's nested-transaction bookkeeping (this block is Core only)."""

    NAME = "shelfwise_place_order"

    def __init__(self, connection: Connection) -> None:
        self.cursor = driver_cursor(connection)
        self.cursor.execute(f"SAVEPOINT {self.NAME}")

    def roll_back(self) -> None:
        self.cursor.execute(f"ROLLBACK TO SAVEPOINT {self.NAME}")
        self.release()

    def release(self) -> None:
        self.cursor.execute(f"RELEASE SAVEPOINT {self.NAME}")
        self.cursor.close()


def _write_order(
    connection: Connection,
    *,
    customer_id: int,
    location_id: int,
    location_name: str,
    location_code: str,
    lines: list[LineRequest],
    products: dict[int, _OrderedProduct],
    idempotency_key: str | None,
    fingerprint: str,
    priority: Priority,
    ship_mode: str | None,
    ordered_at: datetime,
    now: datetime,
) -> OrderReceipt:
    stamps = {"created_at": now, "updated_at": now}
    order_id = _INSERT_ORDER.insert(
        connection,
        {
            "customer_id": customer_id,
            "location_id": location_id,
            "status": OrderStatus.PENDING,
            "priority": priority,
            "ship_mode": ship_mode,
            "ordered_at": ordered_at,
            "external_ref": None,
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint if idempotency_key else None,
            **stamps,
        },
    )  # a duplicate idempotency key fails here, before stock moves

    placed = []
    for number, line in enumerate(lines, start=1):
        product = products[line.product_id]
        # at the column's scale, as the stored line reads back (a replay answers "0.0000" too)
        discount = max(line.discount, product.promotion).quantize(_RATE_STEP)
        line_id = _INSERT_LINE.insert(
            connection,
            {
                "order_id": order_id,
                "line_no": number,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": product.unit_price,
                "discount": discount,
                **stamps,
            },
        )
        placed.append(
            ReceiptLine(
                id=line_id,
                line_no=number,
                product_id=line.product_id,
                sku=product.sku,
                name=product.name,
                quantity=line.quantity,
                unit_price=product.unit_price,
                discount=discount,
            )
        )
    event_id = _INSERT_EVENT.insert(
        connection,
        {
            "order_id": order_id,
            "status": OrderStatus.PENDING,
            "occurred_at": ordered_at,
            "note": None,
            **stamps,
        },
    )
    # Stock last, just before the ledger and the commit: a decrement locks its row until then
    # (on PostgreSQL and MySQL), so other buyers of the product wait as little as possible.
    # Rows are locked in one global order (by product id) so concurrent orders cannot deadlock.
    shortages = []
    for line in sorted(lines, key=lambda ol: ol.product_id):
        taken = TAKE_STOCK.execute(
            connection,
            {
                "take_product": line.product_id,
                "take_location": location_id,
                "take_quantity": line.quantity,
                "now": now,
            },
        )
        if taken.rowcount != 1:
            available = connection.scalar(
                _AVAILABLE, {"take_product": line.product_id, "take_location": location_id}
            )
            shortages.append(
                Shortage(
                    product_id=line.product_id,
                    sku=products[line.product_id].sku,
                    location_code=location_code,
                    requested=line.quantity,
                    available=int(available or 0),
                )
            )
    if shortages:
        raise InsufficientStock(shortages)

    _INSERT_MOVEMENTS.execute_many(
        connection,
        [
            {
                "product_id": line.product_id,
                "location_id": location_id,
                "kind": MovementKind.SALE,
                "quantity": -line.quantity,
                "occurred_at": ordered_at,
                "order_line_id": line.id,
                **stamps,
            }
            for line in placed
        ],
    )
    return OrderReceipt(
        id=order_id,
        customer_id=customer_id,
        location_id=location_id,
        location_name=location_name,
        status=OrderStatus.PENDING,
        priority=priority,
        ship_mode=ship_mode,
        ordered_at=ordered_at,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint if idempotency_key else None,
        created_at=now,
        lines=tuple(placed),
        events=(ReceiptEvent(event_id, OrderStatus.PENDING, ordered_at, None),),
        replayed=False,
    )


def _receipt_of(order: Order) -> OrderReceipt:
    """The receipt of an order read back from the store (an idempotent replay)."""
    return OrderReceipt(
        id=order.id,
        customer_id=order.customer_id,
        location_id=order.location_id,
        location_name=order.location.name,
        status=order.status,
        priority=order.priority,
        ship_mode=order.ship_mode,
        ordered_at=order.ordered_at,
        idempotency_key=order.idempotency_key,
        request_fingerprint=order.request_fingerprint,
        created_at=order.created_at,
        lines=tuple(
            ReceiptLine(
                id=line.id,
                line_no=line.line_no,
                product_id=line.product_id,
                sku=line.product.sku,
                name=line.product.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line in order.lines
        ),
        events=tuple(ReceiptEvent(e.id, e.status, e.occurred_at, e.note) for e in order.events),
        replayed=True,
    )


def _persistent_order(session: Session, receipt: OrderReceipt) -> Order:
    """The ORM objects of a just-written order, attached to the session as if loaded from the
    store (`make_transient_to_detached`: no history, so nothing is written again), without
    reading them back. Its location and products load lazily when asked for."""
    stamps = {"created_at": receipt.created_at, "updated_at": receipt.created_at}
    order = Order(
        id=receipt.id,
        customer_id=receipt.customer_id,
        location_id=receipt.location_id,
        status=receipt.status,
        priority=receipt.priority,
        ship_mode=receipt.ship_mode,
        ordered_at=receipt.ordered_at,
        external_ref=None,
        idempotency_key=receipt.idempotency_key,
        request_fingerprint=receipt.request_fingerprint,
        **stamps,
    )
    lines = [
        OrderLine(
            id=line.id,
            order_id=receipt.id,
            line_no=line.line_no,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount=line.discount,
            **stamps,
        )
        for line in receipt.lines
    ]
    events = [
        OrderEvent(
            id=event.id,
            order_id=receipt.id,
            status=event.status,
            occurred_at=event.occurred_at,
            note=event.note,
            **stamps,
        )
        for event in receipt.events
    ]
    for row in (order, *lines, *events):
        make_transient_to_detached(row)
    set_committed_value(order, "lines", lines)
    set_committed_value(order, "events", events)
    for child in (*lines, *events):
        set_committed_value(child, "order", order)
    session.add_all([order, *lines, *events])
    return order


def get_order(*, session: Session, order_id: int) -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.lines), selectinload(Order.events))
    )
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


def set_order_status(
    *,
    session: Session,
    order_id: int,
    status: OrderStatus,
    at: datetime | None = None,
    note: str | None = None,
) -> Order:
    """Move an order along its life cycle; cancelling returns its stock through the ledger."""
    at = at or utcnow()
    with session.begin_nested():
        order = get_order(session=session, order_id=order_id)
        if status not in NEXT_STATUSES[order.status]:
            allowed = ", ".join(sorted(s.value for s in NEXT_STATUSES[order.status])) or "none"
            raise InvalidTransition(
                f"order {order_id} is {order.status.value}; it cannot become {status.value} "
                f"(allowed next: {allowed})"
            )
        if status is OrderStatus.CANCELLED:
            for line in order.lines:
                _move(
                    session,
                    product_id=line.product_id,
                    location_id=order.location_id,
                    quantity=line.quantity,
                    kind=MovementKind.CANCELLATION,
                    occurred_at=at,
                    reason=note or "order cancelled",
                    order_line_id=line.id,
                )
        order.status = status
        order.events.append(OrderEvent(status=status, occurred_at=at, note=note))
        session.flush()
        return order


def cancel_order(
    *, session: Session, order_id: int, at: datetime | None = None, reason: str | None = None
) -> Order:
    return set_order_status(
        session=session, order_id=order_id, status=OrderStatus.CANCELLED, at=at, note=reason
    )


def return_items(
    *,
    session: Session,
    order_line_id: int,
    quantity: int,
    reason: str,
    at: datetime | None = None,
) -> StockMovement:
    """Take back delivered units of one order line into the order's location."""
    _positive(quantity, "returned quantity")
    if not reason.strip():
        raise InvalidRequest("a return needs a reason")
    with session.begin_nested():
        line = session.get(OrderLine, order_line_id)
        if line is None:
            raise NotFound(f"order line {order_line_id} does not exist")
        order = line.order
        if order.status is not OrderStatus.DELIVERED:
            raise InvalidTransition(
                f"order {order.id} is {order.status.value}; only delivered orders take returns"
            )
        already = session.scalar(
            select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
                StockMovement.order_line_id == line.id,
                StockMovement.kind == MovementKind.RETURN,
            )
        )
        if int(already or 0) + quantity > line.quantity:
            raise InvalidRequest(
                f"order line {line.id} sold {line.quantity}, {already} already returned; "
                f"cannot return {quantity} more"
            )
        _move(
            session,
            product_id=line.product_id,
            location_id=order.location_id,
            quantity=quantity,
            kind=MovementKind.RETURN,
            occurred_at=at or utcnow(),
            reason=reason,
            order_line_id=line.id,
        )
        movement = session.scalars(
            select(StockMovement)
            .where(StockMovement.order_line_id == line.id)
            .order_by(StockMovement.id.desc())
            .limit(1)
        ).one()
        return movement


# ---------------------------------------------------------------------------------------------
# Purchasing
# ---------------------------------------------------------------------------------------------


def create_purchase_order(
    *,
    session: Session,
    supplier_id: int,
    location_id: int,
    quantities: Mapping[int, int],
    ordered_at: datetime | None = None,
) -> PurchaseOrder:
    """Order from a supplier at its agreed cost; the expected date follows its promised lead
    time (the longest among the lines). Quantities are rounded up to the minimum order."""
    ordered_at = ordered_at or utcnow()
    if not quantities:
        raise InvalidRequest("a purchase order needs at least one line")
    with session.begin_nested():
        _location(session, location_id)
        terms = {
            sp.product_id: sp
            for sp in session.scalars(
                select(SupplierProduct).where(
                    SupplierProduct.supplier_id == supplier_id,
                    SupplierProduct.product_id.in_(list(quantities)),
                )
            )
        }
        unknown = [pid for pid in quantities if pid not in terms]
        if unknown:
            raise InvalidRequest(
                f"supplier {supplier_id} does not supply product(s) {', '.join(map(str, unknown))}"
            )
        lead = max(terms[pid].lead_time_days for pid in quantities)
        po = PurchaseOrder(
            supplier_id=supplier_id,
            location_id=location_id,
            status=PurchaseOrderStatus.ORDERED,
            ordered_at=ordered_at,
            expected_on=ordered_at.date() + timedelta(days=lead),
        )
        for pid, qty in quantities.items():
            _positive(qty, f"quantity of product {pid}")
            po.lines.append(
                PurchaseOrderLine(
                    product_id=pid,
                    quantity_ordered=max(qty, terms[pid].min_order_quantity),
                    unit_cost=terms[pid].unit_cost,
                )
            )
        session.add(po)
        session.flush()
        return po


def received_quantities(*, session: Session, purchase_order_id: int) -> dict[int, int]:
    """Units received so far per PO line id."""
    rows = session.execute(
        select(PurchaseOrderLine.id, func.coalesce(func.sum(PurchaseReceipt.quantity), 0))
        .outerjoin(PurchaseReceipt, PurchaseReceipt.purchase_order_line_id == PurchaseOrderLine.id)
        .where(PurchaseOrderLine.purchase_order_id == purchase_order_id)
        .group_by(PurchaseOrderLine.id)
    )
    return {line_id: int(qty) for line_id, qty in rows}


def receive_purchase_order(
    *,
    session: Session,
    purchase_order_id: int,
    quantities: Mapping[int, int] | None = None,
    at: datetime | None = None,
) -> list[PurchaseReceipt]:
    """Book a delivery. `quantities` maps product id to units delivered now; None means
    everything still outstanding. Over-delivery is refused (book the extra as an adjustment)."""
    at = at or utcnow()
    with session.begin_nested():
        po = session.get(PurchaseOrder, purchase_order_id)
        if po is None:
            raise NotFound(f"purchase order {purchase_order_id} does not exist")
        if po.status in (PurchaseOrderStatus.RECEIVED, PurchaseOrderStatus.CANCELLED):
            raise InvalidTransition(f"purchase order {po.id} is {po.status.value}")
        received = received_quantities(session=session, purchase_order_id=po.id)
        outstanding = {
            line.product_id: line.quantity_ordered - received[line.id] for line in po.lines
        }
        by_product = {line.product_id: line for line in po.lines}
        delivery = (
            dict(quantities)
            if quantities is not None
            else {pid: qty for pid, qty in outstanding.items() if qty > 0}
        )
        receipts: list[PurchaseReceipt] = []
        for pid, qty in delivery.items():
            if pid not in by_product:
                raise InvalidRequest(f"product {pid} is not on purchase order {po.id}")
            _positive(qty, f"received quantity of product {pid}")
            if qty > outstanding[pid]:
                raise InvalidRequest(
                    f"purchase order {po.id}, product {pid}: {qty} delivered but only "
                    f"{outstanding[pid]} outstanding"
                )
            receipt = PurchaseReceipt(
                purchase_order_line_id=by_product[pid].id, quantity=qty, received_at=at
            )
            session.add(receipt)
            session.flush()
            _move(
                session,
                product_id=pid,
                location_id=po.location_id,
                quantity=qty,
                kind=MovementKind.RECEIPT,
                occurred_at=at,
                purchase_receipt_id=receipt.id,
            )
            outstanding[pid] -= qty
            receipts.append(receipt)
        po.status = (
            PurchaseOrderStatus.RECEIVED
            if all(q == 0 for q in outstanding.values())
            else PurchaseOrderStatus.PARTIALLY_RECEIVED
        )
        session.flush()
        return receipts


# ---------------------------------------------------------------------------------------------
# Adjustments, transfers, holds
# ---------------------------------------------------------------------------------------------


def adjust_stock(
    *,
    session: Session,
    product_id: int,
    location_id: int,
    delta: int,
    reason: str,
    at: datetime | None = None,
) -> None:
    """Correct stock (damage, shrinkage, a count) with a stated reason."""
    if not reason or not reason.strip():
        raise InvalidRequest("a stock adjustment needs a reason (damaged, count correction, ...)")
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidRequest(
            f"an adjustment changes stock by a non-zero whole number, got {delta!r}"
        )
    with session.begin_nested():
        _get(session, Product, product_id, "product")
        location = _location(session, location_id)
        moved = _move(
            session,
            product_id=product_id,
            location_id=location_id,
            quantity=delta,
            kind=MovementKind.ADJUSTMENT,
            occurred_at=at or utcnow(),
            reason=reason.strip(),
        )
        if not moved:
            product = session.get(Product, product_id)
            assert product is not None
            raise InsufficientStock([_shortage(session, product, location, -delta)])


def set_stock_count(
    *,
    session: Session,
    product_id: int,
    location_id: int,
    counted: int,
    reason: str = "stock count",
    at: datetime | None = None,
) -> int:
    """Make on-hand stock equal a counted quantity through one adjustment; returns the delta."""
    if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
        raise InvalidRequest(
            f"a counted quantity is a whole number of zero or more, got {counted!r}"
        )
    current = session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.product_id == product_id, StockLevel.location_id == location_id
        )
    )
    delta = counted - int(current or 0)
    if delta:
        adjust_stock(
            session=session,
            product_id=product_id,
            location_id=location_id,
            delta=delta,
            reason=reason,
            at=at,
        )
    return delta


def transfer_stock(
    *,
    session: Session,
    product_id: int,
    from_location_id: int,
    to_location_id: int,
    quantity: int,
    at: datetime | None = None,
) -> StockTransfer:
    _positive(quantity, "transferred quantity")
    if from_location_id == to_location_id:
        raise InvalidRequest("a transfer needs two different locations")
    at = at or utcnow()
    with session.begin_nested():
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound(f"product {product_id} does not exist")
        source = _location(session, from_location_id)
        _location(session, to_location_id)
        transfer = StockTransfer(
            product_id=product_id,
            from_location_id=from_location_id,
            to_location_id=to_location_id,
            quantity=quantity,
            transferred_at=at,
        )
        session.add(transfer)
        session.flush()
        if not _move(
            session,
            product_id=product_id,
            location_id=from_location_id,
            quantity=-quantity,
            kind=MovementKind.TRANSFER_OUT,
            occurred_at=at,
            transfer_id=transfer.id,
        ):
            raise InsufficientStock([_shortage(session, product, source, quantity)])
        _move(
            session,
            product_id=product_id,
            location_id=to_location_id,
            quantity=quantity,
            kind=MovementKind.TRANSFER_IN,
            occurred_at=at,
            transfer_id=transfer.id,
        )
        return transfer


def reserve_stock(*, session: Session, product_id: int, location_id: int, quantity: int) -> None:
    """Hold units back from sale (click-and-collect, inspection); they stay on hand."""
    _positive(quantity, "reserved quantity")
    with session.begin_nested():
        result = session.execute(
            update(StockLevel)
            .where(
                StockLevel.product_id == product_id,
                StockLevel.location_id == location_id,
                StockLevel.on_hand - StockLevel.reserved >= quantity,
            )
            .values(reserved=StockLevel.reserved + quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            product = session.get(Product, product_id)
            if product is None:
                raise NotFound(f"product {product_id} does not exist")
            raise InsufficientStock(
                [_shortage(session, product, _location(session, location_id), quantity)]
            )


def release_stock(*, session: Session, product_id: int, location_id: int, quantity: int) -> None:
    _positive(quantity, "released quantity")
    result = session.execute(
        update(StockLevel)
        .where(
            StockLevel.product_id == product_id,
            StockLevel.location_id == location_id,
            StockLevel.reserved >= quantity,
        )
        .values(reserved=StockLevel.reserved - quantity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidRequest(
            f"cannot release {quantity} units of product {product_id} at location {location_id}: "
            "fewer are reserved"
        )


# ---------------------------------------------------------------------------------------------
# Ledger audit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerMismatch:
    product_id: int
    location_id: int
    on_hand: int
    ledger_sum: int


def ledger_mismatches(*, session: Session) -> list[LedgerMismatch]:
    """Every product-location whose running balance differs from its ledger (should be none)."""
    ledger = (
        select(
            StockMovement.product_id,
            StockMovement.location_id,
            func.sum(StockMovement.quantity).label("total"),
        )
        .group_by(StockMovement.product_id, StockMovement.location_id)
        .subquery()
    )
    rows = session.execute(
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.on_hand,
            func.coalesce(ledger.c.total, 0),
        )
        .outerjoin(
            ledger,
            and_(
                ledger.c.product_id == StockLevel.product_id,
                ledger.c.location_id == StockLevel.location_id,
            ),
        )
        .where(StockLevel.on_hand != func.coalesce(ledger.c.total, 0))
    )
    mismatches = [LedgerMismatch(p, loc, int(oh), int(total)) for p, loc, oh, total in rows]
    orphans = session.execute(
        select(ledger.c.product_id, ledger.c.location_id, ledger.c.total)
        .outerjoin(
            StockLevel,
            and_(
                ledger.c.product_id == StockLevel.product_id,
                ledger.c.location_id == StockLevel.location_id,
            ),
        )
        .where(StockLevel.product_id.is_(None), ledger.c.total != 0)
    )
    mismatches += [LedgerMismatch(p, loc, 0, int(total)) for p, loc, total in orphans]
    return mismatches


def today_utc() -> date:
    return datetime.now(UTC).date()
