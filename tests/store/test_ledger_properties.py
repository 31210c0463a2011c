"""Property: whatever sequence of stock operations runs, on-hand equals the ledger sum,
stock never goes negative, and failed operations leave no trace."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from shelfwise.store.db import Database
from shelfwise.store.errors import InsufficientStock, InvalidTransition
from shelfwise.store.inventory import (
    LineRequest,
    adjust_stock,
    cancel_order,
    create_purchase_order,
    ledger_mismatches,
    place_order,
    receive_purchase_order,
    transfer_stock,
)
from shelfwise.store.models import StockLevel
from tests.conftest import migrated_database
from tests.factories import World, make_world

PRODUCTS = 3
LOCATIONS = 2


class LedgerMachine(RuleBasedStateMachine):
    """Mirrors the store with a plain dict and compares after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.db: Database | None = None
        self.expected: dict[tuple[int, int], int] = {}
        self.orders: list[int] = []
        self.purchase_orders: list[int] = []

    @initialize()
    def setup(self) -> None:
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.db = migrated_database(f"sqlite:///{Path(self.tmp.name) / 'ledger.db'}")
        with self.db.session() as session:
            self.world: World = make_world(session, products=PRODUCTS, locations=LOCATIONS, stock=5)
        self.expected = {(p, loc): 5 for p in self.world.products for loc in self.world.locations}

    def teardown(self) -> None:
        if self.db is not None:
            self.db.dispose()
            self.tmp.cleanup()

    def _pl(self, p: int, loc: int) -> tuple[int, int]:
        return self.world.products[p], self.world.locations[loc]

    @rule(
        p=st.integers(0, PRODUCTS - 1),
        loc=st.integers(0, LOCATIONS - 1),
        qty=st.integers(1, 8),
        p2=st.integers(0, PRODUCTS - 1),
        qty2=st.integers(1, 4),
    )
    def order(self, p: int, loc: int, qty: int, p2: int, qty2: int) -> None:
        assert self.db is not None
        pid, lid = self._pl(p, loc)
        pid2 = self.world.products[p2]
        wanted: dict[int, int] = {pid: qty}
        wanted[pid2] = wanted.get(pid2, 0) + qty2
        fits = all(self.expected[(x, lid)] >= q for x, q in wanted.items())
        with self.db.session() as session:
            try:
                order = place_order(
                    session=session,
                    customer_id=self.world.customers[0],
                    location_id=lid,
                    lines=[LineRequest(x, q) for x, q in wanted.items()],
                )
            except InsufficientStock:
                assert not fits
                return
        assert fits
        for x, q in wanted.items():
            self.expected[(x, lid)] -= q
        self.orders.append(order.id)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        assert self.db is not None
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))
        with self.db.session() as session:
            try:
                order = cancel_order(session=session, order_id=order_id)
            except InvalidTransition:
                return
            for line in order.lines:
                self.expected[(line.product_id, order.location_id)] += line.quantity

    @rule(p=st.integers(0, PRODUCTS - 1), loc=st.integers(0, LOCATIONS - 1), qty=st.integers(1, 9))
    def purchase(self, p: int, loc: int, qty: int) -> None:
        assert self.db is not None
        pid, lid = self._pl(p, loc)
        with self.db.session() as session:
            po = create_purchase_order(
                session=session,
                supplier_id=self.world.supplier,
                location_id=lid,
                quantities={pid: qty},
            )
            self.purchase_orders.append(po.id)

    @rule(data=st.data(), part=st.integers(1, 9))
    def receive(self, data: st.DataObject, part: int) -> None:
        assert self.db is not None
        if not self.purchase_orders:
            return
        po_id = data.draw(st.sampled_from(self.purchase_orders))
        with self.db.session() as session:
            try:
                receipts = receive_purchase_order(session=session, purchase_order_id=po_id)
            except InvalidTransition:
                return
            for receipt in receipts:
                line = receipt.line
                self.expected[(line.product_id, line.purchase_order.location_id)] += (
                    receipt.quantity
                )

    @rule(
        p=st.integers(0, PRODUCTS - 1), loc=st.integers(0, LOCATIONS - 1), delta=st.integers(-6, 6)
    )
    def adjust(self, p: int, loc: int, delta: int) -> None:
        assert self.db is not None
        if delta == 0:
            return
        pid, lid = self._pl(p, loc)
        with self.db.session() as session:
            try:
                adjust_stock(
                    session=session, product_id=pid, location_id=lid, delta=delta, reason="count"
                )
            except InsufficientStock:
                assert self.expected[(pid, lid)] + delta < 0
                return
        self.expected[(pid, lid)] += delta

    @rule(p=st.integers(0, PRODUCTS - 1), qty=st.integers(1, 8), forward=st.booleans())
    def transfer(self, p: int, qty: int, forward: bool) -> None:
        assert self.db is not None
        pid = self.world.products[p]
        src, dst = self.world.locations if forward else self.world.locations[::-1]
        with self.db.session() as session:
            try:
                transfer_stock(
                    session=session,
                    product_id=pid,
                    from_location_id=src,
                    to_location_id=dst,
                    quantity=qty,
                )
            except InsufficientStock:
                assert self.expected[(pid, src)] < qty
                return
        self.expected[(pid, src)] -= qty
        self.expected[(pid, dst)] += qty

    @invariant()
    def balances_match_ledger_and_model(self) -> None:
        if self.db is None:
            return
        with self.db.read_session() as session:
            assert ledger_mismatches(session=session) == []
            actual = {
                (row.product_id, row.location_id): row.on_hand
                for row in session.scalars(select(StockLevel))
            }
        assert actual == self.expected
        assert all(v >= 0 for v in actual.values())


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedger = LedgerMachine.TestCase


@given(st.lists(st.integers(-5, 5).filter(bool), max_size=15))
@settings(max_examples=30, deadline=None)
def test_adjustments_never_drive_stock_negative(deltas: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = migrated_database(f"sqlite:///{Path(tmp) / 'adj.db'}")
        with db.session() as session:
            w = make_world(session, products=1, locations=1, stock=3)
        balance = 3
        for delta in deltas:
            with db.session() as session:
                try:
                    adjust_stock(
                        session=session,
                        product_id=w.products[0],
                        location_id=w.locations[0],
                        delta=delta,
                        reason="r",
                    )
                    balance += delta
                except InsufficientStock:
                    assert balance + delta < 0
        with db.read_session() as session:
            on_hand = session.scalar(select(StockLevel.on_hand))
            assert on_hand == balance >= 0
            assert ledger_mismatches(session=session) == []
        db.dispose()
