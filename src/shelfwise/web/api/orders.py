"""Orders: place (with an Idempotency-Key), list, read, cancel.

Customers see only their own orders: anyone else's is "not found", exactly like a missing one.
Staff and administrators see every order.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from shelfwise.store.accounts import Principal
from shelfwise.store.carts import (
    OrderLineView,
    OrderView,
    TimelineStep,
    cancel_customer_order,
    list_orders,
    order_view,
    place_customer_order,
)
from shelfwise.store.inventory import LineRequest, OrderReceipt, order_job
from shelfwise.web.api.deps import CurrentCustomer, CurrentUser, IdPath
from shelfwise.web.api.schemas import OrderCreate, OrderPublic, OrdersPublic, error_responses
from shelfwise.web.context import WebDatabase, db_dependency

router = APIRouter(prefix="/orders", tags=["orders"])
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


def _scope(user: Principal) -> int | None:
    """The customer whose orders this user may see; None means every order (staff)."""
    return None if user.is_staff else user.customer_id


@router.post(
    "",
    response_model=OrderPublic,
    status_code=201,
    responses={
        200: {"model": OrderPublic, "description": "replay of an earlier request"},
        **error_responses(401, 403, 404, 409, 422),
    },
)
async def place(
    order: OrderCreate,
    user: CurrentCustomer,
    db: Db,
    idempotency_key: IdempotencyKey,
) -> Response:
    """Place an order. Retrying with the same Idempotency-Key and lines returns the first
    order (200, `Idempotent-Replayed: true`); other lines under the same key are refused (422).
    Short stock is 409 with every short line in `error.shortages`."""
    # The store work runs in a worker thread; the route itself is async because FastAPI
    # validates the answer of a sync route in a second thread hop.
    assert user.customer_id is not None
    if order.location_id is not None:
        # The hot path: no ORM objects, committed in a group with the orders that arrive
        # meanwhile.
        lines = _line_requests(order)
        receipt = await db.run_grouped(
            order_job(
                customer_id=user.customer_id,
                location_id=order.location_id,
                lines=lines,
                idempotency_key=idempotency_key,
            ),
            stock_rows=[(line.product_id, order.location_id) for line in lines],
        )
        view, replayed = _view_of_receipt(receipt), receipt.replayed
    else:
        view, replayed = await db.run_writing(
            _place_anywhere, db, user.customer_id, order, idempotency_key
        )
    # The answer is built as the declared model and serialized once (`response_model` still
    # documents it): FastAPI would validate a returned model again before serializing it.
    return Response(
        OrderPublic.of(view).model_dump_json(),
        status_code=200 if replayed else 201,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if replayed else None,
    )


def _line_requests(order: OrderCreate) -> list[LineRequest]:
    return [LineRequest(line.product_id, line.quantity) for line in order.lines]


def _place_anywhere(
    db: WebDatabase, customer_id: int, order: OrderCreate, idempotency_key: str
) -> tuple[OrderView, bool]:
    """An order without a location: the inventory service chooses the fulfilling one."""
    with db.session() as session:
        placed = place_customer_order(
            session=session,
            customer_id=customer_id,
            lines=_line_requests(order),
            idempotency_key=idempotency_key,
        )
    if placed.view is not None:
        return placed.view, placed.replayed
    with db.read_session() as session:
        view = order_view(session=session, order_id=placed.order_id, customer_id=customer_id)
    return view, placed.replayed


def _view_of_receipt(receipt: OrderReceipt) -> OrderView:
    return OrderView(
        id=receipt.id,
        customer_id=receipt.customer_id,
        status=receipt.status,
        ordered_at=receipt.ordered_at,
        location_id=receipt.location_id,
        location_name=receipt.location_name,
        lines=[
            OrderLineView(
                line_no=line.line_no,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line in receipt.lines
        ],
        events=[TimelineStep(e.status, e.occurred_at, e.note) for e in receipt.events],
    )


@router.get("", response_model=OrdersPublic, responses=error_responses(401, 403, 422))
def orders(
    user: CurrentUser,
    db: Db,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrdersPublic:
    """Newest first: a customer's own orders; every order for staff."""
    if not user.is_staff and user.customer_id is None:
        return OrdersPublic(data=[], page=page, per_page=per_page, total=0)
    with db.read_session() as session:
        return OrdersPublic.of(
            list_orders(session=session, customer_id=_scope(user), page=page, per_page=per_page)
        )


@router.get("/{order_id}", response_model=OrderPublic, responses=error_responses(401, 403, 404))
def order(order_id: IdPath, user: CurrentUser, db: Db) -> OrderPublic:
    """An order with its lines and status timeline (pending, paid, shipped, delivered)."""
    with db.read_session() as session:
        return OrderPublic.of(
            order_view(session=session, order_id=order_id, customer_id=_owner(user))
        )


@router.post(
    "/{order_id}/cancel",
    response_model=OrderPublic,
    responses=error_responses(401, 403, 404, 409),
)
def cancel(order_id: IdPath, user: CurrentUser, db: Db) -> OrderPublic:
    """Cancel an order and return its stock: customers while it is pending, staff until it
    ships."""
    with db.session() as session:
        view = cancel_customer_order(session=session, order_id=order_id, customer_id=_owner(user))
    return OrderPublic.of(view)


def _owner(user: Principal) -> int | None:
    if user.is_staff:
        return None
    # A user without a customer profile owns no order; -1 matches none.
    return user.customer_id if user.customer_id is not None else -1
