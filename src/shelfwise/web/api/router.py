"""All API routes under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from shelfwise.web.api import auth, cart, forecasts, meta, orders, pos, products

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    # Orders first: routes are matched in this order, and order placement is the hot path.
    for module in (orders, products, cart, auth, pos, forecasts, meta):
        router.include_router(module.router)
    return router
