"""The reference design's quarter-level grid searches run and score at their own grain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shelfwise.forecast.data import load_panel
from shelfwise.forecast.reference import (
    cell_of_level_id,
    evaluate_reference,
    quarterly_cells,
    score_at_reference_grain,
)
from shelfwise.forecast.synthetic_panel import PanelSpec, build_panel


def test_reference_models_on_quarters(tmp_path: Path) -> None:
    synthetic = build_panel(
        PanelSpec(products=6, locations=2, countries=2, days=730, seed=3), tmp_path / "w.duckdb"
    )
    cells = quarterly_cells(load_panel(synthetic.warehouse_path))
    # 2023-01-02 start: Q1 2023 is incomplete, so complete quarters are Q2 2023 .. Q4 2024 (7),
    # minus two for the lags = 5 quarters of rows
    assert cells["quarter"].nunique() == 5
    result = evaluate_reference(cells, test_quarters=1)
    assert list(result.scores["model"]) == ["LinearRegression", "RandomForest", "XGBoost"]
    assert np.isfinite(result.scores[["r2", "mae"]].to_numpy()).all()
    assert (result.scores["mae"] >= 0).all()
    assert "max_depth" in result.scores.set_index("model").at["XGBoost", "best_params"]


def test_our_levels_map_to_reference_cells() -> None:
    assert cell_of_level_id("country=DE/sub_category=Food:Snacks") == ("DE", "Snacks")
    assert cell_of_level_id("country=DE") is None
    levels = pd.DataFrame(
        {
            "level": "country/sub_category",
            "unique_id": ["country=DE/sub_category=Food:Snacks"] * 2
            + ["country=FR/sub_category=Food:Snacks"] * 2,
            "yhat": [1.0, 2.0, 3.0, 4.0],
        }
    )
    actual = pd.DataFrame(
        {"country": ["DE", "FR"], "sub_category": ["Snacks", "Snacks"], "units": [3.0, 9.0]}
    )
    scores = score_at_reference_grain(levels, actual)
    # DE: 3 vs 3, FR: 7 vs 9 -> MAE 1.0
    assert scores["mae"] == 1.0
