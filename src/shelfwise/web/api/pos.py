"""Point of sale: tills post their sales as they happen, through the same inventory service
as the web shop, with tokens an administrator issues per store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from shelfwise.store.accounts import create_api_token
from shelfwise.store.carts import order_view, record_pos_sale
from shelfwise.store.inventory import LineRequest
from shelfwise.store.kinds import TokenScope
from shelfwise.web.api.deps import AdminUser, PosTill
from shelfwise.web.api.schemas import (
    OrderPublic,
    PosSaleCreate,
    PosTokenCreate,
    TokenPublic,
    error_responses,
)
from shelfwise.web.context import ApiError, WebDatabase, db_dependency

router = APIRouter(prefix="/pos", tags=["point of sale"])
Db = Annotated[WebDatabase, Depends(db_dependency)]


@router.post(
    "/tokens",
    response_model=TokenPublic,
    status_code=201,
    responses=error_responses(401, 403, 422),
)
def issue_pos_token(body: PosTokenCreate, admin: AdminUser, db: Db) -> TokenPublic:
    """Issue a till's token (administrators only), bound to the store it sells from."""
    with db.session() as session:
        issued = create_api_token(
            session=session,
            user_id=admin.user_id,
            name=body.name,
            scope=TokenScope.POS,
            location_id=body.location_id,
        )
    return TokenPublic(
        id=issued.id,
        token=issued.token,
        name=issued.name,
        scope=issued.scope,
        location_id=issued.location_id,
        expires_at=issued.expires_at,
    )


@router.post(
    "/sales",
    response_model=OrderPublic,
    status_code=201,
    responses={
        200: {"model": OrderPublic, "description": "the receipt was already recorded"},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def post_sale(sale: PosSaleCreate, response: Response, till: PosTill, db: Db) -> OrderPublic:
    """Record a till sale: stock leaves the till's store now. Resending a receipt id returns
    the sale already recorded (200) instead of selling twice."""
    assert till.location_id is not None
    if sale.sold_at is not None and sale.sold_at.tzinfo is None:
        raise ApiError(
            422,
            "validation_failed",
            "sold_at needs a time zone",
            fields={"sold_at": "add a UTC offset, like 2024-05-01T10:30:00+00:00"},
        )
    with db.session() as session:
        placed = record_pos_sale(
            session=session,
            location_id=till.location_id,
            receipt_id=sale.receipt_id,
            lines=[LineRequest(line.product_id, line.quantity) for line in sale.lines],
            sold_at=sale.sold_at,
        )
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    with db.read_session() as session:
        return OrderPublic.of(
            order_view(session=session, order_id=placed.order_id, customer_id=None)
        )
