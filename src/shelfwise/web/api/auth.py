"""Accounts over the API: register, exchange a password for a bearer token, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from shelfwise.store.accounts import (
    authenticate,
    create_api_token,
    register_customer,
    revoke_api_token,
)
from shelfwise.store.kinds import TokenScope
from shelfwise.web.api.deps import CurrentUser
from shelfwise.web.api.schemas import (
    TokenCreate,
    TokenPublic,
    UserCreate,
    UserPublic,
    error_responses,
)
from shelfwise.web.context import (
    ApiError,
    WebDatabase,
    client_address,
    db_dependency,
    get_token_cache,
)

router = APIRouter(tags=["accounts"])
Db = Annotated[WebDatabase, Depends(db_dependency)]


@router.post("/users", response_model=UserPublic, status_code=201, responses=error_responses(422))
def register(body: UserCreate, db: Db) -> UserPublic:
    """Register a customer account (password: 10+ characters, two kinds of characters, not
    your email). Field problems come back in `error.fields`."""
    with db.session() as session:
        principal = register_customer(
            session=session,
            email=body.email,
            password=body.password,
            name=body.name,
            country=body.country,
        )
    return UserPublic(
        id=principal.user_id,
        email=principal.email,
        role=principal.role,
        customer_id=principal.customer_id,
    )


@router.post(
    "/auth/tokens",
    response_model=TokenPublic,
    status_code=201,
    responses=error_responses(401, 422, 429),
)
def issue_token(body: TokenCreate, request: Request, db: Db) -> TokenPublic:
    """Exchange email and password for a bearer token (valid 30 days). After 5 failures in
    15 minutes the account is locked for a while: 429 with Retry-After."""
    with db.session() as session:
        outcome = authenticate(
            session=session,
            email=body.email,
            password=body.password,
            address=client_address(request),
        )
        issued = (
            create_api_token(
                session=session,
                user_id=outcome.principal.user_id,
                name=body.name,
                scope=TokenScope.API,
            )
            if outcome.principal
            else None
        )
    if outcome.retry_after is not None:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed sign-ins; try again in {outcome.retry_after} seconds",
            headers={"Retry-After": str(outcome.retry_after)},
        )
    if issued is None:
        raise ApiError(
            401,
            "invalid_credentials",
            "wrong email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return TokenPublic(
        id=issued.id,
        token=issued.token,
        name=issued.name,
        scope=issued.scope,
        location_id=issued.location_id,
        expires_at=issued.expires_at,
    )


@router.delete("/auth/tokens/current", status_code=204, responses=error_responses(401, 422))
def revoke_current_token(user: CurrentUser, db: Db, request: Request) -> Response:
    """Revoke the bearer token this request was sent with (sign out of the API)."""
    if user.token_id is None:
        raise ApiError(
            422,
            "no_token",
            "this request was not made with a bearer token; sign out of the website with "
            "POST /account/logout",
        )
    with db.session() as session:
        revoke_api_token(session=session, token_id=user.token_id)
    get_token_cache(request).forget(user.token_id)
    return Response(status_code=204)


@router.get("/auth/me", response_model=UserPublic, responses=error_responses(401, 403))
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(
        id=user.user_id, email=user.email, role=user.role, customer_id=user.customer_id
    )
