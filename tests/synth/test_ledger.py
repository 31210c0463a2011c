"""Every stock change is a ledger row and the ledger equals the stock levels."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from sqlalchemy import func, select

from shelfwise.store.inventory import ledger_mismatches
from shelfwise.store.kinds import MovementKind, OrderStatus
from shelfwise.store.models import Order, OrderLine, PurchaseReceipt, StockLevel, StockMovement
from tests.synth.conftest import Generated


def test_stock_levels_equal_the_ledger_and_never_go_negative(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        assert ledger_mismatches(session=session) == []
        levels = session.scalar(select(func.count()).select_from(StockLevel))
        assert levels is not None and levels > 100
        lowest = session.scalar(select(func.min(StockLevel.on_hand)))
        assert lowest is not None and lowest >= 0


def test_running_balance_in_time_order_never_goes_negative(small_world: Generated) -> None:
    """Replaying the ledger by occurred_at, no product-location ever dips below zero."""
    with sqlite3.connect(small_world.path) as connection:
        lowest = connection.execute(
            """
            SELECT MIN(balance) FROM (
              SELECT SUM(quantity) OVER (
                PARTITION BY product_id, location_id ORDER BY occurred_at, quantity DESC, id
              ) AS balance
              FROM stock_movements)
            """
        ).fetchone()[0]
    assert lowest >= 0


def test_every_kind_of_movement_links_to_its_cause(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        kinds = dict(
            session.execute(
                select(StockMovement.kind, func.count()).group_by(StockMovement.kind)
            ).all()
        )
        for kind in ("opening", "sale", "receipt", "cancellation", "return"):
            assert kinds.get(MovementKind(kind), 0) > 0, f"no {kind} movements"
        sales = session.execute(
            select(func.count(), func.sum(StockMovement.quantity)).where(
                StockMovement.kind == MovementKind.SALE
            )
        ).one()
        lines = session.execute(select(func.count(), func.sum(OrderLine.quantity))).one()
        assert sales[0] == lines[0] and -sales[1] == lines[1]
        unlinked = session.scalar(
            select(func.count()).where(
                StockMovement.kind.in_([MovementKind.SALE, MovementKind.RETURN]),
                StockMovement.order_line_id.is_(None),
            )
        )
        assert unlinked == 0
        receipts = session.execute(
            select(func.count(), func.sum(StockMovement.quantity)).where(
                StockMovement.kind == MovementKind.RECEIPT,
                StockMovement.purchase_receipt_id.is_not(None),
            )
        ).one()
        booked = session.execute(select(func.count(), func.sum(PurchaseReceipt.quantity))).one()
        assert tuple(receipts) == tuple(booked)
        # a cancelled order's units all came back
        cancelled_units = session.scalar(
            select(func.sum(OrderLine.quantity))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.status == OrderStatus.CANCELLED)
        )
        returned_by_cancellation = session.scalar(
            select(func.sum(StockMovement.quantity)).where(
                StockMovement.kind == MovementKind.CANCELLATION
            )
        )
        assert cancelled_units == returned_by_cancellation


def test_bulk_rows_satisfy_every_constraint(small_world: Generated) -> None:
    """The loader pauses enforcement for speed; the result must pass it all afterwards."""
    with sqlite3.connect(small_world.path) as connection:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with small_world.db.engine.connect() as pooled:  # the loader's pragmas were undone
        assert pooled.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert pooled.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() == 0


def test_rows_read_back_through_the_orm_like_orm_written_ones(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        line = session.scalars(
            select(OrderLine).where(OrderLine.discount > 0).order_by(OrderLine.id).limit(1)
        ).one()
        assert isinstance(line.unit_price, Decimal) and line.unit_price == line.product.unit_price
        assert line.unit_price.as_tuple().exponent == -2
        assert Decimal("0.05") <= line.discount < 1
        order = line.order
        assert order.ordered_at.tzinfo is not None and order.created_at == order.ordered_at
        assert order.updated_at == max(event.occurred_at for event in order.events)
        assert line.created_at == order.ordered_at
        level = session.scalars(select(StockLevel).limit(1)).one()
        assert level.updated_at >= level.created_at
