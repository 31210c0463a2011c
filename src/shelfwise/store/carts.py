"""Carts and the orders they become.

- Carts belong to a signed-in user or to an anonymous visitor (a random key in the visitor's
  signed cookie); signing in merges the visitor's cart into the user's.
- Checkout picks the fulfilling location (the one that can serve every line, preferring the
  customer's country) and places the order through `inventory.place_order` with the checkout
  form's idempotency key, so a double submit makes one order.
- A customer's view of their orders (history, status timeline, cancelling while pending) never
  reveals another customer's order: it is "not found", exactly like an order that does not exist.
- Point-of-sale systems post till sales, which go through the same `place_order`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shelfwise.store.catalog import ProductSummary, summarize_products
from shelfwise.store.errors import (
    InsufficientStock,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    Shortage,
)
from shelfwise.store.inventory import LineRequest, cancel_order, place_order, set_order_status
from shelfwise.store.kinds import OrderStatus, Segment
from shelfwise.store.models import (
    Cart,
    CartItem,
    Customer,
    Location,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    StockLevel,
    utcnow,
)

MAX_LINE_QUANTITY = 99
MAX_CART_LINES = 50
CENT = Decimal("0.01")
TIMELINE = (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a user's (`user_id`) or an anonymous visitor's (`visitor_key`)."""

    user_id: int | None = None
    visitor_key: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.visitor_key is None):
            raise ValueError("a cart owner is either a user or a visitor key")


@dataclass(frozen=True)
class CartLine:
    product: ProductSummary
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return (self.product.price * self.quantity).quantize(CENT)

    @property
    def short_by(self) -> int:
        """Units asked for beyond what all locations together hold now."""
        return max(0, self.quantity - self.product.available)


@dataclass(frozen=True)
class CartView:
    lines: list[CartLine]

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_empty(self) -> bool:
        return not self.lines


# ---------------------------------------------------------------------------------------------
# Carts
# ---------------------------------------------------------------------------------------------


def _owner_clause(owner: CartOwner):  # type: ignore[no-untyped-def]
    if owner.user_id is not None:
        return Cart.user_id == owner.user_id
    return Cart.visitor_key == owner.visitor_key


def _find_cart(session: Session, owner: CartOwner) -> Cart | None:
    return session.scalar(select(Cart).where(_owner_clause(owner)))


def _cart_for_update(session: Session, owner: CartOwner) -> Cart:
    cart = _find_cart(session, owner)
    if cart is not None:
        return cart
    try:
        with session.begin_nested():
            cart = Cart(user_id=owner.user_id, visitor_key=owner.visitor_key)
            session.add(cart)
            session.flush()
            return cart
    except IntegrityError:  # created by a concurrent request of the same owner
        found = _find_cart(session, owner)
        assert found is not None
        return found


def _items(session: Session, cart_id: int) -> list[CartItem]:
    return list(
        session.scalars(
            select(CartItem)
            .where(CartItem.cart_id == cart_id)
            .order_by(CartItem.created_at, CartItem.product_id)
        )
    )


def view_cart(*, session: Session, owner: CartOwner) -> CartView:
    cart = _find_cart(session, owner)
    if cart is None:
        return CartView(lines=[])
    items = _items(session, cart.id)
    summaries = {
        s.id: s
        for s in summarize_products(session=session, product_ids=[i.product_id for i in items])
    }
    return CartView(
        lines=[
            CartLine(summaries[i.product_id], i.quantity)
            for i in items
            if i.product_id in summaries
        ]
    )


def cart_item_count(*, session: Session, owner: CartOwner) -> int:
    count = session.scalar(
        select(func.coalesce(func.sum(CartItem.quantity), 0))
        .join(Cart, Cart.id == CartItem.cart_id)
        .where(_owner_clause(owner))
    )
    return int(count or 0)


