"""Gold checks find what breaks a table's contract: nulls, repeated keys, orphan references.

The daily fact's key (product, location, day) is checked by per-group day bitmaps, spelled
for each engine; both must flag the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from shelfwise.pipeline.checks import CheckResult, first_unreconciled_day, structural_checks
from shelfwise.pipeline.engines import open_engine
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.gold import gold_table
from shelfwise.pipeline.settings import PipelineSettings

DAILY = gold_table("fct_inventory_daily")
MONTHLY = gold_table("agg_inventory_monthly")

DIMENSIONS = {
    "dim_product": "SELECT * FROM (VALUES (1, 1001), (2, 2001)) t(product_id, product_key)",
    "dim_location": "SELECT * FROM (VALUES (10), (20)) t(location_id)",
    "dim_date": (
        "SELECT CAST(d AS DATE) AS date FROM (VALUES ('2024-01-30'), ('2024-01-31'), "
        "('2024-02-01'), ('2024-02-02')) t(d)"
    ),
}
# (product_id, location_id, date): two products at one location, one at another, 4 days
GOOD_DAYS = [
    (1, 10, "2024-01-30"),
    (1, 10, "2024-01-31"),
    (1, 10, "2024-02-01"),
    (1, 10, "2024-02-02"),
    (2, 10, "2024-01-31"),
    (2, 10, "2024-02-01"),
    (1, 20, "2024-02-02"),
]


def _daily(rows: Sequence[tuple[int, int, str | None]]) -> str:
    values = ", ".join(
        f"({p}, {p * 1000 + 1}, {loc}, " + (f"CAST('{d}' AS DATE))" if d else "CAST(NULL AS DATE))")
        for p, loc, d in rows
    )
    return f"SELECT * FROM (VALUES {values}) t(product_id, product_key, location_id, date)"


def _monthly(rows: list[tuple[int, int, str]]) -> str:
    values = ", ".join(f"({p}, {loc}, CAST('{m}' AS DATE))" for p, loc, m in rows)
    return f"SELECT * FROM (VALUES {values}) t(product_id, location_id, month)"


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "spark":
        request.getfixturevalue("spark")
    opened = open_engine(request.param, str(tmp_path / "lake"), PipelineSettings())
    for name, sql in DIMENSIONS.items():
        opened.materialize(name, sql)
    yield opened
    opened.close()


def _by_check(results: list[CheckResult]) -> dict[str, int]:
    return {r.check: r.failing for r in results}


def test_a_sound_daily_fact_passes_every_check(engine: Engine) -> None:
    engine.materialize("fct_inventory_daily", _daily(GOOD_DAYS))

    results = structural_checks(engine, (DAILY,))

    assert _by_check(results) == {
        "not_null": 0,
        "unique": 0,
        "relationship:product_key": 0,
        "relationship:product_id": 0,
        "relationship:location_id": 0,
        "relationship:date": 0,
    }
    assert all(r.passed for r in results)


def test_a_repeated_day_fails_the_unique_check_and_names_the_key(engine: Engine) -> None:
    # product 1 at location 10 has 2024-01-31 twice; product 2 at 10 has 2024-02-01 three times
    repeated = [*GOOD_DAYS, (1, 10, "2024-01-31"), (2, 10, "2024-02-01"), (2, 10, "2024-02-01")]
    engine.materialize("fct_inventory_daily", _daily(repeated))

    unique = next(r for r in structural_checks(engine, (DAILY,)) if r.check == "unique")

    assert not unique.passed and unique.failing == 2
    assert "date" in unique.detail and "more than once" in unique.detail


def test_the_same_day_in_two_groups_is_no_repeat(engine: Engine) -> None:
    # every product-location on the same single day: distinct keys, one day each
    engine.materialize(
        "fct_inventory_daily",
        _daily([(1, 10, "2024-02-01"), (2, 10, "2024-02-01"), (1, 20, "2024-02-01")]),
    )

    assert _by_check(structural_checks(engine, (DAILY,)))["unique"] == 0


def test_nulls_and_orphans_are_counted_but_a_null_day_is_no_repeat(engine: Engine) -> None:
    broken = [
        *GOOD_DAYS,
        (1, 10, None),
        (3, 10, "2024-02-01"),
        (3, 10, "2024-02-02"),
        (1, 30, "2024-03-01"),
    ]
    engine.materialize("fct_inventory_daily", _daily(broken))

    failing = _by_check(structural_checks(engine, (DAILY,)))

    assert failing["not_null"] == 1
    assert failing["unique"] == 0
    assert failing["relationship:product_id"] == 2  # product 3: each of its rows counts
    assert failing["relationship:product_key"] == 2
    assert failing["relationship:location_id"] == 1  # location 30
    assert failing["relationship:date"] == 1  # 2024-03-01 is not in dim_date


def test_a_repeated_month_fails_the_monthly_aggregate(engine: Engine) -> None:
    engine.materialize(
        "agg_inventory_monthly",
        _monthly([(1, 10, "2024-01-01"), (1, 10, "2024-02-01"), (1, 10, "2024-02-01")]),
    )

    unique = next(r for r in structural_checks(engine, (MONTHLY,)) if r.check == "unique")

    assert unique.failing == 1


def test_an_empty_daily_fact_passes(engine: Engine) -> None:
    engine.materialize("fct_inventory_daily", _daily(GOOD_DAYS) + " WHERE product_id < 0")

    assert all(r.passed for r in structural_checks(engine, (DAILY,)))


def test_days_are_told_apart_across_blocks_of_the_bitmap(engine: Engine) -> None:
    # offsets from the first day 2024-01-01: 62 (2024-03-03) ends the first block of 63 days,
    # 63 (2024-03-04) starts the second; 34 years later is a block of its own
    days = ["2024-01-01", "2024-03-03", "2024-03-04", "2058-01-01"]
    sound = [(1, 10, d) for d in days]
    engine.materialize("fct_inventory_daily", _daily(sound))
    assert _by_check(structural_checks(engine, (DAILY,)))["unique"] == 0

    for repeated in ("2024-03-03", "2024-03-04", "2058-01-01"):
        engine.materialize("fct_inventory_daily", _daily([*sound, (1, 10, repeated)]))
        unique = next(r for r in structural_checks(engine, (DAILY,)) if r.check == "unique")
        assert unique.failing == 1, repeated
        assert "date" in unique.detail and "more than once" in unique.detail


def test_the_first_unreconciled_day_is_that_of_a_line_changed_after_the_last_cutoff(
    engine: Engine,
) -> None:
    """A line changed after the previous run's reconciliation cutoff was not reconciled by it:
    a daily run starts its reconciliation at that line's order day if it is earlier."""
    engine.materialize(
        "stg_orders",
        "SELECT * FROM (VALUES (1, CAST('2024-03-01 09:00:00' AS TIMESTAMP)), "
        "(2, CAST('2024-03-04 23:58:00' AS TIMESTAMP)), "
        "(3, CAST('2024-03-05 08:00:00' AS TIMESTAMP))) t(order_id, ordered_at)",
    )
    engine.materialize(
        "stg_order_lines",
        "SELECT * FROM (VALUES (10, 1, CAST('2024-03-01 09:00:00' AS TIMESTAMP)), "
        "(20, 2, CAST('2024-03-04 23:58:00' AS TIMESTAMP)), "
        "(30, 3, CAST('2024-03-05 08:00:00' AS TIMESTAMP))) t(order_line_id, order_id, updated_at)",
    )

    assert first_unreconciled_day(engine, "2024-03-04 23:55:00.000000") == date(2024, 3, 4)
    assert first_unreconciled_day(engine, "2024-03-05 08:00:00.000000") is None
