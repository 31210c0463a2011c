"""Inventory services on SQLite, PostgreSQL and MariaDB: orders, cancellations, receipts..."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, inspect, select

from shelfwise.store.db import Database
from shelfwise.store.errors import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidRequest,
    InvalidTransition,
    NotFound,
)
from shelfwise.store.inventory import (
    LineRequest,
    adjust_stock,
    available_quantity,
    cancel_order,
    create_purchase_order,
    get_order,
    ledger_mismatches,
    place_order,
    place_order_in_transaction,
    place_order_receipt,
    receive_purchase_order,
    release_stock,
    reserve_stock,
    return_items,
    set_order_status,
    set_stock_count,
    transfer_stock,
)
from shelfwise.store.kinds import MovementKind, OrderStatus, PurchaseOrderStatus
from shelfwise.store.models import Order, OrderLine, Product, StockLevel, StockMovement
from tests.factories import on_hand, world_in

T = TypeVar("T")


def test_place_order_takes_stock_and_captures_prices(any_db: Database) -> None:
    w = world_in(any_db)
    with any_db.session() as session:
        order = place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 3), LineRequest(w.products[1], 2)],
        )
        order_id = order.id
        assert [line.quantity for line in order.lines] == [3, 2]
        assert order.lines[0].unit_price == Decimal("19.99")
        assert order.status is OrderStatus.PENDING
        assert [e.status for e in order.events] == [OrderStatus.PENDING]
    assert on_hand(any_db, w.products[0], w.locations[0]) == 7
    assert on_hand(any_db, w.products[1], w.locations[0]) == 8
    assert on_hand(any_db, w.products[0], w.locations[1]) == 10
    with any_db.read_session() as session:
        sales = session.scalars(
            select(StockMovement).where(StockMovement.kind == MovementKind.SALE)
        ).all()
        assert sorted(m.quantity for m in sales) == [-3, -2]
        assert ledger_mismatches(session=session) == []
        # Later price changes do not rewrite history.
        session.get(Product, w.products[0])
    with any_db.session() as session:
        product = session.get(Product, w.products[0])
        assert product is not None
        product.unit_price = Decimal("99.00")
    with any_db.read_session() as session:
        line = session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).first()
        assert line is not None and line.unit_price == Decimal("19.99")


@pytest.mark.parametrize("unit", ["session", "transaction"])
def test_place_order_receipt_is_what_was_stored(any_db: Database, unit: str) -> None:
    """On an ORM session and on a bare Core connection (the API's hot path) alike."""
    w = world_in(any_db)
    lines = [LineRequest(w.products[0], 2), LineRequest(w.products[1], 1)]
    request = {"customer_id": w.customers[0], "location_id": w.locations[0], "lines": lines}
    with getattr(any_db, unit)() as session:
        receipt = place_order_receipt(session=session, idempotency_key="r-1", **request)  # type: ignore[arg-type]
    assert not receipt.replayed and receipt.location_name
    with any_db.read_session() as session:
        order = get_order(session=session, order_id=receipt.id)
        stored = [
            (line.id, line.line_no, line.product_id, line.quantity, line.unit_price)
            for line in order.lines
        ]
        assert stored == [
            (line.id, line.line_no, line.product_id, line.quantity, line.unit_price)
            for line in receipt.lines
        ]
        assert [(e.id, e.status) for e in order.events] == [
            (e.id, e.status) for e in receipt.events
        ]
        sales = session.scalars(
            select(StockMovement.order_line_id).where(StockMovement.kind == MovementKind.SALE)
        ).all()
        assert sorted(filter(None, sales)) == sorted(line.id for line in receipt.lines)
        assert ledger_mismatches(session=session) == []
    with getattr(any_db, unit)() as session:
        again = place_order_receipt(session=session, idempotency_key="r-1", **request)  # type: ignore[arg-type]
    assert again.replayed and again.id == receipt.id
    assert [line.id for line in again.lines] == [line.id for line in receipt.lines]
    assert on_hand(any_db, w.products[0], w.locations[0]) == 8
    with pytest.raises(IdempotencyConflict), getattr(any_db, unit)() as session:
        place_order_receipt(
            session=session,
            idempotency_key="r-1",
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 1)],
        )
    with pytest.raises(InsufficientStock), getattr(any_db, unit)() as session:
        place_order_receipt(
            session=session,
            idempotency_key="r-2",
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 1), LineRequest(w.products[1], 999)],
        )
    assert on_hand(any_db, w.products[0], w.locations[0]) == 8  # nothing of it was kept


