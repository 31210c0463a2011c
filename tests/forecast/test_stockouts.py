"""Masking stock-outs matters: trained on raw sales, forecasts undershoot true demand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from statsforecast.models import CrostonSBA, HistoricAverage, SeasonalNaive

from shelfwise.forecast.data import load_panel
from shelfwise.forecast.models import local_forecast
from shelfwise.forecast.synthetic_panel import PanelSpec, build_panel


def test_imputing_stockouts_reduces_the_undershoot(tmp_path: Path) -> None:
    spec = PanelSpec(
        products=6, locations=3, days=280, seed=5, stockout_pressure=0.8, slow_mover_share=0.2
    )
    synthetic = build_panel(spec, tmp_path / "warehouse.duckdb")
    end = pd.Timestamp(spec.start) + pd.Timedelta(days=spec.days - 15)
    models: list[HistoricAverage | SeasonalNaive | CrostonSBA] = [
        HistoricAverage(),
        SeasonalNaive(season_length=7),
        CrostonSBA(),
    ]
    bias = {}
    for policy in ("impute", "ignore"):
        panel = load_panel(synthetic.warehouse_path, stockout_policy=policy, end=end)
        assert panel.frame["stocked_out"].mean() > 0.1  # stock-outs are frequent here
        forecast = local_forecast(
            models, panel.training_frame(), freq="D", h=14, n_jobs=1, input_size=56
        )
        # scored against the demand shoppers had (evaluation only), not against capped sales
        joined = forecast.merge(synthetic.true_demand, on=["unique_id", "ds"])
        bias[policy] = {
            str(m.alias): float((joined[str(m.alias)] - joined["demand"]).mean()) for m in models
        }
    for model, raw_bias in bias["ignore"].items():
        assert raw_bias < 0, f"{model} trained on censored sales should undershoot"
        assert bias["impute"][model] > raw_bias + 0.05, (
            f"{model}: imputing should shrink the undershoot"
        )
