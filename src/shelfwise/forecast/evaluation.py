"""Scoring against the synthetic world's true demand: for benchmarks and evaluation ONLY.

The generator records the demand shoppers had before stock capped it (`synth_true_demand`).
Nothing that trains or predicts may read it (a test checks that no other module of this
package names it); benchmarks use it to show how close forecasts come to real demand, which
observed sales cannot show on stocked-out days.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import select

from shelfwise.forecast.data import DS, ID
from shelfwise.forecast.metrics import score_series, summarize
from shelfwise.store.db import Database
from shelfwise.store.models import SynthTrueDemand

TRUE_DEMAND = "true_demand"


def load_true_demand_for_evaluation(database_url: str) -> pd.DataFrame:
    """`unique_id, ds, true_demand` from the operational store's ground-truth table."""
    db = Database(database_url)
    try:
        with db.read_session() as session:
            rows = session.execute(
                select(
                    SynthTrueDemand.product_id,
                    SynthTrueDemand.location_id,
                    SynthTrueDemand.day,
                    SynthTrueDemand.demand,
                )
            ).all()
    finally:
        db.dispose()
    frame = pd.DataFrame(rows, columns=["product_id", "location_id", "day", TRUE_DEMAND])
    frame[ID] = frame["product_id"].astype(str) + "/" + frame["location_id"].astype(str)
    frame[DS] = pd.to_datetime(frame["day"])
    return frame[[ID, DS, TRUE_DEMAND]].astype({TRUE_DEMAND: float})


def score_against_truth(
    cv: pd.DataFrame,
    truth: pd.DataFrame,
    models: Sequence[str],
    scales: pd.DataFrame,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """The backtest's forecasts scored against true demand on every day (stock-outs included)."""
    joined = cv.drop(columns=[TRUE_DEMAND], errors="ignore").merge(truth, on=[ID, DS], how="inner")
    return summarize(score_series(joined, models, scales, actual=TRUE_DEMAND), weights)
