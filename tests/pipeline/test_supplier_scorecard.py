"""The supplier scorecard counts what a supplier owed, not only what came: a line still empty
after its expected day is late and delivered nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfwise.pipeline.engines import open_engine
from shelfwise.pipeline.engines.base import Engine
from shelfwise.pipeline.gold import gold_table
from shelfwise.pipeline.settings import PipelineSettings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = open_engine("duckdb", str(tmp_path / "lake"), PipelineSettings())
    yield opened
    opened.close()


def _tables(engine: Engine) -> None:
    """Supplier 1's purchase orders, as of 2024-03-31 (the calendar's last day):
    line 10 came on time in full, line 11 came late with half; line 12 is overdue with nothing;
    line 13 is due tomorrow, line 14 is of a draft and line 15 of a cancelled order (none owed
    yet or ever). Supplier 2 has not been ordered from."""
    engine.materialize(
        "dim_supplier", "SELECT * FROM (VALUES (1, 'Acme'), (2, 'Idle')) s(supplier_id, name)"
    )
    engine.materialize(
        "dim_date",
        "SELECT CAST(range AS DATE) AS date FROM range(DATE '2024-01-01', DATE '2024-04-01', "
        "INTERVAL 1 DAY)",
    )
    engine.materialize(
        "stg_purchase_orders",
        "SELECT purchase_order_id, 1 AS supplier_id, po_status, CAST(expected_on AS DATE) "
        "AS expected_on FROM (VALUES (1, 'received', '2024-02-10'), "
        "(2, 'ordered', '2024-03-20'), (3, 'ordered', '2024-04-01'), "
        "(4, 'draft', '2024-03-01'), (5, 'cancelled', '2024-03-01')) "
        "p(purchase_order_id, po_status, expected_on)",
    )
    engine.materialize(
        "stg_purchase_order_lines",
        "SELECT * FROM (VALUES (10, 1, 100), (11, 1, 100), (12, 2, 100), (13, 3, 100), "
        "(14, 4, 100), (15, 5, 100)) l(purchase_order_line_id, purchase_order_id, "
        "quantity_ordered)",
    )
    engine.materialize(
        "fct_purchase_receipts",
        "SELECT * FROM (VALUES (10, 100, TRUE, 8, 10), (11, 50, FALSE, 14, 10)) "
        "f(purchase_order_line_id, quantity_received, on_time, actual_lead_time_days, "
        "promised_lead_time_days)",
    )


def test_an_overdue_line_counts_as_late_and_undelivered(engine: Engine) -> None:
    _tables(engine)
    table = gold_table("mart_supplier_scorecard")

    rows = engine.rows(
        "SELECT supplier_id, owed_lines, received_lines, overdue_open_lines, on_time_rate, "
        f"fill_rate, lead_time_mean_days FROM ({table.sql(engine.dialect)}) m "
        "ORDER BY supplier_id"
    )

    # owed: lines 10, 11, 12; on time: 1 of 3; delivered: 150 of 300; lead time of those that came
    assert rows[0] == (1, 3, 2, 1, pytest.approx(1 / 3), pytest.approx(0.5), pytest.approx(11.0))
    assert rows[1] == (2, 0, 0, 0, None, None, None)
    assert {"stg_purchase_order_lines", "stg_purchase_orders", "dim_date"} <= set(table.inputs)
