"""Protections around every request: headers, size limits, cookies, CSRF, the secret key,
session revocation, local-only assets, and no SQL in the web layer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import shelfwise.web
from shelfwise.config import Settings
from shelfwise.web.app import ConfigurationError, create_app
from shelfwise.web.security import SESSION_COOKIE
from tests.web.conftest import Shop, page_csrf, sign_in
from tests.web.shop import EMAILS, PASSWORD, SECRET_KEY, copy_store, csrf_from, make_app

WEB_SOURCE = Path(shelfwise.web.__file__).parent


@pytest.mark.parametrize("path", ["/", "/api/v1/products", "/api/v1/nope", "/static/css/shop.css"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in headers  # plain HTTP here


def test_pages_have_no_inline_scripts_styles_or_remote_assets(
    client: TestClient, shop: Shop
) -> None:
    for path in (
        "/",
        "/search?q=chair",
        f"/products/{shop.ids.oak_bookcase}",
        "/account/register",
        "/api/v1/docs",
    ):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path  # no inline <script>
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r'(src|href)="(https?:)?//', html), path  # nothing from elsewhere
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset


def test_request_body_over_one_megabyte_is_refused(client: TestClient, shop: Shop) -> None:
    big = b"x" * (1024 * 1024 + 1)
    response = client.post(
        "/api/v1/cart/items",
        content=big,
        headers={
            "Content-Type": "application/json",
            **{"Authorization": f"Bearer {shop.ids.tokens['customer_a']}"},
        },
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    page = client.post(
        "/account/login", content=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert page.status_code == 413


def test_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 65536

    response = client.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_session_cookie_flags(client: TestClient) -> None:
    response = client.get("/account/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie


def test_cookie_is_secure_and_hsts_over_https(shop: Shop) -> None:
    with TestClient(shop.app, base_url="https://testserver") as secure:
        response = secure.get("/account/login")
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_tampered_cookie_is_ignored(client: TestClient) -> None:
    sign_in(client, EMAILS["customer_a"])
    value = client.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/account", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/cart/items", {"product_id": "1"}),
        ("/account/login", {"email": "c0@example.com", "password": PASSWORD}),
        ("/account/register", {"email": "z@example.com", "password": PASSWORD, "name": "Z"}),
        ("/account/logout", {}),
    ],
)
def test_forms_without_a_valid_csrf_token_are_refused(
    client: TestClient, path: str, data: dict[str, str]
) -> None:
    page_csrf(client)  # the visitor has a session and a token, but does not send it
    missing = client.post(path, data=data, follow_redirects=False)
    wrong = client.post(
        path, data={**data, "csrf_token": "forged-token-0123456789abcdef"}, follow_redirects=False
    )
    assert missing.status_code == wrong.status_code == 403
    assert "expired" in wrong.text


def test_secret_key_is_required_outside_the_demo(tmp_path: Path) -> None:
    settings = Settings(secret_key=None, home=tmp_path)
    with pytest.raises(ConfigurationError, match="SHELFWISE_SECRET_KEY is not set"):
        create_app(settings)
    with pytest.raises(ConfigurationError, match="at least 16"):
        create_app(Settings(secret_key="short", home=tmp_path))
    demo = create_app(settings, demo=True)
    assert demo.state.demo is True


def test_sign_out_ends_the_server_side_session(client: TestClient) -> None:
    sign_in(client, EMAILS["customer_a"])
    stolen = client.cookies[SESSION_COOKIE]
    token = page_csrf(client)
    client.post("/account/logout", data={"csrf_token": token}, follow_redirects=False)
    client.cookies.set(SESSION_COOKIE, stolen)  # replaying the old cookie does not sign in
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_password_change_signs_out_other_sessions(shop: Shop) -> None:
    with TestClient(shop.app) as laptop, TestClient(shop.app) as phone:
        sign_in(laptop, EMAILS["customer_b"])
        sign_in(phone, EMAILS["customer_b"])
        response = laptop.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": "Fresh-start-77",
                "new_password_confirm": "Fresh-start-77",
                "csrf_token": page_csrf(laptop, "/account/password"),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert laptop.get("/account").status_code == 200
        assert phone.get("/account", follow_redirects=False).status_code == 303
    with TestClient(shop.app) as fresh:
        sign_in(fresh, EMAILS["customer_b"], "Fresh-start-77")


def test_password_change_field_errors(client: TestClient) -> None:
    sign_in(client, EMAILS["customer_a"])
    token = page_csrf(client, "/account/password")
    response = client.post(
        "/account/password",
        data={
            "current_password": "not-it",
            "new_password": "short",
            "new_password_confirm": "short",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert (
        "not your current password" in response.text and "at least 10 characters" in response.text
    )


def test_open_redirects_after_sign_in_are_blocked(client: TestClient) -> None:
    page = client.get("/account/login?next=//evil.example/x")
    response = client.post(
        "/account/login",
        data={
            "email": EMAILS["customer_a"],
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_openapi_schema_names_and_docs_are_local(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    names = set(schema["components"]["schemas"])
    assert {"ProductPublic", "ProductsPublic", "OrderCreate", "OrderPublic", "ErrorPublic"} <= names
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/orders" in docs.text
    assert "cdn" not in docs.text.lower()


def test_errors_have_one_json_shape(client: TestClient) -> None:
    for response in (
        client.get("/api/v1/nope"),
        client.delete("/api/v1/products"),
        client.get("/api/v1/products/abc"),
    ):
        error = response.json()["error"]
        assert set(error) >= {"code", "message", "fields"}
    assert client.delete("/api/v1/products").status_code == 405


def test_html_errors_are_pages(client: TestClient) -> None:
    response = client.get("/products/424242")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"] and "Back to the shop" in response.text


def test_web_layer_holds_no_sql() -> None:
    offenders = []
    for source in WEB_SOURCE.rglob("*.py"):
        text = source.read_text()
        # Only types may come from SQLAlchemy (Session, Connection: annotations); no queries.
        if re.search(
            r"\bselect\(|\.execute\(|\btext\(|from sqlalchemy import|sqlalchemy\.sql", text
        ):
            offenders.append(source.name)
    assert offenders == []


def test_store_copy_helper_gives_independent_stores(shop_template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    template, _ = shop_template
    db = copy_store(template, tmp_path / "other.db")
    with TestClient(make_app(db)) as other:
        assert other.get("/api/v1/health").status_code == 200
    db.dispose()
    assert SECRET_KEY
