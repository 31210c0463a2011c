"""Orders API: place (idempotent), list, read, cancel; ownership and every error branch."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shelfwise.store.inventory import set_order_status
from shelfwise.store.kinds import OrderStatus
from tests.web.conftest import Shop
from tests.web.shop import ShopIds, bearer, on_hand


def place(
    client: TestClient, ids: ShopIds, who: str, key: str, lines: list[tuple[int, int]], **extra: int
) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": p, "quantity": q} for p, q in lines], **extra},
        headers={**bearer(ids, who), "Idempotency-Key": key},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_place_order_takes_stock_at_the_best_location(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    before = on_hand(shop.db, ids.chairs[0], ids.loc_de0)
    order = place(client, ids, "customer_b", "k-1", [(ids.chairs[0], 2), (ids.chairs[1], 1)])
    assert order["status"] == "pending" and order["customer_id"] == ids.customer_b
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [
        ("SKU-000", 2),
        ("SKU-001", 1),
    ]
    assert order["total"] == "60.97"
    assert [s["status"] for s in order["timeline"]] == ["pending", "paid", "shipped", "delivered"]
    assert order["timeline"][0]["occurred_at"] and order["timeline"][1]["occurred_at"] is None
    assert on_hand(shop.db, ids.chairs[0], order["location_id"]) == before - 2


def test_place_order_replay_returns_the_same_order(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    body = {"lines": [{"product_id": ids.binder, "quantity": 1}]}
    headers = {**bearer(ids, "customer_a"), "Idempotency-Key": "same"}
    first = client.post("/api/v1/orders", json=body, headers=headers)
    second = client.post("/api/v1/orders", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert client.get("/api/v1/orders", headers=bearer(ids, "customer_a")).json()["total"] == 1


def test_a_replay_at_a_chosen_location_answers_exactly_as_the_first_time(
    client: TestClient, shop: Shop
) -> None:
    """The hot path answers from what it wrote, a replay from what it reads back: the same
    JSON, to the discount's last decimal."""
    ids = shop.ids
    body = {"lines": [{"product_id": ids.binder, "quantity": 1}], "location_id": ids.loc_de0}
    headers = {**bearer(ids, "customer_a"), "Idempotency-Key": "same-here"}
    first = client.post("/api/v1/orders", json=body, headers=headers)
    second = client.post("/api/v1/orders", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()


def test_same_key_for_other_lines_is_refused(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    place(client, ids, "customer_a", "reused", [(ids.binder, 1)])
    response = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": ids.binder, "quantity": 2}]},
        headers={**bearer(ids, "customer_a"), "Idempotency-Key": "reused"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_place_order_without_idempotency_key(client: TestClient, shop: Shop) -> None:
    response = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": shop.ids.binder, "quantity": 1}]},
        headers=bearer(shop.ids, "customer_a"),
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_place_order_insufficient_stock(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    response = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": ids.chairs[0], "quantity": 11}]},
        headers={**bearer(ids, "customer_b"), "Idempotency-Key": "big"},
    )
    assert response.status_code == 409
    shortage = response.json()["error"]["shortages"][0]
    assert (shortage["sku"], shortage["requested"], shortage["available"]) == ("SKU-000", 11, 10)


def test_place_order_at_a_chosen_location_that_is_short(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    response = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"product_id": ids.oak_bookcase, "quantity": 3}],
            "location_id": ids.loc_de1,
        },
        headers={**bearer(ids, "customer_b"), "Idempotency-Key": "de1"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["shortages"][0]["location_code"] == "LOC1"


def test_place_order_unknown_product_or_location(client: TestClient, shop: Shop) -> None:
    auth = bearer(shop.ids, "customer_b")
    missing_product = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": 424242, "quantity": 1}], "location_id": shop.ids.loc_de0},
        headers={**auth, "Idempotency-Key": "p"},
    )
    assert missing_product.status_code == 404
    missing_location = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": shop.ids.binder, "quantity": 1}], "location_id": 4242},
        headers={**auth, "Idempotency-Key": "l"},
    )
    assert missing_location.status_code == 404


def test_place_order_of_a_retired_product(client: TestClient, shop: Shop) -> None:
    response = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"product_id": shop.ids.retired_binder, "quantity": 1}],
            "location_id": shop.ids.loc_de0,
        },
        headers={**bearer(shop.ids, "customer_b"), "Idempotency-Key": "r"},
    )
    assert response.status_code == 422


def test_place_order_body_validation(client: TestClient, shop: Shop) -> None:
    headers = {**bearer(shop.ids, "customer_a"), "Idempotency-Key": "v"}
    for body, field in [
        ({"lines": []}, "lines"),
        ({"lines": [{"product_id": shop.ids.binder, "quantity": 0}]}, "lines.0.quantity"),
        ({}, "lines"),
    ]:
        response = client.post("/api/v1/orders", json=body, headers=headers)
        assert response.status_code == 422
        assert field in response.json()["error"]["fields"], response.json()


