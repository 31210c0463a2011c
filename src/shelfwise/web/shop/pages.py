"""Browsing: the home page with categories, search with filters, product pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shelfwise.store.catalog import (
    ProductFilters,
    SortOrder,
    get_product,
    list_categories,
    search_products,
)
from shelfwise.web.rendering import render
from shelfwise.web.shop.deps import Db

router = APIRouter(include_in_schema=False)

SORT_LABELS = {
    SortOrder.RELEVANCE: "Best match",
    SortOrder.NAME: "Name",
    SortOrder.PRICE_ASC: "Price: low to high",
    SortOrder.PRICE_DESC: "Price: high to low",
    SortOrder.NEWEST: "Newest",
}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Db) -> HTMLResponse:
    with db.read_session() as session:
        categories = list_categories(session=session)
        newest = search_products(
            session=session,
            filters=ProductFilters(sort=SortOrder.NEWEST, in_stock=True, per_page=8),
        )
    return render(request, "home.html", {"categories": categories, "featured": newest.items})


def _int(value: str | None, field: str, problems: dict[str, str], low: int = 1) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        problems[field] = "must be a whole number"
        return None
    if not low <= number <= 2**53:
        problems[field] = f"must be at least {low}"
        return None
    return number


def _price(value: str | None, field: str, problems: dict[str, str]) -> Decimal | None:
    if not value:
        return None
    try:
        price = Decimal(value.replace(",", "").lstrip("$"))
    except InvalidOperation:
        problems[field] = "enter an amount like 49.99"
        return None
    if not price.is_finite() or price < 0 or price > 10**9:
        problems[field] = "enter an amount of zero or more"
        return None
    return price.quantize(Decimal("0.01"))


def parse_filters(params: Any) -> tuple[ProductFilters, dict[str, str]]:
    """Read the search form leniently: a bad field is reported and ignored, not a 422 page."""
    problems: dict[str, str] = {}
    min_price = _price(params.get("min_price"), "min_price", problems)
    max_price = _price(params.get("max_price"), "max_price", problems)
    if min_price is not None and max_price is not None and min_price > max_price:
        problems["max_price"] = "must be at least the minimum price"
        max_price = None
    try:
        sort = SortOrder(params.get("sort") or SortOrder.RELEVANCE.value)
    except ValueError:
        problems["sort"] = "unknown order"
        sort = SortOrder.RELEVANCE
    filters = ProductFilters(
        query=(params.get("q") or "")[:200],
        category_id=_int(params.get("category"), "category", problems),
        sub_category_id=_int(params.get("sub"), "sub", problems),
        min_price=min_price,
        max_price=max_price,
        in_stock=params.get("in_stock") in ("1", "on", "true"),
        sort=sort,
        page=min(_int(params.get("page"), "page", problems) or 1, 10_000),
        per_page=24,
    )
    return filters, problems


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, db: Db) -> HTMLResponse:
    filters, problems = parse_filters(request.query_params)
    with db.read_session() as session:
        results = search_products(session=session, filters=filters)
        categories = list_categories(session=session)
    kept = {k: v for k, v in request.query_params.items() if k != "page" and v}

    def page_url(number: int) -> str:
        return "/search?" + urlencode({**kept, "page": number})

    title = "All products"
    if filters.query:
        title = f"Results for “{filters.query}”"
    elif filters.category_id is not None:
        title = next((c.name for c in categories if c.id == filters.category_id), title)
    return render(
        request,
        "search.html",
        {
            "title": title,
            "filters": filters,
            "problems": problems,
            "results": results,
            "categories": categories,
            "sort_labels": SORT_LABELS,
            "page_url": page_url,
        },
    )


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product(request: Request, product_id: int, db: Db) -> HTMLResponse:
    with db.read_session() as session:
        detail = get_product(session=session, product_id=product_id)
    return render(request, "product.html", {"detail": detail, "product": detail.summary})
