"""All API routes under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from shelfwise.web.api import auth, cart, meta, orders, pos, products

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (products, cart, orders, auth, pos, meta):
        router.include_router(module.router)
    return router
