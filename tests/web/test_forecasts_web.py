"""Demand forecasts on the website: the staff API and page read the champion's published
forecast (a real one, trained with the quick preset), and say clearly when there is none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shelfwise.config import Settings
from shelfwise.forecast import outputs, registry
from shelfwise.store.models import Product, SubCategory
from tests.forecast.conftest import HORIZON
from tests.web.conftest import Shop, sign_in
from tests.web.forecasts import covers_shop, make_forecast_app, published_forecast_home
from tests.web.shop import EMAILS, bearer

TOLERANCE = 1e-9


@pytest.fixture(scope="session")
def forecast_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_forecast_home(tmp_path_factory)


@pytest.fixture
def staff_client(shop: Shop, forecast_home: Path) -> Iterator[TestClient]:
    assert covers_shop(shop.ids)
    with TestClient(make_forecast_app(shop.db, forecast_home)) as client:
        yield client


def api_forecast(
    client: TestClient, shop: Shop, product_id: int, who: str = "staff"
) -> dict[str, Any]:
    response = client.get(f"/api/v1/forecasts/products/{product_id}", headers=bearer(shop.ids, who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_gives_the_champions_forecast_per_location_and_in_total(
    staff_client: TestClient, shop: Shop, forecast_home: Path
) -> None:
    settings = Settings(home=forecast_home)
    product_id = shop.ids.oak_bookcase
    body = api_forecast(staff_client, shop, product_id, "admin")

    assert body["product_id"] == product_id and body["sku"] == "BK-OAK"
    assert body["champion_version"] == registry.champion_version(settings) == "1"
    published = outputs.read_table(settings, "fct_forecast")
    assert published is not None
    rows = published[published["product_id"] == product_id].sort_values(["location_id", "ds"])
    # One series per shop location, named from the store, numbers as published.
    assert [loc["location_id"] for loc in body["locations"]] == sorted(
        [shop.ids.loc_de0, shop.ids.loc_de1, shop.ids.loc_us]
    )
    assert {loc["location_code"] for loc in body["locations"]} >= {"US1"}
    api_units = [day["units"] for loc in body["locations"] for day in loc["days"]]
    assert api_units == pytest.approx(rows["yhat"].tolist())
    for loc in body["locations"]:
        assert len(loc["days"]) == HORIZON
        assert loc["units"] == pytest.approx(sum(day["units"] for day in loc["days"]))
    # The total is the reconciled product series, with its own intervals, that adds up.
    total = body["total"]
    assert total["source"] == "reconciled" and len(total["days"]) == HORIZON
    by_day = rows.groupby("ds")["yhat"].sum().tolist()
    assert [day["units"] for day in total["days"]] == pytest.approx(by_day, rel=1e-6, abs=1e-6)
    for day in total["days"]:
        assert day["lo_95"] <= day["lo_80"] + TOLERANCE
        assert day["lo_80"] <= day["units"] + TOLERANCE <= day["hi_80"] + 2 * TOLERANCE
        assert day["hi_80"] <= day["hi_95"] + TOLERANCE
    assert body["start"] == total["days"][0]["date"] and body["end"] == total["days"][-1]["date"]


def test_api_unknown_product_is_not_found(staff_client: TestClient, shop: Shop) -> None:
    response = staff_client.get(
        "/api/v1/forecasts/products/999999", headers=bearer(shop.ids, "staff")
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "999999" in response.json()["error"]["message"]


def test_api_says_clearly_when_nothing_is_published(shop: Shop, tmp_path: Path) -> None:
    with TestClient(make_forecast_app(shop.db, tmp_path / "empty-home")) as client:
        response = client.get(
            f"/api/v1/forecasts/products/{shop.ids.binder}", headers=bearer(shop.ids, "staff")
        )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "forecast_not_published"
    assert "shelfwise forecast train" in error["message"]


def test_api_product_without_history_has_an_empty_forecast_and_a_note(
    staff_client: TestClient, shop: Shop
) -> None:
    with shop.db.session() as session:
        sub = session.query(SubCategory).filter_by(name="Binders").one()
        product = Product(
            sku="OS-NEW", name="New Binder", sub_category=sub, unit_price=Decimal("5.00")
        )
        session.add(product)
        session.flush()
        product_id = product.id
    body = api_forecast(staff_client, shop, product_id)
    assert body["locations"] == [] and body["total"]["days"] == []
    assert body["total"]["source"] == "none"
    assert "no sales history" in body["notes"][0]
    assert body["champion_version"] == "1"


def test_staff_page_shows_table_and_chart_with_intervals(
    staff_client: TestClient, shop: Shop
) -> None:
    product_id = shop.ids.walnut_bookcase
    body = api_forecast(staff_client, shop, product_id)
    sign_in(staff_client, EMAILS["staff"])

    page = staff_client.get(f"/staff/forecasts/{product_id}")

    assert page.status_code == 200
    html = page.text
    assert "Walnut Bookcase" in html
    assert re.search(r'data-testid="champion-version">1<', html)
    total_table = html.split('data-testid="forecast-total"')[1].split("</table>")[0]
    assert total_table.count("<tr>") == 1 + HORIZON  # header and one row per day
    first = body["total"]["days"][0]
    assert f"{first['units']:.1f}" in total_table
    assert f"{first['lo_80']:.1f}–{first['hi_80']:.1f}" in total_table
    # The chart: both interval bands (a polygon of 2 × horizon points each) and the line.
    chart = html.split('data-testid="forecast-chart"')[1].split("</svg>")[0]
    for band in ("band-95", "band-80"):
        points = re.search(rf'points="([^"]+)" data-testid="{band}"', chart)
        assert points is not None and len(points.group(1).split()) == 2 * HORIZON
    assert chart.count("<circle") == HORIZON
    for location in ("LOC0", "LOC1", "US1"):
        assert location in html.split('data-testid="forecast-locations"')[1]
    assert 'data-testid="forecast-accuracy"' in html  # the forecast days have actuals
    # The site's CSP forbids inline styles and scripts: the page has none.
    assert "style=" not in html and "<style" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/shop.js" defer>']
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert staff_client.get("/static/css/forecast.css").status_code == 200


def test_staff_page_before_anything_is_published(shop: Shop, tmp_path: Path) -> None:
    with TestClient(make_forecast_app(shop.db, tmp_path / "empty-home")) as client:
        sign_in(client, EMAILS["admin"])
        page = client.get(f"/staff/forecasts/{shop.ids.binder}")
    assert page.status_code == 404
    assert "No demand forecast has been published yet" in page.text


def test_product_page_links_to_the_forecast_for_staff_only(
    staff_client: TestClient, shop: Shop, forecast_home: Path
) -> None:
    link = f'href="/staff/forecasts/{shop.ids.oak_bookcase}"'
    product_page = f"/products/{shop.ids.oak_bookcase}"
    assert link not in staff_client.get(product_page).text  # anonymous
    sign_in(staff_client, EMAILS["customer_a"])
    assert link not in staff_client.get(product_page).text
    for who in ("staff", "admin"):
        with TestClient(make_forecast_app(shop.db, forecast_home)) as client:
            sign_in(client, EMAILS[who])
            assert link in client.get(product_page).text
