"""Server-rendered pages: the Jinja2 environment, its filters, and the context every page has
(who is signed in, the CSRF token, the cart count, one-shot messages)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shelfwise.store.carts import CartOwner, cart_item_count
from shelfwise.web.context import ApiError, get_db, get_web_session, resolve_principal

TEMPLATES = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=TEMPLATES)


def money(value: Decimal | float | int | None) -> str:
    if value is None:
        return ""
    return f"${Decimal(value):,.2f}"


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%d %b %Y, %H:%M UTC")


def percent(value: Decimal | float) -> str:
    return f"{Decimal(value) * 100:.0f}%"


templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.filters["percent"] = percent


def cart_owner(request: Request) -> CartOwner | None:
    """The cart this browser sees: the signed-in user's, else the visitor's (if any yet)."""
    try:
        principal = resolve_principal(request)
    except ApiError:
        principal = None
    if principal is not None:
        return CartOwner(user_id=principal.user_id)
    key = get_web_session(request).visitor_key
    return CartOwner(visitor_key=key) if key else None


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    web_session = get_web_session(request)
    try:
        principal = resolve_principal(request)
    except ApiError:
        principal = None
    owner = cart_owner(request)
    count = 0
    if owner is not None:
        with get_db(request).read_session() as session:
            count = cart_item_count(session=session, owner=owner)
    page: dict[str, Any] = {
        "principal": principal,
        "csrf_token": web_session.csrf_token,
        "flashes": web_session.pop_flashes(),
        "cart_count": count,
        "search_query": request.query_params.get("q", ""),
    }
    page.update(context or {})
    response: HTMLResponse = templates.TemplateResponse(
        request, name, page, status_code=status_code, headers=headers
    )
    return response
