"""Bronze holds the catalog's types even from SQLite, where any column may hold any value: a
value that does not fit is kept as text in `_untyped` and its row quarantined; a bronze table
written as text by an earlier version is cast in place, losing nothing."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from shelfwise.config import Settings
from shelfwise.pipeline import run_pipeline
from shelfwise.pipeline.catalog import UNTYPED, source_table
from shelfwise.pipeline.lake import DeltaLake, ParquetLake
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import add_stock_transfer, assert_same_gold, gold_frames
from tests.pipeline.test_run import add_orders

STAMP = "2024-03-20 12:00:00.000000"


def _bronze(settings: Settings, table: str, engine: str = "duckdb") -> duckdb.DuckDBPyRelation:
    root = Path(settings.resolved_lake_uri)
    lake = DeltaLake(root) if engine == "duckdb" else ParquetLake(root)
    files = lake.files("bronze", f"raw_{table}")
    assert files
    return duckdb.sql(f"SELECT * FROM read_parquet({files!r})")


def _types(relation: duckdb.DuckDBPyRelation) -> dict[str, str]:
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_stray_values_are_kept_as_text_and_quarantined(
    engine: str, request: pytest.FixtureRequest, settings: Settings, store: Path
) -> None:
    if engine == "spark":
        request.getfixturevalue("spark")  # the suite's one local session
    with closing(sqlite3.connect(store)) as con, con:
        con.execute("PRAGMA ignore_check_constraints = ON")
        line_id, order_id = con.execute("SELECT id, order_id FROM order_lines LIMIT 1").fetchone()
        con.execute(
            "UPDATE order_lines SET quantity = 'two', discount = '5%', updated_at = ? WHERE id = ?",
            (STAMP, line_id),
        )
        con.execute("UPDATE orders SET ordered_at = 'yesterday' WHERE id = ?", (order_id,))
        con.execute("PRAGMA foreign_keys = OFF")
        location = con.execute(
            "SELECT location_id FROM reorder_settings ORDER BY rowid LIMIT 1"
        ).fetchone()[0]
        con.execute(
            "UPDATE reorder_settings SET product_id = 'P-7' WHERE rowid = "
            "(SELECT MIN(rowid) FROM reorder_settings)"
        )

    run_pipeline(settings, engine=engine)

    lines = _bronze(settings, "order_lines", engine)
    types = _types(lines)
    assert types["quantity"] == "INTEGER"
    assert types["unit_price"].startswith("DECIMAL")
    assert types["updated_at"] == "TIMESTAMP"
    assert types[UNTYPED] == "VARCHAR"
    stray = lines.filter(f"{UNTYPED} IS NOT NULL").fetchall()
    assert len(stray) == 1
    row = dict(zip(lines.columns, stray[0], strict=True))
    assert row["id"] == line_id and row["quantity"] is None and row["discount"] is None
    kept = {name: text for name, text in json.loads(row[UNTYPED]).items() if text is not None}
    assert kept == {"quantity": "two", "discount": "5%"}
    orders = _bronze(settings, "orders", engine)
    untyped = orders.filter(f"id = {order_id}").project(UNTYPED).fetchone()
    assert untyped is not None and json.loads(untyped[0])["ordered_at"] == "yesterday"

    reasons = _invalid_values(settings)
    assert reasons[f"order_line_id={line_id}"] == "quantity two is not a valid INTEGER"
    assert reasons[f"order_id={order_id}"] == "ordered_at yesterday is not a valid TIMESTAMP"
    key = f"product_id=P-7,location_id={location}"  # a key that did not fit shows its text
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        keyless = warehouse.sql(
            f"SELECT rule, reason FROM quarantine WHERE record_key = '{key}'"
        ).fetchall()
    assert keyless == [("missing_key", f"key {key} is missing or invalid")]

    # a stray value a daily run finds (read by a query in the store, not by a scan)
    later = f"{datetime.now(UTC) + timedelta(hours=1):%Y-%m-%d %H:%M:%S.%f}"  # after the watermark
    with closing(sqlite3.connect(store)) as con, con:
        con.execute("PRAGMA ignore_check_constraints = ON")
        last_line = con.execute("SELECT MAX(id) FROM order_lines").fetchone()[0]
        con.execute(
            "UPDATE order_lines SET unit_price = 'cheap', updated_at = ? WHERE id = ?",
            (later, last_line),
        )

    assert run_pipeline(settings, engine=engine).status == "succeeded"

    reasons = _invalid_values(settings)
    assert reasons[f"order_line_id={last_line}"] == "unit_price cheap is not a valid DECIMAL(12,2)"
    assert reasons[f"order_line_id={line_id}"] == "quantity two is not a valid INTEGER"


def _invalid_values(settings: Settings) -> dict[str, str]:
    """Quarantined record key -> reason, for values that did not fit their type."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        rows = warehouse.sql(
            "SELECT record_key, reason FROM quarantine WHERE rule = 'invalid_value'"
        ).fetchall()
    return {str(key): str(reason) for key, reason in rows}


