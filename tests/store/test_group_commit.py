"""Group commit: orders written together in one transaction, each undone alone when it fails."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from shelfwise.store.db import Database
from shelfwise.store.errors import InsufficientStock, NotFound
from shelfwise.store.group_commit import Job, run_group
from shelfwise.store.inventory import (
    LineRequest,
    OrderReceipt,
    ledger_mismatches,
    lock_stock_rows,
    order_job,
)
from shelfwise.store.models import Order, OrderLine, StockMovement
from shelfwise.store.prepared import driver_cursor
from tests.conftest import migrated_database
from tests.factories import World, on_hand, world_in


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read_session() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Order)) or 0),
            int(session.scalar(select(func.count()).select_from(OrderLine)) or 0),
            int(session.scalar(select(func.count()).select_from(StockMovement)) or 0),
        )


def _buy(w: World, product: int, quantity: int, key: str | None = None) -> Job[OrderReceipt]:
    return order_job(
        customer_id=w.customers[0],
        location_id=w.locations[0],
        lines=[LineRequest(product, quantity)],
        idempotency_key=key,
    )


def test_failed_orders_are_undone_alone_and_the_rest_commit(any_db: Database) -> None:
    w = world_in(any_db, stock=5)
    before = _counts(any_db)
    outcomes = run_group(
        any_db,
        [
            _buy(w, w.products[0], 3),
            _buy(w, w.products[0], 3),  # only 2 left after the first: short, undone
            _buy(w, 999_999, 1),  # unknown product
            _buy(w, w.products[1], 5),
            _buy(w, w.products[0], 2),  # the last 2
        ],
    )
    assert [type(o.error) for o in outcomes] == [
        type(None),
        InsufficientStock,
        NotFound,
        type(None),
        type(None),
    ]
    short = outcomes[1].error
    assert isinstance(short, InsufficientStock)
    assert [(s.requested, s.available) for s in short.shortages] == [(3, 2)]
    placed = [o.result() for o in outcomes if o.error is None]
    assert len({receipt.id for receipt in placed}) == 3
    assert _counts(any_db) == (before[0] + 3, before[1] + 3, before[2] + 3)
    assert on_hand(any_db, w.products[0], w.locations[0]) == 0
    assert on_hand(any_db, w.products[1], w.locations[0]) == 0
    with any_db.read_session() as session:
        assert ledger_mismatches(session=session) == []


def test_a_job_failing_after_its_writes_leaves_nothing(sqlite_db: Database) -> None:
    """Short stock is found by the stock UPDATE after the order's rows were written; a bug
    may raise anywhere: the savepoint takes back everything the job wrote."""
    w = world_in(sqlite_db, stock=5)
    before = _counts(sqlite_db)
    place = _buy(w, w.products[0], 1)

    def place_then_fail(connection: Connection) -> OrderReceipt:
        place(connection)
        raise RuntimeError("a bug after the order was written")

    outcomes = run_group(sqlite_db, [place_then_fail, _buy(w, w.products[0], 2)])
    assert isinstance(outcomes[0].error, RuntimeError)
    assert outcomes[1].error is None
    assert _counts(sqlite_db) == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert on_hand(sqlite_db, w.products[0], w.locations[0]) == 3


def test_a_retry_in_the_same_group_replays_the_first_order(sqlite_db: Database) -> None:
    w = world_in(sqlite_db, stock=5)
    first, retry = run_group(
        sqlite_db,
        [_buy(w, w.products[0], 2, key="tap-1"), _buy(w, w.products[0], 2, key="tap-1")],
    )
    assert first.result().id == retry.result().id
    assert (first.result().replayed, retry.result().replayed) == (False, True)
    assert on_hand(sqlite_db, w.products[0], w.locations[0]) == 3


def test_a_group_whose_transaction_ends_runs_every_job_alone(sqlite_db: Database) -> None:
    """A job that ends the group's transaction (as a full disk would): nothing of the group
    was kept, so every job runs again in its own transaction and each order exists once."""
    w = world_in(sqlite_db, stock=10)
    before = _counts(sqlite_db)
    transactions: list[Any] = []

    def end_the_transaction(connection: Connection) -> str:
        transactions.append(connection)
        cursor = driver_cursor(connection)
        cursor.execute("ROLLBACK")
        cursor.close()
        return "ended"

    outcomes = run_group(
        sqlite_db, [_buy(w, w.products[0], 1), end_the_transaction, _buy(w, w.products[1], 2)]
    )
    assert len(transactions) == 2  # once in the group, once alone
    assert [o.error for o in outcomes] == [None, None, None]
    assert outcomes[1].result() == "ended"
    assert _counts(sqlite_db) == (before[0] + 2, before[1] + 2, before[2] + 2)
    assert on_hand(sqlite_db, w.products[0], w.locations[0]) == 9
    assert on_hand(sqlite_db, w.products[1], w.locations[0]) == 8


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mysql),
    ],
)
def test_groups_in_two_processes_taking_rows_in_opposite_orders_do_not_deadlock(
    server: str, request: pytest.FixtureRequest
) -> None:
    """Two server processes each write a group: one buys A then B, the other B then A. Each
    group locks its stock rows up front in key order, so neither waits in a cycle (without
    that, PostgreSQL kills one of them as a deadlock)."""
    url = request.getfixturevalue(f"{server}_url")
    db = migrated_database(url)
    try:
        w = world_in(db, stock=10)
        a, b = w.products[0], w.products[1]
        barrier = threading.Barrier(2)

        def slowly(job: Job[OrderReceipt]) -> Job[OrderReceipt]:
            def run(connection: Connection) -> OrderReceipt:
                receipt = job(connection)
                time.sleep(0.3)  # the other group takes its first row meanwhile
                return receipt

            return run

        def group(products: tuple[int, int]) -> list[Any]:
            store = Database(url)  # a process of its own: its own pool
            try:
                jobs = [slowly(_buy(w, product, 1)) for product in products]
                rows = sorted((product, w.locations[0]) for product in products)
                barrier.wait()
                return run_group(store, jobs, first=partial(lock_stock_rows, rows=rows))
            finally:
                store.dispose()

        with ThreadPoolExecutor(2) as pool:
            outcomes = [*pool.map(group, [(a, b), (b, a)])]
        assert [o.error for both in outcomes for o in both] == [None] * 4
        assert on_hand(db, a, w.locations[0]) == 8
        assert on_hand(db, b, w.locations[0]) == 8
    finally:
        db.dispose()
