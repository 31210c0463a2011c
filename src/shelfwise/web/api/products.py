"""Catalogue routes: categories, product list and search, product detail, availability."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shelfwise.store.catalog import (
    ProductFilters,
    SortOrder,
    get_product,
    list_categories,
    product_availability,
    search_products,
)
from shelfwise.web.api.deps import IdPath
from shelfwise.web.api.schemas import (
    AvailabilitiesPublic,
    AvailabilityPublic,
    CategoriesPublic,
    CategoryPublic,
    ProductDetailPublic,
    ProductsPublic,
    error_responses,
)
from shelfwise.web.context import ApiError, WebDatabase, db_dependency

router = APIRouter(tags=["catalogue"])
Db = Annotated[WebDatabase, Depends(db_dependency)]
Price = Annotated[Decimal | None, Query(ge=0, le=10**9, max_digits=12, decimal_places=2)]


@router.get("/categories", response_model=CategoriesPublic)
def categories(db: Db) -> CategoriesPublic:
    """Every category with its sub-categories and how many products each sells."""
    with db.read_session() as session:
        return CategoriesPublic(
            data=[CategoryPublic.of(c) for c in list_categories(session=session)]
        )


@router.get("/products", response_model=ProductsPublic, responses=error_responses(422))
def list_products(
    db: Db,
    q: Annotated[str, Query(max_length=200, description="words to search for")] = "",
    category_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    sub_category_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    min_price: Price = None,
    max_price: Price = None,
    in_stock: Annotated[bool, Query(description="only products available somewhere")] = False,
    sort: SortOrder = SortOrder.RELEVANCE,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 24,
) -> ProductsPublic:
    """List and search active products, with filters, sorting and pagination. A query with
    a typo is searched again with the closest catalogue words (`corrected_query`)."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ApiError(
            422,
            "validation_failed",
            "the price range is empty",
            fields={"max_price": f"must be at least min_price ({min_price})"},
        )
    filters = ProductFilters(
        query=q,
        category_id=category_id,
        sub_category_id=sub_category_id,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        sort=sort,
        page=page,
        per_page=per_page,
    )
    with db.read_session() as session:
        return ProductsPublic.of(search_products(session=session, filters=filters))


@router.get(
    "/products/{product_id}",
    response_model=ProductDetailPublic,
    responses=error_responses(404, 422),
)
def product_detail(product_id: IdPath, db: Db) -> ProductDetailPublic:
    """A product with its price, description, stock by location and related products."""
    with db.read_session() as session:
        return ProductDetailPublic.of_detail(get_product(session=session, product_id=product_id))


@router.get(
    "/products/{product_id}/availability",
    response_model=AvailabilitiesPublic,
    responses=error_responses(404, 422),
)
def availability(product_id: IdPath, db: Db) -> AvailabilitiesPublic:
    """Stock of a product in every location: in stock, low or out."""
    with db.read_session() as session:
        rows = product_availability(session=session, product_id=product_id)
    return AvailabilitiesPublic(
        product_id=product_id, data=[AvailabilityPublic.of(a) for a in rows]
    )
