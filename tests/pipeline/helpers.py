"""Reading gold back out of a published warehouse, for comparisons between runs and engines."""

from __future__ import annotations

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
