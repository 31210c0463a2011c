"""All storefront routes."""

from __future__ import annotations

from fastapi import APIRouter

from shelfwise.web.shop import account, cart, forecasts, orders, pages


def shop_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (pages, cart, orders, account, forecasts):
        router.include_router(module.router)
    return router
