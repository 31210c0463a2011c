"""Who may call what: every route of the app × {anonymous, customer A, customer B, staff,
admin}, with the status each must get. The table is checked against `app.routes`, so a new
route without an entry here fails the suite.

API routes authenticate with bearer tokens, storefront routes with a signed-in browser
session (and a valid CSRF token, so that only authorization decides the outcome).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from shelfwise.store.carts import CartOwner, add_to_cart
from shelfwise.store.db import Database
from shelfwise.store.inventory import LineRequest, adjust_stock, place_order
from tests.web.conftest import page_csrf, sign_in
from tests.web.forecasts import make_forecast_app, published_forecast_home
from tests.web.shop import EMAILS, IDENTITIES, PASSWORD, ShopIds, bearer, copy_store

_numbers = itertools.count(1)


@dataclass
class Context:
    db: Database
    app: FastAPI
    ids: ShopIds
    clients: dict[str, TestClient]  # browser sessions, one per identity
    api_client: TestClient  # no cookies: API calls carry their bearer token

    def order_of_a(self) -> int:
        """A fresh pending order of customer A."""
        with self.db.session() as session:
            order = place_order(
                session=session,
                customer_id=self.ids.customer_a,
                location_id=self.ids.loc_us,
                lines=[LineRequest(self.ids.binder, 1)],
            )
            return order.id

    def fill_cart(self, identity: str) -> None:
        if identity == "anonymous":
            return
        with self.db.session() as session:
            add_to_cart(
                session=session,
                owner=CartOwner(user_id=self.ids.users[identity]),
                product_id=self.ids.binder,
            )


@dataclass
class Call:
    params: dict[str, int] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Setup = Callable[[Context, str], Call]
ALL = dict.fromkeys(IDENTITIES)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(IDENTITIES, status)


def signed_in(status: int, anonymous: int = 401) -> dict[str, int]:
    return {**everyone(status), "anonymous": anonymous}


def customers(ok: int, staff: int, anonymous: int = 401) -> dict[str, int]:
    return {
        "anonymous": anonymous,
        "customer_a": ok,
        "customer_b": ok,
        "staff": staff,
        "admin": staff,
    }


def owner_only(ok: int, anonymous: int = 401) -> dict[str, int]:
    """Customer A's order: A and staff may; B gets 404 (as if it did not exist)."""
    return {"anonymous": anonymous, "customer_a": ok, "customer_b": 404, "staff": ok, "admin": ok}


def nothing(_ctx: Context, _who: str) -> Call:
    return Call()


def product(ctx: Context, _who: str) -> Call:
    return Call(params={"product_id": ctx.ids.oak_bookcase})


def cart_line(ctx: Context, who: str) -> Call:
    ctx.fill_cart(who)
    return Call(params={"product_id": ctx.ids.binder}, json={"quantity": 2})


def new_cart_line(ctx: Context, _who: str) -> Call:
    return Call(json={"product_id": ctx.ids.binder, "quantity": 1})


def cart_checkout(ctx: Context, who: str) -> Call:
    ctx.fill_cart(who)
    return Call(headers={"Idempotency-Key": f"authz-{next(_numbers)}"})


def new_order(ctx: Context, _who: str) -> Call:
    return Call(
        json={"lines": [{"product_id": ctx.ids.binder, "quantity": 1}]},
        headers={"Idempotency-Key": f"authz-{next(_numbers)}"},
    )


def order_of_a(ctx: Context, _who: str) -> Call:
    return Call(params={"order_id": ctx.order_of_a()})


def new_user(_ctx: Context, _who: str) -> Call:
    n = next(_numbers)
    return Call(json={"email": f"authz{n}@example.com", "password": PASSWORD, "name": f"N{n}"})


def token_request(_ctx: Context, _who: str) -> Call:
    return Call(json={"email": EMAILS["customer_b"], "password": PASSWORD})


def own_fresh_token(ctx: Context, who: str) -> Call:
    """Revoke a token made for this case, not the identity's shared one."""
    if who == "anonymous":
        return Call()
    issued = ctx.clients["anonymous"].post(
        "/api/v1/auth/tokens", json={"email": EMAILS[who], "password": PASSWORD}
    )
    return Call(headers={"Authorization": f"Bearer {issued.json()['token']}"})


def pos_token(ctx: Context, _who: str) -> Call:
    return Call(json={"name": "till", "location_id": ctx.ids.loc_de1})


