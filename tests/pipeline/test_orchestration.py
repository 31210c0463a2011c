"""The Dagster definitions: every asset materializes in process (retraining included), checks
pass, the sensors fire only when the operational store changed or gold changed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import dagster  # the `orchestrate` extra, installed by `make test`: never skipped

from shelfwise.forecast import outputs, registry
from shelfwise.forecast.data import load_panel
from shelfwise.pipeline import orchestration
from tests.pipeline.helpers import gold_frames

# The generated world has 35 days: one-week windows, one to calibrate and one to choose.
QUICK = orchestration.ForecastRunConfig(
    preset="quick", horizon=7, evaluation_windows=1, calibration_windows=1
)


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
        orchestration.forecast,
    ]
    instance = dagster.DagsterInstance.ephemeral()

    result = dagster.materialize(
        [*assets, *orchestration.GOLD_CHECKS],
        resources={"shelfwise": resource},
        run_config=dagster.RunConfig(ops={"forecast": QUICK}),
        instance=instance,
    )

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(orchestration.GOLD_CHECKS) and all(c.passed for c in checks)
    settings = resource.settings()
    gold = gold_frames(settings.warehouse_path)
    assert len(gold["fct_sales"]) > 0 and len(gold["fct_inventory_daily"]) > 0
    # Retraining ran after the publish: a registered champion and its published forecast.
    assert registry.champion_version(settings) == "1"
    forecast = outputs.read_table(settings, "fct_forecast")
    panel = load_panel(settings.warehouse_path)
    assert forecast is not None and len(forecast) == panel.n_series * QUICK.horizon
    assert set(forecast["model_version"]) == {"1"}
    assert (forecast["lo_95"] <= forecast["lo_80"]).all()
    assert (forecast["hi_80"] <= forecast["hi_95"]).all()
    assert outputs.read_table(settings, "fct_forecast_accuracy") is not None
    (materialization,) = result.asset_materializations_for_node("forecast")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["version"] == "1" and metadata["became_champion"] is True
    assert metadata["forecast_rows"] == len(forecast)
    wrmsse = metadata["backtest_wrmsse"]
    assert isinstance(wrmsse, float) and 0 < wrmsse < float("inf")
    # The pipeline job leaves retraining to its own job (started by the gold_changed sensor).
    pipeline_keys = defs.resolve_job_def("shelfwise_pipeline").asset_layer.executable_asset_keys
    forecast_keys = defs.resolve_job_def("shelfwise_forecast").asset_layer.executable_asset_keys
    assert orchestration.forecast.key not in pipeline_keys
    assert orchestration.warehouse.key in pipeline_keys
    assert forecast_keys == {orchestration.forecast.key}
    assert [s.cron_schedule for s in defs.schedules] == ["0 2 * * *"]  # type: ignore[union-attr]

    # New gold starts one retraining; publishing the same gold again starts none.
    def evaluate(cursor: str | None) -> object:
        context = dagster.build_sensor_context(instance=instance, cursor=cursor)
        return orchestration.gold_changed(context)

    fingerprint = orchestration.gold_fingerprint(settings.warehouse_path)
    first = evaluate(None)
    assert isinstance(first, dagster.SensorResult) and first.cursor == fingerprint
    assert [r.run_key for r in first.run_requests or []] == [fingerprint]
    assert isinstance(evaluate(first.cursor), dagster.SkipReason)
    again = dagster.materialize(
        [*assets, *orchestration.GOLD_CHECKS],
        selection=[orchestration.warehouse],
        resources={"shelfwise": resource},
        instance=instance,
    )
    assert again.success
    assert orchestration.latest_gold_fingerprint(instance) == fingerprint
    assert isinstance(evaluate(first.cursor), dagster.SkipReason)


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


def test_the_pipeline_job_runs_every_step_in_one_process(tmp_path: Path, store: Path) -> None:
    """Launched as an operator would (`dagster job execute`, default config, a persistent
    instance): every step runs in the run's own process, not one process per step."""
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").touch()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "SHELFWISE_HOME": str(tmp_path / "home"),
        "SHELFWISE_DATABASE_URL": f"sqlite:///{store}",
    }
    command = [sys.executable, "-m", "dagster", "job", "execute"]
    command += ["-m", "shelfwise.pipeline.orchestration", "-j", "shelfwise_pipeline"]

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "RUN_SUCCESS" in log and "STEP_FAILURE" not in log
    assert "Executing steps in process" in log and "multiprocess" not in log
    assert len(gold_frames(tmp_path / "home" / "warehouse.duckdb")["fct_sales"]) > 0
