"""Accounts API (register, tokens, me), throttling, and point-of-sale tokens and sales."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shelfwise.store.accounts import principal_for_api_token, revoke_api_token
from shelfwise.store.schema import head_revision
from tests.web.conftest import Shop, sign_in
from tests.web.shop import EMAILS, PASSWORD, bearer, csrf_from, on_hand


def test_register_creates_user_and_customer_profile(client: TestClient) -> None:
    response = client.post(
        "/api/v1/users",
        json={
            "email": "New@Example.com",
            "password": "Lamp-shade-42",
            "name": "Nia",
            "country": "fr",
        },
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new@example.com" and user["role"] == "customer"
    assert user["customer_id"] is not None
    token = client.post(
        "/api/v1/auth/tokens", json={"email": "new@example.com", "password": "Lamp-shade-42"}
    )
    assert token.status_code == 201


def test_register_refuses_weak_passwords_with_reasons(client: TestClient) -> None:
    cases = {
        "Short-1": "at least 10 characters",
        "alllowercaseletters": "two kinds of characters",
        "zoe.martin@example.com!": "email address",
    }
    for password, reason in cases.items():
        response = client.post(
            "/api/v1/users",
            json={"email": "zoe.martin@example.com", "password": password, "name": "Zoe"},
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert reason in error["fields"]["password"], error


def test_register_duplicate_email_and_bad_fields(client: TestClient) -> None:
    duplicate = client.post(
        "/api/v1/users", json={"email": EMAILS["customer_a"], "password": PASSWORD, "name": "A"}
    )
    assert "already exists" in duplicate.json()["error"]["fields"]["email"]
    bad = client.post(
        "/api/v1/users", json={"email": "not-an-email", "password": PASSWORD, "name": ""}
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"email", "name"}
    country = client.post(
        "/api/v1/users",
        json={"email": "x@example.com", "password": PASSWORD, "name": "X", "country": "1"},
    )
    assert "country" in country.json()["error"]["fields"]


def test_token_for_wrong_password_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/tokens", json={"email": EMAILS["customer_a"], "password": "Wrong-pass-1"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    unknown = client.post(
        "/api/v1/auth/tokens", json={"email": "ghost@example.com", "password": "x"}
    )
    assert unknown.status_code == 401


def test_repeated_failures_throttle_the_account(client: TestClient) -> None:
    body = {"email": EMAILS["customer_b"], "password": "Wrong-pass-1"}
    statuses = [client.post("/api/v1/auth/tokens", json=body).status_code for _ in range(5)]
    assert statuses == [401] * 5
    throttled = client.post(
        "/api/v1/auth/tokens", json={"email": EMAILS["customer_b"], "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    # Another account from the same address is not locked by these five failures.
    other = client.post(
        "/api/v1/auth/tokens", json={"email": EMAILS["customer_a"], "password": PASSWORD}
    )
    assert other.status_code == 201


def test_me_and_revoking_the_current_token(client: TestClient) -> None:
    issued = client.post(
        "/api/v1/auth/tokens",
        json={"email": EMAILS["staff"], "password": PASSWORD, "name": "laptop"},
    ).json()
    auth = {"Authorization": f"Bearer {issued['token']}"}
    me = client.get("/api/v1/auth/me", headers=auth).json()
    assert (me["email"], me["role"], me["customer_id"]) == (EMAILS["staff"], "staff", None)
    assert client.delete("/api/v1/auth/tokens/current", headers=auth).status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


def test_a_token_revoked_elsewhere_works_until_its_check_is_forgotten(
    client: TestClient, shop: Shop
) -> None:
    """A checked token is remembered for a few seconds (TokenCache), so a revocation made
    outside this server (the CLI, another process) takes effect when that memory ends."""
    headers = bearer(shop.ids, "customer_a")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with shop.db.session() as session:
        principal = principal_for_api_token(session=session, token=shop.ids.tokens["customer_a"])
        assert principal is not None and principal.token_id is not None
        revoke_api_token(session=session, token_id=principal.token_id)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200  # remembered
    shop.app.state.token_cache.forget(principal.token_id)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_revoked_token_is_refused_once_its_check_expires(client: TestClient, shop: Shop) -> None:
    shop.app.state.token_cache.ttl = 0  # nothing is remembered
    headers = bearer(shop.ids, "customer_b")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with shop.db.session() as session:
        principal = principal_for_api_token(session=session, token=shop.ids.tokens["customer_b"])
        assert principal is not None and principal.token_id is not None
        revoke_api_token(session=session, token_id=principal.token_id)
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"


def test_revoking_without_a_bearer_token(client: TestClient, shop: Shop) -> None:
    sign_in(client, EMAILS["customer_a"])
    page = client.get("/")
    response = client.delete(
        "/api/v1/auth/tokens/current", headers={"X-CSRF-Token": csrf_from(page.text)}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_token"
    assert client.get("/api/v1/auth/me").json()["email"] == EMAILS["customer_a"]


def test_me_needs_authentication(client: TestClient) -> None:
    assert client.get("/api/v1/auth/me").status_code == 401


def test_admin_issues_pos_tokens_bound_to_a_store(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    response = client.post(
        "/api/v1/pos/tokens",
        json={"name": "till 2", "location_id": ids.loc_de1},
        headers=bearer(ids, "admin"),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["scope"] == "pos" and body["location_id"] == ids.loc_de1
    assert body["expires_at"] is None
    for who in ("staff", "customer_a"):
        refused = client.post(
            "/api/v1/pos/tokens",
            json={"name": "till", "location_id": ids.loc_de1},
            headers=bearer(ids, who),
        )
        assert refused.status_code == 403
    unknown = client.post(
        "/api/v1/pos/tokens",
        json={"name": "till", "location_id": 999},
        headers=bearer(ids, "admin"),
    )
    assert unknown.status_code == 422 and "location_id" in unknown.json()["error"]["fields"]


def test_pos_sale_takes_stock_from_the_tills_store(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    before = on_hand(shop.db, ids.binder, ids.loc_de0)
    sale = {"receipt_id": "R-1001", "lines": [{"product_id": ids.binder, "quantity": 2}]}
    first = client.post("/api/v1/pos/sales", json=sale, headers=bearer(ids, "pos"))
    assert first.status_code == 201
    order = first.json()
    assert order["location_id"] == ids.loc_de0 and order["status"] == "delivered"
    assert on_hand(shop.db, ids.binder, ids.loc_de0) == before - 2
    resent = client.post("/api/v1/pos/sales", json=sale, headers=bearer(ids, "pos"))
    assert resent.status_code == 200 and resent.json()["id"] == order["id"]
    assert on_hand(shop.db, ids.binder, ids.loc_de0) == before - 2


def test_pos_sale_errors(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    sale = {"receipt_id": "R-2", "lines": [{"product_id": ids.binder, "quantity": 9}]}
    short = client.post("/api/v1/pos/sales", json=sale, headers=bearer(ids, "pos"))
    assert short.status_code == 409  # 5 in that store
    naive = client.post(
        "/api/v1/pos/sales",
        json={
            **sale,
            "lines": [{"product_id": ids.binder, "quantity": 1}],
            "sold_at": "2024-05-01T10:00:00",
        },
        headers=bearer(ids, "pos"),
    )
    assert naive.status_code == 422 and "sold_at" in naive.json()["error"]["fields"]
    bad_receipt = client.post(
        "/api/v1/pos/sales", json={**sale, "receipt_id": "no spaces"}, headers=bearer(ids, "pos")
    )
    assert bad_receipt.status_code == 422 and "receipt_id" in bad_receipt.json()["error"]["fields"]
    assert client.post("/api/v1/pos/sales", json=sale).status_code == 401
    as_admin = client.post("/api/v1/pos/sales", json=sale, headers=bearer(ids, "admin"))
    assert as_admin.status_code == 403


def test_health(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body == {"status": "ok", "database": head_revision()}
