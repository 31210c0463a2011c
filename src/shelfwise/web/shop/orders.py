"""A customer's orders: history, one order with its status timeline, cancelling.

Another customer's order is "not found", exactly like a missing one (no existence leak)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shelfwise.store.accounts import Principal
from shelfwise.store.carts import cancel_customer_order, list_orders, order_view
from shelfwise.store.errors import InvalidTransition
from shelfwise.web.rendering import render
from shelfwise.web.shop.deps import Csrf, Db, Session, User

router = APIRouter(include_in_schema=False)


def _owner(user: Principal) -> int | None:
    if user.is_staff:
        return None
    return user.customer_id if user.customer_id is not None else -1


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, db: Db, user: User, page: int = 1) -> HTMLResponse:
    page = min(max(page, 1), 10_000)
    with db.read_session() as session:
        orders = list_orders(session=session, customer_id=_owner(user), page=page, per_page=20)
    return render(request, "orders.html", {"orders": orders})


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, order_id: int, db: Db, user: User) -> HTMLResponse:
    with db.read_session() as session:
        order = order_view(session=session, order_id=order_id, customer_id=_owner(user))
    return render(request, "order.html", {"order": order})


@router.post("/orders/{order_id}/cancel", dependencies=[Csrf])
def cancel(order_id: int, db: Db, user: User, web_session: Session) -> RedirectResponse:
    try:
        with db.session() as session:
            cancel_customer_order(session=session, order_id=order_id, customer_id=_owner(user))
    except InvalidTransition as exc:
        web_session.flash(exc.message[0].upper() + exc.message[1:] + ".", "warning")
    else:
        web_session.flash(f"Order #{order_id} is cancelled; nothing will be charged.", "success")
    return RedirectResponse(f"/orders/{order_id}", status_code=303)
