"""The generator refuses what it cannot do, and says how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest
from sqlalchemy import func, select

from shelfwise.store.db import Database
from shelfwise.store.errors import InvalidRequest
from shelfwise.store.models import Product
from shelfwise.synth import WorldSpec, generate, generator
from tests.factories import make_world


class _Sizes(TypedDict, total=False):
    """The integer size fields of a WorldSpec, as the parametrized cases pass them."""

    orders: int
    days: int
    products: int
    locations: int
    customers: int


@pytest.mark.parametrize("in_child", [False, True], ids=["in-process", "child-writer"])
def test_generate_refuses_a_store_that_holds_data(
    sqlite_db: Database, in_child: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if in_child:
        monkeypatch.setattr(generator, "PARALLEL_MIN_ORDERS", 1)
    with sqlite_db.session() as session:
        make_world(session, products=2, locations=1, customers=1)
    with pytest.raises(InvalidRequest, match=r"already holds data .*empty store"):
        generate(sqlite_db, WorldSpec(orders=50, days=10))
    with sqlite_db.read_session() as session:  # nothing was added, nothing was lost
        assert session.scalar(select(func.count()).select_from(Product)) == 2


def test_generate_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'blank.db'}")
    try:
        with pytest.raises(InvalidRequest, match="not migrated; run `shelfwise init`"):
            generate(db, WorldSpec(orders=50, days=10))
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"orders": 0}, "orders must be at least 1"),
        ({"orders": 10, "days": 0}, "days must be"),
        ({"orders": 10, "products": 3}, "products must be at least 10"),
        ({"orders": 10, "locations": 0}, "locations must be between 1 and 500"),
    ],
)
def test_world_spec_rejects_impossible_sizes(fields: _Sizes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        WorldSpec(**fields)


def test_generate_reports_what_it_wrote(sqlite_db: Database) -> None:
    spec = WorldSpec(orders=120, days=20, products=40, locations=3, customers=30)
    report = generate(sqlite_db, spec)
    assert report.counts["orders"] == 120
    assert report.counts["products"] == 40 and report.counts["locations"] == 3
    assert report.start == spec.start and report.end == spec.end
    assert report.seconds > 0 and report.order_lines_per_minute > 0
    with sqlite_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 40
