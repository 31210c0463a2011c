"""The cart (for visitors and signed-in users alike) and checkout (signed-in customers)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shelfwise.store.accounts import customer_country
from shelfwise.store.carts import (
    CartOwner,
    add_to_cart,
    checkout,
    fulfilment_options,
    set_cart_quantity,
    view_cart,
)
from shelfwise.store.errors import InsufficientStock, InvalidRequest, NotFound, StoreError
from shelfwise.store.inventory import LineRequest
from shelfwise.web.rendering import cart_owner, render
from shelfwise.web.security import safe_next
from shelfwise.web.shop.deps import Csrf, Db, MaybeUser, Session, User, browser_cart

router = APIRouter(include_in_schema=False)


@router.get("/cart", response_class=HTMLResponse)
def cart_page(request: Request, db: Db) -> HTMLResponse:
    owner = cart_owner(request)
    with db.read_session() as session:
        cart = view_cart(session=session, owner=owner) if owner else None
    return render(request, "cart.html", {"cart": cart})


@router.post("/cart/items", dependencies=[Csrf])
def add_item(
    request: Request,
    db: Db,
    principal: MaybeUser,
    web_session: Session,
    product_id: Annotated[int, Form(ge=1, le=2**53)],
    quantity: Annotated[int, Form(ge=1, le=99)] = 1,
    next_url: Annotated[str, Form(alias="next")] = "/cart",
) -> RedirectResponse:
    owner = browser_cart(request, principal)
    with db.session() as session:
        cart = add_to_cart(session=session, owner=owner, product_id=product_id, quantity=quantity)
    name = next((line.product.name for line in cart.lines if line.product.id == product_id), "")
    web_session.flash(f"Added {quantity} × {name} to your cart.", "success")
    return RedirectResponse(safe_next(next_url, "/cart"), status_code=303)


@router.post("/cart/items/{product_id}", dependencies=[Csrf])
def update_item(
    request: Request,
    product_id: int,
    db: Db,
    principal: MaybeUser,
    web_session: Session,
    quantity: Annotated[int, Form(ge=0, le=99)],
) -> RedirectResponse:
    owner = browser_cart(request, principal)
    try:
        with db.session() as session:
            set_cart_quantity(
                session=session, owner=owner, product_id=product_id, quantity=quantity
            )
    except NotFound:
        web_session.flash("That product is no longer in your cart.", "warning")
    else:
        web_session.flash("Removed from your cart." if quantity == 0 else "Cart updated.")
    return RedirectResponse("/cart", status_code=303)


def _shortage_messages(exc: InsufficientStock, names: dict[int, str]) -> list[str]:
    return [
        f"{names.get(s.product_id, s.sku)}: you asked for {s.requested}, only {s.available} "
        f"left at {s.location_code}. Lower the quantity or remove it from your cart."
        for s in exc.shortages
    ]


def _checkout_page(
    request: Request,
    db: Db,
    user: User,
    *,
    key: str,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with db.read_session() as session:
        cart = view_cart(session=session, owner=CartOwner(user_id=user.user_id))
        options = []
        if not cart.is_empty and user.customer_id is not None:
            country = customer_country(session=session, customer_id=user.customer_id)
            options = fulfilment_options(
                session=session,
                lines=[LineRequest(line.product.id, line.quantity) for line in cart.lines],
                country=country,
            )
    return render(
        request,
        "checkout.html",
        {
            "cart": cart,
            "options": options,
            "idempotency_key": key,
            "errors": errors or [],
            "can_order": user.customer_id is not None,
        },
        status_code=status_code,
    )


@router.get("/checkout", response_class=HTMLResponse)
def checkout_page(request: Request, db: Db, user: User) -> HTMLResponse:
    return _checkout_page(request, db, user, key=secrets.token_urlsafe(18))


@router.post("/checkout", dependencies=[Csrf], response_model=None)
def place_order(
    request: Request,
    db: Db,
    user: User,
    web_session: Session,
    idempotency_key: Annotated[str, Form(min_length=8, max_length=64)],
    location: Annotated[str, Form()] = "auto",
) -> HTMLResponse | RedirectResponse:
    if user.customer_id is None:
        errors = ["Staff and administrator accounts cannot place orders; use a customer account."]
        return _checkout_page(
            request, db, user, key=idempotency_key, errors=errors, status_code=403
        )
    location_id = int(location) if location.isdigit() else None
    try:
        with db.session() as session:
            placed = checkout(
                session=session,
                customer_id=user.customer_id,
                user_id=user.user_id,
                idempotency_key=f"web:{idempotency_key}",
                location_id=location_id,
            )
    except InsufficientStock as exc:
        with db.read_session() as session:
            cart = view_cart(session=session, owner=CartOwner(user_id=user.user_id))
        names = {line.product.id: line.product.name for line in cart.lines}
        return _checkout_page(
            request,
            db,
            user,
            key=secrets.token_urlsafe(18),
            errors=_shortage_messages(exc, names),
            status_code=409,
        )
    except InvalidRequest as exc:
        web_session.flash(exc.message[0].upper() + exc.message[1:] + ".", "warning")
        return RedirectResponse("/cart", status_code=303)
    except StoreError as exc:
        return _checkout_page(
            request, db, user, key=secrets.token_urlsafe(18), errors=[exc.message], status_code=409
        )
    if not placed.replayed:
        web_session.flash(f"Thank you! Your order #{placed.order_id} is placed.", "success")
    return RedirectResponse(f"/orders/{placed.order_id}", status_code=303)
