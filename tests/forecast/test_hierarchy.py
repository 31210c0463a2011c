"""The hierarchy: summing matrix, aggregation, and reconciled forecasts that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.forecast.data import DemandPanel
from shelfwise.forecast.forecaster import DemandForecaster
from shelfwise.forecast.hierarchy import LEVELS, aggregate, build_hierarchy, reconcile

ATTRIBUTES = pd.DataFrame(
    {
        "unique_id": ["1/1", "1/2", "2/1"],
        "product_id": [1, 1, 2],
        "location_id": [1, 2, 1],
        "country": ["DE", "FR", "DE"],
        "category": ["Food", "Food", "Toys"],
        "sub_category": ["Snacks", "Snacks", "Dolls"],
    }
)


def test_summing_matrix_rows() -> None:
    hierarchy = build_hierarchy(ATTRIBUTES)
    s = (
        hierarchy.summing_matrix().to_dense()
        if hasattr(hierarchy.summing_matrix(), "to_dense")
        else None
    )
    assert s is not None
    rows = dict(zip(hierarchy.series["unique_id"], s.tolist(), strict=True))
    # columns are the bottom series 1/1, 1/2, 2/1
    assert rows["total"] == [1, 1, 1]
    assert rows["country=DE"] == [1, 0, 1]
    assert rows["product=1"] == [1, 1, 0]
    assert rows["country=DE/sub_category=Food:Snacks"] == [1, 0, 0]
    assert rows["2/1"] == [0, 0, 1]
    assert set(hierarchy.tags()) == set(LEVELS)


def test_aggregate_sums_into_every_level() -> None:
    hierarchy = build_hierarchy(ATTRIBUTES)
    frame = pd.DataFrame(
        {"unique_id": ["1/1", "1/2", "2/1"], "ds": pd.Timestamp("2024-01-01"), "y": [1.0, 2.0, 4.0]}
    )
    summed = aggregate(frame, hierarchy, ["y"]).set_index("unique_id")["y"]
    assert summed["total"] == 7.0
    assert summed["country=FR"] == 2.0
    assert summed["category=Food"] == 3.0
    assert summed["product=1"] == 3.0


def test_mintrace_is_coherent() -> None:
    hierarchy = build_hierarchy(ATTRIBUTES)
    rng = np.random.default_rng(3)
    ids = hierarchy.series["unique_id"].tolist()
    days = pd.date_range("2024-01-01", periods=20)
    bottom_y = rng.poisson(5.0, (3, 20)).astype(float)
    history = pd.DataFrame(
        {
            "unique_id": np.repeat(["1/1", "1/2", "2/1"], 20),
            "ds": np.tile(days, 3),
            "y": bottom_y.ravel(),
        }
    )
    summed = aggregate(history, hierarchy, ["y"])
    summed["M"] = summed["y"] + rng.normal(0, 1, len(summed))
    base = pd.DataFrame(
        {"unique_id": ids, "ds": pd.Timestamp("2024-01-21"), "M": rng.uniform(1, 20, len(ids))}
    )
    values = reconcile(
        base,
        hierarchy,
        model="M",
        method="MinTrace",
        residuals=summed[["unique_id", "ds", "y", "M"]],
    )
    result = dict(zip(base["unique_id"], values, strict=True))
    assert result["total"] == pytest.approx(result["1/1"] + result["1/2"] + result["2/1"])
    assert result["country=DE"] == pytest.approx(result["1/1"] + result["2/1"])
    bottom_up = dict(
        zip(
            base["unique_id"], reconcile(base, hierarchy, model="M", method="BottomUp"), strict=True
        )
    )
    assert bottom_up["product=1"] == pytest.approx(
        base.set_index("unique_id").at["1/1", "M"] + base.set_index("unique_id").at["1/2", "M"]
    )


def test_predicted_levels_add_up(fitted: DemandForecaster, panel: DemandPanel) -> None:
    out = fitted.predict(panel)
    bottom, levels = out.bottom, out.levels
    assert set(levels["level"]) == set(LEVELS) - {"product/location"}
    total = levels[levels["unique_id"] == "total"].set_index("ds")["yhat"]
    assert bottom.groupby("ds")["yhat"].sum().to_numpy() == pytest.approx(
        total.to_numpy(), rel=1e-6, abs=1e-6
    )
    merged = bottom.merge(panel.attributes[["unique_id", "country"]], on="unique_id")
    for country, rows in merged.groupby("country"):
        level = levels[levels["unique_id"] == f"country={country}"].set_index("ds")["yhat"]
        assert rows.groupby("ds")["yhat"].sum().to_numpy() == pytest.approx(
            level.to_numpy(), rel=1e-6, abs=1e-6
        )
    report = fitted.report_
    assert report is not None
    assert set(report.levels["level"]) == set(LEVELS)
    assert report.levels["chosen"].sum() == len(LEVELS)  # one method chosen, all its levels flagged