def pos_sale(ctx: Context, _who: str) -> Call:
    return Call(
        json={
            "receipt_id": f"R{next(_numbers)}",
            "lines": [{"product_id": ctx.ids.binder, "quantity": 1}],
        }
    )


def form(fields: dict[str, str] | None = None) -> Setup:
    def setup(_ctx: Context, _who: str) -> Call:
        return Call(data=dict(fields or {}))

    return setup


def add_form(ctx: Context, _who: str) -> Call:
    return Call(data={"product_id": str(ctx.ids.binder), "quantity": "1"})


def update_form(ctx: Context, who: str) -> Call:
    ctx.fill_cart(who)
    return Call(params={"product_id": ctx.ids.binder}, data={"quantity": "3"})


def checkout_form(ctx: Context, who: str) -> Call:
    ctx.fill_cart(who)
    return Call(data={"idempotency_key": f"authz-form-{next(_numbers)}", "location": "auto"})


def register_form(_ctx: Context, _who: str) -> Call:
    n = next(_numbers)
    return Call(
        data={
            "email": f"form{n}@example.com",
            "name": f"Form {n}",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
    )


def login_form(_ctx: Context, who: str) -> Call:
    return Call(data={"email": EMAILS.get(who, EMAILS["customer_b"]), "password": PASSWORD})


def password_form(_ctx: Context, _who: str) -> Call:
    bad = "Not-my-password-1"
    return Call(data={"current_password": bad, "new_password": bad, "new_password_confirm": bad})


def static_file(_ctx: Context, _who: str) -> Call:
    return Call()


@dataclass(frozen=True)
class Entry:
    expected: dict[str, int]
    setup: Setup = nothing
    concrete_path: str | None = None  # for mounts
    fresh_client: bool = False  # the call changes who is signed in


TABLE: dict[tuple[str, str], Entry] = {
    # JSON API
    ("GET", "/api/v1/categories"): Entry(everyone(200)),
    ("GET", "/api/v1/products"): Entry(everyone(200)),
    ("GET", "/api/v1/products/{product_id}"): Entry(everyone(200), product),
    ("GET", "/api/v1/products/{product_id}/availability"): Entry(everyone(200), product),
    ("GET", "/api/v1/cart"): Entry(signed_in(200)),
    ("POST", "/api/v1/cart/items"): Entry(signed_in(201), new_cart_line),
    ("PUT", "/api/v1/cart/items/{product_id}"): Entry(signed_in(200), cart_line),
    ("DELETE", "/api/v1/cart/items/{product_id}"): Entry(signed_in(200), cart_line),
    ("DELETE", "/api/v1/cart"): Entry(signed_in(204)),
    ("POST", "/api/v1/cart/checkout"): Entry(customers(201, staff=403), cart_checkout),
    ("POST", "/api/v1/orders"): Entry(customers(201, staff=403), new_order),
    ("GET", "/api/v1/orders"): Entry(signed_in(200)),
    ("GET", "/api/v1/orders/{order_id}"): Entry(owner_only(200), order_of_a),
    ("POST", "/api/v1/orders/{order_id}/cancel"): Entry(owner_only(200), order_of_a),
    ("POST", "/api/v1/users"): Entry(everyone(201), new_user),
    ("POST", "/api/v1/auth/tokens"): Entry(everyone(201), token_request),
    ("DELETE", "/api/v1/auth/tokens/current"): Entry(signed_in(204), own_fresh_token),
    ("GET", "/api/v1/auth/me"): Entry(signed_in(200)),
    ("POST", "/api/v1/pos/tokens"): Entry({**signed_in(403), "admin": 201}, pos_token),
    ("POST", "/api/v1/pos/sales"): Entry(signed_in(403), pos_sale),
    ("GET", "/api/v1/forecasts/products/{product_id}"): Entry(customers(403, staff=200), product),
    ("GET", "/api/v1/health"): Entry(everyone(200)),
    ("GET", "/api/v1/docs"): Entry(everyone(200)),
    ("GET", "/api/v1/openapi.json"): Entry(everyone(200)),
    # Storefront (303 for anonymous = sent to the sign-in page)
    ("GET", "/"): Entry(everyone(200)),
    ("GET", "/search"): Entry(everyone(200)),
    ("GET", "/products/{product_id}"): Entry(everyone(200), product),
    ("GET", "/cart"): Entry(everyone(200)),
    ("POST", "/cart/items"): Entry(everyone(303), add_form),
    ("POST", "/cart/items/{product_id}"): Entry(everyone(303), update_form),
    ("GET", "/checkout"): Entry(signed_in(200, anonymous=303)),
    ("POST", "/checkout"): Entry(customers(303, staff=403, anonymous=303), checkout_form),
    ("GET", "/orders"): Entry(signed_in(200, anonymous=303)),
    ("GET", "/orders/{order_id}"): Entry(owner_only(200, anonymous=303), order_of_a),
    ("POST", "/orders/{order_id}/cancel"): Entry(owner_only(303, anonymous=303), order_of_a),
    ("GET", "/account"): Entry(signed_in(200, anonymous=303)),
    ("GET", "/account/register"): Entry(everyone(200)),
    ("POST", "/account/register"): Entry(everyone(303), register_form, fresh_client=True),
    ("GET", "/account/login"): Entry(everyone(200)),
    ("POST", "/account/login"): Entry(everyone(303), login_form, fresh_client=True),
    ("POST", "/account/logout"): Entry(everyone(303), fresh_client=True),
    ("GET", "/account/password"): Entry(signed_in(200, anonymous=303)),
    ("POST", "/account/password"): Entry(signed_in(422, anonymous=303), password_form),
    ("GET", "/staff/forecasts/{product_id}"): Entry(
        customers(403, staff=200, anonymous=303), product
    ),
    ("GET", "/static"): Entry(everyone(200), static_file, concrete_path="/static/css/shop.css"),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, through included routers (FastAPI keeps those nested)."""
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        assert path is not None
        if isinstance(route, Mount):
            routes.add(("GET", path))
        elif isinstance(route, APIRoute | Route):
            routes.update((m, path) for m in route.methods or set() if m != "HEAD")
        else:
            raise AssertionError(f"unexpected route type {type(route).__name__} at {path}")
    return routes


@pytest.fixture(scope="module")
def context(
    shop_template: tuple[Path, ShopIds], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    template, ids = shop_template
    db = copy_store(template, tmp_path_factory.mktemp("authz") / "shop.db")
    app = make_forecast_app(db, published_forecast_home(tmp_path_factory))  # staff see forecasts
    with db.session() as session:  # enough binders for every order the cases place
        for location_id in (ids.loc_de0, ids.loc_de1, ids.loc_us):
            adjust_stock(
                session=session,
                product_id=ids.binder,
                location_id=location_id,
                delta=1000,
                reason="delivery",
            )
    clients = {who: TestClient(app) for who in IDENTITIES}
    for who, client in clients.items():
        if who != "anonymous":
            sign_in(client, EMAILS[who])
    api_client = TestClient(app)
    yield Context(db=db, app=app, ids=ids, clients=clients, api_client=api_client)
    for client in [*clients.values(), api_client]:
        client.close()
    db.dispose()


def test_every_route_has_an_entry(context: Context) -> None:
    routes = app_routes(context.app)
    assert routes - set(TABLE) == set(), "add these routes to TABLE"
    assert set(TABLE) - routes == set(), "these TABLE entries match no route"


CASES = [(method, path, who) for (method, path) in TABLE for who in IDENTITIES]


@pytest.mark.parametrize(
    ("method", "path", "who"), CASES, ids=[f"{m} {p} as {w}" for m, p, w in CASES]
)
def test_route_authorization(context: Context, method: str, path: str, who: str) -> None:
    entry = TABLE[(method, path)]
    call = entry.setup(context, who)
    url = entry.concrete_path or path.format(**call.params)
    is_api = path.startswith("/api/")
    headers = dict(call.headers)
    if is_api and "Authorization" not in headers:
        headers.update(bearer(context.ids, who))
    client = context.api_client if is_api else context.clients[who]
    if entry.fresh_client:
        client = TestClient(context.app)
        if who != "anonymous":
            sign_in(client, EMAILS[who])
    data = call.data
    if not is_api and method == "POST":
        data = {**(data or {}), "csrf_token": page_csrf(client)}
    if is_api:
        client.cookies.clear()
    response = client.request(
        method, url, json=call.json, data=data, headers=headers, follow_redirects=False
    )
    expected = entry.expected[who]
    assert response.status_code == expected, (
        f"{method} {url} as {who}: {response.status_code}, expected {expected}: "
        f"{response.text[:300]}"
    )
    if expected == 303 and who == "anonymous" and entry.expected["customer_a"] != 303:
        assert response.headers["location"].startswith("/account/login?next=")
