"""`shelfwise pipeline run|status` as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import get_settings
from shelfwise.pipeline.runlog import RunLog, RunSummary, StepSummary, runlog_path


def test_run_then_status(cli_env: Path) -> None:
    runner = CliRunner()

    ran = runner.invoke(app, ["pipeline", "run"])
    assert ran.exit_code == 0, ran.output
    assert "succeeded" in ran.output and (cli_env / "warehouse.duckdb").exists()

    again = runner.invoke(app, ["pipeline", "run"])
    assert again.exit_code == 0 and "no changes" in " ".join(again.output.split())

    shown = runner.invoke(app, ["pipeline", "status", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    runs = json.loads(shown.output)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    first = runs[1]
    assert first["rows_read"] > 0 and first["seconds"] > 0
    assert {s["name"] for s in first["steps"]} >= {"checks", "publish", "gold fct_sales"}

    table = runner.invoke(app, ["pipeline", "status"])
    assert table.exit_code == 0 and "pipeline runs" in table.output and "publish" in table.output
    said = " ".join(table.output.split())  # what each run did: the first found no lake
    assert "duckdb, changes: rows read" in said and "duckdb, first load: rows read" in said, said


def test_a_missing_store_is_named_before_anything_is_created(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFWISE_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}")
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["pipeline", "run"])

    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "missing.db" in said and "not found" in said and "shelfwise init" in said, said
    assert not cli_env.exists()  # a mistyped home is not created


def test_status_shows_the_error_of_the_step_that_failed(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an 80-column terminal: the errors are printed whole, below the run and the steps;
    the password of the connection that failed is masked wherever the error goes."""
    # (port 9: nothing listens there, so the publish step fails; the driver's message quotes
    # the connection string it tried, password included)
    monkeypatch.setenv(
        "SHELFWISE_WAREHOUSE_URL", "postgresql://shelfwise:s3cret-pw@127.0.0.1:9/shelfwise"
    )
    monkeypatch.setenv("COLUMNS", "80")
    get_settings.cache_clear()
    failed = CliRunner().invoke(app, ["pipeline", "run"])
    assert failed.exit_code == 1
    said = " ".join(failed.output.split())
    assert "No warehouse was published" in said, failed.output
    # the step's line says it failed; its error once, in the closing message on stderr
    assert "✗ publish failed" in failed.stdout and "port 9" not in failed.stdout, failed.stdout
    assert said.count("port 9") == 1 and "step 'publish' failed" in failed.stderr, said

    shown = CliRunner().invoke(app, ["pipeline", "status"])

    runs, steps = shown.output.split("steps of", 1)
    assert all(len(line) <= 80 for line in shown.output.splitlines()), shown.output
    assert "failed" in runs.splitlines()[1] and "error:" in runs, runs
    publish = [line for line in steps.splitlines() if line.strip().startswith("publish")]
    assert len(publish) == 2 and "failed" in publish[0], steps  # its row, then its error
    error = " ".join(steps.split("publish failed:", 1)[1].split())
    assert "127.0.0.1" in error and "port 9" in error, error
    assert "password=***" in error, error
    as_json = CliRunner().invoke(app, ["pipeline", "status", "--format", "json"]).output
    stored = b"".join(path.read_bytes() for path in cli_env.glob("pipeline_runs.sqlite*"))
    for seen in (failed.output, shown.output, as_json, stored.decode("utf-8", "replace")):
        assert "s3cret-pw" not in seen


def test_status_prints_an_error_as_it_was_written(cli_env: Path) -> None:
    """Errors quote SQL and paths, where `[...]` is no markup: once it was read as markup, and
    a `[/]` in an error stopped the status command."""
    run = RunSummary(
        run_id="20260101T000000-0badf00d",
        engine="duckdb",
        full=False,
        status="running",
        started_at=datetime.now(UTC),
    )
    log = RunLog(runlog_path(get_settings()))
    log.start(run)
    error = "Binder Error: column [bold]price[/] not found in [stg_products]"
    run.steps.append(StepSummary(name="gold dim_product", status="failed", error=error))
    log.step(run, run.steps[0])
    run.status, run.error = "failed", f"step 'gold dim_product' failed: {error}"
    run.finished_at = datetime.now(UTC)
    log.finish(run)

    shown = CliRunner().invoke(app, ["pipeline", "status"])

    assert shown.exit_code == 0, shown.output
    assert " ".join(error.split()) in " ".join(shown.output.split()), shown.output


def test_status_before_any_run_says_so(cli_env: Path) -> None:
    shown = CliRunner().invoke(app, ["pipeline", "status"])
    assert shown.exit_code == 0 and "no pipeline runs yet" in shown.output


def test_status_on_a_home_that_is_a_file_says_so(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home.txt"
    home.write_text("not a folder")
    monkeypatch.setenv("SHELFWISE_HOME", str(home))
    get_settings.cache_clear()

    shown = CliRunner().invoke(app, ["pipeline", "status"])

    assert shown.exit_code == 1
    said = " ".join(shown.output.split())
    assert "SHELFWISE_HOME" in said and "is a file, not a folder" in said, said


def test_help_explains_the_options() -> None:
    result = CliRunner().invoke(app, ["pipeline", "run", "--help"])
    assert result.exit_code == 0
    assert "--full" in result.output and "--engine" in result.output


def test_a_bad_pipeline_setting_names_its_variable(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFWISE_PIPELINE_RETAIN_HOURS", "a week")
    for command in (["pipeline", "run"], ["pipeline", "maintain"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1
        output = " ".join(result.output.split())
        assert "bad pipeline setting: SHELFWISE_PIPELINE_RETAIN_HOURS='a week'" in output
        assert "valid integer" in output and "Traceback" not in output


def test_the_demo_stops_at_a_failing_pipeline_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo runs the pipeline as `pipeline run` does: a bad setting is one line naming it,
    not a traceback, and the stages after it do not start."""
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "demo"))
    monkeypatch.delenv("SHELFWISE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SHELFWISE_PIPELINE_RETAIN_HOURS", "a week")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--no-serve", "--orders", "300"])
    finally:
        get_settings.cache_clear()

    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "bad pipeline setting: SHELFWISE_PIPELINE_RETAIN_HOURS='a week'" in output
    assert "Traceback" not in output and "demand forecasts" not in output


@pytest.mark.spark
def test_a_spark_master_spark_cannot_use_is_named_with_spark_s_reason(
    tmp_path: Path, store: Path
) -> None:
    """In a process of its own: the tests' Spark session would otherwise be reused, and the
    master setting never read."""
    env = {
        **os.environ,
        "SHELFWISE_HOME": str(tmp_path / "home"),
        "SHELFWISE_DATABASE_URL": f"sqlite:///{store}",
        "SHELFWISE_SPARK_MASTER": "nonsense://cluster:7077",
    }
    cli = "from shelfwise.cli import app; app()"
    command = [sys.executable, "-c", cli, "pipeline", "run", "--engine", "spark"]

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    said = " ".join(done.stderr.split())
    assert done.returncode == 1, said
    assert "could not start Spark with SHELFWISE_SPARK_MASTER='nonsense://cluster:7077'" in said
    assert "Master must either be yarn or start with spark, k8s, or local" in said  # Spark's
    assert "No warehouse was published" in said
