"""HTTP-level protections: security headers, request size limits, the signed session cookie and
CSRF tokens.

All three middlewares are plain ASGI (no per-request task or body buffering), so they cost
little on the order-placement path.

The session cookie is signed (itsdangerous, HMAC-SHA1 over the secret key) and holds only:
a CSRF token, an anonymous visitor's cart key, the secret of a signed-in session (whose hash is
in `user_sessions`, so signing out really ends it) and one-shot flash messages. It is HttpOnly,
SameSite=Lax, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException

from shelfwise.store.accounts import SESSION_LIFETIME

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "shelfwise_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_BODY_BYTES = 1024 * 1024

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def _is_api(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


class SecurityHeadersMiddleware:
    """Adds CSP (no inline scripts or styles), anti-framing, nosniff, a referrer policy, and
    HSTS over HTTPS, to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if https:
                    headers.append(HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised while reading an over-long streamed body; an HTTPException so that FastAPI's
    body parser passes it on (as 413) instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit // 1024} KiB; send less data"
        )


def _too_large_body(scope: Scope, limit: int) -> tuple[bytes, bytes]:
    message = f"the request body is larger than {limit // 1024} KiB; send less data"
    if _is_api(scope):
        body = json.dumps(
            {"error": {"code": "payload_too_large", "message": message, "fields": {}}}
        )
        return body.encode(), b"application/json"
    html = f"<!doctype html><title>Request too large</title><p>{message}.</p>"
    return html.encode(), b"text/html; charset=utf-8"


class BodySizeLimitMiddleware:
    """Refuses request bodies over `limit` bytes with 413, by Content-Length up front or while
    streaming (chunked uploads), before the application buffers them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body, content_type = _too_large_body(scope, self.limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await self._refuse(scope, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)


class WebSession:
    """The contents of the signed session cookie; changes are written back on the response."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self.modified = False

    @property
    def data(self) -> dict[str, Any]:
        return self._data

    @property
    def csrf_token(self) -> str:
        token = self._data.get("csrf")
        if not isinstance(token, str) or len(token) < 20:
            token = secrets.token_urlsafe(32)
            self._data["csrf"] = token
            self.modified = True
        return token

    def csrf_matches(self, candidate: str | None) -> bool:
        expected = self._data.get("csrf")
        if not candidate or not isinstance(expected, str):
            return False
        return hmac.compare_digest(candidate.encode(), expected.encode())

    @property
    def visitor_key(self) -> str | None:
        key = self._data.get("cart")
        return key if isinstance(key, str) else None

    def ensure_visitor_key(self) -> str:
        key = self.visitor_key
        if key is None:
            key = secrets.token_urlsafe(24)
            self._data["cart"] = key
            self.modified = True
        return key

    @property
    def auth_token(self) -> str | None:
        token = self._data.get("sid")
        return token if isinstance(token, str) else None

    def sign_in(self, token: str) -> None:
        """A new CSRF token and no visitor cart after sign-in (it has been merged)."""
        flashes = self._data.get("flash", [])
        self._data = {"sid": token, "csrf": secrets.token_urlsafe(32), "flash": flashes}
        self.modified = True

    def sign_out(self) -> None:
        flashes = self._data.get("flash", [])
        self._data = {"csrf": secrets.token_urlsafe(32), "flash": flashes}
        self.modified = True

    def flash(self, message: str, kind: str = "info") -> None:
        self._data.setdefault("flash", []).append([kind, message])
        self.modified = True

    def pop_flashes(self) -> list[tuple[str, str]]:
        flashes = self._data.pop("flash", [])
        if flashes:
            self.modified = True
        return [(str(kind), str(message)) for kind, message in flashes]


class SessionCookieMiddleware:
    """Loads the signed cookie into `request.state.web_session` and writes it back when it
    changed. A cookie with a bad signature or older than the session lifetime is ignored."""

    def __init__(self, app: ASGIApp, secret_key: str, cookie_name: str = SESSION_COOKIE) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.serializer = URLSafeTimedSerializer(secret_key, salt="shelfwise.session")
        self.max_age = int(SESSION_LIFETIME.total_seconds())

    def _load(self, scope: Scope) -> WebSession:
        for name, value in scope.get("headers", []):
            if name != b"cookie":
                continue
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:
                continue
            morsel = cookie.get(self.cookie_name)
            if morsel is None:
                continue
            try:
                data = self.serializer.loads(morsel.value, max_age=self.max_age)
            except BadSignature:
                return WebSession()
            return WebSession(data if isinstance(data, dict) else None)
        return WebSession()

    def _set_cookie(self, session: WebSession, https: bool) -> bytes:
        value = self.serializer.dumps(session.data)
        parts = [
            f"{self.cookie_name}={value}",
            "Path=/",
            f"Max-Age={self.max_age}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if https:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self._load(scope)
        scope.setdefault("state", {})["web_session"] = session
        https = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", self._set_cookie(session, https)))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths may follow a sign-in: no scheme, no host, no `//` (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
