"""Who may call an API route: dependencies that resolve and check the caller.

Only `optional_principal` may touch the database, and only for a bearer token it has not seen
in the last seconds (or a browser session): then it checks in the thread pool. Everything else
is plain `async`, so an API call with a known token costs no extra thread hop and no query.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from shelfwise.store.accounts import Principal
from shelfwise.store.kinds import Role, TokenScope
from shelfwise.web.context import (
    ApiError,
    get_web_session,
    known_principal,
    resolve_principal,
)
from shelfwise.web.security import CSRF_HEADER

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IdPath = Annotated[int, Path(ge=1, le=2**53, description="a positive identifier")]


async def optional_principal(request: Request) -> Principal | None:
    """The caller, if any. A browser session (cookie) must also send its CSRF token in the
    X-CSRF-Token header on state-changing calls; bearer tokens need not."""
    known, principal = known_principal(request)
    if not known:
        principal = await run_in_threadpool(resolve_principal, request)
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


async def current_user(request: Request) -> Principal:
    # Each check calls the one before it directly rather than through `Depends`: FastAPI's
    # dependency solving costs more per level than the checks themselves.
    principal = await optional_principal(request)
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


async def current_customer(request: Request) -> Principal:
    user = await current_user(request)
    if user.customer_id is None:
        raise ApiError(
            403,
            "forbidden",
            f"the {user.role.value} account {user.email} has no customer profile, so it has no "
            "cart or orders of its own; sign in with a customer account",
        )
    return user


async def staff_user(request: Request) -> Principal:
    user = await current_user(request)
    if not user.is_staff:
        raise ApiError(403, "forbidden", "only staff and administrators may do this")
    return user


async def admin_user(request: Request) -> Principal:
    user = await current_user(request)
    if user.role is not Role.ADMIN:
        raise ApiError(403, "forbidden", "only administrators may do this")
    return user


async def pos_till(request: Request) -> Principal:
    principal = await optional_principal(request)
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
