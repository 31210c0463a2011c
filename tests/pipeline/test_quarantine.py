"""Bad rows written straight into the store (around its constraints) end in quarantine, with
the table, key, rule and reason; rows in = rows out + rows quarantined for every table."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb

from shelfwise.config import Settings
from shelfwise.pipeline import run_pipeline
from shelfwise.pipeline.runlog import RunSummary

STAMP = "2024-03-20 12:00:00.000000"


def _raw(store: Path) -> sqlite3.Connection:
    """A connection that lets bad rows in, as a buggy importer or a manual fix would."""
    con = sqlite3.connect(store)
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute("PRAGMA ignore_check_constraints = ON")
    return con


def _inject_bad_rows(store: Path, stamp: str = STAMP) -> dict[str, tuple[str, str]]:
    """Insert one bad row per rule, last changed at `stamp`; returns record_key -> (table, rule)
    expected."""
    with closing(_raw(store)) as con, con:
        order_id, customer_id, location_id = con.execute(
            "SELECT id, customer_id, location_id FROM orders ORDER BY id LIMIT 1"
        ).fetchone()
        product_id = con.execute("SELECT MIN(id) FROM products").fetchone()[0]
        top = {
            t: con.execute(f"SELECT MAX(id) FROM {t}").fetchone()[0]
            for t in ("orders", "order_lines", "customers")
        }

        def line(line_id: int, order: int, product: int, quantity: int) -> None:
            con.execute(
                "INSERT INTO order_lines (id, order_id, line_no, product_id, quantity, "
                "unit_price, discount, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 9.99, 0, ?, ?)",
                (line_id, order, 90 + line_id % 10, product, quantity, stamp, stamp),
            )

        def order(new_id: int, ordered_at: str) -> None:
            con.execute(
                "INSERT INTO orders (id, customer_id, location_id, status, priority, ordered_at, "
                "created_at, updated_at) VALUES (?, ?, ?, 'paid', 'medium', ?, ?, ?)",
                (new_id, customer_id, location_id, ordered_at, stamp, stamp),
            )

        line(top["order_lines"] + 1, order_id, product_id, -2)
        line(top["order_lines"] + 2, order_id, 999_999, 1)
        line(top["order_lines"] + 4, order_id, product_id, 0)
        order(top["orders"] + 1, "2024-02-30 10:00:00.000000")
        line(top["order_lines"] + 3, top["orders"] + 1, product_id, 1)
        order(top["orders"] + 2, "2999-01-01 10:00:00.000000")
        con.execute(
            "INSERT INTO customers (id, name, email, segment, country, created_at, updated_at) "
            "VALUES (?, 'Bad Mail', 'not-an-email', 'consumer', 'DE', ?, ?)",
            (top["customers"] + 1, stamp, stamp),
        )
    return {
        f"order_line_id={top['order_lines'] + 1}": ("order_lines", "negative_quantity"),
        f"order_line_id={top['order_lines'] + 2}": ("order_lines", "unknown_product"),
        f"order_line_id={top['order_lines'] + 4}": ("order_lines", "zero_quantity"),
        f"order_id={top['orders'] + 1}": ("orders", "invalid_value"),
        f"order_line_id={top['order_lines'] + 3}": ("order_lines", "unknown_order"),
        f"order_id={top['orders'] + 2}": ("orders", "impossible_date"),
        f"customer_id={top['customers'] + 1}": ("customers", "malformed_email"),
    }


def _quarantine(settings: Settings) -> dict[str, tuple[str, str, str]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.sql("SELECT record_key, source_table, rule, reason FROM quarantine").fetchall()
    return {key: (table, rule, reason) for key, table, rule, reason in rows}


def _assert_balanced(run: RunSummary) -> None:
    silver = [s for s in run.steps if s.name.startswith("silver")]
    assert silver
    for step in silver:
        assert step.detail["rows_in"] == step.detail["rows_out"] + step.rows_quarantined, step.name
        if step.detail["mode"] == "full":  # reused: not written; merged: changed rows only
            assert step.detail["rows_out"] == step.rows_written, step.name


def test_bad_rows_are_quarantined_with_rule_and_reason(settings: Settings, store: Path) -> None:
    expected = _inject_bad_rows(store)

    run = run_pipeline(settings)

    found = _quarantine(settings)
    assert {k: found[k][:2] for k in expected if k in found} == expected
    assert set(found) == set(expected)  # nothing else was rejected
    assert "quantity -2 is not positive" in found[next(iter(expected))][2]
    bad_date = next(k for k, v in expected.items() if v[1] == "invalid_value")
    assert "ordered_at 2024-02-30" in found[bad_date][2] and "TIMESTAMP" in found[bad_date][2]
    _assert_balanced(run)
    assert run.rows_quarantined == len(expected)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        kept = {i for (i,) in con.sql("SELECT order_line_id FROM fct_sales").fetchall()}
    bad_lines = {int(k.split("=")[1]) for k in expected if k.startswith("order_line_id")}
    assert not kept & bad_lines
    checks = next(s for s in run.steps if s.name == "checks")
    reconciled = checks.detail["fct_sales.reconciliation"]
    assert "match the operational store" in reconciled  # and it says what it left out:
    assert f"; {len(bad_lines)} of the store's lines are in quarantine" in reconciled


def test_update_that_keeps_updated_at_is_a_conflicting_duplicate(
    settings: Settings, store: Path
) -> None:
    """A row changed without touching updated_at: two different versions share the key and
    the watermark, so silver cannot tell which is current and quarantines the key."""
    run_pipeline(settings)
    with closing(_raw(store)) as con, con:
        customer = con.execute(
            "SELECT id FROM customers ORDER BY updated_at DESC, id DESC LIMIT 1"
        ).fetchone()[0]
        con.execute("UPDATE customers SET name = name || ' (edited)' WHERE id = ?", (customer,))

    run = run_pipeline(settings)

    found = _quarantine(settings)
    key = f"customer_id={customer}"
    assert found[key][:2] == ("customers", "conflicting_duplicate")
    assert "2 different rows share key" in found[key][2]
    _assert_balanced(run)
