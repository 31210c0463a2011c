"""Lake upkeep: small files compacted, files no version uses vacuumed, weekly or on demand."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import Settings
from shelfwise.pipeline import maintain_pipeline_lake, maintenance, run_pipeline
from shelfwise.pipeline.lake import DeltaLake, Lake, ParquetLake, lake_root
from shelfwise.pipeline.maintenance import MARKER, maintain_lake, maintenance_due
from shelfwise.pipeline.runlog import RunSummary
from shelfwise.pipeline.settings import PipelineSettings
from tests.pipeline.conftest import settings_for
from tests.pipeline.helpers import assert_same_gold, gold_frames
from tests.pipeline.test_run import _add_orders


def _reader(values: list[int]) -> pa.RecordBatchReader:
    table = pa.Table.from_pydict({"id": pa.array(values, pa.int64())})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def _step(run: RunSummary, name: str) -> dict[str, Any]:
    return next(s.detail for s in run.steps if s.name == name)


def _data_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.parquet")}


def _ids(lake: Lake, layer: str, table: str) -> list[int]:
    files = lake.files(layer, table) or []
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT id FROM read_parquet({files!r}) ORDER BY id").fetchall()
    return [int(value) for (value,) in rows]


def test_small_files_are_compacted_and_unused_files_vacuumed(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path)
    lake.overwrite("bronze", "raw_x", _reader([0]))
    for n in range(1, 6):  # an incremental run's appends: a small file each
        lake.append("bronze", "raw_x", _reader([n]))
    lake.overwrite("gold", "big", _reader([1, 2]))
    lake.overwrite("gold", "big", _reader([3]))  # the first version's file is now unused
    folder = lake.path("bronze", "raw_x")
    assert len(_data_files(folder)) == 6

    result = maintain_lake(lake, retain_hours=0, compact_min_files=4)

    assert result.tables == 2
    assert result.files_compacted == 6
    assert result.files_removed == 6 + 1  # the compacted six, and big's replaced file
    assert len(lake.files("bronze", "raw_x") or []) == 1
    assert len(_data_files(folder)) == 1
    assert _ids(lake, "bronze", "raw_x") == [0, 1, 2, 3, 4, 5]
    assert _ids(lake, "gold", "big") == [3]
    assert len(_data_files(lake.path("gold", "big"))) == 1
    assert (tmp_path / MARKER).exists()


def test_files_of_a_write_killed_before_its_commit_are_vacuumed(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path)
    lake.overwrite("gold", "big", _reader([1, 2]))
    folder = lake.path("gold", "big")
    stray = folder / "part-00000-killed-before-its-commit.parquet"
    stray.write_bytes((folder / sorted(_data_files(folder))[0]).read_bytes())
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(stray, (week_ago, week_ago))

    result = maintain_lake(lake, retain_hours=24, compact_min_files=4)

    assert result.files_removed == 1 and not stray.exists()
    assert _ids(lake, "gold", "big") == [1, 2]


def test_a_log_is_checkpointed_once_enough_commits_follow_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    lake = DeltaLake(tmp_path / "lake")
    lake.overwrite("bronze", "raw_things", _reader([0]))
    for value in range(1, 12):  # versions 1-11
        lake.append("bronze", "raw_things", _reader([value]))

    assert lake.checkpoint("bronze", "raw_things", every=10)
    assert not lake.checkpoint("bronze", "raw_things", every=10)  # nothing since
    log = lake.path("bronze", "raw_things") / "_delta_log"
    assert (log / "00000000000000000011.checkpoint.parquet").is_file()
    reopened = DeltaLake(tmp_path / "lake")  # reads the checkpoint, then no commit after it
    assert _ids(reopened, "bronze", "raw_things") == list(range(12))


def test_the_retention_keeps_recent_versions_readable(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path)
    lake.overwrite("gold", "t", _reader([1]))
    lake.overwrite("gold", "t", _reader([2]))

    result = maintain_lake(lake, retain_hours=168, compact_min_files=32)

    assert (result.files_compacted, result.files_removed) == (0, 0)
    old = DeltaTable(str(lake.path("gold", "t")), version=0)
    assert old.to_pyarrow_table()["id"].to_pylist() == [1]  # time travel still works


def test_maintenance_comes_due_after_its_interval(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path)
    now = datetime.now(UTC)
    assert not maintenance_due(lake, 0, now)  # 0: only when asked
    assert not (tmp_path / MARKER).exists()
    assert not maintenance_due(lake, 168, now)  # a new lake starts the clock
    assert (tmp_path / MARKER).exists()
    assert not maintenance_due(lake, 168, now + timedelta(hours=167))
    assert maintenance_due(lake, 168, now + timedelta(hours=169))


def test_a_run_maintains_the_lake_when_due_and_stays_correct(
    settings: Settings, store: Path, tmp_path: Path
) -> None:
    options = PipelineSettings(pipeline_retain_hours=0, pipeline_compact_min_files=2)
    first = run_pipeline(settings, full=True, options=options)
    assert _step(first, "maintain")["due"].startswith("no: last")  # a new lake starts the clock
    lake = DeltaLake(lake_root(settings.resolved_lake_uri))
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(lake.root / MARKER, (week_ago, week_ago))
    _add_orders(store, 3)

    second = run_pipeline(settings, options=options)  # appends to bronze, replaces gold

    done = _step(second, "maintain")
    assert int(done["files_compacted"]) > 0 and int(done["files_removed"]) > 0
    assert len(lake.files("bronze", "raw_order_lines") or []) == 1  # full load + append, merged
    for layer, table in lake.tables():  # every file left is one the current version uses
        used = {Path(f).name for f in lake.files(layer, table) or []}
        assert {p.name for p in lake.path(layer, table).rglob("*.parquet")} == used, table
    assert not maintenance_due(lake, 168, datetime.now(UTC))  # the clock restarted

    _add_orders(store, 2)
    third = run_pipeline(settings, options=options)  # watermarks from the compacted files
    extracted = next(s for s in third.steps if s.name == "extract order_lines")
    assert extracted.rows_written == 2  # the watermark came from the compacted files' stats
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(rebuilt.warehouse_path))


def test_a_run_compacts_the_tables_it_appended_to_between_maintenances(
    settings: Settings, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between weekly maintenances, a daily run compacts the lake tables it appended to once
    they reach the threshold, and checkpoints their logs (each daily run adds a file and a
    commit to them, and the next reads them all)."""
    options = PipelineSettings(pipeline_compact_min_files=2)
    monkeypatch.setattr(maintenance, "CHECKPOINT_EVERY", 2)
    run_pipeline(settings, options=options)
    lake = DeltaLake(lake_root(settings.resolved_lake_uri))
    _add_orders(store, 2)

    second = run_pipeline(settings, options=options)

    done = _step(second, "maintain")
    assert done["due"].startswith("no: last") and int(done["files_compacted"]) >= 4
    # the load, the append and the compaction: three commits, summed up in a checkpoint
    assert int(done["log_checkpoints"]) >= 4
    for layer, table in [("bronze", "raw_order_lines"), ("silver", "stg_order_lines")]:
        assert len(lake.files(layer, table) or []) == 1, table  # first load + append, merged
    _add_orders(store, 2)
    third = run_pipeline(settings, options=options)
    extracted = next(s for s in third.steps if s.name == "extract order_lines")
    assert extracted.rows_written == 2
    rebuilt = settings_for(tmp_path / "rebuilt", store)
    run_pipeline(rebuilt, full=True)
    assert_same_gold(gold_frames(settings.warehouse_path), gold_frames(rebuilt.warehouse_path))


