"""Cart API and checkout: every route and every error branch."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shelfwise.store.inventory import adjust_stock
from tests.web.conftest import Shop, page_csrf, sign_in
from tests.web.shop import EMAILS, bearer


def test_cart_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/api/v1/cart")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_add_update_remove_and_empty(client: TestClient, shop: Shop) -> None:
    ids, auth = shop.ids, bearer(shop.ids, "customer_a")
    added = client.post(
        "/api/v1/cart/items", json={"product_id": ids.chairs[0], "quantity": 2}, headers=auth
    )
    assert added.status_code == 201
    again = client.post("/api/v1/cart/items", json={"product_id": ids.chairs[0]}, headers=auth)
    assert again.json()["lines"][0]["quantity"] == 3
    client.post("/api/v1/cart/items", json={"product_id": ids.binder, "quantity": 4}, headers=auth)
    cart = client.get("/api/v1/cart", headers=auth).json()
    assert cart["item_count"] == 7
    assert cart["total"] == "79.93"  # 3 × 19.99 + 4 × 4.99

    updated = client.put(f"/api/v1/cart/items/{ids.binder}", json={"quantity": 1}, headers=auth)
    assert updated.status_code == 200 and updated.json()["item_count"] == 4
    removed = client.put(f"/api/v1/cart/items/{ids.binder}", json={"quantity": 0}, headers=auth)
    assert [line["product"]["id"] for line in removed.json()["lines"]] == [ids.chairs[0]]
    deleted = client.delete(f"/api/v1/cart/items/{ids.chairs[0]}", headers=auth)
    assert deleted.json()["lines"] == []

    client.post("/api/v1/cart/items", json={"product_id": ids.binder}, headers=auth)
    assert client.delete("/api/v1/cart", headers=auth).status_code == 204
    assert client.get("/api/v1/cart", headers=auth).json()["item_count"] == 0


def test_carts_are_private(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    client.post(
        "/api/v1/cart/items",
        json={"product_id": ids.binder},
        headers=bearer(ids, "customer_a"),
    )
    other = client.get("/api/v1/cart", headers=bearer(ids, "customer_b")).json()
    assert other["lines"] == []


def test_line_short_of_stock_is_flagged(client: TestClient, shop: Shop) -> None:
    ids, auth = shop.ids, bearer(shop.ids, "customer_a")
    client.post(
        "/api/v1/cart/items", json={"product_id": ids.chairs[1], "quantity": 25}, headers=auth
    )
    line = client.get("/api/v1/cart", headers=auth).json()["lines"][0]
    assert line["short_by"] == 5  # 20 units across both stores


def test_add_unknown_or_retired_product(client: TestClient, shop: Shop) -> None:
    auth = bearer(shop.ids, "customer_a")
    missing = client.post("/api/v1/cart/items", json={"product_id": 999999}, headers=auth)
    assert missing.status_code == 404
    retired = client.post(
        "/api/v1/cart/items", json={"product_id": shop.ids.retired_binder}, headers=auth
    )
    assert retired.status_code == 422
    assert "no longer sold" in retired.json()["error"]["message"]


def test_cart_input_validation(client: TestClient, shop: Shop) -> None:
    auth, pid = bearer(shop.ids, "customer_a"), shop.ids.binder
    for body, field in [
        ({"product_id": pid, "quantity": 100}, "quantity"),
        ({"product_id": pid, "quantity": 0}, "quantity"),
        ({"quantity": 1}, "product_id"),
        ({"product_id": pid, "colour": "red"}, "colour"),
    ]:
        response = client.post("/api/v1/cart/items", json=body, headers=auth)
        assert response.status_code == 422, body
        assert field in response.json()["error"]["fields"], response.json()
    bad_json = client.post(
        "/api/v1/cart/items",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 422
    fields = bad_json.json()["error"]["fields"]
    assert list(fields) == ["body"], fields
    assert fields["body"].startswith("not valid JSON at character 1: "), fields


def test_update_of_a_product_not_in_the_cart(client: TestClient, shop: Shop) -> None:
    auth = bearer(shop.ids, "customer_a")
    response = client.put(
        f"/api/v1/cart/items/{shop.ids.binder}", json={"quantity": 2}, headers=auth
    )
    assert response.status_code == 404
    assert client.delete(f"/api/v1/cart/items/{shop.ids.binder}", headers=auth).status_code == 404


def test_checkout_places_one_order_and_empties_the_cart(client: TestClient, shop: Shop) -> None:
    ids, auth = shop.ids, bearer(shop.ids, "customer_a")
    client.post(
        "/api/v1/cart/items", json={"product_id": ids.oak_bookcase, "quantity": 2}, headers=auth
    )
    first = client.post("/api/v1/cart/checkout", headers={**auth, "Idempotency-Key": "co-1"})
    assert first.status_code == 201
    order = first.json()
    # Customer A lives in the US: the US warehouse serves the order.
    assert order["location_id"] == ids.loc_us and order["status"] == "pending"
    assert client.get("/api/v1/cart", headers=auth).json()["lines"] == []
    replay = client.post("/api/v1/cart/checkout", headers={**auth, "Idempotency-Key": "co-1"})
    assert replay.status_code == 200 and replay.json()["id"] == order["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    listed = client.get("/api/v1/orders", headers=auth).json()
    assert listed["total"] == 1


def test_checkout_from_a_chosen_location(client: TestClient, shop: Shop) -> None:
    ids, auth = shop.ids, bearer(shop.ids, "customer_a")
    client.post("/api/v1/cart/items", json={"product_id": ids.binder}, headers=auth)
    response = client.post(
        "/api/v1/cart/checkout",
        json={"location_id": ids.loc_de1},
        headers={**auth, "Idempotency-Key": "co-2"},
    )
    assert response.status_code == 201 and response.json()["location_id"] == ids.loc_de1


def test_checkout_of_an_empty_cart(client: TestClient, shop: Shop) -> None:
    response = client.post(
        "/api/v1/cart/checkout",
        headers={**bearer(shop.ids, "customer_a"), "Idempotency-Key": "co-3"},
    )
    assert response.status_code == 422
    assert "cart is empty" in response.json()["error"]["message"]


def test_checkout_names_the_short_line(client: TestClient, shop: Shop) -> None:
    ids, auth = shop.ids, bearer(shop.ids, "customer_a")
    client.post("/api/v1/cart/items", json={"product_id": ids.binder, "quantity": 3}, headers=auth)
    client.post(
        "/api/v1/cart/items", json={"product_id": ids.walnut_bookcase, "quantity": 4}, headers=auth
    )
    with shop.db.session() as session:  # stock ran out since the items were added
        for lid, units in ((ids.loc_de0, 5), (ids.loc_de1, 2), (ids.loc_us, 18)):
            adjust_stock(
                session=session,
                product_id=ids.walnut_bookcase,
                location_id=lid,
                delta=-units,
                reason="sold in store",
            )
    response = client.post("/api/v1/cart/checkout", headers={**auth, "Idempotency-Key": "co-4"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert [s["sku"] for s in error["shortages"]] == ["BK-WAL"]
    assert error["shortages"][0]["requested"] == 4 and error["shortages"][0]["available"] == 2
    assert client.get("/api/v1/cart", headers=auth).json()["item_count"] == 7  # cart kept


def test_checkout_from_an_unknown_location(client: TestClient, shop: Shop) -> None:
    auth = bearer(shop.ids, "customer_a")
    client.post("/api/v1/cart/items", json={"product_id": shop.ids.binder}, headers=auth)
    response = client.post(
        "/api/v1/cart/checkout",
        json={"location_id": 9999},
        headers={**auth, "Idempotency-Key": "co-5"},
    )
    assert response.status_code == 404


def test_checkout_needs_an_idempotency_key(client: TestClient, shop: Shop) -> None:
    response = client.post("/api/v1/cart/checkout", headers=bearer(shop.ids, "customer_a"))
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_staff_have_no_cart_to_check_out(client: TestClient, shop: Shop) -> None:
    response = client.post(
        "/api/v1/cart/checkout", headers={**bearer(shop.ids, "staff"), "Idempotency-Key": "s-1"}
    )
    assert response.status_code == 403
    assert "no customer profile" in response.json()["error"]["message"]


def test_session_cookie_calls_need_the_csrf_header(client: TestClient, shop: Shop) -> None:
    sign_in(client, EMAILS["customer_a"])
    body = {"product_id": shop.ids.binder}
    refused = client.post("/api/v1/cart/items", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    token = page_csrf(client)
    accepted = client.post("/api/v1/cart/items", json=body, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201
    assert client.get("/api/v1/cart").json()["item_count"] == 1  # reads need no token