def test_place_order_returns_a_persistent_order_with_nothing_left_to_write(
    sqlite_db: Database,
) -> None:
    """The ORM objects are attached as if loaded: no second INSERT at commit, lazy loads work,
    and later changes are ordinary UPDATEs."""
    w = world_in(sqlite_db)
    with sqlite_db.session() as session:
        order = place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 1)],
        )
        assert inspect(order).persistent and not session.new and not session.dirty
        assert order.location.code == "LOC0" and order.lines[0].product.sku == "SKU-000"
        order.ship_mode = "Second Class"
    with sqlite_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 1
        assert get_order(session=session, order_id=order.id).ship_mode == "Second Class"


def test_place_order_insufficient_stock_names_every_short_line(any_db: Database) -> None:
    w = world_in(any_db)
    with any_db.session() as session:
        with pytest.raises(InsufficientStock) as excinfo:
            place_order(
                session=session,
                customer_id=w.customers[0],
                location_id=w.locations[0],
                lines=[
                    LineRequest(w.products[0], 11),
                    LineRequest(w.products[1], 1),
                    LineRequest(w.products[2], 50),
                ],
            )
        shortages = excinfo.value.shortages
        assert [(s.sku, s.location_code, s.requested, s.available) for s in shortages] == [
            ("SKU-000", "LOC0", 11, 10),
            ("SKU-002", "LOC0", 50, 10),
        ]
        assert "SKU-000 at LOC0: requested 11, available 10" in str(excinfo.value)
        # The failed order left nothing behind, even though this session goes on and commits.
    with any_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert on_hand(any_db, w.products[1], w.locations[0]) == 10
        assert ledger_mismatches(session=session) == []


def test_place_order_respects_reserved_units(sqlite_db: Database) -> None:
    w = world_in(sqlite_db)
    with sqlite_db.session() as session:
        reserve_stock(
            session=session, product_id=w.products[0], location_id=w.locations[0], quantity=8
        )
        assert (
            available_quantity(
                session=session, product_id=w.products[0], location_id=w.locations[0]
            )
            == 2
        )
        with pytest.raises(InsufficientStock):
            place_order(
                session=session,
                customer_id=w.customers[0],
                location_id=w.locations[0],
                lines=[LineRequest(w.products[0], 3)],
            )
        release_stock(
            session=session, product_id=w.products[0], location_id=w.locations[0], quantity=8
        )
        with pytest.raises(InvalidRequest):
            release_stock(
                session=session, product_id=w.products[0], location_id=w.locations[0], quantity=1
            )
        place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 3)],
        )


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], InvalidRequest),
        ([LineRequest(1, 0)], InvalidRequest),
        ([LineRequest(1, -2)], InvalidRequest),
        ([LineRequest(1, 1, Decimal("1.5"))], InvalidRequest),
        ([LineRequest(999, 1)], NotFound),
    ],
)
def test_place_order_rejects_bad_requests(
    sqlite_db: Database, lines: list[LineRequest], error: type[Exception]
) -> None:
    w = world_in(sqlite_db)
    with sqlite_db.session() as session, pytest.raises(error):
        place_order(
            session=session, customer_id=w.customers[0], location_id=w.locations[0], lines=lines
        )


