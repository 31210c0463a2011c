"""Lake storage: Delta commits with time travel; Parquet versions switched by a pointer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from shelfwise.pipeline import lake as lake_module
from shelfwise.pipeline.catalog import source_table
from shelfwise.pipeline.extract import watermark
from shelfwise.pipeline.lake import DeltaLake, LakeFormatError, ParquetLake, lake_root


def _reader(values: list[int]) -> pa.RecordBatchReader:
    table = pa.table({"id": pa.array(values, pa.int64())})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def test_delta_lake_appends_overwrites_and_keeps_versions(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path)
    assert lake.files("bronze", "raw_x") is None

    assert lake.overwrite("bronze", "raw_x", _reader([1, 2])) == 2
    assert lake.append("bronze", "raw_x", _reader([3])) == 1
    assert lake.row_count("bronze", "raw_x") == 3
    assert lake.overwrite("bronze", "raw_x", _reader([9])) == 1

    table = DeltaTable(str(lake.path("bronze", "raw_x")))
    assert table.version() == 2 and table.to_pyarrow_table()["id"].to_pylist() == [9]
    table.load_as_version(1)  # time travel
    assert sorted(table.to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3]


def test_every_delta_write_compresses_its_files(tmp_path: Path) -> None:
    """Writer properties replace all of `deltalake`'s defaults, Snappy included."""
    lake = DeltaLake(tmp_path)
    lake.overwrite("silver", "stg_x", _reader(list(range(1000))))
    lake.append("silver", "stg_x", _reader([1000]))
    changes = pa.table({"id": pa.array([5, 2000], pa.int64()), "_delete": [False, False]})
    lake.upsert(
        "silver",
        "stg_x",
        pa.RecordBatchReader.from_batches(changes.schema, changes.to_batches()),
        ("id",),
    )
    lake.compact("silver", "stg_x", min_files=2)
    files = lake.files("silver", "stg_x") or []
    assert files
    codecs = {pq.ParquetFile(f).metadata.row_group(0).column(0).compression for f in files}
    assert codecs == {"SNAPPY"}
    assert lake.row_count("silver", "stg_x") == 1002


def test_parquet_lake_switches_versions_atomically(tmp_path: Path) -> None:
    lake = ParquetLake(tmp_path)
    lake.overwrite("silver", "stg_x", _reader([1, 2]))
    lake.append("silver", "stg_x", _reader([3]))
    folder = lake.path("silver", "stg_x")
    pointer = json.loads((folder / "_current.json").read_text())
    assert pointer["version"] == 2 and len(pointer["files"]) == 2
    assert lake.row_count("silver", "stg_x") == 3

    # a writer killed mid-way leaves a half-written version folder and no pointer change
    _, abandoned = lake.new_version("silver", "stg_x")
    (abandoned / "part-00000.parquet").write_bytes(b"PAR1 truncated")
    assert lake.row_count("silver", "stg_x") == 3

    lake.overwrite("silver", "stg_x", _reader([7]))  # takes a fresh number, not the abandoned one
    assert lake.row_count("silver", "stg_x") == 1
    assert json.loads((folder / "_current.json").read_text())["version"] == 4


def test_formats_do_not_mix(tmp_path: Path) -> None:
    DeltaLake(tmp_path).overwrite("gold", "fct_x", _reader([1]))
    with pytest.raises(LakeFormatError, match="--full"):
        ParquetLake(tmp_path).files("gold", "fct_x")


def test_lake_uri_must_be_local(tmp_path: Path) -> None:
    assert lake_root(f"file://{tmp_path}") == tmp_path.resolve()
    with pytest.raises(ValueError, match="only local folders"):
        lake_root("s3://bucket/lake")


