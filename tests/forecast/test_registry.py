"""MLflow registry: the promotion rule, promote/rollback, predictions from the champion,
retraining on new data, and accuracy monitoring once actuals arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli import app
from shelfwise.config import Settings, get_settings
from shelfwise.forecast import outputs, registry, service, tracking
from shelfwise.forecast.data import DemandPanel
from shelfwise.forecast.synthetic_panel import SyntheticPanel
from tests.forecast.conftest import HORIZON, quick_config

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, synthetic: SyntheticPanel, panel: DemandPanel
) -> Iterator[tuple[Settings, DemandPanel]]:
    """A home with v1 (champion, trained two weeks ago) and v2 (a worse candidate)."""
    home = tmp_path_factory.mktemp("registry-home")
    (home / "warehouse.duckdb").write_bytes(synthetic.warehouse_path.read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHELFWISE_HOME", str(home))
        get_settings.cache_clear()
        settings = Settings(home=home)
        earlier = panel.until(panel.end - pd.Timedelta(days=HORIZON))
        first = service.train_and_register(settings, config=quick_config(), panel=earlier)
        assert first.promoted and first.version == "1"
        worse = service.train_and_register(
            settings, config=quick_config(models=("Naive", "RWD")), panel=earlier
        )
        assert worse.version == "2"
        yield settings, earlier
    get_settings.cache_clear()


def test_a_worse_model_does_not_become_champion(trained: tuple[Settings, DemandPanel]) -> None:
    settings, _ = trained
    versions = {v["version"]: v for v in tracking.list_versions(settings)}
    assert registry.champion_version(settings) == "1"
    assert float(versions["2"]["score_wrmsse"]) > float(versions["1"]["score_wrmsse"])
    assert "does not beat" in versions["2"]["promotion"]
    # both were scored on the same windows
    assert versions["1"]["cutoffs"] == versions["2"]["cutoffs"]


def test_promote_and_rollback_through_the_cli(
    trained: tuple[Settings, DemandPanel], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = trained
    monkeypatch.setenv("SHELFWISE_HOME", str(settings.home))
    get_settings.cache_clear()
    result = runner.invoke(app, ["forecast", "promote", "2"])
    assert result.exit_code == 0, result.output
    assert "champion is now version 2" in result.output
    assert registry.champion_version(settings) == "2"
    result = runner.invoke(app, ["forecast", "rollback"])
    assert result.exit_code == 0, result.output
    assert registry.champion_version(settings) == "1"
    missing = runner.invoke(app, ["forecast", "promote", "42"])
    assert missing.exit_code == 1
    assert "no version 42" in missing.output


def test_predictions_come_from_the_champion_and_are_scored_later(
    trained: tuple[Settings, DemandPanel], panel: DemandPanel
) -> None:
    settings, earlier = trained
    published = service.predict_and_publish(settings, panel=earlier)
    assert published.version == "1"
    table = outputs.read_table(settings, "fct_forecast")
    assert table is not None
    assert len(table) == earlier.n_series * HORIZON
    assert set(table["model_version"]) == {"1"}
    assert pd.Timestamp(table["ds"].min()) == earlier.end + pd.Timedelta(days=1)
    levels = outputs.read_table(settings, "fct_forecast_levels")
    assert levels is not None and set(levels["level"]) >= {"total", "country", "product"}
    # the warehouse already holds the two weeks that were forecast: they get scored
    accuracy = service.score_and_publish(settings)
    assert set(pd.to_datetime(accuracy["ds"])) == set(pd.to_datetime(table["ds"]))
    assert (accuracy["horizon_day"].between(1, HORIZON)).all()
    published_accuracy = outputs.read_table(settings, "fct_forecast_accuracy")
    assert published_accuracy is not None and len(published_accuracy) == len(accuracy)
    status = service.status(settings)
    assert status["drift"].status in {"ok", "drift"}
    assert status["drift"].days == 7


def test_retraining_on_new_data_follows_the_rule(
    trained: tuple[Settings, DemandPanel], panel: DemandPanel
) -> None:
    settings, _ = trained
    result = service.train_and_register(settings, config=quick_config(), panel=panel)
    assert result.version == "3"
    assert result.champion_before == "1"
    assert result.champion_score is not None
    assert result.promoted == (result.score < result.champion_score)
    assert registry.champion_version(settings) == ("3" if result.promoted else "1")
    forecaster = tracking.load_version(settings, "3")
    assert forecaster.trained_until_ == panel.end
    assert Path(tracking.artifact_root(settings)).exists()


def test_status_reports_champion_and_drift_as_json(
    trained: tuple[Settings, DemandPanel], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = trained
    monkeypatch.setenv("SHELFWISE_HOME", str(settings.home))
    get_settings.cache_clear()
    result = runner.invoke(app, ["forecast", "status", "--format", "json"])
    assert result.exit_code in (0, 3), result.output  # 3 means drift was found
    payload = json.loads(result.stdout)
    assert payload["champion"] == registry.champion_version(settings)
    assert {v["version"] for v in payload["versions"]} >= {"1", "2", "3"}
    assert payload["drift"]["status"] in {"ok", "drift"}


def test_predict_without_a_champion_says_what_to_do(home_settings: Settings) -> None:
    result = runner.invoke(app, ["forecast", "predict"])
    assert result.exit_code == 1
    assert "shelfwise forecast train" in " ".join(result.output.split())