def test_place_order_unknown_customer_and_inactive_product(sqlite_db: Database) -> None:
    w = world_in(sqlite_db)
    with sqlite_db.session() as session:
        with pytest.raises(NotFound, match="customer 424242"):
            place_order(
                session=session,
                customer_id=424242,
                location_id=w.locations[0],
                lines=[LineRequest(w.products[0], 1)],
            )
        product = session.get(Product, w.products[0])
        assert product is not None
        product.active = False
        session.flush()
        with pytest.raises(InvalidRequest, match="no longer sold"):
            place_order(
                session=session,
                customer_id=w.customers[0],
                location_id=w.locations[0],
                lines=[LineRequest(w.products[0], 1)],
            )


def test_idempotent_retries_create_one_order(any_db: Database) -> None:
    w = world_in(any_db)
    request = {
        "customer_id": w.customers[0],
        "location_id": w.locations[0],
        "lines": [LineRequest(w.products[0], 2)],
        "idempotency_key": "checkout-7f3a",
    }
    ids = set()
    for _ in range(5):
        with any_db.session() as session:
            ids.add(place_order(session=session, **request).id)  # type: ignore[arg-type]
    assert len(ids) == 1
    assert on_hand(any_db, w.products[0], w.locations[0]) == 8
    with any_db.session() as session, pytest.raises(IdempotencyConflict):
        place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 5)],
            idempotency_key="checkout-7f3a",
        )
    # The same key from another customer is another order.
    with any_db.session() as session:
        other = place_order(
            session=session,
            customer_id=w.customers[1],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 2)],
            idempotency_key="checkout-7f3a",
        )
        assert other.id not in ids


def _at_once(count: int, attempt: Callable[[], T]) -> list[T]:
    """Runs `attempt` in `count` threads released together; every one must succeed."""
    results: list[T] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            results.append(attempt())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_concurrent_idempotent_retries_create_one_order(any_db: Database) -> None:
    w = world_in(any_db)

    def attempt() -> int:
        with any_db.session() as session:
            return place_order(
                session=session,
                customer_id=w.customers[0],
                location_id=w.locations[0],
                lines=[LineRequest(w.products[0], 1)],
                idempotency_key="same-click",
            ).id

    results = _at_once(8, attempt)
    assert len(set(results)) == 1 and len(results) == 8
    assert on_hand(any_db, w.products[0], w.locations[0]) == 9


def test_concurrent_retries_in_own_transactions_create_one_order(any_db: Database) -> None:
    """The API's path: no savepoint; a retry spoilt by its twin runs again and replays."""
    w = world_in(any_db)
    receipts = _at_once(
        8,
        lambda: place_order_in_transaction(
            any_db,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 2)],
            idempotency_key="same-tap",
        ),
    )
    assert len({r.id for r in receipts}) == 1 and len(receipts) == 8
    assert sum(not r.replayed for r in receipts) == 1
    assert on_hand(any_db, w.products[0], w.locations[0]) == 8


