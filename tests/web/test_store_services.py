"""The web shop's domain services on SQLite, PostgreSQL and MariaDB: accounts, throttling,
sessions, tokens, search, carts, checkout, the customer's orders, till sales, demo accounts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from shelfwise.pipeline.silver import EMAIL_PATTERN
from shelfwise.store.accounts import (
    ACCOUNT_FAILURE_LIMIT,
    LOGIN_WINDOW,
    authenticate,
    create_api_token,
    create_demo_accounts,
    create_user,
    end_session,
    principal_for_api_token,
    principal_for_session,
    revoke_api_token,
    start_session,
)
from shelfwise.store.carts import (
    CartOwner,
    add_to_cart,
    cart_item_count,
    checkout,
    choose_location,
    list_orders,
    merge_carts,
    order_view,
    record_pos_sale,
    view_cart,
    walk_in_email,
)
from shelfwise.store.catalog import ProductFilters, search_products
from shelfwise.store.db import Database
from shelfwise.store.errors import InsufficientStock, NotFound
from shelfwise.store.importing.values import email as email_value
from shelfwise.store.inventory import LineRequest
from shelfwise.store.kinds import OrderStatus, Role, Segment, TokenScope
from shelfwise.store.models import Customer, utcnow
from shelfwise.store.schema import upgrade
from tests.factories import make_world
from tests.web.shop import PASSWORD, ShopIds, populate


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mariadb"])
def shop_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, ShopIds]]:
    """One migrated, populated store per database for the whole module (migrating MariaDB
    is slow); the tests below are written not to depend on each other's changes."""
    server = None
    name = f"shelfwise_web_services_{request.param}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('services') / 'shop.db'}"
    else:
        server = request.getfixturevalue(f"{request.param}_server")
        url = server.create_database(name)
    db = Database(url)
    upgrade(db)
    with db.session() as session:
        ids = populate(session)
    yield db, ids
    db.dispose()
    if server is not None:
        server.drop_database(name)


def test_sign_in_throttling_and_sessions(shop_db: tuple[Database, ShopIds]) -> None:
    db, _ = shop_db
    now = utcnow()
    with db.session() as session:
        create_user(
            session=session, email="c0@throttle.example", password=PASSWORD, role=Role.STAFF
        )
        for _ in range(ACCOUNT_FAILURE_LIMIT):
            failed = authenticate(
                session=session,
                email="c0@throttle.example",
                password="nope",
                address="10.0.0.1",
                now=now,
            )
            assert failed.principal is None and not failed.throttled
        locked = authenticate(
            session=session,
            email="C0@throttle.example",
            password=PASSWORD,
            address="10.0.0.2",
            now=now,
        )
        assert (
            locked.throttled and 0 < (locked.retry_after or 0) <= LOGIN_WINDOW.total_seconds() + 1
        )
        later = now + LOGIN_WINDOW + timedelta(seconds=1)
        ok = authenticate(
            session=session,
            email="c0@throttle.example",
            password=PASSWORD,
            address="10.0.0.2",
            now=later,
        )
        assert ok.principal is not None and ok.principal.role is Role.STAFF
        token = start_session(session=session, user_id=ok.principal.user_id)
    with db.read_session() as session:
        assert principal_for_session(session=session, token=token) is not None
        assert principal_for_session(session=session, token=token + "x") is None
    with db.session() as session:
        end_session(session=session, token=token)
    with db.read_session() as session:
        assert principal_for_session(session=session, token=token) is None


def test_api_tokens_expire_and_revoke(shop_db: tuple[Database, ShopIds]) -> None:
    db, ids = shop_db
    with db.session() as session:
        issued = create_api_token(
            session=session, user_id=ids.users["staff"], name="short", lifetime=timedelta(hours=1)
        )
        pos = create_api_token(
            session=session,
            user_id=ids.users["staff"],
            name="till",
            scope=TokenScope.POS,
            location_id=ids.loc_de1,
        )
    with db.read_session() as session:
        principal = principal_for_api_token(session=session, token=issued.token)
        assert principal is not None and principal.is_staff
        assert (
            principal_for_api_token(
                session=session, token=issued.token, now=utcnow() + timedelta(hours=2)
            )
            is None
        )
        till = principal_for_api_token(session=session, token=pos.token)
        assert till is not None and till.location_id == ids.loc_de1
    with db.session() as session:
        revoke_api_token(session=session, token_id=issued.id)
    with db.read_session() as session:
        assert principal_for_api_token(session=session, token=issued.token) is None


def test_search_stems_and_typos(shop_db: tuple[Database, ShopIds]) -> None:
    db, _ = shop_db
    with db.read_session() as session:
        plural = search_products(session=session, filters=ProductFilters(query="Bookcases"))
        typo = search_products(session=session, filters=ProductFilters(query="walnutt"))
        wildcard = search_products(session=session, filters=ProductFilters(query="chair_model"))
    assert sorted(p.name for p in plural.items) == ["Oak Bookcase", "Walnut Bookcase"]
    assert typo.corrected_query == "walnut" and [p.name for p in typo.items] == ["Walnut Bookcase"]
    assert wildcard.total == 3  # "_" splits words; no LIKE wildcard leaks through


