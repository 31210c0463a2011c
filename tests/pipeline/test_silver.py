"""Silver skips deduplicating a table whose keys are all unique (a full load), and then gives
exactly what deduplicating would have: the same kept rows and the same quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shelfwise.pipeline.catalog import source_table
from shelfwise.pipeline.engines import open_engine
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.settings import PipelineSettings
from shelfwise.pipeline.silver import (
    bronze_keys,
    history_sql,
    latest_plausible_date,
    records_sql,
    silver_sql,
)

CATEGORIES = source_table("categories")
PRODUCTS = source_table("products")
NOW = datetime(2024, 6, 1, tzinfo=UTC)
STAMP = "CAST('2024-03-01 10:00:00' AS TIMESTAMP)"
EXTRACTED = "CAST('2024-03-05 06:00:00' AS TIMESTAMP)"


def _raw(rows: list[str]) -> str:
    """`raw_categories` rows given as `id, name, updated_at` SQL tuples (typed, as bronze),
    all from one extraction."""
    return _extracted([f"{row}, {EXTRACTED}" for row in rows])


def _extracted(rows: list[str]) -> str:
    """`raw_categories` rows given as `id, name, updated_at, _extracted_at` SQL tuples."""
    values = ", ".join(f"({row})" for row in rows)
    return (
        "SELECT CAST(id AS BIGINT) AS id, CAST(name AS STRING) AS name, "
        "updated_at AS created_at, updated_at, CAST(NULL AS STRING) AS _untyped, "
        f"_extracted_at FROM (VALUES {values}) t(id, name, updated_at, _extracted_at)"
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = open_engine("duckdb", str(tmp_path / "lake"), PipelineSettings())
    yield opened
    opened.close()


def _checked(engine: Engine, unique_keys: bool) -> list[tuple[object, ...]]:
    sql = silver_sql(CATEGORIES, engine.dialect, NOW, unique_keys=unique_keys)
    return sorted(engine.rows(f"SELECT category_id, name, _rule, _reason FROM ({sql}) c"), key=repr)


def test_unique_keys_skip_deduplicating_with_the_same_outcome(engine: Engine) -> None:
    engine.materialize(
        "raw_categories",
        _raw(
            [
                f"1, 'Food', {STAMP}",
                f"2, NULL, {STAMP}",  # quarantined: a name is required
                f"NULL, 'Toys', {STAMP}",  # quarantined: no key
                "3, 'Garden', CAST('2150-01-01 00:00:00' AS TIMESTAMP)",  # impossible date
            ]
        ),
    )
    assert bronze_keys(engine, CATEGORIES).unique
    fast = _checked(engine, unique_keys=True)
    assert fast == _checked(engine, unique_keys=False)
    rules = {row[0]: row[2] for row in fast}
    assert rules == {1: None, 2: "missing_value", None: "missing_key", 3: "impossible_date"}


@pytest.mark.parametrize(
    "rows",
    [
        [f"1, 'Food', {STAMP}", f"1, 'Food and drink', {STAMP}"],  # a key twice
        [f"NULL, 'Toys', {STAMP}", f"NULL, 'Toys', {STAMP}"],  # the same keyless row twice
    ],
)
def test_a_repeated_key_is_deduplicated(engine: Engine, rows: list[str]) -> None:
    engine.materialize("raw_categories", _raw(rows))
    assert not bronze_keys(engine, CATEGORIES).unique


@pytest.mark.parametrize(
    ("now", "latest"),
    [(datetime(2024, 6, 1, tzinfo=UTC), "2025-06-01"), (datetime(2028, 2, 29), "2029-02-28")],
)
def test_a_date_over_a_year_ahead_is_impossible_even_from_a_leap_day(
    engine: Engine, now: datetime, latest: str
) -> None:
    """A run on 29 February once built the bound '2029-02-29', which is no date: every table
    with a date column failed that day."""
    assert latest_plausible_date(now).isoformat() == latest
    engine.materialize(
        "raw_categories",
        _raw(
            [
                f"1, 'Food', CAST('{latest} 00:00:00' AS TIMESTAMP)",
                f"2, 'Toys', CAST('{latest} 00:00:00' AS TIMESTAMP) + INTERVAL 1 DAY",
            ]
        ),
    )
    sql = silver_sql(CATEGORIES, engine.dialect, now)
    rules = dict(engine.rows(f"SELECT category_id, _rule FROM ({sql}) c"))
    assert rules == {1: None, 2: "impossible_date"}


def test_bronze_records_are_counted_as_the_checks_rank_them(engine: Engine) -> None:
    """One record per key (versions and conflicting duplicates alike), and one per distinct
    row without a key: what the run log's balance holds the checks to."""
    later = "CAST('2024-03-02 10:00:00' AS TIMESTAMP)"
    engine.materialize(
        "raw_categories",
        _raw(
            [
                f"1, 'Food', {STAMP}",
                f"1, 'Food and drink', {later}",  # a newer version of 1
                f"2, 'Toys', {STAMP}",
                f"2, 'Games', {STAMP}",  # a conflicting duplicate of 2
                f"NULL, 'Garden', {STAMP}",
                f"NULL, 'Garden', {STAMP}",  # the same keyless row again
                f"NULL, 'Tools', {STAMP}",
            ]
        ),
    )
    checked = engine.rows(
        f"SELECT COUNT(*) FROM ({silver_sql(CATEGORIES, engine.dialect, NOW)}) c"
    )[0][0]
    assert engine.scalar(f"SELECT {records_sql(CATEGORIES, engine.dialect)}") == checked == 4
    assert bronze_keys(engine, CATEGORIES).records == 4


