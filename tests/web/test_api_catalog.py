"""Catalogue API: categories, search, filters, sorting, pagination, detail, availability."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from shelfwise.store.inventory import adjust_stock
from tests.web.conftest import Shop


def names(response_json: dict) -> list[str]:  # type: ignore[type-arg]
    return [p["name"] for p in response_json["data"]]


def test_categories_list_sub_categories_with_counts(client: TestClient) -> None:
    body = client.get("/api/v1/categories").json()
    by_name = {c["name"]: c for c in body["data"]}
    assert set(by_name) == {"Furniture", "Office Supplies", "Technology"}
    furniture = by_name["Furniture"]
    assert {s["name"]: s["product_count"] for s in furniture["sub_categories"]} == {
        "Bookcases": 2,
        "Chairs": 3,
    }
    # The retired binder is not counted.
    assert by_name["Office Supplies"]["product_count"] == 1


def test_list_products_paginates_with_total(client: TestClient) -> None:
    first = client.get("/api/v1/products", params={"per_page": 3, "sort": "name"}).json()
    second = client.get(
        "/api/v1/products", params={"per_page": 3, "page": 2, "sort": "name"}
    ).json()
    assert first["total"] == second["total"] == 7  # active products only
    assert (first["page"], first["per_page"], second["page"]) == (1, 3, 2)
    assert len(first["data"]) == 3 and len(second["data"]) == 3
    assert not set(names(first)) & set(names(second))
    assert "Retired Binder" not in names(first) + names(second)


def test_search_finds_plural_from_singular_and_back(client: TestClient) -> None:
    singular = client.get("/api/v1/products", params={"q": "bookcase"}).json()
    assert sorted(names(singular)) == ["Oak Bookcase", "Walnut Bookcase"]
    plural = client.get("/api/v1/products", params={"q": "Chairs"}).json()
    assert plural["total"] == 3
    by_category = client.get("/api/v1/products", params={"q": "bookcases oak"}).json()
    assert names(by_category) == ["Oak Bookcase"]


def test_search_matches_brand_and_sub_category(client: TestClient) -> None:
    assert sorted(names(client.get("/api/v1/products", params={"q": "sauder"}).json())) == [
        "Oak Bookcase",
        "Walnut Bookcase",
    ]
    assert names(client.get("/api/v1/products", params={"q": "phones"}).json()) == ["Desk Phone"]


def test_search_corrects_a_typo(client: TestClient) -> None:
    body = client.get("/api/v1/products", params={"q": "bokcase"}).json()
    assert body["corrected_query"] == "bookcase"
    assert sorted(names(body)) == ["Oak Bookcase", "Walnut Bookcase"]


def test_search_with_nothing_close_is_empty(client: TestClient) -> None:
    body = client.get("/api/v1/products", params={"q": "zzqxv"}).json()
    assert body["total"] == 0 and body["data"] == [] and body["corrected_query"] is None


def test_search_ignores_punctuation_and_accents(client: TestClient) -> None:
    body = client.get("/api/v1/products", params={"q": "Óak, bookcase!"}).json()
    assert names(body) == ["Oak Bookcase"]


def test_filters_category_price_and_stock(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    office = client.get("/api/v1/products", params={"category_id": ids.office}).json()
    assert names(office) == ["Ring Binder"]
    cheap = client.get("/api/v1/products", params={"min_price": "20", "max_price": "90"}).json()
    assert sorted(names(cheap)) == ["Chair model 1", "Chair model 2", "Desk Phone"]
    in_stock = client.get("/api/v1/products", params={"in_stock": "true"}).json()
    assert "Desk Phone" not in names(in_stock) and in_stock["total"] == 6


def test_sort_by_price_both_ways(client: TestClient) -> None:
    up = client.get("/api/v1/products", params={"sort": "price_asc"}).json()
    prices = [Decimal(p["unit_price"]) for p in up["data"]]
    assert prices == sorted(prices)
    down = client.get("/api/v1/products", params={"sort": "price_desc"}).json()
    assert [Decimal(p["unit_price"]) for p in down["data"]] == sorted(prices, reverse=True)


def test_empty_price_range_is_a_field_error(client: TestClient) -> None:
    response = client.get("/api/v1/products", params={"min_price": "50", "max_price": "10"})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"max_price"}


def test_invalid_query_parameters_name_the_field(client: TestClient) -> None:
    for params, field in [
        ({"per_page": 0}, "per_page"),
        ({"page": "x"}, "page"),
        ({"sort": "cheapest"}, "sort"),
        ({"min_price": "-1"}, "min_price"),
    ]:
        response = client.get("/api/v1/products", params=params)
        assert response.status_code == 422, params
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert field in error["fields"], error


def test_product_detail_has_availability_and_related(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    with shop.db.session() as session:
        adjust_stock(
            session=session,
            product_id=ids.oak_bookcase,
            location_id=ids.loc_de1,
            delta=-2,
            reason="damaged",
        )
    body = client.get(f"/api/v1/products/{ids.oak_bookcase}").json()
    assert body["name"] == "Oak Bookcase" and body["price"] == "149.00"
    states = {a["code"]: (a["state"], a["available"]) for a in body["availability"]}
    assert states == {"LOC0": ("in_stock", 5), "LOC1": ("out", 0), "US1": ("in_stock", 20)}
    assert next(p["name"] for p in body["related"]) == "Walnut Bookcase"
    assert body["stock"] == "in_stock" and body["available"] == 25


def test_low_stock_is_reported(client: TestClient, shop: Shop) -> None:
    ids = shop.ids
    body = client.get(f"/api/v1/products/{ids.binder}/availability").json()
    states = {a["code"]: a["state"] for a in body["data"]}
    assert states["LOC1"] == "low"  # 2 units, at or below the low-stock line


def test_product_not_found(client: TestClient, shop: Shop) -> None:
    for path in ("/api/v1/products/999999", f"/api/v1/products/{shop.ids.retired_binder}"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/products/999999/availability").status_code == 404


def test_product_id_must_be_positive(client: TestClient) -> None:
    response = client.get("/api/v1/products/0")
    assert response.status_code == 422
    assert "product_id" in response.json()["error"]["fields"]