def test_cart_merge_checkout_and_orders(shop_db: tuple[Database, ShopIds]) -> None:
    db, ids = shop_db
    visitor = CartOwner(visitor_key="visitor-key-1")
    user = CartOwner(user_id=ids.users["customer_a"])
    assert user.user_id is not None
    with db.session() as session:
        add_to_cart(session=session, owner=user, product_id=ids.binder, quantity=1)
        add_to_cart(session=session, owner=visitor, product_id=ids.binder, quantity=2)
        add_to_cart(session=session, owner=visitor, product_id=ids.oak_bookcase)
        merged = merge_carts(session=session, visitor_key="visitor-key-1", user_id=user.user_id)
        assert {line.product.id: line.quantity for line in merged.lines} == {
            ids.binder: 3,
            ids.oak_bookcase: 1,
        }
        assert cart_item_count(session=session, owner=visitor) == 0
        first = checkout(
            session=session,
            customer_id=ids.customer_a,
            user_id=user.user_id,
            idempotency_key="k",
        )
        again = checkout(
            session=session,
            customer_id=ids.customer_a,
            user_id=user.user_id,
            idempotency_key="k",
        )
        assert again.order_id == first.order_id and again.replayed and not first.replayed
        assert view_cart(session=session, owner=user).is_empty
    with db.read_session() as session:
        view = order_view(session=session, order_id=first.order_id, customer_id=ids.customer_a)
        assert view.location_id == ids.loc_us and view.item_count == 4
        with pytest.raises(NotFound):
            order_view(session=session, order_id=first.order_id, customer_id=ids.customer_b)
        mine = list_orders(session=session, customer_id=ids.customer_a)
        assert first.order_id in [o.id for o in mine.items]
        theirs = list_orders(session=session, customer_id=ids.customer_b)
        assert first.order_id not in [o.id for o in theirs.items]
        everyone = list_orders(session=session, customer_id=None)
        assert first.order_id in [o.id for o in everyone.items]


def test_choose_location_prefers_the_customers_country(shop_db: tuple[Database, ShopIds]) -> None:
    db, ids = shop_db
    lines = [LineRequest(ids.binder, 2)]
    with db.read_session() as session:
        assert choose_location(session=session, lines=lines, country="US") == ids.loc_us
        assert choose_location(session=session, lines=lines, country="DE") == ids.loc_de0
        with pytest.raises(InsufficientStock) as short:
            choose_location(session=session, lines=[LineRequest(ids.binder, 50)], country="DE")
    assert short.value.shortages[0].sku == "OS-BIND"


def test_pos_sale_is_delivered_and_counted_once(shop_db: tuple[Database, ShopIds]) -> None:
    db, ids = shop_db
    with db.session() as session:
        sale = record_pos_sale(
            session=session,
            location_id=ids.loc_de1,
            receipt_id="T1",
            lines=[LineRequest(ids.binder, 1)],
        )
        again = record_pos_sale(
            session=session,
            location_id=ids.loc_de1,
            receipt_id="T1",
            lines=[LineRequest(ids.binder, 1)],
        )
    assert again.order_id == sale.order_id and again.replayed
    with db.read_session() as session:
        assert order_view(session=session, order_id=sale.order_id, customer_id=None).status is (
            OrderStatus.DELIVERED
        )


@pytest.mark.parametrize(
    ("code", "email"),
    [
        ("DE-BER", "walk-in+de-ber@pos.shelfwise.invalid"),
        ("BER 1", "walk-in+ber-1-7@pos.shelfwise.invalid"),
        ("Köln/2", "walk-in+k-ln-2-7@pos.shelfwise.invalid"),
        ("@@", "walk-in+7@pos.shelfwise.invalid"),
    ],
)
def test_walk_in_emails_pass_the_email_rules_whatever_the_store_code(code: str, email: str) -> None:
    """Imports accept store codes with spaces; the walk-in customer's address must still pass
    the import's and the pipeline's email rules, or silver quarantines every till sale."""
    made = walk_in_email(code, 7)
    assert made == email
    assert email_value(made) == made
    assert re.fullmatch(EMAIL_PATTERN, made)


def test_demo_accounts_can_sign_in(sqlite_db: Database) -> None:
    """On SQLite only: plain ORM inserts, and argon2 hashing is slow enough already."""
    with sqlite_db.session() as session:
        make_world(session, customers=1)
        accounts = create_demo_accounts(session=session)
        assert create_demo_accounts(session=session) == accounts  # idempotent
    assert [role for _, _, role in accounts] == ["admin", "staff", "customer", "customer"]
    assert accounts[2][0] == "c0@example.com"  # linked to the existing customer profile
    with sqlite_db.session() as session:
        for email, password, role in accounts:
            outcome = authenticate(session=session, email=email, password=password, address="demo")
            assert outcome.principal is not None and outcome.principal.role.value == role
            assert (outcome.principal.customer_id is not None) == (role == "customer")


def test_customer_registration_links_an_existing_profile(shop_db: tuple[Database, ShopIds]) -> None:
    db, _ = shop_db
    with db.session() as session:
        shopper = Customer(name="Shop Floor", email="floor@example.com", segment=Segment.CONSUMER)
        session.add(shopper)
        session.flush()
        user = create_user(
            session=session,
            email="Floor@Example.com",
            password=PASSWORD,
            role=Role.CUSTOMER,
            name="Shop Floor",
        )
        assert user.customer_id == shopper.id and user.email == "floor@example.com"


def test_migration_0002_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    new_tables = {"carts", "cart_items", "login_attempts", "user_sessions", "api_tokens"}
    assert new_tables <= set(inspect(db.engine).get_table_names())
    from alembic import command

    from shelfwise.store.schema import alembic_config

    with db.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert not new_tables & set(inspect(db.engine).get_table_names())
    upgrade(db)
    assert new_tables <= set(inspect(db.engine).get_table_names())
    db.dispose()
