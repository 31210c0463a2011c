"""The website's application factory: storefront pages, the JSON API, static assets, and the
protections around them (security headers, size limits, signed sessions, CSRF)."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelfwise import __version__
from shelfwise.config import Settings, get_settings
from shelfwise.store.db import Database
from shelfwise.store.errors import StoreError
from shelfwise.web.api.router import API_PREFIX, api_router
from shelfwise.web.context import (
    ApiError,
    LoginRequired,
    TokenCache,
    WebDatabase,
    from_store_error,
)
from shelfwise.web.rendering import render
from shelfwise.web.security import (
    MAX_BODY_BYTES,
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    SessionCookieMiddleware,
)
from shelfwise.web.shop.router import shop_router

STATIC = Path(__file__).with_name("static")
MIN_SECRET_LENGTH = 16
log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}
PAGE_TITLES = {
    400: "That request did not make sense",
    403: "You may not do that",
    404: "We could not find that page",
    405: "That is not possible here",
    409: "That could not be done",
    422: "Please check what you entered",
    429: "Please slow down",
    500: "Something went wrong on our side",
}


class ConfigurationError(RuntimeError):
    """The website cannot start with these settings; the message says what to change."""


def _secret_key(settings: Settings, demo: bool) -> str:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not secret:
        if demo:
            return secrets.token_urlsafe(48)  # per process: demo sessions end with the demo
        raise ConfigurationError(
            "SHELFWISE_SECRET_KEY is not set. It signs session cookies, so the website needs "
            "it outside the demo. Set it to a long random value, for example:\n"
            "  export SHELFWISE_SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')\n"
            "(or put it in .env); `shelfwise demo` runs without it."
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"SHELFWISE_SECRET_KEY has {len(secret)} characters; use at least "
            f"{MIN_SECRET_LENGTH} random characters (48 recommended)"
        )
    return secret


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") and not request.url.path.startswith(
        API_PREFIX + "/docs"
    )


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _field_problem(problem: dict[str, Any]) -> tuple[str, str]:
    """The field and message of one validation problem. A body that is not JSON is located at
    a character offset ("body", 9), which names no field: it is the body's problem."""
    loc = problem.get("loc", ())
    if problem.get("type") == "json_invalid":
        reason = str(problem.get("ctx", {}).get("error", "")).strip() or "JSON decode error"
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return "body", f"not valid JSON{where}: {reason}"
    return _field_name(loc), str(problem.get("msg", ""))


def _error_response(request: Request, error: ApiError) -> Response:
    if _is_api(request):
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
    if error.status == 401:
        return RedirectResponse("/account/login?next=" + quote(request.url.path), status_code=303)
    return render(
        request,
        "error.html",
        {
            "status": error.status,
            "title": PAGE_TITLES.get(error.status, "That did not work"),
            "message": error.message[0].upper() + error.message[1:] if error.message else "",
            "fields": error.fields,
        },
        status_code=error.status,
        headers=error.headers,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return _error_response(request, from_store_error(exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(
            "/account/login?next=" + quote(exc.next_path, safe="/?=&"), status_code=303
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        fields: dict[str, str] = {}
        for problem in exc.errors():
            fields.setdefault(*_field_problem(problem))
        summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
        error = ApiError(
            422 if _is_api(request) else 400,
            "validation_failed",
            f"the request has invalid fields ({summary})",
            fields=fields,
        )
        return _error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "request failed"
        if exc.status_code == 404:
            message = f"there is nothing at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return _error_response(
            request,
            ApiError(
                exc.status_code,
                code,
                message.rstrip("."),
                headers=dict(exc.headers) if exc.headers else None,
            ),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = ApiError(
            500,
            "internal_error",
            "an unexpected error happened; it has been logged, please try again later",
        )
        if _is_api(request):
            return JSONResponse(error.body(), status_code=500)
        return HTMLResponse(
            "<!doctype html><title>Error</title><h1>Something went wrong</h1>"
            "<p>It has been logged; please try again later.</p>",
            status_code=500,
        )


def create_app(
    settings: Settings | None = None,
    *,
    demo: bool = False,
    database: Database | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    worker_threads: int | None = None,
) -> FastAPI:
    """Build the website. Needs SHELFWISE_SECRET_KEY unless `demo` (which makes up a key for
    the life of the process). Uses `database` if given (and leaves it open), else opens the
    configured store and closes it at shutdown."""
    settings = settings or get_settings()
    secret = _secret_key(settings, demo)
    db = database or Database(settings.resolved_database_url)
    owns_db = database is None
    web_db = WebDatabase(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool (40 threads by default). Dozens of runnable
        # threads fight over the GIL and starve the event loop; a few threads keep the
        # database busy as well (SQLite writes one at a time anyway) with far lower latency.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = worker_threads or (4 if db.backend == "sqlite" else 12)
        web_db.start()
        try:
            yield
        finally:
            web_db.stop()
        if owns_db:
            db.dispose()

    app = FastAPI(
        title="Shelfwise API",
        version=__version__,
        description=(
            "The shop's JSON API: catalogue, cart, orders, accounts and point of sale. "
            "Authenticate with `Authorization: Bearer <token>` (POST /api/v1/auth/tokens). "
            'Errors are `{"error": {"code", "message", "fields"}}`.'
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.db = web_db
    app.state.token_cache = TokenCache()
    app.state.settings = settings
    app.state.demo = demo
    _install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(shop_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost first: headers on every response, then size limit, then the session cookie.
    app.add_middleware(SessionCookieMiddleware, secret_key=secret)
    app.add_middleware(BodySizeLimitMiddleware, limit=max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def run_server(app: FastAPI, *, host: str, port: int, **uvicorn_options: Any) -> None:
    """Serve `app` with uvicorn until stopped, with the start-up heap out of the collector's
    sight: modules, routes, templates and compiled statements live as long as the process,
    yet every full collection walked them all (~100 ms with the event loop stopped, which
    every request in flight waited out). Frozen, a full collection walks request garbage
    only; objects freed by reference counting are freed as before."""
    import uvicorn

    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, **uvicorn_options)
