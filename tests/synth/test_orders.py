"""Orders have 1-5 lines, exact counts, statuses that progress with time, business timestamps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from shelfwise.store.kinds import OrderStatus
from shelfwise.store.models import Customer, Order, OrderEvent, OrderLine, Product
from tests.synth.conftest import Generated

PROGRESSION = ["pending", "paid", "shipped", "delivered"]


def test_order_count_is_exact_and_lines_per_order_retail_like(small_world: Generated) -> None:
    with small_world.db.read_session() as session:
        sizes = session.scalars(
            select(func.count()).select_from(OrderLine).group_by(OrderLine.order_id)
        ).all()
    assert len(sizes) == small_world.spec.orders == small_world.report.counts["orders"]
    assert set(sizes) <= {1, 2, 3, 4, 5}
    assert 1.9 <= sum(sizes) / len(sizes) <= 2.5
    histogram = Counter(sizes)
    assert histogram[1] > histogram[2] > histogram[4] > 0


def test_statuses_progress_with_time(small_world: Generated) -> None:
    spec = small_world.spec
    now = datetime.combine(spec.end, datetime.max.time(), tzinfo=UTC)
    with small_world.db.read_session() as session:
        orders = session.scalars(select(Order)).all()
        events: dict[int, list[OrderEvent]] = {}
        for event in session.scalars(select(OrderEvent).order_by(OrderEvent.occurred_at)):
            events.setdefault(event.order_id, []).append(event)
    old = [o for o in orders if o.ordered_at < now - timedelta(days=14)]
    recent = [o for o in orders if o.ordered_at > now - timedelta(days=2)]
    assert {o.status for o in old} <= {OrderStatus.DELIVERED, OrderStatus.CANCELLED}
    assert {o.status for o in recent} & {OrderStatus.PENDING, OrderStatus.PAID}
    assert any(o.status is OrderStatus.SHIPPED for o in orders)
    assert 0 < sum(o.status is OrderStatus.CANCELLED for o in orders) < len(orders) * 0.06
    for order in orders:
        timeline = events[order.id]
        statuses = [e.status.value for e in timeline]
        assert timeline[-1].status is order.status
        assert order.updated_at == timeline[-1].occurred_at <= now
        assert timeline[0].occurred_at == order.ordered_at
        if order.status is OrderStatus.CANCELLED:
            assert statuses[:-1] in (["pending"], ["pending", "paid"])
        else:
            assert statuses == PROGRESSION[: len(statuses)]


def test_timestamps_are_simulated_business_time(small_world: Generated) -> None:
    spec = small_world.spec
    first = datetime.combine(spec.start, datetime.min.time(), tzinfo=UTC)
    last = datetime.combine(spec.end, datetime.max.time(), tzinfo=UTC)
    with small_world.db.read_session() as session:
        for model in (Order, OrderLine, OrderEvent):
            low, high = session.execute(
                select(func.min(model.created_at), func.max(model.updated_at))
            ).one()
            assert first <= low.replace(tzinfo=UTC) and high.replace(tzinfo=UTC) <= last
        signups = session.execute(
            select(func.min(Customer.created_at), func.max(Customer.created_at))
        ).one()
        assert signups[1].replace(tzinfo=UTC) <= last
        late_signup = session.scalar(
            select(func.count())
            .select_from(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Customer.created_at > Order.ordered_at)
        )
        assert late_signup == 0, "an order was placed before its customer signed up"
        products = session.scalar(select(func.count()).select_from(Product))
    assert products is not None and 200 <= products <= 3_000
