"""Publishing to the DuckDB warehouse file: patches of recent rows, and a fresh build when the
current file cannot be patched."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from shelfwise.config import Settings
from shelfwise.pipeline import PipelineFailed, checks, run_pipeline
from shelfwise.pipeline.gold import gold_table
from shelfwise.pipeline.lake import DeltaLake
from shelfwise.pipeline.publish import (
    BUILDING,
    Published,
    attach_build,
    attach_copy,
    build_aside,
    copy_current,
    previous_path,
    publish_warehouse,
)
from tests.pipeline.helpers import assert_same_gold, gold_frames
from tests.pipeline.test_run import _add_orders, _store_counts

SALES = Published("gold", "sales", "sales")
STOCK = Published("gold", "stock", "stock")


def _rows(days: list[int], value: int) -> pa.RecordBatchReader:
    table = pa.table(
        {
            "date": pa.array([date(2024, 1, d) for d in days], pa.date32()),
            "value": pa.array([value] * len(days), pa.int64()),
        }
    )
    return table.to_reader()


def _storage(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, set[str]]:
    """The methods each column of `table` is stored by."""
    rows = con.sql(
        "SELECT column_name, compression FROM pragma_storage_info(?) "
        "WHERE segment_type <> 'VALIDITY'",
        params=[table],
    ).fetchall()
    methods: dict[str, set[str]] = {}
    for column, method in rows:
        methods.setdefault(column, set()).add(method)
    return methods


def _warehouse(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [n for (n,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: con.sql(f"SELECT * FROM {n} ORDER BY ALL").fetchall() for n in sorted(names)}


def test_patch_replaces_only_the_recent_rows(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path / "lake")
    lake.overwrite("gold", "sales", _rows([1, 2, 3], 1))
    lake.overwrite("gold", "stock", _rows([1], 5))
    path = tmp_path / "warehouse.duckdb"
    publish_warehouse(path, lake, [SALES, STOCK], run_id="first", comments={})
    lake.replace_where("gold", "sales", _rows([3, 4], 2), "date", "2024-01-03")

    publish_warehouse(
        path,
        lake,
        [SALES, STOCK],
        run_id="second",
        comments={},
        patches={"sales": ("date", "2024-01-03")},
        unchanged={"stock"},
    )

    assert _warehouse(path) == {
        "sales": [
            (date(2024, 1, 1), 1),
            (date(2024, 1, 2), 1),
            (date(2024, 1, 3), 2),
            (date(2024, 1, 4), 2),
        ],
        "stock": [(date(2024, 1, 1), 5)],
    }
    assert not list(tmp_path.glob(".warehouse.duckdb.*"))  # nothing left aside


def test_the_replaced_warehouse_is_kept_until_a_daily_run_copies_the_current_one(
    tmp_path: Path,
) -> None:
    lake = DeltaLake(tmp_path / "lake")
    path = tmp_path / "warehouse.duckdb"
    for run, value in enumerate((1, 2, 3)):
        lake.overwrite("gold", "sales", _rows([1], value))
        publish_warehouse(path, lake, [SALES], run_id=f"run{run}", comments={})

    assert _warehouse(path) == {"sales": [(date(2024, 1, 1), 3)]}
    assert _warehouse(previous_path(path)) == {"sales": [(date(2024, 1, 1), 2)]}
    assert sorted(f.name for f in tmp_path.iterdir() if f.is_file()) == [
        "warehouse.duckdb",
        "warehouse.previous.duckdb",
    ]
    # the next daily run deletes it beside silver and gold, not in its swap
    building = copy_current(path, "run4")
    assert building.is_file() and not previous_path(path).exists()


def test_a_warehouse_missing_a_table_is_built_afresh_instead_of_patched(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path / "lake")
    lake.overwrite("gold", "sales", _rows([1, 2], 1))
    path = tmp_path / "warehouse.duckdb"
    publish_warehouse(path, lake, [SALES], run_id="older-release", comments={})
    lake.overwrite("gold", "stock", _rows([1], 5))  # a table a newer release publishes
    lake.replace_where("gold", "sales", _rows([2], 3), "date", "2024-01-02")

    publish_warehouse(
        path,
        lake,
        [SALES, STOCK],
        run_id="newer-release",
        comments={"stock": "one row per day"},
        patches={"sales": ("date", "2024-01-02")},
        unchanged={"stock"},  # would be kept if patched: it must be copied instead
    )

    assert _warehouse(path) == {
        "sales": [(date(2024, 1, 1), 1), (date(2024, 1, 2), 3)],
        "stock": [(date(2024, 1, 1), 5)],
    }
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'stock'"
        ).fetchone() == ("one row per day",)
    assert not list(tmp_path.glob(".warehouse.duckdb.*"))


def test_an_attached_copy_with_nothing_to_patch_is_replaced_by_a_fresh_build(
    tmp_path: Path,
) -> None:
    """A daily run attaches its copy of the warehouse for gold to read; when in the end no
    table is patched, the copy is let go and the warehouse built from the lake."""
    lake = DeltaLake(tmp_path / "lake")
    lake.overwrite("gold", "sales", _rows([1, 2], 1))
    path = tmp_path / "warehouse.duckdb"
    publish_warehouse(path, lake, [SALES], run_id="first", comments={})
    lake.overwrite("gold", "sales", _rows([1, 2], 7))
    building = copy_current(path, "second")
    with duckdb.connect() as con:
        assert attach_copy(con, building) == {"sales"}

        publish_warehouse(
            path,
            lake,
            [SALES],
            run_id="second",
            comments={},
            con=con,
            copied=lambda: building,
            attached=True,
        )

        attached = con.sql("SELECT database_name FROM duckdb_databases()").fetchall()
    assert _warehouse(path) == {"sales": [(date(2024, 1, 1), 7), (date(2024, 1, 2), 7)]}
    assert ("_warehouse_build",) not in attached
    assert not list(tmp_path.glob(".warehouse.duckdb.*"))


def test_a_daily_run_whose_lake_write_fails_keeps_the_last_warehouse(
    settings: Settings, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_pipeline(settings)
    before = gold_frames(settings.warehouse_path)
    inode = settings.warehouse_path.stat().st_ino
    _add_orders(store, 2)

    def full_disk(*args: object, **kwargs: object) -> int:
        raise OSError("No space left on device")

    # the warehouse is patched from the engine while the lake is written beside it
    monkeypatch.setattr(DeltaLake, "replace_where", full_disk)
    with pytest.raises(PipelineFailed, match="No space left"):
        run_pipeline(settings)

    assert settings.warehouse_path.stat().st_ino == inode
    assert_same_gold(before, gold_frames(settings.warehouse_path))
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))
    monkeypatch.undo()
    # the next run (gold rebuilt: the last one failed) publishes what this one could not
    assert run_pipeline(settings).status == "succeeded"
    after = gold_frames(settings.warehouse_path)
    assert len(after["fct_sales"]) == _store_counts(store)["order_lines"] > len(before["fct_sales"])


def test_a_postgres_warehouse_that_cannot_be_reached_keeps_the_last_duckdb_warehouse(
    settings: Settings, store: Path
) -> None:
    """The PostgreSQL warehouse is pushed before the DuckDB file is swapped in: a run whose
    push fails publishes neither (it used to swap the file first, then fail)."""
    run_pipeline(settings)
    before = gold_frames(settings.warehouse_path)
    inode = settings.warehouse_path.stat().st_ino
    _add_orders(store, 2)
    # (port 9: nothing listens there)
    unreachable = settings.model_copy(
        update={"warehouse_url": "postgresql://shelfwise@127.0.0.1:9/shelfwise"}
    )

    with pytest.raises(PipelineFailed, match="publish"):
        run_pipeline(unreachable)

    assert settings.warehouse_path.stat().st_ino == inode
    assert_same_gold(before, gold_frames(settings.warehouse_path))
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))


def test_a_full_build_puts_the_daily_fact_in_the_warehouse_in_date_order(
    settings: Settings,
) -> None:
    run_pipeline(settings, full=True)

    lake = DeltaLake(Path(settings.resolved_lake_uri))
    files = lake.files("gold", "fct_inventory_daily")
    assert files
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        # built a month at a time straight into the file: a daily patch then touches only the
        # last row groups
        out_of_order = con.sql(
            "SELECT count(*) FROM (SELECT month, lag(month) OVER (ORDER BY rowid) AS before "
            "FROM fct_inventory_daily) WHERE month < before"
        ).fetchone()
        assert out_of_order == (0,)
        months = con.sql("SELECT count(DISTINCT month) FROM fct_inventory_daily").fetchone()
        assert months is not None and months[0] > 1
        # the same rows as the lake's table, which was written from it
        lake_rows = f"read_parquet({files!r}, union_by_name = true)"
        columns = ", ".join(n for (n, *_) in con.sql("DESCRIBE fct_inventory_daily").fetchall())
        for left, right in (("fct_inventory_daily", lake_rows), (lake_rows, "fct_inventory_daily")):
            differing = con.sql(
                f"SELECT count(*) FROM (SELECT {columns} FROM {left} "
                f"EXCEPT ALL SELECT {columns} FROM {right})"
            ).fetchone()
            assert differing == (0,)
        comment = con.sql(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'fct_inventory_daily'"
        ).fetchone()
        assert comment is not None and "one row per product, location and day" in comment[0]
        # every column stored by the method named for it (a constant segment aside)
        slices = gold_table("fct_inventory_daily").by_month
        assert slices is not None
        stored = {
            column: {method.upper() for method in methods} - {"CONSTANT"}
            for column, methods in _storage(con, "fct_inventory_daily").items()
        }
        assert stored.keys() == slices.compression.keys()
        assert all(stored[c] <= {m.upper()} for c, m in slices.compression.items()), stored
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))


def test_a_table_built_aside_keeps_the_storage_methods_named_for_later_rows(
    tmp_path: Path,
) -> None:
    runs = "SELECT range // 5000 AS counted, range // 5000 AS chosen FROM range({}, {})"
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect() as con:
        building = attach_build(con, path, "r1")
        stored = build_aside(
            con,
            "t",
            [runs.format(0, 200_000), runs.format(200_000, 400_000)],
            {"counted": "bitpacking"},
        )
        assert stored == f"{BUILDING}.main.t"
        con.execute(f"DETACH {BUILDING}")
    with duckdb.connect(str(building)) as con:
        con.execute(f"INSERT INTO t {runs.format(400_000, 600_000)}")  # a later patch
        con.execute("CHECKPOINT")
        # (runs, which DuckDB itself stores as RLE, as `chosen` shows)
        assert _storage(con, "t") == {"counted": {"BitPacking"}, "chosen": {"RLE"}}
        assert con.sql("SELECT count(*), sum(counted) FROM t").fetchone() == (600_000, 35_700_000)


def test_a_full_build_failing_after_gold_keeps_the_last_warehouse_and_leaves_no_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_pipeline(settings)
    before = gold_frames(settings.warehouse_path)
    inode = settings.warehouse_path.stat().st_ino

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("checks broke")

    # the daily fact is already in the new warehouse file when the checks fail
    monkeypatch.setattr(checks, "structural_checks", broken)
    with pytest.raises(PipelineFailed, match="checks broke"):
        run_pipeline(settings, full=True)

    assert settings.warehouse_path.stat().st_ino == inode
    assert_same_gold(before, gold_frames(settings.warehouse_path))
    assert not list(settings.warehouse_path.parent.glob(".warehouse.duckdb.*"))
