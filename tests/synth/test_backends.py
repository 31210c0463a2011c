"""PostgreSQL and MariaDB get the same world through SQLAlchemy Core, stored as the ORM would."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from shelfwise.store.db import Database
from shelfwise.store.inventory import LineRequest, ledger_mismatches, place_order
from shelfwise.store.models import Order, OrderLine, StockLevel
from shelfwise.synth import WorldSpec, generate
from tests.synth.conftest import generate_into

TINY = WorldSpec(orders=150, seed=9, start=date(2024, 11, 1), days=25, products=60, locations=4)


def test_generated_world_is_identical_and_usable_on_every_backend(
    any_db: Database, tmp_path: Path
) -> None:
    report = generate(any_db, TINY)
    reference = generate_into(tmp_path / "reference.db", TINY)
    try:
        assert report.counts == reference.report.counts

        def lines(db: Database) -> list[tuple[object, ...]]:
            with db.read_session() as session:
                return [
                    (line.id, line.order_id, line.product_id, line.quantity, line.unit_price,
                     line.discount, line.created_at, line.order.status, line.order.updated_at)
                    for line in session.scalars(select(OrderLine).order_by(OrderLine.id))
                ]  # fmt: skip

        assert lines(any_db) == lines(reference.db)
    finally:
        reference.db.dispose()
    with any_db.session() as session:
        assert ledger_mismatches(session=session) == []
        # ids continue after the generated ones (PostgreSQL sequences were moved on)
        level = session.scalars(
            select(StockLevel).where(StockLevel.on_hand > 0).order_by(StockLevel.on_hand.desc())
        ).first()
        assert level is not None
        order = place_order(
            session=session,
            customer_id=1,
            location_id=level.location_id,
            lines=[LineRequest(product_id=level.product_id, quantity=1)],
        )
        assert order.id == report.counts["orders"] + 1
        assert isinstance(order.lines[0].unit_price, Decimal)
        assert session.get(Order, order.id) is not None
