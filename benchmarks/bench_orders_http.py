"""Order placement over HTTP: POST /api/v1/orders with 32 concurrent clients, on SQLite and
PostgreSQL, against a reference endpoint measured in the same run.

The reference is the floor of an order in the same framework and server: a FastAPI route that
does one conditional UPDATE of the stock row and one INSERT of a ledger row per request (same
uvicorn, same `Database`, same SQLite write queue, same thread pool, statements built once like
the shop's). The shop's route adds what a real order needs: middleware, bearer-token
authentication, idempotency, the order, its lines, its event, promotions, and a full JSON order
in the response. Each server runs in its own uvicorn process; the clients (aiohttp, asyncio, 32
at a time) run in this process. Each round measures the reference, then the shop; the median
round's ratio is the verdict. Demand exceeds stock on purpose: the run checks that exactly the
units on the shelf were sold and none oversold.

    python -m benchmarks.bench_orders_http [--requests 1500] [--concurrency 32] [--rounds 3]
        [--postgres-url URL | --no-postgres] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import anyio.to_thread
import httpx
from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import func, insert, select, text

from shelfwise.store.accounts import create_api_token, hash_password
from shelfwise.store.db import Database
from shelfwise.store.inventory import TAKE_STOCK, adjust_stock, ledger_mismatches
from shelfwise.store.kinds import LocationKind, MovementKind, Role, Segment
from shelfwise.store.models import (
    Base,
    Category,
    Customer,
    Location,
    Product,
    StockLevel,
    StockMovement,
    SubCategory,
    User,
)
from shelfwise.store.prepared import PreparedStatement
from shelfwise.store.schema import upgrade
from shelfwise.web.context import WebDatabase

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION = "## Order placement over HTTP"
SECRET = "benchmark-secret-key-0123456789abcdef"
PRODUCTS = 8
WARMUP_ORDERS = 64
TARGET_RATIO = 0.60
TARGET_P99_MS = 150.0


# ---------------------------------------------------------------------------------------------
# The store and the two servers
# ---------------------------------------------------------------------------------------------


@dataclass
class BenchStore:
    location_id: int
    products: list[int]
    warmup_product: int
    tokens: list[str]
    stock: int  # units of each measured product


def prepare_store(url: str, *, requests: int, clients: int) -> BenchStore:
    """A migrated store: products whose stock is 90 % of the demand, one customer per client."""
    db = Database(url)
    if db.backend != "sqlite":
        with db.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(db)
    stock = max(1, int(requests * 0.9) // PRODUCTS)
    with db.session() as session:
        category = Category(name="Bench")
        sub = SubCategory(category=category, name="Bench items")
        location = Location(
            code="BENCH",
            name="Bench store",
            kind=LocationKind.STORE,
            country="US",
            region="East",
            city="Newark",
        )
        session.add_all([category, sub, location])
        session.flush()
        ids = []
        for number in range(PRODUCTS + 1):
            product = Product(
                sku=f"BENCH-{number}",
                name=f"Bench item {number}",
                sub_category=sub,
                unit_price=Decimal("10.00") + number,
            )
            session.add(product)
            session.flush()
            ids.append(product.id)
            units = stock if number < PRODUCTS else WARMUP_ORDERS * 2
            adjust_stock(
                session=session,
                product_id=product.id,
                location_id=location.id,
                delta=units,
                reason="opening",
            )
        password_hash = hash_password("Bench-password-1")  # one hash for every bench user
        tokens = []
        for number in range(clients):
            customer = Customer(
                name=f"Bench customer {number}",
                email=f"bench{number}@example.com",
                segment=Segment.CONSUMER,
                country="US",
            )
            session.add(customer)
            session.flush()
            user = User(
                email=customer.email,
                password_hash=password_hash,
                role=Role.CUSTOMER,
                customer_id=customer.id,
            )
            session.add(user)
            session.flush()
            tokens.append(create_api_token(session=session, user_id=user.id, name="bench").token)
        store = BenchStore(location.id, ids[:PRODUCTS], ids[PRODUCTS], tokens, stock)
    db.dispose()
    return store


class ReferenceOrder(BaseModel):
    product_id: int
    location_id: int
    quantity: int


# The reference's two statements, prepared once and run on the driver's cursor in a Core
# transaction: the technique of the shop's checkout (`inventory.place_order_in_transaction`),
# whose conditional stock UPDATE it shares, so the floor is not raised by a slower technique
# and the ratio measures the shop's work.
RECORD_SALE = PreparedStatement(
    insert(StockMovement),
    ("product_id", "location_id", "kind", "quantity", "occurred_at", "created_at", "updated_at"),
)


def reference_app(url: str) -> FastAPI:
    """The floor: one conditional UPDATE and one INSERT per request, nothing else."""
    db = WebDatabase(Database(url))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The same thread pool as the shop's app (see shelfwise.web.app.create_app).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 4 if db.db.backend == "sqlite" else 12
        db.start()  # background WAL checkpoints, like the shop's
        yield
        db.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/ref/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/ref/orders", status_code=201)
    async def order(body: ReferenceOrder, response: Response) -> dict[str, int]:
        # Like the shop's route: async, with the store work in one worker-thread hop, one
        # writer at a time on SQLite (a sync route would have its answer validated in a
        # second hop).
        sold = await db.run_writing(take, body)
        if not sold:
            response.status_code = 409
        return {"sold": sold}

    def take(body: ReferenceOrder) -> int:
        now = datetime.now(UTC)
        with db.transaction() as connection:
            taken = TAKE_STOCK.execute(
                connection,
                {
                    "take_product": body.product_id,
                    "take_location": body.location_id,
                    "take_quantity": body.quantity,
                    "now": now,
                },
            )
            if taken.rowcount != 1:
                return 0
            RECORD_SALE.execute(
                connection,
                {
                    "product_id": body.product_id,
                    "location_id": body.location_id,
                    "kind": MovementKind.SALE,
                    "quantity": -body.quantity,
                    "occurred_at": now,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        return body.quantity

    return app


def serve(kind: str, url: str, port: int) -> None:
    """Entry point of a server subprocess: both servers run as `shelfwise serve` does."""
    from shelfwise.config import Settings
    from shelfwise.web.app import create_app, run_server

    if kind == "shop":
        app = create_app(Settings(secret_key=SECRET, database_url=url))
    else:
        app = reference_app(url)
    run_server(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=300,  # idle client connections must not be closed mid-run
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(kind: str, url: str) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_orders_http", "--serve", kind, url, str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
    )
    base = f"http://127.0.0.1:{port}"
    health = "/api/v1/health" if kind == "shop" else "/ref/health"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + health, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} server did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    backend: str
    endpoint: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    sold_by_product: dict[int, int]  # from 201 responses
    oversold: int  # units that left the shelf beyond the stock (must be 0)
    checks: list[str]
    round: int = 1
    load: float = 0.0  # 1-minute load average when this measurement started

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _request(kind: str, store: BenchStore, number: int, product: int) -> dict[str, Any]:
    if kind == "shop":
        return {
            "url": "/api/v1/orders",
            "json": {
                "lines": [{"product_id": product, "quantity": 1}],
                "location_id": store.location_id,
            },
            "headers": {
                "Authorization": f"Bearer {store.tokens[number % len(store.tokens)]}",
                "Idempotency-Key": f"bench-{number}",
            },
        }
    return {
        "url": "/ref/orders",
        "json": {"product_id": product, "location_id": store.location_id, "quantity": 1},
    }


async def _drive(
    base: str, kind: str, store: BenchStore, requests: int, concurrency: int
) -> tuple[float, list[float], list[tuple[int, int]]]:
    # aiohttp, not httpx: httpx's async pool spends most of its time on its own bookkeeping
    # with 32 connections (a bare FastAPI endpoint measured 150-240 req/s through it against
    # ~1,300 through aiohttp), so it measured the client instead of the servers.
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def post(number: int, product: int) -> int:
            async with client.post(**_request(kind, store, number, product)) as response:
                await response.read()
                return response.status

        warm = [post(-1 - n, store.warmup_product) for n in range(WARMUP_ORDERS)]
        for status in await asyncio.gather(*warm):
            assert status in (200, 201), status
        counter = iter(range(requests))
        latencies: list[float] = []
        outcomes: list[tuple[int, int]] = []

        async def worker() -> None:
            for number in counter:
                product = store.products[number % len(store.products)]
                started = time.perf_counter()
                status = await post(number, product)
                latencies.append((time.perf_counter() - started) * 1000)
                outcomes.append((product, status))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, outcomes


def _verify(url: str, store: BenchStore, sold: dict[int, int], kind: str) -> tuple[list[str], int]:
    """Sold units per product equal the 201 answers, and never exceed the stock. Returns the
    problems found and the number of oversold units."""
    problems = []
    oversold = 0
    db = Database(url)
    with db.read_session() as session:
        on_hand = dict(
            session.execute(
                select(StockLevel.product_id, StockLevel.on_hand).where(
                    StockLevel.product_id.in_(store.products)
                )
            ).all()
        )
        if kind == "shop" and ledger_mismatches(session=session):
            problems.append("the ledger does not match the stock levels")
        negative = session.scalar(select(func.count()).where(StockLevel.on_hand < 0))
    db.dispose()
    if negative:
        problems.append(f"{negative} stock rows below zero")
    for product in store.products:
        taken = store.stock - on_hand[product]
        if taken != sold.get(product, 0):
            problems.append(f"product {product}: {taken} units left the shelf, {sold} answered 201")
        if taken > store.stock:
            oversold += taken - store.stock
            problems.append(f"product {product}: oversold by {taken - store.stock}")
    return problems, oversold


def measure(
    backend: str, kind: str, url: str, *, requests: int, concurrency: int, round_: int
) -> RunResult:
    load = os.getloadavg()[0]
    store = prepare_store(url, requests=requests, clients=concurrency)
    with server_process(kind, url) as base:
        seconds, latencies, outcomes = asyncio.run(_drive(base, kind, store, requests, concurrency))
    statuses: dict[int, int] = {}
    sold: dict[int, int] = {}
    for product, status in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 201:
            sold[product] = sold.get(product, 0) + 1
    checks, oversold = _verify(url, store, sold, kind)
    unexpected = {s: n for s, n in statuses.items() if s not in (201, 409)}
    if unexpected:
        checks.append(f"unexpected statuses {unexpected}")
    endpoint = "shop POST /api/v1/orders" if kind == "shop" else "reference UPDATE+INSERT"
    return RunResult(
        backend,
        endpoint,
        requests,
        seconds,
        latencies,
        statuses,
        sold,
        oversold,
        checks,
        round=round_,
        load=load,
    )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


@contextmanager
def postgres_url(given: str | None, folder: Path) -> Iterator[str | None]:
    if given:
        yield given
        return
    try:
        sys.path.insert(0, str(ROOT))
        from tests.dbservers import ServerUnavailable, start_postgres
    except ImportError:
        yield None
        return
    try:
        server = start_postgres(folder / "postgres")
    except ServerUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}")
        yield None
        return
    try:
        yield server.create_database("bench_orders_http")
    finally:
        server.stop()


def _rows(results: list[RunResult]) -> list[str]:
    lines = [
        "| backend | round | load | endpoint | orders/s | p50 ms | p99 ms | sold (201) "
        "| refused (409) | oversold | checks |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.round} | {r.load:.1f} | {r.endpoint} | {r.throughput:.0f} "
            f"| {r.percentile(0.5):.1f} | {r.percentile(0.99):.1f} | {r.statuses.get(201, 0)} "
            f"| {r.statuses.get(409, 0)} | {r.oversold} "
            f"| {'ok' if not r.checks else '; '.join(r.checks)} |"
        )
    return lines


@dataclass
class Verdict:
    """One backend's outcome over its rounds. Each round measures the reference and then the
    shop back to back, so its ratio sees the same machine load; the median round counts."""

    backend: str
    ratios: list[float]
    shop_p99s: list[float]
    oversold: int

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def p99(self) -> float:
        return statistics.median(self.shop_p99s)

    @property
    def met(self) -> bool:
        return self.ratio >= TARGET_RATIO and self.p99 < TARGET_P99_MS and self.oversold == 0

    def line(self) -> str:
        rounds = ", ".join(f"{r:.2f}" for r in self.ratios)
        p99s = ", ".join(f"{p:.0f}" for p in self.shop_p99s)
        return (
            f"- {self.backend}: shop/reference throughput = **{self.ratio:.2f}** "
            f"(median of rounds: {rounds}; target ≥ {TARGET_RATIO:.2f}), "
            f"shop p99 = **{self.p99:.0f} ms** (median of rounds: {p99s}; target < "
            f"{TARGET_P99_MS:.0f} ms), oversold units = **{self.oversold}**: "
            f"{'met' if self.met else 'NOT met'}"
        )


def verdicts(results: list[RunResult]) -> list[Verdict]:
    pairs: dict[str, dict[int, dict[str, RunResult]]] = {}
    for r in results:
        kind = "shop" if r.endpoint.startswith("shop") else "ref"
        pairs.setdefault(r.backend, {}).setdefault(r.round, {})[kind] = r
    out = []
    for backend, rounds in pairs.items():
        complete = [pair for _, pair in sorted(rounds.items()) if len(pair) == 2]
        out.append(
            Verdict(
                backend=backend,
                ratios=[p["shop"].throughput / p["ref"].throughput for p in complete],
                shop_p99s=[p["shop"].percentile(0.99) for p in complete],
                oversold=sum(r.oversold for r in results if r.backend == backend),
            )
        )
    return out


def write_section(results: list[RunResult], command: str, args: argparse.Namespace) -> None:
    """Replace (or append) this benchmark's section of BENCHMARKS.md, re-reading it first."""
    body = [
        SECTION,
        "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d}, {platform.machine()} with "
        f"{os.cpu_count()} cores, Python {platform.python_version()}: each server is one uvicorn "
        f"process; {args.concurrency} concurrent clients (aiohttp, asyncio) in another process "
        f"send {args.requests} single-line orders over {PRODUCTS} products whose stock is 90 % "
        "of the demand, after a warm-up. The reference is one conditional UPDATE and one "
        "INSERT per request in the same framework, server, database settings, thread pool and "
        "statement technique (statements compiled once and run on the driver's cursor in a Core "
        "transaction per request; an async route with one worker-thread hop, one writer thread "
        "at a time on SQLite; WAL checkpoints in a background thread on SQLite; the start-up "
        "heap frozen), without the shop's middleware. "
        f"{args.rounds} round(s) per backend, each the reference then the shop; the load column "
        "is the 1-minute load average when each measurement started (a shared machine: other "
        "work competes for the same cores, so absolute figures vary; the ratio is the measure).",
        "",
        *_rows(results),
        "",
        *(v.line() for v in verdicts(results)),
        "",
        "How the shop gets there: orders are committed in groups "
        "(`shelfwise.store.group_commit`). The orders that arrive while one group is written "
        "are written next, together: one worker-thread hop, one transaction and one COMMIT per "
        "group, each order in a savepoint so that a short or failing one is undone alone; "
        "nobody is answered before the group's COMMIT. Per order the shop still runs 6 "
        "statements against the reference's 2 (one SELECT for the products, promotions, stock, "
        "location, customer and idempotency key; the order, line and event INSERTs; one "
        "conditional stock UPDATE per line; the ledger INSERT) plus a savepoint, and it has the "
        "middleware (security headers, body limit, signed session), the bearer token (checked "
        "in the store, then remembered for 5 s) and a larger JSON answer; the reference, as the "
        "issue defines it, commits each request on its own. On PostgreSQL a group first locks "
        "its stock rows in key order, so that groups of several server processes cannot "
        "deadlock. Both servers start through `shelfwise.web.app.run_server`, which freezes the "
        "start-up heap: a full garbage collection of the shop's process walked every module "
        "and route (~100 ms with the event loop stopped, which every request in flight waited "
        "out: the whole p99). With 32 clients in flight a latency is at least 32 / throughput, "
        "so p99 < 150 ms needs the shop above ~250 orders/s whatever the reference does. "
        "Profiles: `py-spy record --gil` on the server process.",
        "",
    ]
    current = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    if SECTION in current:
        before, _, after = current.partition(SECTION)
        rest = after.split("\n## ", 1)
        tail = "\n## " + rest[1] if len(rest) > 1 else ""
        updated = before + "\n".join(body) + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + "\n".join(body)
    BENCHMARKS_MD.write_text(updated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="reference-then-shop pairs per backend"
    )
    parser.add_argument("--postgres-url", default=None, help="use this (emptied!) database")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(
        argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else []
    )
    if args.serve:
        kind, url, port = args.serve
        serve(kind, url, int(port))
        return
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-orders-http-") as folder:
        targets: list[tuple[str, str]] = [("sqlite", "")]
        with postgres_url(None if args.no_postgres else args.postgres_url, Path(folder)) as pg:
            if pg and not args.no_postgres:
                targets.append(("postgresql", pg))
            for backend, url in targets:
                for round_ in range(1, args.rounds + 1):
                    for kind in ("ref", "shop"):
                        if backend == "sqlite":
                            url = f"sqlite:///{Path(folder) / f'{kind}-{round_}.db'}"
                        result = measure(
                            backend,
                            kind,
                            url,
                            requests=args.requests,
                            concurrency=args.concurrency,
                            round_=round_,
                        )
                        results.append(result)
                        p50, p99 = result.percentile(0.5), result.percentile(0.99)
                        print(
                            f"{backend:10} {round_} load {result.load:4.1f} "
                            f"{result.endpoint:26} {result.throughput:7.0f} orders/s  "
                            f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {result.statuses}  "
                            f"{'ok' if not result.checks else result.checks}"
                        )
    for verdict in verdicts(results):
        print(verdict.line())
    command = "python -m benchmarks.bench_orders_http " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:])
    )
    if not args.no_write:
        write_section(results, command.strip(), args)
        print(f"figures written to {BENCHMARKS_MD.name} under '{SECTION}'")
    if any(r.checks for r in results):
        raise SystemExit("oversold or inconsistent stock: see the checks above")


if __name__ == "__main__":
    main()