def test_concurrent_buyers_never_oversell(any_db: Database) -> None:
    """Many buyers race for scarce stock: exactly the available units are sold."""
    w = world_in(any_db, products=2, locations=1, customers=4, stock=7)
    buyers = 24
    outcomes: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    barrier = threading.Barrier(buyers)
    lock = threading.Lock()

    def buy(i: int) -> None:
        # Half the buyers want both products, in opposite line orders (a deadlock trap).
        lines = [LineRequest(w.products[i % 2], 1)]
        if i % 3 == 0:
            lines.append(LineRequest(w.products[(i + 1) % 2], 1))
        barrier.wait()
        try:
            with any_db.session() as session:
                place_order(
                    session=session,
                    customer_id=w.customers[i % 4],
                    location_id=w.locations[0],
                    lines=lines,
                )
            outcome = "sold"
        except InsufficientStock:
            outcome = "short"
        except BaseException as exc:
            with lock:
                unexpected.append(exc)
            return
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(buyers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unexpected == []
    assert outcomes["sold"] + outcomes["short"] == buyers
    with any_db.read_session() as session:
        sold = Counter[int]()
        for product_id, qty in session.execute(select(OrderLine.product_id, OrderLine.quantity)):
            sold[product_id] += qty
        orders = session.scalar(select(func.count()).select_from(Order))
        assert orders == outcomes["sold"]
        for pid in w.products:
            assert sold[pid] <= 7
            assert on_hand(any_db, pid, w.locations[0]) == 7 - sold[pid]
        # Demand (24 buyers, 32 units asked) exceeds supply (14): every unit was sold.
        assert sum(sold.values()) >= 13
        assert ledger_mismatches(session=session) == []


def test_cancel_returns_stock_through_the_ledger(any_db: Database) -> None:
    w = world_in(any_db)
    with any_db.session() as session:
        order = place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 4)],
        )
        cancel_order(session=session, order_id=order.id, reason="customer changed mind")
        assert order.status is OrderStatus.CANCELLED
        with pytest.raises(InvalidTransition, match="cancelled"):
            cancel_order(session=session, order_id=order.id)
    assert on_hand(any_db, w.products[0], w.locations[0]) == 10
    with any_db.read_session() as session:
        kinds = session.scalars(
            select(StockMovement.kind)
            .where(
                StockMovement.product_id == w.products[0],
                StockMovement.location_id == w.locations[0],
            )
            .order_by(StockMovement.id)
        ).all()
        assert kinds == [MovementKind.ADJUSTMENT, MovementKind.SALE, MovementKind.CANCELLATION]


def test_order_life_cycle_and_returns(sqlite_db: Database) -> None:
    w = world_in(sqlite_db)
    with sqlite_db.session() as session:
        order = place_order(
            session=session,
            customer_id=w.customers[0],
            location_id=w.locations[0],
            lines=[LineRequest(w.products[0], 3)],
        )
        for status in (OrderStatus.PAID, OrderStatus.SHIPPED):
            set_order_status(session=session, order_id=order.id, status=status)
        with pytest.raises(InvalidTransition, match="allowed next: delivered"):
            cancel_order(session=session, order_id=order.id)
        with pytest.raises(InvalidTransition, match="only delivered"):
            return_items(
                session=session, order_line_id=order.lines[0].id, quantity=1, reason="broken"
            )
        set_order_status(session=session, order_id=order.id, status=OrderStatus.DELIVERED)
        assert [e.status for e in order.events] == [
            OrderStatus.PENDING,
            OrderStatus.PAID,
            OrderStatus.SHIPPED,
            OrderStatus.DELIVERED,
        ]
        return_items(session=session, order_line_id=order.lines[0].id, quantity=2, reason="broken")
        with pytest.raises(InvalidRequest, match="2 already returned"):
            return_items(
                session=session, order_line_id=order.lines[0].id, quantity=2, reason="broken"
            )
    assert on_hand(sqlite_db, w.products[0], w.locations[0]) == 9


def test_purchase_order_partial_and_full_receipts(any_db: Database) -> None:
    w = world_in(any_db, stock=0)
    ordered_at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with any_db.session() as session:
        po = create_purchase_order(
            session=session,
            supplier_id=w.supplier,
            location_id=w.locations[0],
            quantities={w.products[0]: 12, w.products[1]: 2},
            ordered_at=ordered_at,
        )
        assert po.expected_on.isoformat() == "2026-03-09"
        assert sorted(line.quantity_ordered for line in po.lines) == [5, 12]  # MOQ of 5
        receive_purchase_order(
            session=session, purchase_order_id=po.id, quantities={w.products[0]: 4}
        )
        assert po.status is PurchaseOrderStatus.PARTIALLY_RECEIVED
        with pytest.raises(InvalidRequest, match="only 8 outstanding"):
            receive_purchase_order(
                session=session, purchase_order_id=po.id, quantities={w.products[0]: 9}
            )
        receive_purchase_order(session=session, purchase_order_id=po.id)
        status: PurchaseOrderStatus = po.status  # read again: the receipt changed it
        assert status is PurchaseOrderStatus.RECEIVED
        with pytest.raises(InvalidTransition):
            receive_purchase_order(session=session, purchase_order_id=po.id)
    assert on_hand(any_db, w.products[0], w.locations[0]) == 12
    assert on_hand(any_db, w.products[1], w.locations[0]) == 5
    with any_db.read_session() as session:
        assert ledger_mismatches(session=session) == []