def test_maintain_command_reports_what_it_did(settings: Settings, store: Path) -> None:
    run_pipeline(settings, full=True)
    result = maintain_pipeline_lake(settings, retain_hours=0)
    assert result.tables > 20 and result.files_removed == 0  # nothing replaced yet

    env = {
        "SHELFWISE_HOME": str(settings.home),
        "SHELFWISE_DATABASE_URL": settings.resolved_database_url,
    }
    output = CliRunner().invoke(app, ["pipeline", "maintain", "--retain-hours", "0"], env=env)
    assert output.exit_code == 0, output.output
    assert "lake maintained" in output.output and "unused files deleted" in output.output

    broken = DeltaLake(lake_root(settings.resolved_lake_uri)).path("silver", "stg_x") / "_delta_log"
    broken.mkdir(parents=True)
    (broken / "00000000000000000000.json").write_text("{")
    output = CliRunner().invoke(app, ["pipeline", "maintain"], env=env)
    assert output.exit_code != 0
    assert "could not be maintained" in output.output and "silver/stg_x" in output.output


def test_maintain_command_compacts_a_spark_engines_parquet_lake(tmp_path: Path) -> None:
    """The command finds the lake's format from its tables: the Spark engine's Parquet lake is
    compacted, not reported as written by another engine."""
    settings = settings_for(tmp_path / "home", tmp_path / "store.db")
    lake = ParquetLake(lake_root(settings.resolved_lake_uri))
    for n in range(4):  # a full load, then three daily runs' appends
        lake.append("bronze", "raw_x", _reader([n]))

    result = maintain_pipeline_lake(settings, PipelineSettings(pipeline_compact_min_files=4))

    assert (result.tables, result.files_compacted) == (1, 4)
    assert _ids(lake, "bronze", "raw_x") == [0, 1, 2, 3]
    assert len(lake.files("bronze", "raw_x") or []) == 1


def test_a_failed_maintenance_keeps_the_run_and_comes_back(settings: Settings, store: Path) -> None:
    run_pipeline(settings, full=True)
    lake = DeltaLake(lake_root(settings.resolved_lake_uri))
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(lake.root / MARKER, (week_ago, week_ago))
    broken = lake.path("gold", "left_by_hand") / "_delta_log"  # a table nobody can open
    broken.mkdir(parents=True)
    (broken / "00000000000000000000.json").write_text("not a Delta log\n")
    _add_orders(store, 2)

    run = run_pipeline(settings)

    assert run.status == "succeeded"  # the warehouse was published before the housekeeping
    maintain = next(s for s in run.steps if s.name == "maintain")
    assert maintain.status == "failed" and maintain.error
    assert "1 of" in maintain.error and "gold/left_by_hand: DeltaError" in maintain.error
    assert maintenance_due(lake, 168, datetime.now(UTC))  # the next run tries again
