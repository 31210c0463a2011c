"""Per-request plumbing shared by the JSON API and the storefront: the database, who is asking,
and errors in one shape, `{"error": {"code", "message", "fields"}}`."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, NamedTuple, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shelfwise.store.accounts import (
    Principal,
    ValidationFailed,
    principal_for_api_token,
    principal_for_session,
)
from shelfwise.store.db import Database
from shelfwise.store.errors import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidTransition,
    NotFound,
    StoreError,
)
from shelfwise.store.group_commit import Job, Outcome, run_group
from shelfwise.store.inventory import lock_stock_rows
from shelfwise.store.wal import WalCheckpointer
from shelfwise.web.security import WebSession

_T = TypeVar("_T")
# Orders in one group's transaction at most: bounds how long the first of them waits.
MAX_GROUP = 64


class ApiError(Exception):
    """An HTTP error with a stable machine-readable code and a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": self.fields,
                **self.extra,
            }
        }


class LoginRequired(Exception):
    """A storefront page needs a signed-in user: redirect to the sign-in page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def from_store_error(exc: StoreError) -> ApiError:
    """The HTTP form of a domain error: what failed stays in the message and the fields."""
    if isinstance(exc, NotFound):
        return ApiError(404, exc.code, exc.message)
    if isinstance(exc, ValidationFailed):
        return ApiError(422, exc.code, exc.message, fields=exc.fields)
    if isinstance(exc, InsufficientStock):
        shortages = [
            {
                "product_id": s.product_id,
                "sku": s.sku,
                "location_code": s.location_code,
                "requested": s.requested,
                "available": s.available,
            }
            for s in exc.shortages
        ]
        fields = {f"product_{s.product_id}": s.describe() for s in exc.shortages}
        return ApiError(409, exc.code, exc.message, fields=fields, extra={"shortages": shortages})
    if isinstance(exc, InvalidTransition):
        return ApiError(409, exc.code, exc.message)
    if isinstance(exc, IdempotencyConflict):
        return ApiError(422, exc.code, exc.message, fields={"Idempotency-Key": exc.message})
    return ApiError(422, exc.code, exc.message)


class _Queued(NamedTuple):
    job: Job[Any]
    stock_rows: tuple[tuple[int, int], ...]
    future: asyncio.Future[Any]


class WebDatabase:
    """The store as routes use it: `session()` to write, `read_session()` to read.

    SQLite has one writer at a time. Left alone, concurrent request threads would each start
    `BEGIN IMMEDIATE` and sleep-poll in SQLite's busy handler (back-off up to 100 ms), which
    makes tail latency jumpy; here writers of this process queue on a lock instead and enter
    one after the other. Correctness does not depend on it (SQLite's own lock, the conditional
    stock UPDATEs and other processes are unaffected); other databases need no gate.

    Async routes hand their writes to `run_writing`: on SQLite one such thread at a time, the
    others waiting on the event loop rather than in threads parked on the gate. Writes that
    fit in a savepoint (an order) go to `run_grouped`: the orders that arrive while one group
    is being written are written next, together, in one transaction (see
    `shelfwise.store.group_commit`).

    While the server runs (`start` ... `stop`), SQLite's WAL is checkpointed in the background
    instead of inside requests (see `shelfwise.store.wal`).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        single_writer = db.backend == "sqlite"
        self._gate: AbstractContextManager[Any] = (
            threading.Lock() if single_writer else nullcontext()
        )
        self._writers = CapacityLimiter(1) if single_writer else None
        self._queued: list[_Queued] = []
        self._writing_groups: asyncio.Task[None] | None = None
        self.checkpointer = WalCheckpointer(db, gate=self._gate)

    async def run_writing(self, work: Callable[..., _T], *args: Any) -> _T:
        """`work(*args)` in a worker thread, for work that writes. Threads queued on the gate
        are not free: each wakes and competes for the GIL with the thread that writes and with
        the event loop (with 32 clients, ~15 % more CPU per order than queueing here)."""
        return await anyio.to_thread.run_sync(work, *args, limiter=self._writers)

    async def run_grouped(self, job: Job[_T], *, stock_rows: Iterable[tuple[int, int]] = ()) -> _T:
        """`job(connection)` in a write transaction, in a group with the jobs that queued while
        the previous group was written: one thread hop and one commit per group (see
        `shelfwise.store.group_commit`). `stock_rows` are the (product, location) stock rows
        the job takes: on PostgreSQL and MySQL a group locks all of its rows first, in one
        order, so that groups of several server processes never wait on each other in a
        cycle."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._queued.append(_Queued(job, tuple(stock_rows), future))
        writer = self._writing_groups
        if writer is None or writer.done() or writer.get_loop() is not future.get_loop():
            # (a writer of another event loop: a test client's loop that has ended)
            self._writing_groups = asyncio.create_task(self._write_groups())
        return await future

    async def _write_groups(self) -> None:
        try:
            while self._queued:
                group = self._queued[:MAX_GROUP]
                del self._queued[:MAX_GROUP]
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self._write_group, group, limiter=self._writers
                    )
                except Exception as exc:  # a bug: this group's callers get it, the next go on
                    outcomes = [Outcome(error=exc)] * len(group)
                except BaseException:  # cancelled (the server stops): nobody is left waiting
                    for queued in (*group, *self._queued):
                        if not queued.future.done():
                            queued.future.cancel()
                    self._queued.clear()
                    raise
                for queued, outcome in zip(group, outcomes, strict=True):
                    future = queued.future
                    if future.done() or future.get_loop().is_closed():
                        continue  # its request was cancelled or its loop ended (the order stands)
                    if outcome.error is None:
                        future.set_result(outcome.value)
                    else:
                        future.set_exception(outcome.error)
        finally:
            self._writing_groups = None

    def _write_group(self, group: list[_Queued]) -> list[Outcome[Any]]:
        rows = sorted({row for queued in group for row in queued.stock_rows})
        first = None
        if rows and self._writers is None:  # SQLite has one writer: nothing to lock
            first = functools.partial(lock_stock_rows, rows=rows)
        return run_group(self, [queued.job for queued in group], first=first)

    def start(self) -> None:
        self.checkpointer.start()

    def stop(self) -> None:
        self.checkpointer.stop()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._gate, self.db.session() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core write transaction (see `Database.transaction`), behind the same gate."""
        with self._gate, self.db.transaction() as connection:
            yield connection

    def read_session(self) -> AbstractContextManager[Session]:
        return self.db.read_session()