def test_the_version_a_later_extraction_saw_is_the_latest_whatever_its_stamp(
    engine: Engine,
) -> None:
    """A writer stamps a row before it commits: the version that replaced another can carry
    the older stamp. The extraction that saw it came later, and that decides."""
    earlier = "CAST('2024-03-01 09:59:59' AS TIMESTAMP)"
    later_run = "CAST('2024-03-06 06:00:00' AS TIMESTAMP)"
    engine.materialize(
        "raw_categories",
        _extracted(
            [
                f"1, 'Food', {STAMP}, {EXTRACTED}",
                f"1, 'Food and drink', {earlier}, {later_run}",  # committed over 'Food'
                f"2, 'Toys', {STAMP}, {EXTRACTED}",
                f"2, 'Toys', {STAMP}, {later_run}",  # the same version, read again
                f"3, 'Garden', {earlier}, {EXTRACTED}",
                f"3, 'Tools', {STAMP}, {EXTRACTED}",  # one extraction: the stamp decides
            ]
        ),
    )
    assert _checked(engine, unique_keys=False) == [
        (1, "Food and drink", None, None),
        (2, "Toys", None, None),
        (3, "Tools", None, None),
    ]


def _product_versions(rows: list[tuple[int, str, str]]) -> str:
    """`raw_products` rows of product 1 given as (price, updated_at, _extracted_at)."""
    values = ", ".join(f"({price}, TIMESTAMP '{u}', TIMESTAMP '{e}')" for price, u, e in rows)
    return (
        "SELECT CAST(1 AS BIGINT) AS id, 'SKU-1' AS sku, 'Kettle' AS name, "
        "CAST(NULL AS STRING) AS description, CAST(1 AS BIGINT) AS sub_category_id, "
        "CAST(NULL AS STRING) AS brand, CAST(price AS DECIMAL(12,2)) AS unit_price, "
        "CAST(NULL AS DECIMAL(12,2)) AS unit_cost, CAST(NULL AS STRING) AS size, "
        "TRUE AS active, CAST(NULL AS DATE) AS launched_on, CAST(NULL AS DATE) AS retired_on, "
        "TIMESTAMP '2024-01-01' AS created_at, u AS updated_at, "
        "CAST(NULL AS STRING) AS _untyped, e AS _extracted_at "
        f"FROM (VALUES {values}) t(price, u, e)"
    )


HISTORY_CASES = {
    "in order": (
        ["03-01 10:00:00", "03-02 10:00:00", "03-03 10:00:00"],
        ["03-01 10:00:00", "03-02 10:00:00", "03-03 10:00:00"],
    ),
    "one before its predecessor": (
        ["03-01 10:00:00", "03-01 09:00:00", "03-03 10:00:00"],
        ["03-01 10:00:00", "03-01 10:00:00.000001", "03-03 10:00:00"],
    ),
    "two in a row": (
        ["03-01 10:00:00", "03-01 09:00:00", "03-01 08:00:00"],
        ["03-01 10:00:00", "03-01 10:00:00.000001", "03-01 10:00:00.000002"],
    ),
    # stamped ahead of the clock, then corrected: capped at the start of the run that read
    # the correction (03-07 06:00), not left to push the correction out to December
    "a clock running ahead": (
        ["03-01 10:00:00", "12-31 00:00:00", "03-06 12:00:00"],
        ["03-01 10:00:00", "03-07 06:00:00", "03-07 06:00:00.000001"],
    ),
}


@pytest.mark.parametrize("case", HISTORY_CASES)
def test_the_history_keeps_stamps_in_order_and_follows_a_late_stamp_by_a_microsecond(
    engine: Engine, case: str
) -> None:
    assert_history(engine, *HISTORY_CASES[case])


def assert_history(engine: Engine, stamps: list[str], history: list[str]) -> None:
    """Three versions of a price, each extracted by its own run: the history orders them as
    the runs saw them, and its stamps rise with that order (see `history_sql`)."""
    runs = ["2024-03-05 06:00:00", "2024-03-06 06:00:00", "2024-03-07 06:00:00"]
    rows = [
        (10 + i, f"2024-{stamp}", run)
        for i, (stamp, run) in enumerate(zip(stamps, runs, strict=True))
    ]
    engine.materialize("raw_products", _product_versions(rows))
    engine.materialize("stg_sub_categories", "SELECT CAST(1 AS BIGINT) AS sub_category_id")
    engine.materialize(
        "stg_products",
        f"SELECT * FROM ({silver_sql(PRODUCTS, engine.dialect, NOW)}) c WHERE _rule IS NULL",
    )
    kept = engine.rows(
        f"SELECT CAST(unit_price AS INTEGER), updated_at FROM "
        f"({history_sql(PRODUCTS, engine.dialect, NOW)}) h ORDER BY updated_at"
    )
    assert [tuple(row) for row in kept] == [
        (10 + i, datetime.fromisoformat(f"2024-{h}")) for i, h in enumerate(history)
    ]
    current = engine.rows("SELECT CAST(unit_price AS INTEGER) FROM stg_products")
    assert [tuple(row) for row in current] == [(12,)]
