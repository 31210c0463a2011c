"""The reference design's models, at its own grain: sub-category x country x quarter.

The reference design forecast quarterly units per sub-category and country with a linear
regression, a random forest and XGBoost, each tuned by grid search (scikit-learn's
GridSearchCV with TimeSeriesSplit), and scored them with R^2 and MAE. They are kept here to
compare with: our reconciled daily forecasts, summed to the same cells and quarter, against
the best of them on the same held-out quarter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from xgboost import XGBRegressor

from shelfwise.forecast.data import DS, ID, DemandPanel

CELL = ["country", "sub_category"]
NUMERIC = ["quarter_of_year", "t", "lag_1", "lag_2", "mean_price", "mean_promo"]


def quarterly_cells(panel: DemandPanel, target: str = "y_observed") -> pd.DataFrame:
    """Units per sub-category, country and complete calendar quarter, with the design's features."""
    frame = panel.frame.merge(panel.attributes[[ID, *CELL]], on=ID)
    # The panel keeps prices in float32 (memory at M5 scale); the cell means are taken in float64.
    frame = frame.astype({"unit_price": float, "promo_discount": float})
    frame["quarter"] = frame[DS].dt.to_period("Q")
    days = frame.groupby("quarter")[DS].nunique()
    complete = days[
        [d == (q.end_time.normalize() - q.start_time).days + 1 for q, d in days.items()]
    ].index
    frame = frame[frame["quarter"].isin(complete)]
    cells = (
        frame.groupby([*CELL, "quarter"])
        .agg(
            units=(target, "sum"),
            mean_price=("unit_price", "mean"),
            mean_promo=("promo_discount", "mean"),
        )
        .reset_index()
        .sort_values(["quarter", *CELL])
    )
    cells["quarter_of_year"] = cells["quarter"].dt.quarter
    first = cells["quarter"].min()
    cells["t"] = [(q - first).n for q in cells["quarter"]]
    grouped = cells.groupby(CELL)["units"]
    cells["lag_1"] = grouped.shift(1)
    cells["lag_2"] = grouped.shift(2)
    return cells.dropna(subset=["lag_1", "lag_2"]).reset_index(drop=True)


def _pipeline(model: Any) -> Pipeline:
    encode = ColumnTransformer(
        [("cell", OneHotEncoder(handle_unknown="ignore"), CELL)],
        remainder="passthrough",
    )
    return Pipeline([("encode", encode), ("model", model)])


def reference_searches(seed: int = 0, splits: int = 3) -> dict[str, GridSearchCV]:
    """The three grid searches of the reference design."""
    cv = TimeSeriesSplit(n_splits=splits)
    grids: dict[str, tuple[Any, dict[str, list[Any]]]] = {
        "LinearRegression": (LinearRegression(), {"model__fit_intercept": [True, False]}),
        "RandomForest": (
            RandomForestRegressor(random_state=seed, n_jobs=1),
            {"model__n_estimators": [100, 300], "model__max_depth": [None, 6]},
        ),
        "XGBoost": (
            XGBRegressor(random_state=seed, n_jobs=1, verbosity=0),
            {
                "model__n_estimators": [100, 300],
                "model__max_depth": [3, 5],
                "model__learning_rate": [0.05, 0.1],
            },
        ),
    }
    return {
        name: GridSearchCV(_pipeline(model), grid, cv=cv, scoring="neg_mean_absolute_error")
        for name, (model, grid) in grids.items()
    }


@dataclass(frozen=True)
class ReferenceResult:
    scores: pd.DataFrame  # model, r2, mae, best_params
    predictions: pd.DataFrame  # country, sub_category, quarter, units, <model>...


def evaluate_reference(
    cells: pd.DataFrame, test_quarters: int = 1, seed: int = 0
) -> ReferenceResult:
    """Grid-search each model on all but the last `test_quarters` quarters, score on those."""
    quarters = sorted(cells["quarter"].unique())
    if len(quarters) < test_quarters + 4:
        raise ValueError(
            f"the reference models need at least {test_quarters + 4} complete quarters with two "
            f"quarters of lags before them; this panel has {len(quarters)}"
        )
    test_set = set(quarters[-test_quarters:])
    train = cells[~cells["quarter"].isin(test_set)]
    test = cells[cells["quarter"].isin(test_set)]
    splits = max(2, min(3, train["quarter"].nunique() - 1))
    predictions = test[[*CELL, "quarter", "units"]].copy()
    rows = []
    for name, search in reference_searches(seed, splits).items():
        search.fit(train[CELL + NUMERIC], train["units"])
        predicted = np.maximum(search.predict(test[CELL + NUMERIC]), 0.0)
        predictions[name] = predicted
        rows.append(
            {
                "model": name,
                "r2": float(r2_score(test["units"], predicted)),
                "mae": float(mean_absolute_error(test["units"], predicted)),
                "best_params": {
                    k.removeprefix("model__"): v for k, v in search.best_params_.items()
                },
            }
        )
    return ReferenceResult(
        scores=pd.DataFrame(rows), predictions=predictions.reset_index(drop=True)
    )


def cell_of_level_id(unique_id: str) -> tuple[str, str] | None:
    """`country=DE/sub_category=Food:Snacks` -> ("DE", "Snacks"); other levels -> None."""
    if not unique_id.startswith("country=") or "/sub_category=" not in unique_id:
        return None
    country, rest = unique_id.removeprefix("country=").split("/sub_category=", 1)
    return country, rest.split(":", 1)[1]


def score_at_reference_grain(levels: pd.DataFrame, actual: pd.DataFrame) -> dict[str, float]:
    """R^2 and MAE of our forecasts summed per cell over the quarter, against the actual units."""
    cells = levels[levels["level"] == "country/sub_category"].copy()
    parsed = cells[ID].map(cell_of_level_id)
    cells["country"] = parsed.str[0]
    cells["sub_category"] = parsed.str[1]
    summed = cells.groupby(CELL, as_index=False)["yhat"].sum()
    joined = actual.merge(summed, on=CELL, how="left").fillna({"yhat": 0.0})
    return {
        "r2": float(r2_score(joined["units"], joined["yhat"])),
        "mae": float(mean_absolute_error(joined["units"], joined["yhat"])),
    }
