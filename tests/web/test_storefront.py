"""The storefront as a browser without JavaScript sees it: pages, forms, redirects, messages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from shelfwise.store.inventory import adjust_stock
from tests.web.conftest import Shop, page_csrf, sign_in
from tests.web.shop import EMAILS, PASSWORD, csrf_from


def add_to_cart(client: TestClient, product_id: int, quantity: int = 1) -> None:
    token = page_csrf(client, f"/products/{product_id}")
    response = client.post(
        "/cart/items",
        data={"product_id": str(product_id), "quantity": str(quantity), "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def checkout(client: TestClient, location: str = "auto") -> tuple[int, str]:
    page = client.get("/checkout")
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    data = {
        "csrf_token": csrf_from(page.text),
        "idempotency_key": key.group(1),
        "location": location,
    }
    response = client.post("/checkout", data=data, follow_redirects=False)
    return response.status_code, response.headers.get("location", response.text)


def test_home_shows_categories(client: TestClient, shop: Shop) -> None:
    html = client.get("/").text
    for name in ("Furniture", "Office Supplies", "Technology", "Bookcases"):
        assert name in html
    assert f'href="/search?category={shop.ids.furniture}"' in html


def test_search_page_results_typos_and_field_problems(client: TestClient) -> None:
    html = client.get("/search", params={"q": "bookcases"}).text
    assert "Oak Bookcase" in html and "Walnut Bookcase" in html and "2 products" in html
    typo = client.get("/search", params={"q": "bokcase"}).text
    assert "Showing results for <strong>bookcase</strong>" in typo
    bad = client.get("/search", params={"min_price": "cheap"})
    assert bad.status_code == 200 and "enter an amount like 49.99" in bad.text


def test_search_page_paginates(client: TestClient) -> None:
    html = client.get("/search").text
    assert "7 products" in html and "Page 1 of" not in html  # 24 per page: one page
    assert "In stock only" in html


def test_product_page_shows_availability_and_related(client: TestClient, shop: Shop) -> None:
    html = client.get(f"/products/{shop.ids.binder}").text
    assert "Ring Binder" in html and "$4.99" in html
    assert "Low stock" in html and "In stock" in html  # 2 units in LOC1, more elsewhere
    assert "Add to cart" in html
    phone = client.get(f"/products/{shop.ids.desk_phone}").text
    assert "Out of stock everywhere" in phone and "Add to cart" not in phone


def test_anonymous_cart_update_and_remove(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    add_to_cart(client, ids.binder, 2)
    add_to_cart(client, ids.chairs[0])
    cart = client.get("/cart").text
    assert "Ring Binder" in cart and "$29.97" in cart and 'data-testid="cart-count">3<' in cart
    token = csrf_from(cart)
    client.post(f"/cart/items/{ids.binder}", data={"quantity": "5", "csrf_token": token})
    assert "$44.94" in client.get("/cart").text
    client.post(f"/cart/items/{ids.binder}", data={"quantity": "0", "csrf_token": token})
    cart = client.get("/cart").text
    assert "Ring Binder" not in cart and "Chair model 0" in cart
    gone = client.post(f"/cart/items/{ids.binder}", data={"quantity": "1", "csrf_token": token})
    assert "no longer in your cart" in gone.text


def test_registration_keeps_the_visitors_cart(client: TestClient, shop: Shop) -> None:
    add_to_cart(client, shop.ids.binder, 2)
    page = client.get("/account/register?next=/cart")
    response = client.post(
        "/account/register",
        data={
            "email": "reg@example.com",
            "name": "Reggie",
            "password": "Potted-plant-3",
            "password_confirm": "Potted-plant-3",
            "country": "de",
            "next": "/cart",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/cart"
    cart = client.get("/cart").text
    assert "Welcome, Reggie!" in cart and "Ring Binder" in cart


def test_registration_errors_are_shown_per_field(client: TestClient) -> None:
    page = client.get("/account/register")
    response = client.post(
        "/account/register",
        data={
            "email": "bad",
            "name": "",
            "password": "aaaaaaaaaaaa",
            "password_confirm": "different",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    for message in (
        "enter a valid email address",
        "enter your name",
        "two kinds of characters",
        "the two passwords differ",
    ):
        assert message in response.text
    assert 'aria-invalid="true"' in response.text


def test_sign_in_merges_the_visitors_cart_into_the_users(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    sign_in(client, EMAILS["customer_a"])
    add_to_cart(client, ids.binder, 1)
    client.post("/account/logout", data={"csrf_token": page_csrf(client)})
    add_to_cart(client, ids.binder, 2)
    add_to_cart(client, ids.chairs[1], 1)
    sign_in(client, EMAILS["customer_a"])
    cart = client.get("/cart").text
    assert f'id="qty-{ids.binder}" type="number" name="quantity" value="3"' in cart
    assert "Chair model 1" in cart


def test_checkout_requires_sign_in(client: TestClient) -> None:
    response = client.get("/checkout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/login?next=/checkout"


def test_checkout_order_page_and_cancel(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    sign_in(client, EMAILS["customer_a"])
    add_to_cart(client, ids.oak_bookcase, 1)
    add_to_cart(client, ids.binder, 2)
    status, location = checkout(client)
    assert status == 303 and location.startswith("/orders/")
    order_page = client.get(location).text
    assert "Thank you! Your order" in order_page
    assert 'data-testid="order-status">Pending<' in order_page
    assert "Newark warehouse" in order_page  # customer A is in the US
    assert "Oak Bookcase" in order_page and "$158.98" in order_page
    orders = client.get("/orders").text
    assert location in orders
    cancelled = client.post(
        f"{location}/cancel", data={"csrf_token": csrf_from(order_page)}, follow_redirects=True
    )
    assert (
        "is cancelled" in cancelled.text
        and 'data-testid="order-status">Cancelled<' in cancelled.text
    )
    again = client.post(f"{location}/cancel", data={"csrf_token": csrf_from(order_page)})
    assert "only pending orders can be cancelled" in again.text


def test_double_submitted_checkout_makes_one_order(client: TestClient, shop: Shop) -> None:
    sign_in(client, EMAILS["customer_b"])
    add_to_cart(client, shop.ids.binder, 1)
    page = client.get("/checkout")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    data = {"csrf_token": csrf_from(page.text), "idempotency_key": key.group(1), "location": "auto"}
    first = client.post("/checkout", data=data, follow_redirects=False)
    second = client.post("/checkout", data=data, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"]
    assert client.get("/api/v1/orders").json()["total"] == 1


def test_checkout_says_which_line_ran_short(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    sign_in(client, EMAILS["customer_b"])
    add_to_cart(client, ids.walnut_bookcase, 3)
    add_to_cart(client, ids.binder, 1)
    with shop.db.session() as session:
        for lid, units in ((ids.loc_de0, 4), (ids.loc_de1, 2), (ids.loc_us, 20)):
            adjust_stock(
                session=session,
                product_id=ids.walnut_bookcase,
                location_id=lid,
                delta=-units,
                reason="sold at the till",
            )
    status, html = checkout(client)
    assert status == 409
    assert "Walnut Bookcase: you asked for 3, only 1 left" in html
    assert "Ring Binder:" not in html


def test_checkout_from_a_location_the_customer_chose(client: TestClient, shop: Shop) -> None:
    sign_in(client, EMAILS["customer_b"])
    add_to_cart(client, shop.ids.binder, 1)
    status, location = checkout(client, location=str(shop.ids.loc_de1))
    assert status == 303
    assert "Store 1" in client.get(location).text


def test_staff_cannot_check_out(client: TestClient, shop: Shop) -> None:
    sign_in(client, EMAILS["staff"])
    add_to_cart(client, shop.ids.binder, 1)
    page = client.get("/checkout")
    assert "cannot place orders" in page.text and 'name="idempotency_key"' not in page.text
    data = {"csrf_token": csrf_from(page.text), "idempotency_key": "staff-attempt-1"}
    response = client.post("/checkout", data=data)
    assert response.status_code == 403 and "cannot place orders" in response.text


def test_another_customers_order_page_is_not_found(shop: Shop) -> None:
    with TestClient(shop.app) as alice, TestClient(shop.app) as bob:
        sign_in(alice, EMAILS["customer_a"])
        add_to_cart(alice, shop.ids.binder)
        _, location = checkout(alice)
        sign_in(bob, EMAILS["customer_b"])
        assert bob.get(location).status_code == 404
        assert bob.get("/orders/999999").status_code == 404
        assert location not in bob.get("/orders").text


def test_orders_page_requires_sign_in(client: TestClient) -> None:
    response = client.get("/orders", follow_redirects=False)
    assert response.headers["location"] == "/account/login?next=/orders"


def test_wrong_passwords_are_throttled(client: TestClient) -> None:
    page = client.get("/account/login")
    data = {
        "email": EMAILS["customer_a"],
        "password": "Wrong-one-1",
        "csrf_token": csrf_from(page.text),
    }
    for _ in range(5):
        response = client.post("/account/login", data=data)
        assert response.status_code == 400 and "Wrong email or password" in response.text
    throttled = client.post("/account/login", data={**data, "password": PASSWORD})
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0


def test_account_page_and_sign_out(client: TestClient) -> None:
    sign_in(client, EMAILS["admin"])
    assert "Admin" in client.get("/account").text
    response = client.post(
        "/account/logout", data={"csrf_token": page_csrf(client)}, follow_redirects=True
    )
    assert "You are signed out." in response.text and "Sign in" in response.text
