"""Small, explicit worlds for tests: a few products, locations, customers and a supplier."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfwise.store.db import Database
from shelfwise.store.inventory import adjust_stock
from shelfwise.store.kinds import LocationKind, Segment
from shelfwise.store.models import (
    Category,
    Customer,
    Location,
    Product,
    ReorderSetting,
    StockLevel,
    SubCategory,
    Supplier,
    SupplierProduct,
)


@dataclass
class World:
    products: list[int] = field(default_factory=list)
    locations: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    supplier: int = 0


def make_world(
    session: Session,
    *,
    products: int = 3,
    locations: int = 2,
    customers: int = 2,
    stock: int = 10,
) -> World:
    """Products with `stock` units in every location, opened through the ledger."""
    furniture = Category(name="Furniture")
    chairs = SubCategory(category=furniture, name="Chairs")
    session.add_all([furniture, chairs])
    world = World()
    for i in range(products):
        product = Product(
            sku=f"SKU-{i:03d}",
            name=f"Chair model {i}",
            sub_category=chairs,
            brand="Acme",
            unit_price=Decimal("19.99") + i,
            unit_cost=Decimal("9.50"),
        )
        session.add(product)
        session.flush()
        world.products.append(product.id)
    for i in range(locations):
        location = Location(
            code=f"LOC{i}",
            name=f"Store {i}",
            kind=LocationKind.STORE,
            country="DE",
            region="Berlin",
            city="Berlin",
        )
        session.add(location)
        session.flush()
        world.locations.append(location.id)
    for i in range(customers):
        customer = Customer(
            name=f"Customer {i}", email=f"c{i}@example.com", segment=Segment.CONSUMER
        )
        session.add(customer)
        session.flush()
        world.customers.append(customer.id)
    supplier = Supplier(code="SUP1", name="Acme Supply", country="DE")
    session.add(supplier)
    session.flush()
    world.supplier = supplier.id
    for pid in world.products:
        session.add(
            SupplierProduct(
                supplier_id=supplier.id,
                product_id=pid,
                unit_cost=Decimal("9.50"),
                lead_time_days=7,
                min_order_quantity=5,
            )
        )
        for lid in world.locations:
            session.add(
                ReorderSetting(
                    product_id=pid, location_id=lid, min_quantity=3, max_quantity=20, pack_size=1
                )
            )
            if stock:
                adjust_stock(
                    session=session, product_id=pid, location_id=lid, delta=stock, reason="opening"
                )
    session.flush()
    return world


def world_in(db: Database, **kwargs: int) -> World:
    """`make_world` in a unit of work of its own, committed."""
    with db.session() as session:
        return make_world(session, **kwargs)


def on_hand(db: Database, product_id: int, location_id: int) -> int:
    """Units on hand of a product at a location, as committed."""
    with db.read_session() as session:
        return int(
            session.scalar(
                select(StockLevel.on_hand).where(
                    StockLevel.product_id == product_id, StockLevel.location_id == location_id
                )
            )
            or 0
        )
