"""The same statsforecast models on Spark (local mode) give the single-machine forecasts."""

from __future__ import annotations

import numpy as np
import pytest
from statsforecast.models import CrostonSBA, SeasonalNaive, Theta

from shelfwise.forecast.data import DemandPanel
from shelfwise.forecast.distributed import forecast_on_spark, local_spark
from shelfwise.forecast.models import local_forecast

pytestmark = pytest.mark.spark  # needs Java: `make test` installs it; never skipped


def test_spark_forecasts_match_single_machine(panel: DemandPanel) -> None:
    train = panel.training_frame()
    models = [SeasonalNaive(season_length=7), CrostonSBA(), Theta(season_length=7)]
    with local_spark() as spark:
        distributed = forecast_on_spark(spark, train, models, freq="D", h=7, level=[80])
    single = local_forecast(models, train, freq="D", h=7, n_jobs=1, level=[80])
    single = single.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    assert len(distributed) == len(single) == panel.n_series * 7
    assert (distributed["unique_id"].to_numpy() == single["unique_id"].to_numpy()).all()
    for column in single.columns[2:]:
        np.testing.assert_allclose(
            distributed[column], single[column], rtol=1e-5, atol=1e-5, err_msg=column
        )
