"""What storefront routes need: the signed-in user (or a trip to the sign-in page) and a valid
CSRF token on every form that changes something."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request

from shelfwise.store.accounts import Principal
from shelfwise.store.carts import CartOwner
from shelfwise.web.context import (
    ApiError,
    LoginRequired,
    WebDatabase,
    db_dependency,
    get_web_session,
    resolve_principal,
)
from shelfwise.web.security import CSRF_FIELD, WebSession


def page_principal(request: Request) -> Principal | None:
    try:
        return resolve_principal(request)
    except ApiError:
        return None


def signed_in(
    principal: Annotated[Principal | None, Depends(page_principal)], request: Request
) -> Principal:
    if principal is None:
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        raise LoginRequired(target)
    return principal


async def csrf_protected(
    request: Request, csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = ""
) -> None:
    if not get_web_session(request).csrf_matches(csrf_token):
        raise ApiError(
            403,
            "csrf_failed",
            "this form has expired or did not come from this site; go back, reload the page "
            "and try again",
        )


def login_url(next_path: str) -> str:
    return "/account/login?next=" + quote(next_path, safe="/")


def browser_cart(request: Request, principal: Principal | None) -> CartOwner:
    """The cart a change applies to: the user's, or the visitor's (given a key now)."""
    if principal is not None:
        return CartOwner(user_id=principal.user_id)
    return CartOwner(visitor_key=get_web_session(request).ensure_visitor_key())


Db = Annotated[WebDatabase, Depends(db_dependency)]
Session = Annotated[WebSession, Depends(get_web_session)]
MaybeUser = Annotated[Principal | None, Depends(page_principal)]
User = Annotated[Principal, Depends(signed_in)]
Csrf = Depends(csrf_protected)
