"""End to end: generate a small world, run the pipeline, train, predict, score against truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shelfwise.config import Settings
from shelfwise.forecast import outputs, registry, service
from shelfwise.forecast.data import load_panel
from shelfwise.forecast.evaluation import load_true_demand_for_evaluation, score_against_truth
from shelfwise.forecast.metrics import training_scales
from shelfwise.pipeline import run_pipeline
from shelfwise.store.db import Database
from shelfwise.store.schema import upgrade
from shelfwise.synth import WorldSpec, generate
from tests.forecast.conftest import quick_config

pytestmark = pytest.mark.slow

WORLD = WorldSpec(
    orders=1500, seed=3, start=date(2024, 1, 1), days=120, products=10, locations=2, customers=60
)


def test_generate_pipeline_train_predict(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    db = Database(settings.resolved_database_url)
    upgrade(db)
    generate(db, WORLD)
    db.dispose()
    run_pipeline(settings)

    panel = load_panel(settings.warehouse_path)
    assert panel.n_series > 0
    result = service.train_and_register(settings, config=quick_config(h=7), panel=panel)
    assert result.promoted and result.version == "1"
    published = service.predict_and_publish(settings, panel=panel)
    forecast = outputs.read_table(settings, "fct_forecast")
    assert forecast is not None and len(forecast) == published.rows == panel.n_series * 7

    # Evaluation only: the backtest's forecasts against the demand shoppers had.
    forecaster, _ = registry.load_champion(settings)
    truth = load_true_demand_for_evaluation(settings.resolved_database_url)
    assert len(truth) > 0
    backtest = result.forecaster
    assert backtest.report_ is not None
    scales = training_scales(panel.training_frame(), panel.season_length)
    scored = score_against_truth(backtest.report_.cv, truth, ["SeasonalNaive", "Chosen"], scales)
    assert set(scored["model"]) == {"SeasonalNaive", "Chosen"}
    assert forecaster.trained_until_ == panel.end
