"""The Dagster definitions: every asset materializes in process, checks pass, the sensor fires
only when the operational store changed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

dagster = pytest.importorskip("dagster")

from shelfwise.pipeline import orchestration  # noqa: E402
from tests.pipeline.helpers import gold_frames  # noqa: E402


def test_materialize_every_asset_in_process(tmp_path: Path, store: Path) -> None:
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )
    defs = orchestration.defs
    assets = [
        orchestration.bronze,
        orchestration.silver,
        *orchestration.GOLD_ASSETS,
        orchestration.warehouse,
    ]

    result = dagster.materialize(
        [*assets, *orchestration.GOLD_CHECKS], resources={"shelfwise": resource}
    )

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(orchestration.GOLD_CHECKS) and all(c.passed for c in checks)
    gold = gold_frames(resource.settings().warehouse_path)
    assert len(gold["fct_sales"]) > 0 and len(gold["fct_inventory_daily"]) > 0
    assert defs.resolve_job_def("shelfwise_pipeline") is not None
    assert [s.cron_schedule for s in defs.schedules] == ["0 2 * * *"]  # type: ignore[union-attr]


def test_sensor_requests_a_run_only_when_the_store_changed(tmp_path: Path, store: Path) -> None:
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )

    def evaluate(cursor: str | None) -> object:
        context = dagster.build_sensor_context(cursor=cursor, resources={"shelfwise": resource})
        return orchestration.store_changed(context)

    first = evaluate(None)
    assert isinstance(first, dagster.SensorResult) and len(first.run_requests or []) == 1
    assert isinstance(evaluate(first.cursor), dagster.SkipReason)

    with closing(sqlite3.connect(store)) as con, con:
        con.execute(
            "UPDATE products SET name = name || '!', "
            "updated_at = '2999-01-01 00:00:00.000000' WHERE id = 1"
        )

    moved = evaluate(first.cursor)
    assert isinstance(moved, dagster.SensorResult) and moved.cursor != first.cursor