def test_staff_cannot_place_orders(client: TestClient, shop: Shop) -> None:
    response = client.post(
        "/api/v1/orders",
        json={"lines": [{"product_id": shop.ids.binder, "quantity": 1}]},
        headers={**bearer(shop.ids, "admin"), "Idempotency-Key": "a"},
    )
    assert response.status_code == 403


def test_customers_list_only_their_own_orders_and_staff_all(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    a = place(client, ids, "customer_a", "a1", [(ids.binder, 1)])
    b = place(client, ids, "customer_b", "b1", [(ids.binder, 1)])
    mine = client.get("/api/v1/orders", headers=bearer(ids, "customer_a")).json()
    assert [o["id"] for o in mine["data"]] == [a["id"]]
    assert (mine["page"], mine["per_page"], mine["total"]) == (1, 20, 1)
    everyone = client.get("/api/v1/orders", headers=bearer(ids, "staff")).json()
    assert {o["id"] for o in everyone["data"]} == {a["id"], b["id"]}
    paged = client.get(
        "/api/v1/orders", params={"per_page": 1, "page": 2}, headers=bearer(ids, "admin")
    )
    assert paged.json()["total"] == 2 and len(paged.json()["data"]) == 1


def test_another_customers_order_is_not_found(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    order = place(client, ids, "customer_a", "mine", [(ids.binder, 1)])
    own = client.get(f"/api/v1/orders/{order['id']}", headers=bearer(ids, "customer_a"))
    assert own.status_code == 200
    other = client.get(f"/api/v1/orders/{order['id']}", headers=bearer(ids, "customer_b"))
    missing = client.get("/api/v1/orders/987654", headers=bearer(ids, "customer_b"))
    assert other.status_code == missing.status_code == 404
    # Same body apart from the id: nothing tells "exists but not yours" from "missing".
    assert other.json()["error"]["message"].replace(str(order["id"]), "N") == missing.json()[
        "error"
    ]["message"].replace("987654", "N")
    cancel = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bearer(ids, "customer_b"))
    assert cancel.status_code == 404
    assert (
        client.get(f"/api/v1/orders/{order['id']}", headers=bearer(ids, "staff")).status_code == 200
    )


def test_cancel_pending_order_returns_stock(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    order = place(client, ids, "customer_b", "c1", [(ids.chairs[2], 3)], location_id=ids.loc_de1)
    assert on_hand(shop.db, ids.chairs[2], ids.loc_de1) == 7
    response = client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=bearer(ids, "customer_b")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["can_cancel"] is False
    assert [s["status"] for s in body["timeline"]] == ["pending", "cancelled"]
    assert on_hand(shop.db, ids.chairs[2], ids.loc_de1) == 10
    again = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bearer(ids, "customer_b"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"


def test_customer_cannot_cancel_a_paid_order_but_staff_can(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    order = place(client, ids, "customer_b", "paid", [(ids.binder, 1)])
    with shop.db.session() as session:
        set_order_status(session=session, order_id=order["id"], status=OrderStatus.PAID)
    refused = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bearer(ids, "customer_b"))
    assert refused.status_code == 409
    assert "only pending orders" in refused.json()["error"]["message"]
    shown = client.get(f"/api/v1/orders/{order['id']}", headers=bearer(ids, "customer_b")).json()
    assert [s["occurred_at"] is not None for s in shown["timeline"]] == [True, True, False, False]
    by_staff = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bearer(ids, "staff"))
    assert by_staff.status_code == 200 and by_staff.json()["status"] == "cancelled"


def test_orders_need_authentication(client: TestClient, shop: Shop) -> None:
    assert client.get("/api/v1/orders").status_code == 401
    bad = client.get("/api/v1/orders", headers={"Authorization": "Bearer sw_not-a-real-token"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
    basic = client.get("/api/v1/orders", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_pos_token_cannot_act_as_its_user(client: TestClient, shop: Shop) -> None:
    response = client.get("/api/v1/orders", headers=bearer(shop.ids, "pos"))
    assert response.status_code == 403
    assert "point-of-sale" in response.json()["error"]["message"]


def test_the_server_checkpoints_the_sqlite_wal_in_the_background(shop: Shop) -> None:
    web_db = shop.app.state.db
    assert not web_db.checkpointer.running
    with TestClient(shop.app) as client:
        assert web_db.checkpointer.running  # started with the server, not inside requests
        order = place(client, shop.ids, "customer_b", "k-wal", [(shop.ids.chairs[0], 1)])
        assert order["status"] == "pending"
    assert not web_db.checkpointer.running  # stopped at shutdown