def _stamps(values: Sequence[str | None], extracted: datetime) -> pa.RecordBatchReader:
    table = pa.table(
        {
            "id": pa.array(range(len(values)), pa.int64()),
            "updated_at": values,
            "_extracted_at": pa.array([extracted] * len(values), pa.timestamp("us")),
        }
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def test_watermark_comes_from_statistics_and_agrees_with_a_scan(tmp_path: Path) -> None:
    """SQLite's text timestamps: the Delta log's per-file maxima and the Parquet footers'
    per-row-group maxima answer without reading data, and give what reading the column gives;
    a lake without the table reads the column."""
    orders = source_table("orders")
    older = ["2026-01-02 08:00:00.000001", "2026-01-03 09:30:00.250000"]
    newer = [None, "2026-01-03 09:30:00.750000"]
    for lake in (DeltaLake(tmp_path / "delta"), ParquetLake(tmp_path / "parquet")):
        lake.overwrite(orders.layer, orders.raw, _stamps(older, datetime(2026, 1, 4)))
        lake.append(orders.layer, orders.raw, _stamps(newer, datetime(2026, 1, 5)))
        files = lake.files(orders.layer, orders.raw)
        assert files
        with closing(duckdb.connect()) as con:
            scanned = watermark(ParquetLake(tmp_path / "none"), orders, files, con=con)
            assert watermark(lake, orders, files, con=con) == scanned
        # without a connection, the scan opens one of its own
        assert watermark(ParquetLake(tmp_path / "none"), orders, files) == scanned
        assert scanned == datetime(2026, 1, 3, 9, 30, 0, 750000)
        # a row stamped ahead of the clock: the watermark stops at the newest extraction
        lake.append(
            orders.layer, orders.raw, _stamps(["2099-01-01 00:00:00"], datetime(2026, 1, 6))
        )
        files = lake.files(orders.layer, orders.raw)
        assert files
        capped = watermark(ParquetLake(tmp_path / "none"), orders, files)
        assert watermark(lake, orders, files) == capped == datetime(2026, 1, 6)
    delta = DeltaLake(tmp_path / "delta")
    maxima = delta.column_maxima(orders.layer, orders.raw, "updated_at")
    assert sorted(maxima or []) == [older[1], newer[1], "2099-01-01 00:00:00"]  # 3 files
    parquet = ParquetLake(tmp_path / "parquet")
    assert parquet.column_maxima(orders.layer, orders.raw, "id") == [1, 1, 0]  # the footers
    assert parquet.column_maxima(orders.layer, orders.raw, "absent") is None


def test_parquet_maxima_are_exact_and_delta_maxima_are_not(tmp_path: Path) -> None:
    """Silver trusts a lake's maxima of `_extracted_at` only where they are exact: Parquet
    footers keep microseconds, the Delta log milliseconds. A row group with rows but no
    statistics for the column (all nulls) gives no answer rather than a wrong one."""
    moment = datetime(2026, 11, 23, 19, 5, 9, 419142)
    rows = pa.table({"_extracted_at": pa.array([moment], pa.timestamp("us"))})
    delta, parquet = DeltaLake(tmp_path / "delta"), ParquetLake(tmp_path / "parquet")
    for lake in (delta, parquet):
        lake.overwrite("bronze", "raw_t", rows.to_reader())
    assert parquet.exact_maxima and not delta.exact_maxima
    assert parquet.column_maxima("bronze", "raw_t", "_extracted_at") == [moment]
    assert delta.column_maxima("bronze", "raw_t", "_extracted_at") == [
        moment.replace(microsecond=419000)
    ]
    nulls = pa.table({"_extracted_at": pa.array([None], pa.timestamp("us"))})
    parquet.append("bronze", "raw_t", nulls.to_reader())
    assert parquet.column_maxima("bronze", "raw_t", "_extracted_at") is None
    assert parquet.column_maxima("bronze", "missing", "_extracted_at") is None


def _days(days: list[int], value: int, month: int = 2) -> pa.RecordBatchReader:
    """Rows dated on days of a month of 2024, each with `value`."""
    table = pa.table(
        {
            "date": pa.array([date(2024, month, d) for d in days], pa.date32()),
            "value": pa.array([value] * len(days), pa.int64()),
        }
    )
    return table.to_reader()


def _rows_of(lake: ParquetLake, table: str) -> list[tuple[str, int]]:
    rows = pq.read_table(lake.files("gold", table) or [])
    days = [day.isoformat()[5:] for day in rows["date"].to_pylist()]
    return sorted(zip(days, rows["value"].to_pylist(), strict=True))


def _inodes(lake: ParquetLake, table: str) -> dict[str, int]:
    return {name: Path(name).stat().st_ino for name in lake.files("gold", table) or []}


def test_parquet_replace_keeps_the_files_of_earlier_months_and_copies_the_rest(
    tmp_path: Path,
) -> None:
    lake = ParquetLake(tmp_path)
    lake.overwrite("gold", "sales", _days([30, 31], 1, month=1))  # earlier month: kept as it is
    old = _inodes(lake, "sales")
    lake.append("gold", "sales", _days([1, 2, 3], 1))  # across the day: its day 1 copied
    lake.append("gold", "sales", _days([6], 1))  # from the day on: dropped

    assert lake.replace_where("gold", "sales", _days([2, 3, 5], 2), "date", "2024-02-02") == 3

    assert _rows_of(lake, "sales") == [
        ("01-30", 1), ("01-31", 1), ("02-01", 1), ("02-02", 2), ("02-03", 2), ("02-05", 2)
    ]  # fmt: skip
    files = _inodes(lake, "sales")
    assert len(files) == 3 and old.items() <= files.items()  # same path, same inode
    # the next day's replacement copies the month's earlier rows into one file again
    lake.replace_where("gold", "sales", _days([4], 3), "date", "2024-02-04")
    assert _rows_of(lake, "sales") == [
        ("01-30", 1), ("01-31", 1), ("02-01", 1), ("02-02", 2), ("02-03", 2), ("02-04", 3)
    ]  # fmt: skip
    assert len(lake.files("gold", "sales") or []) == 3
    assert lake.replace_where("gold", "sales", _days([], 2), "date", "2024-02-01") == 0
    assert _rows_of(lake, "sales") == [("01-30", 1), ("01-31", 1)]
    assert old.items() <= _inodes(lake, "sales").items()


def test_parquet_replace_copies_files_without_statistics(tmp_path: Path) -> None:
    lake = ParquetLake(tmp_path)
    _, version = lake.new_version("gold", "sales")
    pq.write_table(_days([1], 1, month=1).read_all(), version / "x.parquet", write_statistics=False)
    lake.commit("gold", "sales", version, append=False)

    lake.replace_where("gold", "sales", _days([9], 2), "date", "2024-02-02")

    assert _rows_of(lake, "sales") == [("01-01", 1), ("02-09", 2)]
    assert not any(name.endswith("/x.parquet") for name in lake.files("gold", "sales") or [])


def test_parquet_replace_removes_dropped_files_only_after_three_versions(tmp_path: Path) -> None:
    """A kept file's version folder stays while the pointer lists it; a dropped file stays
    for readers of the versions before (KEEP_VERSIONS), then goes, folder or not."""
    lake = ParquetLake(tmp_path)
    lake.overwrite("gold", "sales", _days([1], 1, month=1))
    lake.append("gold", "sales", _days([5], 1))
    (first, dropped) = lake.files("gold", "sales") or []
    for version in range(3):
        lake.replace_where("gold", "sales", _days([5], version), "date", "2024-02-05")
        assert Path(first).is_file() and Path(dropped).is_file() == (version < 2)
    folder = lake.path("gold", "sales")
    assert sorted(p.name for p in folder.glob("v*")) == [
        "v000001",  # holds the first file, still read
        "v000003",
        "v000004",
        "v000005",
    ]
    assert _rows_of(lake, "sales") == [("01-01", 1), ("02-05", 2)]


def _batch(ids: range, **extra: list[str]) -> pa.RecordBatchReader:
    return pa.table({"id": pa.array(ids, pa.int64()), **extra}).to_reader()


def test_parquet_compaction_merges_small_files_in_order_and_keeps_large_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daily run appends a file to each bronze table: once a table has `min_files`, its small
    files become files of about the target size. Rows keep their order, a column added later is
    null in the older rows, files above the target stay where they are, and a reader of the
    previous version keeps its files until three newer versions exist."""
    lake = ParquetLake(tmp_path)
    lake.append("bronze", "raw_t", _batch(range(0, 2000)))  # the large first load
    for start in range(2000, 2005):
        lake.append("bronze", "raw_t", _batch(range(start, start + 1)))
    lake.append("bronze", "raw_t", _batch(range(2005, 2006), note=["new column"]))
    before = lake.files("bronze", "raw_t") or []
    large = before[0]
    monkeypatch.setattr(lake_module, "COMPACT_TARGET_BYTES", Path(large).stat().st_size - 1)

    assert lake.compact("bronze", "raw_t", min_files=8) == 0  # 7 files: not due
    assert lake.compact("bronze", "raw_t", min_files=7) == 6

    after = lake.files("bronze", "raw_t") or []
    assert len(after) == 2 and after[0] == large
    rows = pq.read_table(after[1]).to_pydict()
    assert rows["id"] == list(range(2000, 2006))
    assert rows["note"] == [None] * 5 + ["new column"]
    assert all(Path(f).exists() for f in before)  # retired, not yet removed
    for _ in range(3):
        lake.append("bronze", "raw_t", _batch(range(0, 1)))
    assert not any(Path(f).exists() for f in before[1:])
    assert Path(large).exists()


def test_parquet_compaction_leaves_the_files_of_tables_clustered_by_month(tmp_path: Path) -> None:
    lake = ParquetLake(tmp_path)
    for day in (1, 2, 3):
        lake.append("gold", "fct_sales", _days([day], value=day))
    assert lake.compact("gold", "fct_sales", min_files=2) == 0
    assert len(lake.files("gold", "fct_sales") or []) == 3
