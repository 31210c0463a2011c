"""The operational schema: SQLAlchemy 2 typed models in third normal form.

Derived facts are not stored: a product's category follows from its sub-category, an order's
total from its lines, a purchase-order line's received quantity from its receipts. Stock levels
are the one deliberate exception (a running balance kept for fast, lockable availability checks);
the ledger in `stock_movements` is the truth it must always equal.

Every table carries `created_at` and `updated_at` (UTC, maintained here) so the pipeline can
extract incrementally by watermark.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shelfwise.store.kinds import (
    LocationKind,
    MovementKind,
    OrderStatus,
    Priority,
    PurchaseOrderStatus,
    Role,
    Segment,
    TokenScope,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2, asdecimal=True)
Rate = Numeric(5, 4, asdecimal=True)
# SQLite's INTEGER PRIMARY KEY must be exactly INTEGER to alias the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC on every backend and returned timezone-aware.

    MySQL and SQLite have no time zone in their column types; normalising on the way in and out
    keeps comparisons (watermarks, "orders of the last 7 days") identical on all three databases.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):  # type: ignore[no-untyped-def]
        if dialect.name == "mysql":
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Shelfwise stores UTC-aware timestamps")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    """`created_at`/`updated_at` kept by the store; the pipeline's watermark column."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False, index=True
    )


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    # Store the values ("home_office"), not the member names, as VARCHAR with a CHECK.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Category(Timestamped, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)

    sub_categories: Mapped[list[SubCategory]] = relationship(back_populates="category")


class SubCategory(Timestamped, Base):
    __tablename__ = "sub_categories"
    __table_args__ = (UniqueConstraint("category_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))

    category: Mapped[Category] = relationship(back_populates="sub_categories")


class Product(Timestamped, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    sub_category_id: Mapped[int] = mapped_column(ForeignKey("sub_categories.id"), index=True)
    brand: Mapped[str | None] = mapped_column(String(80))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    unit_cost: Mapped[Decimal | None] = mapped_column(Money)
    size: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    launched_on: Mapped[date | None] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date)

    sub_category: Mapped[SubCategory] = relationship()


class Location(Timestamped, Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[LocationKind] = mapped_column(_enum(LocationKind, "location_kind"))
    country: Mapped[str] = mapped_column(String(2), doc="ISO 3166-1 alpha-2")
    region: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80))


class StockLevel(Timestamped, Base):
    """The running balance per product and location; equals the ledger's sum at all times."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id"), primary_key=True, index=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship()
    location: Mapped[Location] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class ReorderSetting(Timestamped, Base):
    __tablename__ = "reorder_settings"
    __table_args__ = (
        CheckConstraint("min_quantity >= 0", name="min_not_negative"),
        CheckConstraint("max_quantity >= min_quantity", name="max_at_least_min"),
        CheckConstraint("pack_size >= 1", name="pack_size_positive"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id"), primary_key=True, index=True
    )
    min_quantity: Mapped[int] = mapped_column(Integer)
    max_quantity: Mapped[int] = mapped_column(Integer)
    pack_size: Mapped[int] = mapped_column(Integer, default=1)


class Customer(Timestamped, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    segment: Mapped[Segment] = mapped_column(_enum(Segment, "segment"))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(80))


class User(Timestamped, Base):
    """A login. Credentials live here only (argon2id hashes), never beside customer records."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)

    customer: Mapped[Customer | None] = relationship()


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (customer_id, idempotency_key), which it leads.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(
        _enum(OrderStatus, "order_status"), default=OrderStatus.PENDING
    )
    priority: Mapped[Priority] = mapped_column(
        _enum(Priority, "order_priority"), default=Priority.MEDIUM
    )
    ship_mode: Mapped[str | None] = mapped_column(String(40))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship()
    location: Mapped[Location] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )


class OrderLine(Timestamped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("discount >= 0 AND discount < 1", name="discount_fraction"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))  # leads (order_id, line_no)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money, doc="list price captured at order time")
    discount: Mapped[Decimal] = mapped_column(Rate, default=Decimal("0"))

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class OrderEvent(Timestamped, Base):
    """The status timeline shown to customers: one row per status an order reached."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_event_status"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(String(200))

    order: Mapped[Order] = relationship(back_populates="events")


class Supplier(Timestamped, Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(254))


class SupplierProduct(Timestamped, Base):
    __tablename__ = "supplier_products"
    __table_args__ = (
        CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),
        CheckConstraint("min_order_quantity >= 1", name="moq_positive"),
    )

    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True, index=True)
    unit_cost: Mapped[Decimal] = mapped_column(Money)
    lead_time_days: Mapped[int] = mapped_column(Integer, doc="promised lead time")
    min_order_quantity: Mapped[int] = mapped_column(Integer, default=1)


class PurchaseOrder(Timestamped, Base):
    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    status: Mapped[PurchaseOrderStatus] = mapped_column(
        _enum(PurchaseOrderStatus, "purchase_order_status"), default=PurchaseOrderStatus.ORDERED
    )
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expected_on: Mapped[date] = mapped_column(Date, doc="ordered date plus promised lead time")

    supplier: Mapped[Supplier] = relationship()
    location: Mapped[Location] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="purchase_order", cascade="all, delete-orphan"
    )


class PurchaseOrderLine(Timestamped, Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "product_id"),
        CheckConstraint("quantity_ordered > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity_ordered: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[Decimal] = mapped_column(Money)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    receipts: Mapped[list[PurchaseReceipt]] = relationship(back_populates="line")


class PurchaseReceipt(Timestamped, Base):
    """One delivery against a PO line; partial deliveries make several."""

    __tablename__ = "purchase_receipts"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purchase_order_line_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_order_lines.id"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    line: Mapped[PurchaseOrderLine] = relationship(back_populates="receipts")


class StockTransfer(Timestamped, Base):
    __tablename__ = "stock_transfers"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_location_id <> to_location_id", name="distinct_locations"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    from_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    transferred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockMovement(Timestamped, Base):
    """The stock ledger: append-only; every change of on-hand stock is one row."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        Index("ix_stock_movements_product_location", "product_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    kind: Mapped[MovementKind] = mapped_column(_enum(MovementKind, "movement_kind"))
    quantity: Mapped[int] = mapped_column(Integer, doc="signed change of on-hand units")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"), index=True)
    purchase_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_receipts.id"))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("stock_transfers.id"))


class Promotion(Timestamped, Base):
    """A price cut on one product for a period, in every location."""

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("discount > 0 AND discount < 1", name="discount_fraction"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    discount: Mapped[Decimal] = mapped_column(Rate)


class SynthTrueDemand(Timestamped, Base):
    """GROUND TRUTH from the generator, for evaluation only.

    The demand the synthetic world drew before stock capped it. No model may read this table
    for training or prediction; it exists so backtests can be scored against what shoppers wanted.
    """

    __tablename__ = "synth_true_demand"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    demand: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer)


# ---------------------------------------------------------------------------------------------
# Web shop (revision 0002): carts, sign-in sessions, login throttling, API tokens
# ---------------------------------------------------------------------------------------------


class Cart(Timestamped, Base):
    """A shopping cart, owned by a signed-in user or by an anonymous visitor's random key.

    The visitor key lives in the visitor's signed session cookie; at sign-in the anonymous cart
    is merged into the user's and deleted.
    """

    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (visitor_key IS NULL)", name="exactly_one_owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    visitor_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", order_by="CartItem.created_at", cascade="all, delete-orphan"
    )


class CartItem(Timestamped, Base):
    __tablename__ = "cart_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    cart_id: Mapped[int] = mapped_column(
        ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True, index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class LoginAttempt(Timestamped, Base):
    """One sign-in attempt; recent failures throttle an account and an address across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_attempted_at", "email", "attempted_at"),
        Index("ix_login_attempts_address_attempted_at", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), doc="as typed, normalised to lower case")
    address: Mapped[str] = mapped_column(String(64), doc="client IP address")
    succeeded: Mapped[bool] = mapped_column(default=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class UserSession(Timestamped, Base):
    """A signed-in browser session. Only a hash of its token is stored; deleting the row signs
    the browser out (logout, password change)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, doc="SHA-256 hex")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class ApiToken(Timestamped, Base):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the prefix identifies it
    in listings. Point-of-sale tokens are bound to the store whose till they serve."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[TokenScope] = mapped_column(_enum(TokenScope, "token_scope"))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, doc="SHA-256 hex")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    location: Mapped[Location | None] = relationship()