def _check_quantity(quantity: int, *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidRequest(f"quantity must be a whole number, got {quantity!r}")
    if not low <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidRequest(f"quantity must be from {low} to {MAX_LINE_QUANTITY}, got {quantity}")


def _sellable(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    if not product.active:
        raise InvalidRequest(f"product {product.sku} is no longer sold")
    return product


def add_to_cart(
    *, session: Session, owner: CartOwner, product_id: int, quantity: int = 1
) -> CartView:
    """Put units in the cart (adding to any already there, up to the per-line maximum)."""
    _check_quantity(quantity, allow_zero=False)
    _sellable(session, product_id)
    cart = _cart_for_update(session, owner)
    item = session.get(CartItem, (cart.id, product_id))
    if item is None:
        lines = session.scalar(select(func.count()).where(CartItem.cart_id == cart.id)) or 0
        if lines >= MAX_CART_LINES:
            raise InvalidRequest(f"a cart holds at most {MAX_CART_LINES} different products")
        session.add(CartItem(cart_id=cart.id, product_id=product_id, quantity=quantity))
    else:
        item.quantity = min(MAX_LINE_QUANTITY, item.quantity + quantity)
    cart.updated_at = utcnow()
    session.flush()
    return view_cart(session=session, owner=owner)


def set_cart_quantity(
    *, session: Session, owner: CartOwner, product_id: int, quantity: int
) -> CartView:
    """Change a line's quantity; zero removes it."""
    _check_quantity(quantity, allow_zero=True)
    cart = _find_cart(session, owner)
    item = session.get(CartItem, (cart.id, product_id)) if cart else None
    if item is None:
        raise NotFound(f"product {product_id} is not in the cart")
    if quantity == 0:
        session.delete(item)
    else:
        item.quantity = quantity
    session.flush()
    return view_cart(session=session, owner=owner)


def remove_from_cart(*, session: Session, owner: CartOwner, product_id: int) -> CartView:
    return set_cart_quantity(session=session, owner=owner, product_id=product_id, quantity=0)


def clear_cart(*, session: Session, owner: CartOwner) -> None:
    cart = _find_cart(session, owner)
    if cart is not None:
        session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
        session.flush()


def merge_carts(*, session: Session, visitor_key: str, user_id: int) -> CartView:
    """At sign-in: move the anonymous visitor's lines into the user's cart, then drop it."""
    owner = CartOwner(user_id=user_id)
    anonymous = _find_cart(session, CartOwner(visitor_key=visitor_key))
    if anonymous is None:
        return view_cart(session=session, owner=owner)
    cart = _cart_for_update(session, owner)
    for item in _items(session, anonymous.id):
        mine = session.get(CartItem, (cart.id, item.product_id))
        if mine is None:
            session.add(
                CartItem(cart_id=cart.id, product_id=item.product_id, quantity=item.quantity)
            )
        else:
            mine.quantity = min(MAX_LINE_QUANTITY, mine.quantity + item.quantity)
    session.flush()
    session.execute(delete(CartItem).where(CartItem.cart_id == anonymous.id))
    session.execute(delete(Cart).where(Cart.id == anonymous.id))
    session.flush()
    return view_cart(session=session, owner=owner)


# ---------------------------------------------------------------------------------------------
# Placing orders
# ---------------------------------------------------------------------------------------------


def find_order_by_key(*, session: Session, customer_id: int, idempotency_key: str) -> Order | None:
    return session.scalar(
        select(Order).where(
            Order.customer_id == customer_id, Order.idempotency_key == idempotency_key
        )
    )


@dataclass(frozen=True)
class FulfilmentOption:
    """A location as a candidate to ship an order from."""

    location_id: int
    code: str
    name: str
    city: str
    country: str
    missing_units: int  # units of the order it cannot serve now; 0 = can serve everything
    spare_units: int

    @property
    def can_serve(self) -> bool:
        return self.missing_units == 0


def _wanted(lines: Sequence[LineRequest]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    if not wanted:
        raise InvalidRequest("an order needs at least one line")
    return wanted


def _stock_of(session: Session, product_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    rows = session.execute(
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.on_hand - StockLevel.reserved,
        ).where(StockLevel.product_id.in_(list(product_ids)))
    )
    return {(int(p), int(loc)): int(a) for p, loc, a in rows}


def fulfilment_options(
    *, session: Session, lines: Sequence[LineRequest], country: str | None = None
) -> list[FulfilmentOption]:
    """Every location, best first: those that can serve every line, in the customer's country
    first, then by the stock they would have left (so one store is not emptied first)."""
    wanted = _wanted(lines)
    available = _stock_of(session, list(wanted))
    options = []
    for location in session.scalars(select(Location).order_by(Location.id)):
        have = {pid: available.get((pid, location.id), 0) for pid in wanted}
        options.append(
            FulfilmentOption(
                location_id=location.id,
                code=location.code,
                name=location.name,
                city=location.city,
                country=location.country,
                missing_units=sum(max(0, q - have[pid]) for pid, q in wanted.items()),
                spare_units=sum(have[pid] - q for pid, q in wanted.items()),
            )
        )
    return sorted(
        options,
        key=lambda o: (
            o.missing_units,
            country is not None and o.country != country,
            -o.spare_units,
            o.location_id,
        ),
    )


def choose_location(
    *, session: Session, lines: Sequence[LineRequest], country: str | None = None
) -> int:
    """The best location that can serve every line now (see `fulfilment_options`). When none
    can, raises `InsufficientStock` naming the short lines at the one that comes closest."""
    options = fulfilment_options(session=session, lines=lines, country=country)
    if not options:
        raise InvalidRequest("there is no location to ship from")
    best = options[0]
    if best.can_serve:
        return best.location_id
    wanted = _wanted(lines)
    available = _stock_of(session, list(wanted))
    skus = dict(
        session.execute(select(Product.id, Product.sku).where(Product.id.in_(list(wanted)))).all()
    )
    raise InsufficientStock(
        [
            Shortage(
                product_id=pid,
                sku=skus.get(pid, str(pid)),
                location_code=best.code,
                requested=qty,
                available=max(0, available.get((pid, best.location_id), 0)),
            )
            for pid, qty in wanted.items()
            if qty > available.get((pid, best.location_id), 0)
        ]
    )


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    replayed: bool  # True when the idempotency key had already made this order
    view: OrderView | None = None  # the order as placed, when it was built on the way


def place_customer_order(
    *,
    session: Session,
    customer_id: int,
    lines: Sequence[LineRequest],
    idempotency_key: str,
    location_id: int | None = None,
) -> PlacedOrder:
    """Place an order for a customer, choosing the location unless one is given. Retrying with
    the same key and lines returns the first order; other lines under that key are refused.

    With a location given this is `place_order` and nothing more (the hot path of the API);
    the returned view is built from the rows the order was made of, without reading them back.
    """
    started = utcnow()
    if location_id is None:
        existing = find_order_by_key(
            session=session, customer_id=customer_id, idempotency_key=idempotency_key
        )
        if existing is not None:
            location_id = existing.location_id
        else:
            country = session.scalar(select(Customer.country).where(Customer.id == customer_id))
            location_id = choose_location(session=session, lines=lines, country=country)
    order = place_order(
        session=session,
        customer_id=customer_id,
        location_id=location_id,
        lines=lines,
        idempotency_key=idempotency_key,
    )
    return PlacedOrder(
        order_id=order.id, replayed=order.created_at < started, view=view_of_order(order)
    )


def checkout(
    *,
    session: Session,
    customer_id: int,
    user_id: int,
    idempotency_key: str,
    location_id: int | None = None,
) -> PlacedOrder:
    """Turn the user's cart into an order and empty the cart. Submitting the same checkout
    form twice (same key) returns the first order, even though the cart is empty by then."""
    existing = find_order_by_key(
        session=session, customer_id=customer_id, idempotency_key=idempotency_key
    )
    if existing is not None:
        return PlacedOrder(order_id=existing.id, replayed=True)
    owner = CartOwner(user_id=user_id)
    cart = view_cart(session=session, owner=owner)
    if cart.is_empty:
        raise InvalidRequest("your cart is empty; add products before checking out")
    placed = place_customer_order(
        session=session,
        customer_id=customer_id,
        lines=[LineRequest(line.product.id, line.quantity) for line in cart.lines],
        idempotency_key=idempotency_key,
        location_id=location_id,
    )
    clear_cart(session=session, owner=owner)
    return placed


# ---------------------------------------------------------------------------------------------
# The customer's orders
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLineView:
    line_no: int
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price * self.quantity * (1 - self.discount)).quantize(CENT)


@dataclass(frozen=True)
class TimelineStep:
    status: OrderStatus
    reached_at: datetime | None
    note: str | None = None


@dataclass(frozen=True)
class OrderView:
    id: int
    customer_id: int
    status: OrderStatus
    ordered_at: datetime
    location_id: int
    location_name: str
    lines: list[OrderLineView]
    events: list[TimelineStep]

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def can_cancel(self) -> bool:
        """Customers may cancel online while the order is still pending."""
        return self.status is OrderStatus.PENDING

    @property
    def timeline(self) -> list[TimelineStep]:
        """The four steps of an order, each with when it was reached (None: not yet); a
        cancelled order shows the steps it reached and then its cancellation."""
        reached = {e.status: e for e in self.events}
        if self.status is OrderStatus.CANCELLED:
            steps = [reached[s] for s in TIMELINE if s in reached]
            return [*steps, reached[OrderStatus.CANCELLED]]
        return [reached.get(s, TimelineStep(s, None)) for s in TIMELINE]


@dataclass(frozen=True)
class OrderSummary:
    id: int
    status: OrderStatus
    ordered_at: datetime
    location_name: str
    item_count: int
    total: Decimal


@dataclass(frozen=True)
class OrderPage:
    items: list[OrderSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _owned_order(session: Session, order_id: int, customer_id: int | None) -> Order:
    order = session.get(Order, order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        # Someone else's order is reported exactly like a missing one: no existence leak.
        raise NotFound(f"order {order_id} does not exist")
    return order


def order_view(*, session: Session, order_id: int, customer_id: int | None) -> OrderView:
    """One order with its lines and timeline. `customer_id` limits it to that customer's orders
    (None: any order, for staff)."""
    order = _owned_order(session, order_id, customer_id)
    rows = session.execute(
        select(OrderLine, Product.sku, Product.name)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id == order.id)
        .order_by(OrderLine.line_no)
    ).all()
    events = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).all()
    location = session.get(Location, order.location_id)
    return OrderView(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,
        ordered_at=order.ordered_at,
        location_id=order.location_id,
        location_name=location.name if location else "",
        lines=[
            OrderLineView(
                line_no=line.line_no,
                product_id=line.product_id,
                sku=sku,
                name=name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line, sku, name in rows
        ],
        events=[TimelineStep(e.status, e.occurred_at, e.note) for e in events],
    )


def view_of_order(order: Order) -> OrderView:
    """The view of an order whose lines and events are loaded (as `place_order` returns it);
    products and location come from the session's identity map, so usually no SQL runs."""
    return OrderView(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,
        ordered_at=order.ordered_at,
        location_id=order.location_id,
        location_name=order.location.name,
        lines=[
            OrderLineView(
                line_no=line.line_no,
                product_id=line.product_id,
                sku=line.product.sku,
                name=line.product.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line in order.lines
        ],
        events=[TimelineStep(e.status, e.occurred_at, e.note) for e in order.events],
    )


def list_orders(
    *, session: Session, customer_id: int | None, page: int = 1, per_page: int = 20
) -> OrderPage:
    """Newest first; a customer's own orders, or every order when `customer_id` is None."""
    page = max(1, page)
    per_page = min(max(1, per_page), 100)
    filters = [Order.customer_id == customer_id] if customer_id is not None else []
    total = session.scalar(select(func.count(Order.id)).where(*filters)) or 0
    amount = OrderLine.quantity * OrderLine.unit_price * (1 - OrderLine.discount)
    rows = session.execute(
        select(
            Order.id,
            Order.status,
            Order.ordered_at,
            Location.name,
            func.coalesce(func.sum(OrderLine.quantity), 0),
            func.coalesce(func.sum(amount), 0),
        )
        .join(Location, Location.id == Order.location_id)
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .where(*filters)
        .group_by(Order.id, Order.status, Order.ordered_at, Location.name)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return OrderPage(
        items=[
            OrderSummary(
                id=oid,
                status=OrderStatus(status),
                ordered_at=ordered_at,
                location_name=location,
                item_count=int(count),
                total=Decimal(total_amount).quantize(CENT),
            )
            for oid, status, ordered_at, location, count, total_amount in rows
        ],
        total=int(total),
        page=page,
        per_page=per_page,
    )


def cancel_customer_order(*, session: Session, order_id: int, customer_id: int | None) -> OrderView:
    """Cancel an order and return its stock. Customers may cancel only while it is pending;
    staff (`customer_id` None) whenever the life cycle allows."""
    order = _owned_order(session, order_id, customer_id)
    if customer_id is not None and order.status is not OrderStatus.PENDING:
        raise InvalidTransition(
            f"order {order_id} is {order.status.value}; only pending orders can be cancelled "
            "online (contact us to cancel it)"
        )
    cancel_order(
        session=session,
        order_id=order_id,
        reason="cancelled by the customer" if customer_id is not None else "cancelled by staff",
    )
    return order_view(session=session, order_id=order_id, customer_id=customer_id)


# ---------------------------------------------------------------------------------------------
# Point of sale
# ---------------------------------------------------------------------------------------------

WALK_IN_DOMAIN = "pos.shelfwise.invalid"


def walk_in_email(code: str, location_id: int) -> str:
    """`walk-in+<code>@…`: a store code that is no valid local part of an address ("BER 1")
    becomes a slug with the location's id, so that the email rules of imports and of the
    pipeline's silver layer accept it (it did not, and silver quarantined the walk-in customer
    and every till sale with it) and two codes never share a slug."""
    local = code.lower()
    if not re.fullmatch(r"[a-z0-9._-]+", local):
        local = f"{re.sub(r'[^a-z0-9]+', '-', local).strip('-')}-{location_id}".lstrip("-")
    return f"walk-in+{local}@{WALK_IN_DOMAIN}"


def walk_in_customer(*, session: Session, location_id: int) -> int:
    """The anonymous "walk-in" customer that a store's till sales are booked to."""
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(f"location {location_id} does not exist")
    email = walk_in_email(location.code, location_id)
    found = session.scalar(select(Customer.id).where(Customer.email == email))
    if found is not None:
        return int(found)
    try:
        with session.begin_nested():
            customer = Customer(
                name=f"Walk-in customers, {location.name}",
                email=email,
                segment=Segment.CONSUMER,
                country=location.country,
                city=location.city,
            )
            session.add(customer)
            session.flush()
            return customer.id
    except IntegrityError:
        found = session.scalar(select(Customer.id).where(Customer.email == email))
        assert found is not None
        return int(found)


def record_pos_sale(
    *,
    session: Session,
    location_id: int,
    receipt_id: str,
    lines: Sequence[LineRequest],
    sold_at: datetime | None = None,
) -> PlacedOrder:
    """Book a till sale as it happens: stock leaves the store through `place_order` and the
    order is delivered on the spot. The receipt id makes a resent sale count once."""
    customer_id = walk_in_customer(session=session, location_id=location_id)
    key = f"pos:{receipt_id}"
    existing = find_order_by_key(session=session, customer_id=customer_id, idempotency_key=key)
    sold_at = sold_at or utcnow()
    order = place_order(
        session=session,
        customer_id=customer_id,
        location_id=location_id,
        lines=lines,
        idempotency_key=key,
        ship_mode="in store",
        ordered_at=sold_at,
    )
    if existing is None:
        for status in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            set_order_status(
                session=session, order_id=order.id, status=status, at=sold_at, note="point of sale"
            )
    return PlacedOrder(order_id=order.id, replayed=existing is not None)
