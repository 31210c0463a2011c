"""A small shop for the web tests: catalogue, three locations, four accounts and their tokens.

Building it once (migrations, argon2 hashes) and copying the SQLite file per test keeps every
test on a fresh store without paying for the setup each time.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from shelfwise.config import Settings
from shelfwise.store.accounts import create_api_token, create_user
from shelfwise.store.db import Database
from shelfwise.store.inventory import adjust_stock
from shelfwise.store.kinds import LocationKind, Role, TokenScope
from shelfwise.store.models import Category, Customer, Location, Product, SubCategory
from shelfwise.store.schema import upgrade
from shelfwise.web.app import create_app
from tests.dbservers import find_free_port
from tests.factories import make_world

PASSWORD = "Correct-horse-9"
SECRET_KEY = "test-secret-key-for-signing-cookies-0123456789"
IDENTITIES = ("anonymous", "customer_a", "customer_b", "staff", "admin")
EMAILS = {
    "customer_a": "c0@example.com",
    "customer_b": "c1@example.com",
    "staff": "staff@example.com",
    "admin": "admin@example.com",
}


@dataclass
class ShopIds:
    chairs: list[int] = field(default_factory=list)
    oak_bookcase: int = 0
    walnut_bookcase: int = 0
    binder: int = 0
    retired_binder: int = 0
    desk_phone: int = 0
    furniture: int = 0
    office: int = 0
    loc_de0: int = 0
    loc_de1: int = 0
    loc_us: int = 0
    customer_a: int = 0
    customer_b: int = 0
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def _product(
    session: Session, sku: str, name: str, sub: SubCategory, price: str, *, active: bool = True
) -> int:
    product = Product(
        sku=sku,
        name=name,
        sub_category=sub,
        brand="Sauder" if "Bookcase" in name else "Acme",
        unit_price=Decimal(price),
        unit_cost=Decimal("1.00"),
        description=f"{name}: sturdy, simple, made to last.",
        active=active,
    )
    session.add(product)
    session.flush()
    return product.id


def populate(session: Session) -> ShopIds:
    """make_world's chairs and two German stores, plus bookcases, binders, a phone that is
    out of stock, a US warehouse, and the accounts: customers A (US) and B, staff, admin."""
    world = make_world(session, products=3, locations=2, customers=2, stock=10)
    ids = ShopIds(chairs=list(world.products), customer_a=world.customers[0])
    ids.customer_b = world.customers[1]
    ids.loc_de0, ids.loc_de1 = world.locations
    furniture = session.query(Category).filter_by(name="Furniture").one()
    bookcases = SubCategory(category=furniture, name="Bookcases")
    office = Category(name="Office Supplies")
    binders = SubCategory(category=office, name="Binders")
    technology = Category(name="Technology")
    phones = SubCategory(category=technology, name="Phones")
    session.add_all([bookcases, office, binders, technology, phones])
    session.flush()
    ids.furniture, ids.office = furniture.id, office.id
    ids.oak_bookcase = _product(session, "BK-OAK", "Oak Bookcase", bookcases, "149.00")
    ids.walnut_bookcase = _product(session, "BK-WAL", "Walnut Bookcase", bookcases, "199.00")
    ids.binder = _product(session, "OS-BIND", "Ring Binder", binders, "4.99")
    ids.retired_binder = _product(
        session, "OS-OLD", "Retired Binder", binders, "3.99", active=False
    )
    ids.desk_phone = _product(session, "TE-PHONE", "Desk Phone", phones, "89.00")
    us = Location(
        code="US1",
        name="Newark warehouse",
        kind=LocationKind.WAREHOUSE,
        country="US",
        region="East",
        city="Newark",
    )
    session.add(us)
    session.flush()
    ids.loc_us = us.id
    for pid in (ids.oak_bookcase, ids.walnut_bookcase, ids.binder):
        for lid, units in ((ids.loc_de0, 5), (ids.loc_de1, 2), (ids.loc_us, 20)):
            adjust_stock(
                session=session, product_id=pid, location_id=lid, delta=units, reason="opening"
            )
    customer_a = session.get(Customer, ids.customer_a)
    assert customer_a is not None
    customer_a.country = "US"
    for identity, email in EMAILS.items():
        role = {"staff": Role.STAFF, "admin": Role.ADMIN}.get(identity, Role.CUSTOMER)
        user = create_user(
            session=session, email=email, password=PASSWORD, role=role, name=identity
        )
        ids.users[identity] = user.id
        issued = create_api_token(
            session=session, user_id=user.id, name="tests", lifetime=timedelta(days=1)
        )
        ids.tokens[identity] = issued.token
    pos = create_api_token(
        session=session,
        user_id=ids.users["admin"],
        name="till 1",
        scope=TokenScope.POS,
        location_id=ids.loc_de0,
    )
    ids.tokens["pos"] = pos.token
    session.flush()
    return ids


def build_template(path: Path) -> ShopIds:
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.session() as session:
        ids = populate(session)
    db.dispose()
    with closing(sqlite3.connect(path)) as connection:  # fold the WAL into the file we copy
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def copy_store(template: Path, target: Path) -> Database:
    shutil.copyfile(template, target)
    return Database(f"sqlite:///{target}")


def make_app(db: Database, **kwargs: object) -> FastAPI:
    return create_app(Settings(secret_key=SECRET_KEY), database=db, **kwargs)  # type: ignore[arg-type]


def bearer(ids: ShopIds, identity: str) -> dict[str, str]:
    if identity == "anonymous":
        return {}
    return {"Authorization": f"Bearer {ids.tokens[identity]}"}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def on_hand(db: Database, product_id: int, location_id: int) -> int:
    with db.read_session() as session:
        value = session.execute(
            text("SELECT on_hand FROM stock_levels WHERE product_id = :p AND location_id = :l"),
            {"p": product_id, "l": location_id},
        ).scalar()
    return int(value or 0)


class LiveServer:
    """A real uvicorn server on 127.0.0.1 in a thread, for browsers and concurrent clients."""

    def __init__(self, app: FastAPI) -> None:
        self.port = find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        httpx.get(self.url + "/api/v1/health", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()