def _as_text(settings: Settings, table: str, without: str = "") -> int:
    """Rewrite a bronze table as an earlier version wrote it: every store column text, no
    `_untyped` (and no column `without`, as before the store gained it); returns its rows."""
    lake = DeltaLake(Path(settings.resolved_lake_uri))
    files = lake.files("bronze", f"raw_{table}")
    columns = ", ".join(
        f'CAST("{c.source}" AS VARCHAR) AS "{c.source}"'
        for c in source_table(table).columns
        if c.source != without
    )
    relation = duckdb.sql(
        f"SELECT {columns}, _batch_id, _extracted_at FROM read_parquet({files!r})"
    )
    return lake.overwrite("bronze", f"raw_{table}", relation.to_arrow_reader())


def test_text_bronze_of_an_earlier_version_is_cast_in_place(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    run_pipeline(settings)
    before = {t: _as_text(settings, t) for t in ("orders", "order_lines", "products")}
    settings_rows = _as_text(settings, "reorder_settings", without="pack_size")
    assert set(_types(_bronze(settings, "orders")).values()) - {"TIMESTAMP"} == {"VARCHAR"}
    added = add_orders(f"sqlite:///{store}", 3)

    daily = run_pipeline(settings)

    assert daily.status == "succeeded"
    steps = {s.name: s for s in daily.steps}
    for table, rows in before.items():
        assert "retyped" in steps[f"extract {table}"].detail
        bronze = _bronze(settings, table)
        assert _types(bronze)["updated_at"] == "TIMESTAMP"
        assert len(bronze) == rows + steps[f"extract {table}"].rows_written
    assert "retyped" not in steps["extract customers"].detail
    gained = _bronze(settings, "reorder_settings")
    assert len(gained) == settings_rows + steps["extract reorder_settings"].rows_written
    assert _types(gained)["pack_size"] == "INTEGER"
    assert steps["extract order_lines"].rows_written == added
    assert steps["extract products"].rows_written == 0  # nothing re-read counts as new
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(rebuilt.warehouse_path))


def test_an_empty_text_bronze_table_of_an_earlier_version_takes_typed_rows(
    settings: Settings, store: Path
) -> None:
    with closing(sqlite3.connect(store)) as con, con:
        con.execute("DELETE FROM stock_transfers")
    run_pipeline(settings)
    lake = DeltaLake(Path(settings.resolved_lake_uri))
    text = pa.schema(
        [(c.source, pa.string()) for c in source_table("stock_transfers").columns]
        + [("_batch_id", pa.string()), ("_extracted_at", pa.timestamp("us"))]
    )
    lake.overwrite("bronze", "raw_stock_transfers", pa.RecordBatchReader.from_batches(text, []))
    add_stock_transfer(store, STAMP)

    assert run_pipeline(settings).status == "succeeded"

    types = _types(_bronze(settings, "stock_transfers"))
    assert types["quantity"] == "INTEGER" and types["transferred_at"] == "TIMESTAMP"
