"""Request and response bodies of the JSON API, named as in the FastAPI full-stack template:
`XCreate` / `XUpdate` come in, `XPublic` / `XsPublic` go out. Money is a decimal string."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shelfwise.store.carts import MAX_LINE_QUANTITY, CartView, OrderPage, OrderView
from shelfwise.store.catalog import (
    CategorySummary,
    LocationAvailability,
    ProductDetail,
    ProductPage,
    ProductSummary,
    StockState,
)
from shelfwise.store.kinds import LocationKind, OrderStatus, Role, TokenScope

Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY, description="units, 1 to 99")]
Id = Annotated[int, Field(ge=1, le=2**53, description="a positive identifier")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: not_found, validation_failed, ...")
    message: str = Field(description="what was wrong and how to fix it")
    fields: dict[str, str] = Field(default_factory=dict, description="problem per input field")
    model_config = ConfigDict(extra="allow")


class ErrorPublic(BaseModel):
    error: ErrorDetail


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------


class SubCategoryPublic(BaseModel):
    id: int
    name: str
    product_count: int


class CategoryPublic(BaseModel):
    id: int
    name: str
    product_count: int
    sub_categories: list[SubCategoryPublic]

    @classmethod
    def of(cls, c: CategorySummary) -> CategoryPublic:
        return cls(
            id=c.id,
            name=c.name,
            product_count=c.product_count,
            sub_categories=[
                SubCategoryPublic(id=s.id, name=s.name, product_count=s.product_count)
                for s in c.sub_categories
            ],
        )


class CategoriesPublic(BaseModel):
    data: list[CategoryPublic]


class ProductPublic(BaseModel):
    id: int
    sku: str
    name: str
    brand: str | None
    category_id: int
    category: str
    sub_category_id: int
    sub_category: str
    unit_price: Decimal = Field(description="list price")
    discount: Decimal = Field(description="running promotion, a fraction")
    price: Decimal = Field(description="what a shopper pays today")
    available: int = Field(description="units available, all locations together")
    stock: StockState

    @classmethod
    def of(cls, p: ProductSummary) -> ProductPublic:
        return cls(
            id=p.id,
            sku=p.sku,
            name=p.name,
            brand=p.brand,
            category_id=p.category_id,
            category=p.category,
            sub_category_id=p.sub_category_id,
            sub_category=p.sub_category,
            unit_price=p.unit_price,
            discount=p.discount,
            price=p.price,
            available=p.available,
            stock=p.stock,
        )


class ProductsPublic(BaseModel):
    data: list[ProductPublic]
    page: int
    per_page: int
    total: int
    corrected_query: str | None = Field(
        default=None, description="the words searched instead, when the query had a typo"
    )

    @classmethod
    def of(cls, page: ProductPage) -> ProductsPublic:
        return cls(
            data=[ProductPublic.of(p) for p in page.items],
            page=page.page,
            per_page=page.per_page,
            total=page.total,
            corrected_query=page.corrected_query,
        )


class AvailabilityPublic(BaseModel):
    location_id: int
    code: str
    name: str
    kind: LocationKind
    city: str
    country: str
    available: int
    state: StockState

    @classmethod
    def of(cls, a: LocationAvailability) -> AvailabilityPublic:
        return cls(
            location_id=a.location_id,
            code=a.code,
            name=a.name,
            kind=a.kind,
            city=a.city,
            country=a.country,
            available=a.available,
            state=a.state,
        )


class AvailabilitiesPublic(BaseModel):
    product_id: int
    data: list[AvailabilityPublic]


class ProductDetailPublic(ProductPublic):
    description: str | None
    size: str | None
    availability: list[AvailabilityPublic]
    related: list[ProductPublic]

    @classmethod
    def of_detail(cls, d: ProductDetail) -> ProductDetailPublic:
        return cls(
            **ProductPublic.of(d.summary).model_dump(),
            description=d.description,
            size=d.size,
            availability=[AvailabilityPublic.of(a) for a in d.availability],
            related=[ProductPublic.of(p) for p in d.related],
        )


# ---------------------------------------------------------------------------------------------
# Cart
# ---------------------------------------------------------------------------------------------


class CartItemCreate(Input):
    product_id: Id
    quantity: Quantity = 1


class CartItemUpdate(Input):
    quantity: Annotated[int, Field(ge=0, le=MAX_LINE_QUANTITY, description="0 removes the line")]


class CartLinePublic(BaseModel):
    product: ProductPublic
    quantity: int
    line_total: Decimal
    short_by: int = Field(description="units beyond what all locations hold now")


class CartPublic(BaseModel):
    lines: list[CartLinePublic]
    item_count: int
    total: Decimal

    @classmethod
    def of(cls, cart: CartView) -> CartPublic:
        return cls(
            lines=[
                CartLinePublic(
                    product=ProductPublic.of(line.product),
                    quantity=line.quantity,
                    line_total=line.line_total,
                    short_by=line.short_by,
                )
                for line in cart.lines
            ],
            item_count=cart.item_count,
            total=cart.total,
        )


class CheckoutCreate(Input):
    location_id: Id | None = Field(
        default=None, description="ship from this location; default: the best one"
    )


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


class OrderLineCreate(Input):
    product_id: Id
    quantity: Quantity


class OrderCreate(Input):
    lines: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=50)]
    location_id: Id | None = Field(
        default=None, description="ship from this location; default: the best one"
    )


class OrderLinePublic(BaseModel):
    line_no: int
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal


class OrderEventPublic(BaseModel):
    status: OrderStatus
    occurred_at: datetime | None = Field(description="null: not reached yet")
    note: str | None = None


class OrderPublic(BaseModel):
    id: int
    customer_id: int
    status: OrderStatus
    ordered_at: datetime
    location_id: int
    location_name: str
    lines: list[OrderLinePublic]
    timeline: list[OrderEventPublic]
    total: Decimal
    can_cancel: bool

    @classmethod
    def of(cls, o: OrderView) -> OrderPublic:
        return cls(
            id=o.id,
            customer_id=o.customer_id,
            status=o.status,
            ordered_at=o.ordered_at,
            location_id=o.location_id,
            location_name=o.location_name,
            lines=[
                OrderLinePublic(
                    line_no=line.line_no,
                    product_id=line.product_id,
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    discount=line.discount,
                    line_total=line.line_total,
                )
                for line in o.lines
            ],
            timeline=[
                OrderEventPublic(status=s.status, occurred_at=s.reached_at, note=s.note)
                for s in o.timeline
            ],
            total=o.total,
            can_cancel=o.can_cancel,
        )


class OrderSummaryPublic(BaseModel):
    id: int
    status: OrderStatus
    ordered_at: datetime
    location_name: str
    item_count: int
    total: Decimal


class OrdersPublic(BaseModel):
    data: list[OrderSummaryPublic]
    page: int
    per_page: int
    total: int

    @classmethod
    def of(cls, page: OrderPage) -> OrdersPublic:
        return cls(
            data=[
                OrderSummaryPublic(
                    id=o.id,
                    status=o.status,
                    ordered_at=o.ordered_at,
                    location_name=o.location_name,
                    item_count=o.item_count,
                    total=o.total,
                )
                for o in page.items
            ],
            page=page.page,
            per_page=page.per_page,
            total=page.total,
        )


# ---------------------------------------------------------------------------------------------
# Accounts and tokens
# ---------------------------------------------------------------------------------------------


class UserCreate(Input):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=256)]
    name: Annotated[str, Field(max_length=120)]
    country: Annotated[str | None, Field(default=None, max_length=2)] = None


class UserPublic(BaseModel):
    id: int
    email: str
    role: Role
    customer_id: int | None


class TokenCreate(Input):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=256)]
    name: Annotated[str, Field(min_length=1, max_length=80)] = "api"


class PosTokenCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=80, description="which till")]
    location_id: Id


class TokenPublic(BaseModel):
    id: int
    token: str = Field(description="shown once; send as `Authorization: Bearer <token>`")
    token_type: str = "bearer"
    name: str
    scope: TokenScope
    location_id: int | None
    expires_at: datetime | None


class PosSaleLine(Input):
    product_id: Id
    quantity: Quantity


class PosSaleCreate(Input):
    receipt_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="the till's receipt number; resending it does not sell twice",
        ),
    ]
    lines: Annotated[list[PosSaleLine], Field(min_length=1, max_length=100)]
    sold_at: datetime | None = Field(
        default=None, description="when the till sold it (timezone required); default now"
    )


class HealthPublic(BaseModel):
    status: str
    database: str


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses a route can give."""
    return {status: {"model": ErrorPublic} for status in statuses}
