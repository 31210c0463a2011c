"""The signed-in user's cart, and checking it out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Response

from shelfwise.store.carts import (
    CartOwner,
    add_to_cart,
    checkout,
    clear_cart,
    order_view,
    remove_from_cart,
    set_cart_quantity,
    view_cart,
)
from shelfwise.web.api.deps import CurrentCustomer, CurrentUser, IdPath
from shelfwise.web.api.schemas import (
    CartItemCreate,
    CartItemUpdate,
    CartPublic,
    CheckoutCreate,
    OrderPublic,
    error_responses,
)
from shelfwise.web.context import WebDatabase, db_dependency

router = APIRouter(prefix="/cart", tags=["cart"])
Db = Annotated[WebDatabase, Depends(db_dependency)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="a fresh random value per order; resending it returns the same order",
    ),
]


@router.get("", response_model=CartPublic, responses=error_responses(401, 403))
def get_cart(user: CurrentUser, db: Db) -> CartPublic:
    with db.read_session() as session:
        return CartPublic.of(view_cart(session=session, owner=CartOwner(user_id=user.user_id)))


@router.post(
    "/items",
    response_model=CartPublic,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def add_item(item: CartItemCreate, user: CurrentUser, db: Db) -> CartPublic:
    """Add units of a product (added to any already in the cart, up to 99)."""
    with db.session() as session:
        cart = add_to_cart(
            session=session,
            owner=CartOwner(user_id=user.user_id),
            product_id=item.product_id,
            quantity=item.quantity,
        )
        return CartPublic.of(cart)


@router.put(
    "/items/{product_id}",
    response_model=CartPublic,
    responses=error_responses(401, 403, 404, 422),
)
def update_item(product_id: IdPath, item: CartItemUpdate, user: CurrentUser, db: Db) -> CartPublic:
    """Set a line's quantity; 0 removes it."""
    with db.session() as session:
        cart = set_cart_quantity(
            session=session,
            owner=CartOwner(user_id=user.user_id),
            product_id=product_id,
            quantity=item.quantity,
        )
        return CartPublic.of(cart)


@router.delete(
    "/items/{product_id}",
    response_model=CartPublic,
    responses=error_responses(401, 403, 404, 422),
)
def delete_item(product_id: IdPath, user: CurrentUser, db: Db) -> CartPublic:
    with db.session() as session:
        cart = remove_from_cart(
            session=session, owner=CartOwner(user_id=user.user_id), product_id=product_id
        )
        return CartPublic.of(cart)


@router.delete("", status_code=204, responses=error_responses(401, 403))
def empty_cart(user: CurrentUser, db: Db) -> Response:
    with db.session() as session:
        clear_cart(session=session, owner=CartOwner(user_id=user.user_id))
    return Response(status_code=204)


@router.post(
    "/checkout",
    response_model=OrderPublic,
    status_code=201,
    responses={
        200: {"model": OrderPublic, "description": "replay of an earlier checkout"},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def checkout_cart(
    response: Response,
    user: CurrentCustomer,
    db: Db,
    idempotency_key: IdempotencyKey,
    body: Annotated[CheckoutCreate | None, Body()] = None,
) -> OrderPublic:
    """Place an order for everything in the cart and empty it. The fulfilling location is
    the one that can serve every line (the customer's country first) unless one is given."""
    assert user.customer_id is not None
    with db.session() as session:
        placed = checkout(
            session=session,
            customer_id=user.customer_id,
            user_id=user.user_id,
            idempotency_key=idempotency_key,
            location_id=body.location_id if body else None,
        )
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    if placed.view is not None:
        return OrderPublic.of(placed.view)
    with db.read_session() as session:
        return OrderPublic.of(
            order_view(session=session, order_id=placed.order_id, customer_id=user.customer_id)
        )
