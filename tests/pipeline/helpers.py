"""Reading gold back out of a published warehouse, for comparisons between runs and engines."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb
import pandas as pd

from shelfwise.pipeline.gold import GOLD_NAMES, GOLD_TABLES

KEYS = {"dim_date": ("date",), **{t.name: t.key for t in GOLD_TABLES}}


def gold_frames(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every gold table, sorted by its key, with a clean index."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            name: con.sql(f"SELECT * FROM {name}")
            .df()
            .sort_values(list(KEYS[name]))
            .reset_index(drop=True)
            for name in GOLD_NAMES
        }


def assert_same_gold(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    """Row for row and column for column; floating point to 1e-9 relative."""
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(
            left[name], right[name], check_exact=False, rtol=1e-9, obj=name
        )


def column_types(warehouse: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: kind for name, kind, *_ in con.sql(f"DESCRIBE {table}").fetchall()}


def add_stock_transfer(store: Path, stamp: str) -> None:
    """A stock transfer with id 1 (two units of a stocked product to another location), last
    changed at `stamp`, written straight into the SQLite store."""
    with closing(sqlite3.connect(store)) as con, con:
        product, here, there = con.execute(
            "SELECT s.product_id, s.location_id, o.id FROM stock_levels s "
            "JOIN locations o ON o.id <> s.location_id "
            "ORDER BY s.product_id, s.location_id, o.id LIMIT 1"
        ).fetchone()
        con.execute(
            "INSERT INTO stock_transfers (id, product_id, from_location_id, to_location_id, "
            "quantity, transferred_at, created_at, updated_at) VALUES (1, ?, ?, ?, 2, ?, ?, ?)",
            (product, here, there, stamp, stamp, stamp),
        )