def test_create_purchase_order_rejects_unsupplied_product(sqlite_db: Database) -> None:
    w = world_in(sqlite_db)
    with sqlite_db.session() as session, pytest.raises(InvalidRequest, match="does not supply"):
        create_purchase_order(
            session=session,
            supplier_id=w.supplier,
            location_id=w.locations[0],
            quantities={12345: 3},
        )


def test_adjustments_need_reasons_and_cannot_go_negative(any_db: Database) -> None:
    w = world_in(any_db)
    with any_db.session() as session:
        with pytest.raises(InvalidRequest, match="reason"):
            adjust_stock(
                session=session,
                product_id=w.products[0],
                location_id=w.locations[0],
                delta=-1,
                reason=" ",
            )
        with pytest.raises(InsufficientStock):
            adjust_stock(
                session=session,
                product_id=w.products[0],
                location_id=w.locations[0],
                delta=-11,
                reason="damaged",
            )
        adjust_stock(
            session=session,
            product_id=w.products[0],
            location_id=w.locations[0],
            delta=-2,
            reason="damaged",
        )
        assert (
            set_stock_count(
                session=session, product_id=w.products[0], location_id=w.locations[0], counted=15
            )
            == 7
        )
    assert on_hand(any_db, w.products[0], w.locations[0]) == 15


def test_transfer_moves_stock_between_locations(any_db: Database) -> None:
    w = world_in(any_db)
    with any_db.session() as session:
        transfer_stock(
            session=session,
            product_id=w.products[0],
            from_location_id=w.locations[0],
            to_location_id=w.locations[1],
            quantity=6,
        )
        with pytest.raises(InsufficientStock, match="requested 5, available 4"):
            transfer_stock(
                session=session,
                product_id=w.products[0],
                from_location_id=w.locations[0],
                to_location_id=w.locations[1],
                quantity=5,
            )
        with pytest.raises(InvalidRequest):
            transfer_stock(
                session=session,
                product_id=w.products[0],
                from_location_id=w.locations[0],
                to_location_id=w.locations[0],
                quantity=1,
            )
    assert on_hand(any_db, w.products[0], w.locations[0]) == 4
    assert on_hand(any_db, w.products[0], w.locations[1]) == 16
    with any_db.read_session() as session:
        assert ledger_mismatches(session=session) == []


def test_an_order_waiting_for_the_sqlite_write_lock_is_stamped_once_it_has_it(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Stamped before the wait, a stock row's version committed later carried the earlier
    stamp, and the pipeline, which keeps the newest stamp, kept the stale stock level (a probe
    of live writes found it)."""
    w = world_in(sqlite_db, products=1, locations=1, customers=1)
    holder = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock

    def buy() -> None:
        with sqlite_db.session() as session:
            place_order(
                session=session,
                customer_id=w.customers[0],
                location_id=w.locations[0],
                lines=[LineRequest(w.products[0], 1)],
            )

    buyer = threading.Thread(target=buy)
    buyer.start()
    time.sleep(0.5)
    released = datetime.now(UTC)
    holder.execute("COMMIT")
    holder.close()
    buyer.join(timeout=30)

    with sqlite_db.read_session() as session:
        order = session.scalars(select(Order)).one()
        stock = session.scalars(select(StockLevel)).one()
        assert order.updated_at >= released and stock.updated_at >= released
