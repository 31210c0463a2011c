"""The Dagster definitions: every asset materializes in process (retraining included) by the
CLI's own incremental, locked and logged run, checks pass, the sensors fire only when the
operational store changed or gold changed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster  # the `orchestrate` extra, installed by `make test`: never skipped
import pytest

from shelfwise.forecast import outputs, registry
from shelfwise.forecast.data import load_panel
from shelfwise.pipeline import checks, orchestration, recent_runs, runner
from shelfwise.pipeline.checks import CheckResult
from shelfwise.pipeline.gold import GOLD_NAMES
from tests.pipeline.helpers import gold_frames
from tests.pipeline.test_run import _add_orders

# The generated world has 35 days: one-week windows, one to calibrate and one to choose.
QUICK = orchestration.ForecastRunConfig(
    preset="quick", horizon=7, evaluation_windows=1, calibration_windows=1
)


def _materialized(result: dagster.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    """Asset name -> metadata of what a run materialized."""
    found: dict[str, dict[str, object]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.to_user_string()] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    return found


def test_materialize_every_asset_in_process(tmp_path: Path, store: Path) -> None:
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )
    defs = orchestration.defs
    assets = [orchestration.lakehouse, orchestration.forecast]
    instance = dagster.DagsterInstance.ephemeral()

    result = dagster.materialize(
        assets,
        resources={"shelfwise": resource},
        run_config=dagster.RunConfig(ops={"forecast": QUICK}),
        instance=instance,
    )

    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {c.asset_key.to_user_string() for c in evaluations} == set(GOLD_NAMES)
    assert all(c.passed for c in evaluations)
    first = _materialized(result)
    assert set(first) == {"bronze", "silver", *GOLD_NAMES, "warehouse", "forecast"}
    settings = resource.settings()
    gold = gold_frames(settings.warehouse_path)
    assert len(gold["fct_sales"]) > 0 and len(gold["fct_inventory_daily"]) > 0
    # The run is the CLI's own: in the run log that `shelfwise pipeline status` reads.
    (logged,) = recent_runs(settings, 5)
    assert logged.status == "succeeded" and logged.run_id == first["warehouse"]["run_id"]
    assert first["fct_sales"]["rows"] == len(gold["fct_sales"])
    # Retraining ran after the publish: a registered champion and its published forecast.
    assert registry.champion_version(settings) == "1"
    forecast = outputs.read_table(settings, "fct_forecast")
    panel = load_panel(settings.warehouse_path)
    assert forecast is not None and len(forecast) == panel.n_series * QUICK.horizon
    assert set(forecast["model_version"]) == {"1"}
    assert (forecast["lo_95"] <= forecast["lo_80"]).all()
    assert (forecast["hi_80"] <= forecast["hi_95"]).all()
    assert outputs.read_table(settings, "fct_forecast_accuracy") is not None
    metadata = first["forecast"]
    assert metadata["version"] == "1" and metadata["became_champion"] is True
    assert metadata["forecast_rows"] == len(forecast)
    wrmsse = metadata["backtest_wrmsse"]
    assert isinstance(wrmsse, float) and 0 < wrmsse < float("inf")
    # The pipeline job leaves retraining to its own job (started by the gold_changed sensor).
    pipeline_keys = defs.resolve_job_def("shelfwise_pipeline").asset_layer.executable_asset_keys
    forecast_keys = defs.resolve_job_def("shelfwise_forecast").asset_layer.executable_asset_keys
    assert orchestration.forecast.key not in pipeline_keys
    assert dagster.AssetKey("warehouse") in pipeline_keys
    assert forecast_keys == {orchestration.forecast.key}
    assert [s.cron_schedule for s in defs.schedules] == ["0 2 * * *"]  # type: ignore[union-attr]
    # one asset per gold table, with the tables it reads as dependencies
    deps = {
        key.to_user_string(): {d.to_user_string() for d in keys}
        for key, keys in orchestration.lakehouse.asset_deps.items()
    }
    assert deps["fct_sales"] == {"silver", "dim_product"}
    assert deps["mart_stockout_rate"] == {"agg_inventory_monthly"}
    assert deps["warehouse"] == set(GOLD_NAMES) and deps["silver"] == {"bronze"}

    # New gold starts one retraining; publishing the same gold again starts none.
    def evaluate(cursor: str | None) -> object:
        context = dagster.build_sensor_context(instance=instance, cursor=cursor)
        return orchestration.gold_changed(context)

    fingerprint = orchestration.gold_fingerprint(settings.warehouse_path)
    sensed = evaluate(None)
    assert isinstance(sensed, dagster.SensorResult) and sensed.cursor == fingerprint
    assert [r.run_key for r in sensed.run_requests or []] == [fingerprint]
    assert isinstance(evaluate(sensed.cursor), dagster.SkipReason)

    # Nothing new in the store: the run materializes nothing, its checks say why.
    quiet = dagster.materialize(
        [orchestration.lakehouse], resources={"shelfwise": resource}, instance=instance
    )
    assert quiet.success and _materialized(quiet) == {}
    assert all(c.passed for c in quiet.get_asset_check_evaluations())
    assert orchestration.latest_gold_fingerprint(instance) == fingerprint
    assert isinstance(evaluate(sensed.cursor), dagster.SkipReason)

    # New orders: an incremental run, which keeps the tables none of whose inputs changed.
    assert _add_orders(store, 3) == 3
    daily = dagster.materialize(
        [orchestration.lakehouse], resources={"shelfwise": resource}, instance=instance
    )
    assert daily.success
    changed = _materialized(daily)
    assert {"bronze", "silver", "fct_sales", "fct_inventory_daily", "warehouse"} <= set(changed)
    kept = set(GOLD_NAMES) - set(changed)
    assert "dim_customer" in kept and changed["warehouse"]["kept"] == ", ".join(sorted(kept))
    assert changed["bronze"]["order_lines"] == changed["bronze"]["orders"] == 3
    latest = recent_runs(settings, 5)
    assert [r.status for r in latest] == ["succeeded"] * 3 and not latest[0].full
    assert latest[0].run_id == changed["warehouse"]["run_id"]
    assert len(gold_frames(settings.warehouse_path)["fct_sales"]) == len(gold["fct_sales"]) + 3
    assert isinstance(evaluate(sensed.cursor), dagster.SensorResult)


def test_a_dagster_run_waits_for_the_lock_then_runs(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs from Dagster and from the CLI take the same lock: never two at once. A Dagster
    run waits for it (up to `lock_wait_minutes`), then runs; past that it fails, unstarted."""
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )
    settings = resource.settings()
    lock = settings.warehouse_path.with_name("pipeline.lock")
    instance = dagster.DagsterInstance.ephemeral()

    def materialize(wait_minutes: float) -> dagster.ExecuteInProcessResult:
        config = orchestration.PipelineRunConfig(lock_wait_minutes=wait_minutes)
        return dagster.materialize(
            [orchestration.lakehouse],
            resources={"shelfwise": resource},
            run_config=dagster.RunConfig(ops={"lakehouse": config}),
            instance=instance,
            raise_on_error=False,
        )

    with runner._exclusive(lock):
        refused = materialize(0)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.is_step_failure]
    assert "another pipeline run is using" in str(failure.step_failure_data.error)
    assert "waited 0 min" in str(failure.step_failure_data.error)
    assert not settings.warehouse_path.exists() and recent_runs(settings, 5) == []

    monkeypatch.setattr(orchestration, "LOCK_POLL_SECONDS", 0.2)
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with runner._exclusive(lock):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=other_run)
    holder.start()
    held.wait(30)
    threading.Timer(1.0, release.set).start()
    waited = materialize(1)
    holder.join()
    assert waited.success
    logged = [entry.user_message for entry in instance.all_logs(waited.run_id)]
    assert any("trying again in 0.2 s" in message for message in logged)
    assert [r.status for r in recent_runs(settings, 5)] == ["succeeded"]


