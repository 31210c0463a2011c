"""Who may call an API route: dependencies that resolve and check the caller.

Only `optional_principal` touches the database (it runs in the thread pool); the checks after
it are plain `async` functions so they cost no thread hop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from shelfwise.store.accounts import Principal
from shelfwise.store.models import Role, TokenScope
from shelfwise.web.context import ApiError, get_web_session, resolve_principal
from shelfwise.web.security import CSRF_HEADER

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IdPath = Annotated[int, Path(ge=1, le=2**53, description="a positive identifier")]


def optional_principal(request: Request) -> Principal | None:
    """The caller, if any. A browser session (cookie) must also send its CSRF token in the
    X-CSRF-Token header on state-changing calls; bearer tokens need not."""
    principal = resolve_principal(request)
    if (
        principal is not None
        and request.state.via_cookie
        and request.method not in SAFE_METHODS
        and not get_web_session(request).csrf_matches(request.headers.get(CSRF_HEADER))
    ):
        raise ApiError(
            403,
            "csrf_failed",
            "a call signed in by session cookie must send the page's CSRF token in the "
            "X-CSRF-Token header (or use a bearer token)",
        )
    return principal


async def current_user(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "sign in first: send `Authorization: Bearer <token>` "
            "(POST /api/v1/auth/tokens with your email and password gives one)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.token_scope is TokenScope.POS:
        raise ApiError(
            403, "forbidden", "a point-of-sale token can only post sales (POST /api/v1/pos/sales)"
        )
    return principal


async def current_customer(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.customer_id is None:
        raise ApiError(
            403,
            "forbidden",
            f"the {user.role.value} account {user.email} has no customer profile, so it has no "
            "cart or orders of its own; sign in with a customer account",
        )
    return user


async def staff_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_staff:
        raise ApiError(403, "forbidden", "only staff and administrators may do this")
    return user


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "only administrators may do this")
    return user


async def pos_till(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "send the till's point-of-sale token as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.token_scope is not TokenScope.POS or principal.location_id is None:
        raise ApiError(
            403,
            "forbidden",
            "sales are posted with a point-of-sale token "
            "(`shelfwise users token EMAIL --pos --location CODE`)",
        )
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
CurrentCustomer = Annotated[Principal, Depends(current_customer)]
StaffUser = Annotated[Principal, Depends(staff_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
PosTill = Annotated[Principal, Depends(pos_till)]