def get_db(request: Request) -> WebDatabase:
    db: WebDatabase = request.app.state.db
    return db


async def db_dependency(request: Request) -> WebDatabase:
    """`get_db` for `Depends`: async, so FastAPI resolves it on the event loop (it runs a sync
    dependency in the thread pool, a hop that costs more than the lookup)."""
    return get_db(request)


def get_web_session(request: Request) -> WebSession:
    session: WebSession = request.state.web_session
    return session


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send the API token as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


class TokenCache:
    """Bearer tokens checked recently, and whom they stand for, kept for `ttl` seconds.

    Checking a token is a database transaction; an API client sends the same token with every
    call. A token revoked here (DELETE /api/v1/auth/tokens/current) stops working at once; one
    revoked elsewhere (the CLI, another server process), or whose user was deactivated or has
    expired, stops working within `ttl` seconds. Unknown tokens are never cached.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare; every token is simply checked again
            self._entries[token] = (time.monotonic() + self.ttl, principal)

    def forget(self, token_id: int) -> None:
        with self._lock:
            for token, (_, principal) in list(self._entries.items()):
                if principal.token_id == token_id:
                    del self._entries[token]


def get_token_cache(request: Request) -> TokenCache:
    cache: TokenCache = request.app.state.token_cache
    return cache


def known_principal(request: Request) -> tuple[bool, Principal | None]:
    """Who is asking, if that is known without the database: (True, principal) when this
    request was resolved already or carries a recently checked bearer token, else (False,
    None) and `resolve_principal` must ask the store."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return True, cached
    token = bearer_token(request)
    if token is None:
        return False, None
    principal = get_token_cache(request).get(token)
    if principal is None:
        return False, None
    request.state.principal = principal
    request.state.via_cookie = False
    return True, principal


def resolve_principal(request: Request) -> Principal | None:
    """Who is asking: the bearer token's user, else the signed-in session's, else nobody.
    Resolved once per request; a revoked or expired session cookie is cleared."""
    known, principal = known_principal(request)
    if known:
        return principal
    db = get_db(request)
    via_cookie = False
    token = bearer_token(request)
    if token is not None:
        with db.read_session() as session:
            principal = principal_for_api_token(session=session, token=token)
        if principal is None:
            raise ApiError(
                401,
                "invalid_token",
                "the API token is unknown, revoked or expired; create a new one",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        get_token_cache(request).put(token, principal)
    else:
        web_session = get_web_session(request)
        if web_session.auth_token:
            with db.read_session() as session:
                principal = principal_for_session(session=session, token=web_session.auth_token)
            if principal is None:
                web_session.sign_out()
            via_cookie = principal is not None
    request.state.principal = principal
    request.state.via_cookie = via_cookie
    return principal