def test_a_failed_check_fails_the_run_and_publishes_nothing(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that fails (here made to, on a sound build) is reported on its table, passed
    checks on theirs, and the run fails before publishing, as `pipeline run` does."""
    real = checks.structural_checks

    def one_repeated_key(*args: Any, **kwargs: Any) -> list[CheckResult]:
        results = real(*args, **kwargs)
        broken = "fct_sales.unique"
        return [
            replace(r, passed=False, failing=2, detail="2 keys repeat") if r.name == broken else r
            for r in results
        ]

    monkeypatch.setattr(checks, "structural_checks", one_repeated_key)
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )

    result = dagster.materialize(
        [orchestration.lakehouse], resources={"shelfwise": resource}, raise_on_error=False
    )

    assert not result.success
    verdicts = {
        c.asset_key.to_user_string(): c.passed for c in result.get_asset_check_evaluations()
    }
    assert verdicts == {name: name != "fct_sales" for name in GOLD_NAMES}
    assert _materialized(result) == {}
    settings = resource.settings()
    assert not settings.warehouse_path.exists()
    (logged,) = recent_runs(settings, 5)
    assert logged.status == "failed" and "fct_sales.unique: 2 keys repeat" in (logged.error or "")


def test_sensor_requests_a_run_only_when_the_store_changed(tmp_path: Path, store: Path) -> None:
    resource = orchestration.ShelfwiseResource(
        home=str(tmp_path / "home"), database_url=f"sqlite:///{store}"
    )

    instance = dagster.DagsterInstance.ephemeral()

    def evaluate(cursor: str | None) -> object:
        context = dagster.build_sensor_context(
            cursor=cursor, resources={"shelfwise": resource}, instance=instance
        )
        return orchestration.store_changed(context)

    first = evaluate(None)
    assert isinstance(first, dagster.SensorResult) and len(first.run_requests or []) == 1
    assert isinstance(evaluate(first.cursor), dagster.SkipReason)

    with closing(sqlite3.connect(store)) as con, con:
        con.execute(
            "UPDATE products SET name = name || '!', "
            "updated_at = '2999-01-01 00:00:00.000000' WHERE id = 1"
        )

    # While a pipeline run is under way the change waits (the run would fail on the lock)
    running = dagster.DagsterRun(
        job_name="shelfwise_pipeline", run_id="under-way", status=dagster.DagsterRunStatus.STARTED
    )
    instance.add_run(running)
    waiting = evaluate(first.cursor)
    assert isinstance(waiting, dagster.SkipReason) and "under way" in (waiting.skip_message or "")
    instance.report_run_failed(running)  # (over, one way or another)
    moved = evaluate(first.cursor)
    assert isinstance(moved, dagster.SensorResult) and moved.cursor != first.cursor


def test_the_pipeline_job_runs_in_the_run_process(tmp_path: Path, store: Path) -> None:
    """Launched as an operator would (`dagster job execute`, default config, a persistent
    instance): the pipeline runs in the run's own process, not in one started for its step."""
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
